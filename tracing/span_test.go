package tracing

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ecsgate/ecsgate/policy"
)

func newRecorderProvider(opts ...sdktrace.TracerProviderOption) (*tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(sr)}, opts...)...)
	return sr, tp
}

func attrMap(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// decisionSpan runs one decision under a parent span of a recording
// provider (as Caddy's tracing handler would) and returns both spans.
func decisionSpan(t *testing.T, rec *Record) (decision sdktrace.ReadOnlySpan, parent trace.Span) {
	t.Helper()
	sr, tp := newRecorderProvider()
	ctx, parent := tp.Tracer("caddy").Start(context.Background(), "handler")
	_, span := StartDecision(ctx, nil)
	EndDecision(span, rec)
	parent.End()
	ended := sr.Ended()
	require.Len(t, ended, 2)
	require.Equal(t, SpanName, ended[0].Name())
	return ended[0], parent
}

func TestDecisionSpanDenyAttributes(t *testing.T) {
	rec := testRecord("d-1")
	span, parent := decisionSpan(t, rec)

	assert.Equal(t, parent.SpanContext().SpanID(), span.Parent().SpanID(), "child of the context's span")
	assert.Equal(t, parent.SpanContext().TraceID(), span.SpanContext().TraceID())
	assert.Equal(t, trace.SpanKindInternal, span.SpanKind())
	assert.Equal(t, ScopeName, span.InstrumentationScope().Name)
	assert.Equal(t, codes.Unset, span.Status().Code, "a deny is an outcome, not an error")
	assert.Empty(t, span.Events())

	assert.Equal(t, span.SpanContext().TraceID().String(), rec.TraceID)
	assert.Equal(t, span.SpanContext().SpanID().String(), rec.SpanID)

	a := attrMap(span)
	want := map[attribute.Key]any{
		AttrDecisionID:              "d-1",
		AttrAllow:                   false,
		AttrResult:                  ResultDeny,
		AttrReasons:                 []string{"changePassword is admin-only"},
		AttrOperation:               "server.action",
		AttrActionName:              "changePassword",
		AttrServerIDs:               []string{"s1"},
		AttrServerCount:             int64(1),
		AttrProjectID:               "p1",
		AttrIdentityProject:         "p1",
		AttrIdentityMethod:          "token",
		AttrIdentityCacheHit:        true,
		AttrIdentityDuration:        3e-6,
		AttrPolicyPath:              "data.ecsgate.authz.decision",
		AttrPolicyRevision:          "sha256:abc",
		AttrEvalDuration:            42e-6,
		AttrRequestID:               "req-1",
		AttrAPIFamily:               "nova",
		"user.id":                   "u1",
		"user.name":                 "alice",
		"user.roles":                []string{"member", "reader"},
		"http.request.method":       "POST",
		"http.route":                "/servers/{server_id}/action",
		"http.response.status_code": int64(403),
	}
	for k, v := range want {
		got, ok := a[k]
		if assert.True(t, ok, "attribute %s missing", k) {
			assert.Equal(t, v, got.AsInterface(), "attribute %s", k)
		}
	}
	assert.Len(t, a, len(want), "unexpected attributes: %v", a)
	for _, k := range []attribute.Key{AttrRejected, "error.type"} {
		assert.NotContains(t, a, k)
	}
}

func TestDecisionSpanAllow(t *testing.T) {
	rec := testRecord("d-2")
	rec.Result = &policy.Decision{Allow: true}
	rec.Status = 0
	rec.Input.Action = &policy.Action{Name: "os-start"}
	span, _ := decisionSpan(t, rec)
	a := attrMap(span)
	assert.Equal(t, true, a[AttrAllow].AsBool())
	assert.Equal(t, ResultAllow, a[AttrResult].AsString())
	assert.NotContains(t, a, AttrReasons)
	assert.NotContains(t, a, attribute.Key("http.response.status_code"))
	assert.Equal(t, codes.Unset, span.Status().Code)
}

func TestDecisionSpanError(t *testing.T) {
	rec := testRecord("d-3")
	rec.Err = "evaluating data.ecsgate.authz.decision: context deadline exceeded"
	rec.ErrKind = "timeout"
	span, _ := decisionSpan(t, rec)
	assert.Equal(t, codes.Error, span.Status().Code)
	assert.Equal(t, rec.Err, span.Status().Description)
	require.Len(t, span.Events(), 1)
	assert.Equal(t, "exception", span.Events()[0].Name)
	a := attrMap(span)
	assert.Equal(t, "timeout", a["error.type"].AsString())
	assert.Equal(t, ResultError, a[AttrResult].AsString())

	rec = testRecord("d-4")
	rec.Err = "keystone: 503"
	span, _ = decisionSpan(t, rec)
	assert.Equal(t, "_OTHER", attrMap(span)["error.type"].AsString())
}

func TestDecisionSpanRejected(t *testing.T) {
	rec := &Record{DecisionID: "d-5", Rejected: "bad_method", Status: 404,
		Input: &policy.Input{Request: policy.Request{Method: "PATCH", Path: "/x"}}}
	span, _ := decisionSpan(t, rec)
	assert.Equal(t, codes.Unset, span.Status().Code, "a rejection is an outcome")
	a := attrMap(span)
	assert.Equal(t, "bad_method", a[AttrRejected].AsString())
	assert.Equal(t, ResultReject, a[AttrResult].AsString())
	assert.NotContains(t, a, AttrAllow)
	assert.NotContains(t, a, attribute.Key("user.id"))

	// A record with no input at all still ends the span.
	span, _ = decisionSpan(t, &Record{DecisionID: "d-6", Rejected: "nil_request"})
	assert.Equal(t, "d-6", attrMap(span)[AttrDecisionID].AsString())
}

func TestDecisionSpanCapsServerIDs(t *testing.T) {
	rec := testRecord("d-7")
	for i := range 1000 {
		rec.Input.ServerIDs = append(rec.Input.ServerIDs, fmt.Sprintf("s%d", i))
	}
	span, _ := decisionSpan(t, rec)
	a := attrMap(span)
	assert.Len(t, a[AttrServerIDs].AsStringSlice(), MaxSpanServerIDs)
	assert.Equal(t, int64(1001), a[AttrServerCount].AsInt64())
}

func TestStartDecisionFallback(t *testing.T) {
	sr, fallback := newRecorderProvider()

	// No span in the context: a root span of the fallback provider.
	_, span := StartDecision(context.Background(), fallback)
	EndDecision(span, testRecord("d-8"))
	require.Len(t, sr.Ended(), 1)
	assert.False(t, sr.Ended()[0].Parent().IsValid())

	// A remote parent (traceparent extracted, no local span): child of it,
	// recorded by the fallback.
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
	_, span = StartDecision(ctx, fallback)
	EndDecision(span, testRecord("d-9"))
	require.Len(t, sr.Ended(), 2)
	got := sr.Ended()[1]
	assert.Equal(t, remote.TraceID(), got.SpanContext().TraceID())
	assert.Equal(t, remote.SpanID(), got.Parent().SpanID())
}

func TestStartDecisionContextProviderWins(t *testing.T) {
	caddySR, caddyTP := newRecorderProvider()
	ownSR, own := newRecorderProvider()
	ctx, parent := caddyTP.Tracer("caddy").Start(context.Background(), "handler")
	_, span := StartDecision(ctx, own)
	EndDecision(span, testRecord("d-10"))
	parent.End()
	assert.Len(t, caddySR.Ended(), 2, "decision span recorded by the context's provider")
	assert.Empty(t, ownSR.Ended(), "not by the fallback")
}

func TestStartDecisionOff(t *testing.T) {
	// Neither a span nor a provider: a no-op span, no IDs, and the parent
	// (if any) is never ended by EndDecision.
	ctx := context.Background()
	ctx2, span := StartDecision(ctx, nil)
	assert.Equal(t, ctx, ctx2)
	assert.False(t, span.IsRecording())
	rec := testRecord("d-11")
	EndDecision(span, rec)
	assert.Empty(t, rec.TraceID)
	assert.Empty(t, rec.SpanID)

	// A remote parent without a provider: the record still carries the
	// caller's trace id.
	remote := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, Remote: true})
	_, span = StartDecision(trace.ContextWithRemoteSpanContext(ctx, remote), nil)
	EndDecision(span, rec)
	assert.Equal(t, remote.TraceID().String(), rec.TraceID)
}

func TestEndDecisionNotRecording(t *testing.T) {
	// A sampled-out Caddy span: the decision span is not recording, no
	// attributes are built, but the record gets the trace id.
	sr, tp := newRecorderProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	ctx, parent := tp.Tracer("caddy").Start(context.Background(), "handler")
	_, span := StartDecision(ctx, nil)
	assert.False(t, span.IsRecording())
	rec := testRecord("d-12")
	EndDecision(span, rec)
	parent.End()
	assert.Empty(t, sr.Ended())
	assert.Equal(t, parent.SpanContext().TraceID().String(), rec.TraceID)
	assert.NotEqual(t, parent.SpanContext().SpanID().String(), rec.SpanID)
}

func TestNoSecretsInSpansOrRecords(t *testing.T) {
	rec := testRecord("d-13")
	// Native os-reset-password: the whole body is the args.
	rec.Input.Action = &policy.Action{Name: "os-reset-password",
		Args: []byte(`{"reset-password":{"new_password":"` + secret + `"},"adminPass":"` + secret + `"}`)}
	rec.Input.Request.Headers["x-auth-token"] = policy.Redacted
	rec.Err = "keystone said no"
	span, _ := decisionSpan(t, rec)
	for _, kv := range span.Attributes() {
		assert.NotContains(t, kv.Value.String(), secret, "attribute %s", kv.Key)
		assert.NotContains(t, kv.Value.String(), "gAAAA", "attribute %s", kv.Key)
	}
	for _, ev := range span.Events() {
		for _, kv := range ev.Attributes {
			assert.NotContains(t, kv.Value.String(), secret)
		}
	}

	b, err := rec.MarshalJSON()
	require.NoError(t, err)
	assert.NotContains(t, string(b), secret)
	assert.NotContains(t, string(b), "gAAAA")
	m := decode(t, rec)
	assert.Equal(t, []any{"/input/action/args/adminPass", "/input/action/args/reset-password"}, m["masked"])
	assert.Equal(t, policy.Redacted, path(m, "input", "request", "headers", "x-auth-token"))
	assert.Equal(t, policy.Redacted, path(m, "input", "action", "args", "adminPass"))
}

func TestInject(t *testing.T) {
	_, tp := newRecorderProvider()
	ctx, parent := tp.Tracer("caddy").Start(context.Background(), "handler")
	ctx, span := StartDecision(ctx, nil)
	h := http.Header{"Traceparent": {"00-from-the-client"}}
	Inject(ctx, h)
	span.End()
	parent.End()
	got := h.Get("Traceparent")
	assert.True(t, strings.HasPrefix(got, "00-"+span.SpanContext().TraceID().String()+"-"+span.SpanContext().SpanID().String()), got)
}
