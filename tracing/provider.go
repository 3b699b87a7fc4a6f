package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultServiceName names the service when neither the caller nor
// OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES do.
const DefaultServiceName = "ecsgate"

// NewProvider builds a tracer provider for the handler's standalone tracing
// (when Caddy's tracing directive is not configured), from the standard
// OTEL_* environment: autoexport picks the exporter (OTEL_TRACES_EXPORTER,
// default otlp; OTEL_EXPORTER_OTLP_* for its endpoint and protocol), spans go
// through a batch processor, the sampler follows OTEL_TRACES_SAMPLER.
// serviceName is service.name unless OTEL_SERVICE_NAME or
// OTEL_RESOURCE_ATTRIBUTES set it. Nothing touches the network before the
// first export. With OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true the
// provider is a no-op.
//
// shutdown flushes pending spans and stops the exporter; call it on Cleanup.
func NewProvider(ctx context.Context, serviceName string) (tp trace.TracerProvider, shutdown func(context.Context) error, err error) {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("tracing: span exporter: %w", err)
	}
	if autoexport.IsNoneSpanExporter(exp) {
		return noop.NewTracerProvider(), func(context.Context) error { return nil }, nil
	}
	if serviceName == "" {
		serviceName = DefaultServiceName
	}
	// Later detectors win: the environment overrides serviceName. The SDK's
	// own detectors use semconv v1.43.0, the same schema as ours.
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(serviceName)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		// A malformed OTEL_RESOURCE_ATTRIBUTES only costs its attributes.
		_ = exp.Shutdown(ctx)
		return nil, nil, fmt.Errorf("tracing: resource: %w", err)
	}
	p := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
	)
	return p, p.Shutdown, nil
}

// propagator is autoprop's (OTEL_PROPAGATORS, default W3C trace context and
// baggage), built once, on first use.
var propagator = sync.OnceValue(func() propagation.TextMapPropagator {
	return autoprop.NewTextMapPropagator()
})

// Inject writes the trace context of ctx (traceparent, tracestate, baggage,
// or whatever OTEL_PROPAGATORS selects) into h, overwriting the caller's
// values of the headers it sets, so the upstream's spans are children of
// ctx's span. With no valid span in ctx it sets no trace header.
func Inject(ctx context.Context, h http.Header) {
	propagator().Inject(ctx, propagation.HeaderCarrier(h))
}

// Propagator returns the propagator Inject uses, for outbound HTTP clients
// (otelhttp.WithPropagators).
func Propagator() propagation.TextMapPropagator { return propagator() }
