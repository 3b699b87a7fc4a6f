package tracing

import (
	"context"
	"io"
	"strconv"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ecsgate/ecsgate/policy"
)

// BenchmarkDecisionSpanNotRecording: tracing off (no span in the context, no
// fallback provider), and a sampled-out Caddy span.
func BenchmarkDecisionSpanNotRecording(b *testing.B) {
	rec := testRecord("d")
	b.Run("off", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_, span := StartDecision(ctx, nil)
			EndDecision(span, rec)
		}
	})
	b.Run("sampled-out", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
		ctx, parent := tp.Tracer("caddy").Start(context.Background(), "handler")
		defer parent.End()
		b.ReportAllocs()
		for b.Loop() {
			_, span := StartDecision(ctx, nil)
			EndDecision(span, rec)
		}
	})
}

// BenchmarkDecisionSpanRecording: a recording child of Caddy's span, all
// attributes, with a processor that drops ended spans.
func BenchmarkDecisionSpanRecording(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(discardProcessor{}))
	ctx, parent := tp.Tracer("caddy").Start(context.Background(), "handler")
	defer parent.End()
	rec := testRecord("d")
	b.ReportAllocs()
	for b.Loop() {
		_, span := StartDecision(ctx, nil)
		EndDecision(span, rec)
	}
}

type discardProcessor struct{ sdktrace.SpanProcessor }

func (discardProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (discardProcessor) OnEnd(sdktrace.ReadOnlySpan)                     {}
func (discardProcessor) Shutdown(context.Context) error                  { return nil }
func (discardProcessor) ForceFlush(context.Context) error                { return nil }

var _ = tracetest.NewSpanRecorder // keep the import set of the span tests

// BenchmarkRecordEnqueue is what a request pays to record a decision:
// metrics plus a channel send. "request-path" drains the queue without
// marshalling, so only the request side is measured (allocations included);
// "file-discard" marshals and writes to io.Discard, and once the queue is
// full it measures the writer's throughput instead.
func BenchmarkRecordEnqueue(b *testing.B) {
	recs := make([]*Record, 1<<12)
	for i := range recs {
		recs[i] = testRecord("d-" + strconv.Itoa(i))
	}
	run := func(b *testing.B, sink Sink, m *Metrics) {
		r := NewRecorder(m, sink)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := r.Record(recs[i&(len(recs)-1)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.StopTimer()
		_ = sink.Close()
	}
	b.Run("request-path", func(b *testing.B) {
		m, _ := NewMetrics(nil)
		run(b, &FileSink{q: newQueue("bench", 1<<16, 0, 0, m, nil, nopBackend{})}, m)
	})
	b.Run("file-discard", func(b *testing.B) {
		m, _ := NewMetrics(nil)
		run(b, newFileSink(FileSinkOptions{QueueSize: 1 << 16}, m, io.Discard), m)
	})
}

type nopBackend struct{}

func (nopBackend) write(*Record) (int, int, error) { return 1, 0, nil }
func (nopBackend) flush() (int, int, error)        { return 0, 0, nil }
func (nopBackend) close() error                    { return nil }

// BenchmarkRecordMarshal is the writer goroutine's cost per record.
func BenchmarkRecordMarshal(b *testing.B) {
	for name, args := range map[string]string{
		"args-null":   `null`,
		"args-plain":  `{"type":"HARD"}`,
		"args-secret": `{"adminPass":"hunter2"}`,
	} {
		b.Run(name, func(b *testing.B) {
			rec := testRecord("d")
			rec.Input.Action = &policy.Action{Name: "reboot", Args: []byte(args)}
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = rec.appendJSON(buf[:0])
			}
		})
	}
}
