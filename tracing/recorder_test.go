package tracing

import (
	"errors"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type memSink struct {
	mu     sync.Mutex
	recs   []*Record
	err    error
	closed bool
}

func (s *memSink) Enqueue(r *Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.recs = append(s.recs, r)
	return nil
}

func (s *memSink) Close() error { s.closed = true; return nil }

func TestRecorderFansOut(t *testing.T) {
	m := newTestMetrics(t)
	a, b := &memSink{}, &memSink{}
	r := NewRecorder(m, a, b).WithLabels(map[string]string{"id": "i", "version": "v"})
	rec := testRecord("d-1")
	rec.Labels = nil
	ts := rec.Timestamp
	require.NoError(t, r.Record(rec))
	assert.Equal(t, ts, rec.Timestamp, "a set timestamp is kept")
	assert.Equal(t, map[string]string{"id": "i", "version": "v", "app": "ecsgate"}, rec.Labels)
	assert.Equal(t, []*Record{rec}, a.recs)
	assert.Equal(t, []*Record{rec}, b.recs)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.decisions.WithLabelValues("server.action", "changePassword", "deny")))

	// Timestamp is filled in when unset.
	empty := &Record{DecisionID: "d-3"}
	require.NoError(t, r.Record(empty))
	assert.False(t, empty.Timestamp.IsZero())

	// A refusing sink makes Record fail (the handler answers 503).
	b.err = errors.New("full")
	err := r.Record(testRecord("d-4"))
	assert.ErrorContains(t, err, "full")
	assert.Len(t, a.recs, 3, "the other sink still has it")
	assert.Len(t, b.recs, 2)

	require.NoError(t, r.Close())
	assert.True(t, a.closed)
	assert.True(t, b.closed)

	assert.Error(t, r.Record(nil))
	assert.NoError(t, NewRecorder(nil).Record(testRecord("metrics only")))
}
