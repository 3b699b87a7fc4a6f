package proxy_test

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	receiver := &otlptest.Receiver{}
	collector := httptest.NewServer(receiver)
	defer collector.Close()
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
	simReset(t)

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

	// Replacing the config runs the handler's Cleanup, which flushes the
	// decision log; then read the record.
	load, err := http.Post("http://localhost:2999/load", "application/json", strings.NewReader(`{"admin": {"listen": "localhost:2999"}}`))
	require.NoError(t, err)
	load.Body.Close()
	require.Equal(t, http.StatusOK, load.StatusCode)
	f, err := os.Open(decisionLog)
	require.NoError(t, err)
	defer f.Close()
	var found bool
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev struct {
			DecisionID string `json:"decision_id"`
			TraceID    string `json:"trace_id"`
			SpanID     string `json:"span_id"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
		if ev.DecisionID == decisionID {
			found = true
			assert.Equal(t, clientTrace, ev.TraceID)
			assert.Equal(t, decisionSpan, ev.SpanID)
		}
	}
	assert.True(t, found, "the decision record was written")
}
