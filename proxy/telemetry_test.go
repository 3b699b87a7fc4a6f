package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ecsgate/ecsgate/proxy/classify"
	"github.com/ecsgate/ecsgate/tracing"
)

func attrs(s sdktrace.ReadOnlySpan) map[string]any {
	out := map[string]any{}
	for _, kv := range s.Attributes() {
		out[string(kv.Key)] = kv.Value.AsInterface()
	}
	return out
}

// TestDecisionSpanIsChildOfCaddysSpanAndParentsTheUpstream: with Caddy's
// tracing handler in front, its span's provider records the decision span,
// and the upstream's traceparent names the decision span.
func TestDecisionSpanIsChildOfCaddysSpanAndParentsTheUpstream(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))

	ctx, parent := tp.Tracer("caddy").Start(context.Background(), "caddy server")
	req := caddyhttp.PrepareRequest(actionRequest("tok-dave", demoProject, server1, `{"unlock": null}`).WithContext(ctx), caddy.NewReplacer(), nil, &caddyhttp.Server{})
	rec := httptest.NewRecorder()
	up := &upstream{}
	require.NoError(t, h.ServeHTTP(rec, req, up))
	parent.End()

	decisions := decisionSpans(sr)
	require.Len(t, decisions, 1)
	decision := decisions[0]
	assert.Equal(t, parent.SpanContext().SpanID(), decision.Parent().SpanID())

	// The Keystone lookup is a client span of the same trace, under the decision.
	var lookups []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			lookups = append(lookups, s)
		}
	}
	require.Len(t, lookups, 1)
	assert.Equal(t, decision.SpanContext().SpanID(), lookups[0].Parent().SpanID())
	assert.Equal(t, codes.Unset, decision.Status().Code)
	a := attrs(decision)
	assert.Equal(t, rec.Header().Get(HeaderDecisionID), a["ecsgate.decision.id"])
	assert.Equal(t, true, a["ecsgate.decision.allow"])
	assert.Equal(t, "server.action", a["ecsgate.operation"])
	assert.Equal(t, "unlock", a["ecsgate.action.name"])
	assert.Equal(t, h.engine.Revision(), a["ecsgate.policy.revision"])

	tc := up.header.Get("Traceparent")
	require.NotEmpty(t, tc, "the upstream joins the trace")
	assert.Contains(t, tc, decision.SpanContext().TraceID().String())
	assert.Contains(t, tc, decision.SpanContext().SpanID().String())
}

func TestDenialSpanIsNotAnError(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	sr := tracetest.NewSpanRecorder()
	h.tracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))

	rec, up := serve(t, h, actionRequest("tok-alice", "", server1, `{"unlock": null}`))
	require.Equal(t, http.StatusForbidden, rec.Code)
	assert.Equal(t, 0, up.calls)
	require.Len(t, decisionSpans(sr), 1, "the standalone provider records when Caddy's tracing is absent")
	s := decisionSpans(sr)[0]
	assert.Equal(t, codes.Unset, s.Status().Code)
	a := attrs(s)
	assert.Equal(t, false, a["ecsgate.decision.allow"])
	assert.Equal(t, int64(403), a["http.response.status_code"])
	for k, v := range a {
		assert.NotContains(t, strings.ToLower(k+"="+toString(v)), "tok-alice", "no token in span attribute %s", k)
	}

	fk.down.Store(true)
	rec, _ = serve(t, h, actionRequest("tok-dave", "", server1, `{"unlock": null}`))
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, codes.Error, decisionSpans(sr)[1].Status().Code, "an identity failure is an error")
}

func decisionSpans(sr *tracetest.SpanRecorder) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == "ecs_policy.decide" {
			out = append(out, s)
		}
	}
	return out
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestEveryDecisionIsRecordedUnderLoad sends N mixed requests from several
// goroutines and expects exactly N records, N spans and N counted decisions.
func TestEveryDecisionIsRecordedUnderLoad(t *testing.T) {
	fk := newFakeKeystone(t)
	logPath := filepath.Join(t.TempDir(), "decisions.log")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	h := &Handler{Keystone: fk.URL + "/v3", DecisionLog: &DecisionLog{Path: logPath, QueueSize: 64}}
	require.NoError(t, h.Provision(ctx))
	sr := tracetest.NewSpanRecorder()
	h.tracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))

	kinds := []func() *http.Request{
		func() *http.Request { return actionRequest("tok-dave", demoProject, server1, `{"lock": null}`) },
		func() *http.Request { return actionRequest("tok-alice", demoProject, server1, `{"unlock": null}`) },
		func() *http.Request { return actionRequest("tok-dave", "", server1, `{"unlock": null, "lock": null}`) },
		func() *http.Request { return actionRequest("", "", server2, `{"os-stop": null}`) },
		func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/v2.1/servers/detail", nil)
			r.Header.Set("X-Auth-Token", "tok-carol")
			return r
		},
		func() *http.Request {
			return actionRequest("tok-admin", "", server1, `{"changePassword": {"adminPass": "hunter2-secret"}}`)
		},
	}
	const workers, perWorker = 8, 150
	var mu sync.Mutex
	ids := map[string]bool{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				req := caddyhttp.PrepareRequest(kinds[(w+i)%len(kinds)](), caddy.NewReplacer(), nil, &caddyhttp.Server{})
				rec := httptest.NewRecorder()
				if err := h.ServeHTTP(rec, req, &upstream{}); err != nil {
					t.Error(err)
				}
				mu.Lock()
				ids[rec.Header().Get(HeaderDecisionID)] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, h.Cleanup(), "cleanup flushes every record")

	const n = workers * perWorker
	assert.Len(t, ids, n)
	assert.Len(t, decisionSpans(sr), n, "one span per decision")

	f, err := os.Open(logPath)
	require.NoError(t, err)
	defer f.Close()
	lines := 0
	results := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines++
		line := sc.Text()
		assert.NotContains(t, line, "hunter2")
		assert.NotContains(t, line, "tok-")
		var ev struct {
			DecisionID string `json:"decision_id"`
			Path       string `json:"path"`
			Result     struct {
				Allow bool `json:"allow"`
			} `json:"result"`
			Rejected string `json:"rejected"`
			Bundles  map[string]struct {
				Revision string `json:"revision"`
			} `json:"bundles"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &ev))
		assert.True(t, ids[ev.DecisionID], "record for a decision the client saw: %s", ev.DecisionID)
		assert.Equal(t, "ecsgate/authz/decision", ev.Path)
		assert.Equal(t, h.engine.Revision(), ev.Bundles["ecsgate"].Revision)
		switch {
		case ev.Rejected != "":
			results["reject"]++
		case ev.Result.Allow:
			results["allow"]++
		default:
			results["deny"]++
		}
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, n, lines, "exactly one record per decision")
	assert.Equal(t, map[string]int{"allow": 3 * n / 6, "deny": 2 * n / 6, "reject": n / 6}, results)

	mfs, err := ctx.GetMetricsRegistry().Gather()
	require.NoError(t, err)
	assert.Equal(t, float64(n), counterSum(mfs, "caddy_ecsgate_decisions_total"))
	assert.Equal(t, float64(n), counterSum(mfs, "caddy_ecsgate_records_written_total"))
}

func counterSum(mfs []*dto.MetricFamily, name string) float64 {
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestUnrecordableDecisionFailsClosed: when the record sink fails, requests
// are answered 503 instead of being forwarded unrecorded.
func TestUnrecordableDecisionFailsClosed(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("needs /dev/full")
	}
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3", DecisionLog: &DecisionLog{Path: "/dev/full", QueueSize: 1, MaxWait: caddy.Duration(time.Millisecond)}})
	t.Cleanup(func() { _ = h.Cleanup() })
	var refused int
	for range 200 {
		rec, up := serve(t, h, actionRequest("tok-dave", "", server1, `{"lock": null}`))
		if rec.Code == http.StatusServiceUnavailable {
			refused++
			assert.Equal(t, 0, up.calls, "a request that cannot be recorded is not forwarded")
			fault, _, _ := decodeFault(t, rec)
			assert.Equal(t, "serviceUnavailable", fault)
		}
		time.Sleep(time.Millisecond)
	}
	assert.Positive(t, refused)
}

// TestMetricsLabelEveryClassifiedAction keeps the metrics' bounded action
// list in step with the classifier's allow-list: a new action must get its
// own label, not silently count as "other".
func TestMetricsLabelEveryClassifiedAction(t *testing.T) {
	names := append(classify.NovaServerActions(), "force_complete",
		classify.NativeResize, classify.NativeChangeOS, classify.NativeReinstallOS,
		classify.NativeResetPassword, classify.NativeMigrate, classify.NativeTriggerCrashDump,
		classify.NativeRedeploy, classify.NativeChangeVPC, classify.NativeRecycleRevert)
	names = append(names, classify.HostActions()...)
	for _, name := range names {
		assert.Equal(t, name, tracing.ActionLabel(name))
	}
	assert.Equal(t, "other", tracing.ActionLabel("somethingNew"))
}
