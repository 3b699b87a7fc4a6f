package tracing

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logService is a decision-log service: OPA POSTs gzipped JSON arrays of
// events to /logs.
type logService struct {
	mu     sync.Mutex
	events []map[string]any
}

func (s *logService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/logs" {
		http.NotFound(w, r)
		return
	}
	gz, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var batch []map[string]any
	if err := json.NewDecoder(gz).Decode(&batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, batch...)
	s.mu.Unlock()
}

func TestOPASink(t *testing.T) {
	svc := &logService{}
	srv := httptest.NewServer(svc)
	defer srv.Close()

	m := newTestMetrics(t)
	before := runtime.NumGoroutine()
	sink, err := NewOPASink(context.Background(), OPASinkOptions{
		URL:    srv.URL,
		Labels: Labels("inst-1", "v0.1.0"),
	}, m)
	require.NoError(t, err)

	rec := testRecord("d-opa")
	rec.TraceID = "0af7651916cd43dd8448eb211c80319c"
	rec.SpanID = "b7ad6b7169203331"
	rec.Err = "keystone said no"
	require.NoError(t, sink.Enqueue(rec))
	rejected := &Record{DecisionID: "d-rej", Rejected: "bad_method", Status: 404, Timestamp: time.Now()}
	require.NoError(t, sink.Enqueue(rejected))
	require.NoError(t, sink.Close(), "close uploads the buffer")
	assert.ErrorIs(t, sink.Enqueue(rec), ErrSinkClosed)
	srv.CloseClientConnections()
	assertNoGoroutineLeak(t, before)

	svc.mu.Lock()
	defer svc.mu.Unlock()
	require.Len(t, svc.events, 2)
	ev := svc.events[0]
	if ev["decision_id"] != "d-opa" {
		ev = svc.events[1]
	}
	assert.Equal(t, "d-opa", ev["decision_id"])
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", ev["trace_id"])
	assert.Equal(t, "b7ad6b7169203331", ev["span_id"])
	assert.Equal(t, "ecsgate/authz/decision", ev["path"])
	assert.Equal(t, "sha256:abc", path(ev, "bundles", "ecsgate", "revision"))
	assert.Equal(t, "192.0.2.7", ev["requested_by"])
	assert.Equal(t, "2026-05-06T05:08:09.123456789Z", ev["timestamp"])
	assert.Equal(t, "ecsgate", path(ev, "labels", "app"))
	assert.Equal(t, "inst-1", path(ev, "labels", "id"))
	assert.Equal(t, "v0.1.0", path(ev, "labels", "version"), "ours, not OPA's")
	assert.Equal(t, false, path(ev, "result", "allow"))
	assert.Equal(t, "[REDACTED]", path(ev, "input", "action", "args", "adminPass"))
	assert.Equal(t, []any{"/input/action/args/adminPass"}, path(ev, "custom", "masked"))
	assert.Equal(t, 403.0, path(ev, "custom", "status"))
	assert.Equal(t, 42000.0, path(ev, "metrics", "timer_rego_query_eval_ns"))
	assert.Equal(t, "keystone said no", path(ev, "error", "message"))
	b, _ := json.Marshal(svc.events)
	assert.NotContains(t, string(b), secret)

	assert.Equal(t, 2.0, sinkCount(m.recordsWritten, "opa"))
}

func TestNewOPASinkErrors(t *testing.T) {
	_, err := NewOPASink(context.Background(), OPASinkOptions{}, nil)
	assert.Error(t, err)
}

// assertNoGoroutineLeak waits for the goroutine count to fall back to before
// (not with assert.Eventually, whose own goroutine would be counted).
func assertNoGoroutineLeak(t *testing.T, before int) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if runtime.NumGoroutine() <= before {
			return
		}
	}
	buf := make([]byte, 1<<20)
	t.Errorf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
}
