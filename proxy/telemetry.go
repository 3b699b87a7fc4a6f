package proxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/ecsgate/ecsgate/tracing"
)

// provisionTelemetry builds the metrics, the record sinks and, when asked,
// a standalone tracer provider. Nothing here touches the network: exporters
// and the OPA plugin connect lazily.
func (h *Handler) provisionTelemetry(ctx caddy.Context) error {
	metrics, err := tracing.NewMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	onError := func(err error) {
		h.logger.Error("decision records lost", zap.Error(err))
	}
	var sinks []tracing.Sink
	if dl := h.DecisionLog; dl != nil {
		path := caddy.NewReplacer().ReplaceKnown(dl.Path, "")
		sink, err := tracing.NewFileSink(tracing.FileSinkOptions{
			Path:       path,
			MaxSizeMB:  dl.RollSizeMB,
			MaxBackups: dl.RollKeep,
			MaxAgeDays: dl.RollKeepDays,
			QueueSize:  dl.QueueSize,
			MaxWait:    time.Duration(dl.MaxWait),
			OnError:    onError,
		}, metrics)
		if err != nil {
			return fmt.Errorf("decision_log %s: %w", path, err)
		}
		sinks = append(sinks, sink)
	}
	if h.DecisionLogService != "" {
		sink, err := tracing.NewOPASink(ctx, tracing.OPASinkOptions{
			URL:     h.DecisionLogService,
			OnError: onError,
		}, metrics)
		if err != nil {
			closeSinks(sinks)
			return fmt.Errorf("decision_log_service: %w", err)
		}
		sinks = append(sinks, sink)
	}
	h.metrics = metrics
	h.recorder = tracing.NewRecorder(metrics, sinks...).WithLabels(tracing.Labels(instanceID(), moduleVersion()))

	if h.Tracing {
		tp, shutdown, err := tracing.NewProvider(ctx, tracing.DefaultServiceName)
		if err != nil {
			_ = h.recorder.Close()
			return err
		}
		h.tracerProvider, h.shutdownTracer = tp, shutdown
	}
	return nil
}

// Cleanup flushes every accepted decision record and the span exporter. It
// also runs after a Provision that failed halfway.
func (h *Handler) Cleanup() error {
	var errs []error
	if h.recorder != nil {
		errs = append(errs, h.recorder.Close())
	}
	if h.shutdownTracer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errs = append(errs, h.shutdownTracer(ctx))
	}
	return errors.Join(errs...)
}

func closeSinks(sinks []tracing.Sink) {
	for _, s := range sinks {
		_ = s.Close()
	}
}

// instanceID labels records with the gateway that wrote them.
func instanceID() string {
	host, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return host
}

func moduleVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/ecsgate/ecsgate" {
				return dep.Version
			}
		}
		if info.Main.Path == "github.com/ecsgate/ecsgate" && info.Main.Version != "" {
			return info.Main.Version
		}
	}
	return "devel"
}
