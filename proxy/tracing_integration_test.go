package proxy_test

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/internal/otlptest"
)

// TestDecisionTraceEndToEnd runs Caddy with the standalone exporter pointed
// at a real OTLP/HTTP receiver: the client's trace continues into the
// decision span (exported over OTLP with its parent), the upstream receives
// a traceparent of the same trace naming the decision span, and the decision
// record carries the same ids.
func TestDecisionTraceEndToEnd(t *testing.T) {
	receiver, decisionLog := startTracedGateway(t)

	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, err := http.NewRequest(http.MethodPost, gateway+"/v2.1/servers/"+server1+"/action", strings.NewReader(`{"lock": null}`))
	require.NoError(t, err)
	req.Header.Set("X-Auth-Token", "demo-alice")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	decisionID := resp.Header.Get("X-Ecsgate-Decision-Id")

	var got otlptest.Span
	require.Eventually(t, func() bool {
		s, ok := receiver.Spans()["ecs_policy.decide"]
		got = s
		return ok
	}, 10*time.Second, 50*time.Millisecond, "the decision span is exported over OTLP")
	assert.Equal(t, clientTrace, hex.EncodeToString(got.Span.GetTraceId()))
	assert.Equal(t, clientSpan, hex.EncodeToString(got.Span.GetParentSpanId()), "child of the caller's span")
	decisionSpan := hex.EncodeToString(got.Span.GetSpanId())
	attrs := otlptest.Attributes(got.Span.GetAttributes())
	assert.Equal(t, decisionID, attrs["ecsgate.decision.id"].GetStringValue())
	assert.True(t, attrs["ecsgate.decision.allow"].GetBoolValue())

	saw := upstreamSaw(t)
	require.Len(t, saw, 1)
	assert.Equal(t, "00-"+clientTrace+"-"+decisionSpan+"-01", saw[0].Headers["Traceparent"][0], "the upstream joins the same trace under the decision span")

	ev, ok := readRecords(t, decisionLog)[decisionID]
	require.True(t, ok, "the decision record was written")
	assert.Equal(t, clientTrace, ev.TraceID)
	assert.Equal(t, decisionSpan, ev.SpanID)
}

// TestLoadRecordsEveryDecision sends N mixed requests over loopback from
// several clients and expects exactly N decision records in the file and N
// decision spans at the OTLP receiver, one per decision id the clients saw.
func TestLoadRecordsEveryDecision(t *testing.T) {
	receiver, decisionLog := startTracedGateway(t)
	type call struct{ method, path, token, body string }
	action := gateway + "/v2.1/servers/" + server1 + "/action"
	calls := []call{
		{http.MethodPost, action, "demo-alice", `{"lock": null}`},
		{http.MethodPost, action, "demo-alice", `{"unlock": null}`},
		{http.MethodPost, action, "demo-dave", `{"unlock": null}`},
		{http.MethodPost, action, "demo-carol", `{"os-stop": null}`},
		{http.MethodPost, action, "demo-dave", `{"lock": null, "unlock": null}`},
		{http.MethodGet, gateway + "/v2.1/servers/detail", "demo-carol", ""},
		{http.MethodGet, gateway + "/v2.1/servers/" + server1 + "?_method=DELETE", "demo-alice", ""},
		{http.MethodPost, action, "", `{"unlock": null}`},
	}
	const clients, perClient = 6, 50
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				k := calls[(c*perClient+i)%len(calls)]
				req, _ := http.NewRequest(k.method, k.path, strings.NewReader(k.body))
				if k.body == "" {
					req.Body = http.NoBody
				}
				req.Header.Set("Content-Type", "application/json")
				if k.token != "" {
					req.Header.Set("X-Auth-Token", k.token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				seen[resp.Header.Get("X-Ecsgate-Decision-Id")] = resp.StatusCode
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	const n = clients * perClient
	require.Len(t, seen, n, "every response carried its own decision id")

	require.Eventually(t, func() bool { return receiver.Count("ecs_policy.decide") >= n },
		15*time.Second, 100*time.Millisecond)
	assert.Equal(t, n, receiver.Count("ecs_policy.decide"), "exactly one span per decision")

	records := readRecords(t, decisionLog)
	assert.Len(t, records, n, "exactly one record per decision")
	for id, status := range seen {
		ev, ok := records[id]
		if assert.True(t, ok, "record for %s", id) && status != http.StatusAccepted && status != http.StatusOK {
			assert.Equal(t, status, ev.Status, "the record says what the client got")
		}
	}
}

type recordLine struct {
	DecisionID string `json:"decision_id"`
	TraceID    string `json:"trace_id"`
	SpanID     string `json:"span_id"`
	Status     int    `json:"status"`
}

func startTracedGateway(t *testing.T) (*otlptest.Receiver, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	receiver := &otlptest.Receiver{}
	collector := httptest.NewServer(receiver)
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	t.Setenv("ECSGATE_TEST_ACCESS_LOG", filepath.Join(t.TempDir(), "access.log"))
	decisionLog := filepath.Join(t.TempDir(), "decisions.log")
	t.Setenv("ECSGATE_TEST_DECISION_LOG", decisionLog)
	cfg, err := os.ReadFile("testdata/tracing.caddyfile")
	require.NoError(t, err)
	tester := caddytest.NewTester(t)
	tester.InitServer(string(cfg), "caddyfile")
	// Keep-alive connections to the previous test's servers were closed by
	// the reload; reusing one would fail with EOF.
	http.DefaultClient.CloseIdleConnections()
	simReset(t)
	return receiver, decisionLog
}

// readRecords replaces the config, which runs the handler's Cleanup and so
// flushes the decision log, then reads every record by decision id.
func readRecords(t *testing.T, path string) map[string]recordLine {
	t.Helper()
	load, err := http.Post("http://localhost:2999/load", "application/json", strings.NewReader(`{"admin": {"listen": "localhost:2999"}}`))
	require.NoError(t, err)
	load.Body.Close()
	require.Equal(t, http.StatusOK, load.StatusCode)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string]recordLine{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev recordLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
		_, dup := out[ev.DecisionID]
		require.False(t, dup, "one record per decision id")
		out[ev.DecisionID] = ev
	}
	require.NoError(t, sc.Err())
	return out
}
