package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ecsgate/ecsgate/internal/otlptest"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// TestProviderExportsOverOTLPHTTP exports for real: autoexport builds the
// otlptracehttp exporter from the environment, the receiver decodes the
// protobuf.
func TestProviderExportsOverOTLPHTTP(t *testing.T) {
	rc := &otlptest.Receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")

	ctx := context.Background()
	tp, shutdown, err := NewProvider(ctx, "ecsgate-it")
	require.NoError(t, err)

	// The standalone mode: the handler's provider is the fallback, the
	// parent is the span of whatever started the request.
	pctx, parent := tp.Tracer("caddy").Start(ctx, "handler")
	_, span := StartDecision(pctx, tp)
	rec := testRecord("d-it")
	EndDecision(span, rec)
	parent.End()
	require.NoError(t, shutdown(ctx), "shutdown flushes the batch")

	got := rc.Spans()
	require.Contains(t, got, SpanName)
	require.Contains(t, got, "handler")
	dec, par := got[SpanName].Span, got["handler"].Span
	assert.Equal(t, par.GetSpanId(), dec.GetParentSpanId(), "child of the parent span")
	assert.Equal(t, par.GetTraceId(), dec.GetTraceId())
	sc := span.SpanContext()
	assert.Equal(t, sc.TraceID().String(), rec.TraceID)
	tid, sid := sc.TraceID(), sc.SpanID()
	assert.Equal(t, tid[:], dec.GetTraceId())
	assert.Equal(t, sid[:], dec.GetSpanId())
	assert.Equal(t, tracepb.Span_SPAN_KIND_INTERNAL, dec.GetKind())

	a := otlptest.Attributes(dec.GetAttributes())
	assert.Equal(t, "d-it", a[string(AttrDecisionID)].GetStringValue())
	assert.False(t, a[string(AttrAllow)].GetBoolValue())
	assert.Equal(t, "deny", a[string(AttrResult)].GetStringValue())
	assert.Equal(t, "changePassword", a[string(AttrActionName)].GetStringValue())
	assert.Equal(t, "server.action", a[string(AttrOperation)].GetStringValue())
	assert.Equal(t, "u1", a["user.id"].GetStringValue())
	assert.Equal(t, int64(403), a["http.response.status_code"].GetIntValue())
	assert.Equal(t, "sha256:abc", a[string(AttrPolicyRevision)].GetStringValue())
	reasons := a[string(AttrReasons)].GetArrayValue().GetValues()
	require.Len(t, reasons, 1)
	assert.Equal(t, "changePassword is admin-only", reasons[0].GetStringValue())
	for k, v := range a {
		assert.NotContains(t, v.String(), secret, k)
	}

	res := otlptest.Attributes(got[SpanName].Resource)
	assert.Equal(t, "ecsgate-it", res["service.name"].GetStringValue())
	assert.Equal(t, "test", res["deployment.environment.name"].GetStringValue())
	assert.Equal(t, "opentelemetry", res["telemetry.sdk.name"].GetStringValue())
}

func TestProviderServiceNameFromEnv(t *testing.T) {
	rc := &otlptest.Receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	tp, shutdown, err := NewProvider(context.Background(), "")
	require.NoError(t, err)
	_, span := StartDecision(context.Background(), tp)
	EndDecision(span, testRecord("d"))
	require.NoError(t, shutdown(context.Background()))
	assert.Equal(t, "from-env", otlptest.Attributes(rc.Spans()[SpanName].Resource)["service.name"].GetStringValue())
}

func TestProviderNone(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	start := time.Now()
	tp, shutdown, err := NewProvider(context.Background(), "ecsgate")
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 100*time.Millisecond)
	assert.IsType(t, noop.TracerProvider{}, tp)
	_, span := StartDecision(context.Background(), tp)
	assert.False(t, span.IsRecording())
	require.NoError(t, shutdown(context.Background()))
}

func TestProviderDoesNotDial(t *testing.T) {
	// An unroutable endpoint: construction must not wait for it.
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://192.0.2.1:4317")
	start := time.Now()
	tp, shutdown, err := NewProvider(context.Background(), "ecsgate")
	require.NoError(t, err)
	assert.Less(t, time.Since(start), time.Second)
	assert.Implements(t, (*trace.TracerProvider)(nil), tp)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = shutdown(ctx) // nothing buffered: returns promptly
}

func TestInjectW3CDefault(t *testing.T) {
	t.Setenv("OTEL_PROPAGATORS", "")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	h := http.Header{}
	Inject(trace.ContextWithSpanContext(context.Background(), sc), h)
	assert.Equal(t, "00-01000000000000000000000000000000-0200000000000000-01", h.Get("Traceparent"))

	// Without a span nothing is set.
	h = http.Header{}
	Inject(context.Background(), h)
	assert.Empty(t, h.Get("Traceparent"))
}

func TestProviderDisabled(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "true")
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	tp, shutdown, err := NewProvider(context.Background(), "ecsgate")
	require.NoError(t, err)
	assert.IsType(t, noop.TracerProvider{}, tp)
	require.NoError(t, shutdown(context.Background()))
}

func TestProviderPartialResource(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "not-a-pair")
	tp, shutdown, err := NewProvider(context.Background(), "ecsgate")
	require.NoError(t, err, "a malformed OTEL_RESOURCE_ATTRIBUTES is not fatal")
	require.NotNil(t, tp)
	require.NoError(t, shutdown(context.Background()))
}
