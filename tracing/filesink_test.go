package tracing

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestMetrics(t *testing.T) *Metrics {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	return m
}

func sinkCount(vec *prometheus.CounterVec, sink string) float64 {
	return testutil.ToFloat64(vec.WithLabelValues(sink))
}

// readLines returns the records of the files (decoded), failing on any line
// that is not a JSON object.
func readLines(t *testing.T, files ...string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var m map[string]any
			require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "%s: %q", f, sc.Text())
			out = append(out, m)
		}
		require.NoError(t, sc.Err())
	}
	return out
}

func TestFileSinkConcurrent(t *testing.T) {
	const n, workers = 20000, 8
	dir := t.TempDir()
	m := newTestMetrics(t)
	sink, err := NewFileSink(FileSinkOptions{Path: filepath.Join(dir, "decisions.log")}, m)
	require.NoError(t, err)

	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				assert.NoError(t, sink.Enqueue(testRecord(fmt.Sprintf("d-%05d", i))))
			}
		})
	}
	wg.Wait()
	require.NoError(t, sink.Close())
	require.NoError(t, sink.Close(), "idempotent")

	data, err := os.ReadFile(filepath.Join(dir, "decisions.log"))
	require.NoError(t, err)
	assert.NotContains(t, string(data), secret)
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	require.Len(t, lines, n)
	seen := map[string]bool{}
	for _, l := range lines {
		var rec struct {
			DecisionID string `json:"decision_id"`
		}
		require.NoError(t, json.Unmarshal(l, &rec), "%s", l)
		require.False(t, seen[rec.DecisionID], "duplicate %s", rec.DecisionID)
		seen[rec.DecisionID] = true
	}
	assert.Len(t, seen, n)
	assert.Equal(t, float64(n), sinkCount(m.recordsWritten, "file"))
	assert.Zero(t, sinkCount(m.recordsFailed, "file"))

	info, err := os.Stat(filepath.Join(dir, "decisions.log"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

func TestFileSinkRotation(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "decisions.log")
	sink, err := NewFileSink(FileSinkOptions{Path: file, MaxSizeMB: 1, QueueSize: 64}, nil)
	require.NoError(t, err)
	// ~2.5 KB per record, 1000 records: about 2.5 MB, two rotations.
	const n = 1000
	pad := strings.Repeat("x", 2000)
	for i := range n {
		rec := testRecord(fmt.Sprintf("d-%04d", i))
		rec.Result.Reasons = []string{pad}
		require.NoError(t, sink.Enqueue(rec))
	}
	require.NoError(t, sink.Close())

	files, err := filepath.Glob(filepath.Join(dir, "decisions*.log"))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(files), 2, "a backup file appears: %v", files)
	for _, f := range files {
		info, err := os.Stat(f)
		require.NoError(t, err)
		assert.LessOrEqual(t, info.Size(), int64(1<<20), f)
	}
	lines := readLines(t, files...) // every line of every file is whole JSON
	assert.Len(t, lines, n)
}

// slowWriter delays every write; it can also fail on demand, after writing
// half of what it was given.
type slowWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	delay atomic.Int64 // time.Duration
	fail  atomic.Bool
}

func newSlowWriter(delay time.Duration) *slowWriter {
	w := &slowWriter{}
	w.delay.Store(int64(delay))
	return w
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(time.Duration(w.delay.Load()))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fail.Load() {
		n, _ := w.buf.Write(p[:len(p)/2])
		return n, errors.New("disk full")
	}
	return w.buf.Write(p)
}

func (w *slowWriter) lines(t *testing.T) []map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	dir := t.TempDir()
	f := filepath.Join(dir, "out")
	require.NoError(t, os.WriteFile(f, w.buf.Bytes(), 0o600))
	return readLines(t, f)
}

// gateWriter holds every write until released, after telling entered.
type gateWriter struct {
	slowWriter
	entered chan struct{}
	release chan struct{}
}

func (w *gateWriter) Write(p []byte) (int, error) {
	select {
	case w.entered <- struct{}{}:
	default:
	}
	<-w.release
	return w.slowWriter.Write(p)
}

func TestFileSinkBackpressure(t *testing.T) {
	m := newTestMetrics(t)
	w := &gateWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	sink := newFileSink(FileSinkOptions{QueueSize: 1, MaxWait: 10 * time.Millisecond}, m, w)

	// The writer takes the first record and hangs in Write; the second fills
	// the queue.
	require.NoError(t, sink.Enqueue(testRecord("d-00")))
	<-w.entered
	require.NoError(t, sink.Enqueue(testRecord("d-01")))
	accepted := []string{"d-00", "d-01"}

	const refusals = 5
	for i := range refusals {
		start := time.Now()
		err := sink.Enqueue(testRecord(fmt.Sprintf("refused-%d", i)))
		waited := time.Since(start)
		assert.ErrorIs(t, err, ErrQueueFull)
		assert.GreaterOrEqual(t, waited, 10*time.Millisecond, "blocks for MaxWait")
		assert.Less(t, waited, time.Second, "and no longer")
	}
	assert.Equal(t, float64(refusals), sinkCount(m.recordsFailed, "file"))
	assert.Equal(t, float64(refusals), sinkCount(m.recordsBlocked, "file"))

	// A blocked request gets through when the writer frees a slot in time.
	done := make(chan error)
	go func() { done <- sink.Enqueue(testRecord("d-02")) }()
	time.Sleep(2 * time.Millisecond)
	close(w.release)
	require.NoError(t, <-done)
	accepted = append(accepted, "d-02")

	// A slow (not stuck) writer: nothing accepted is lost.
	w.delay.Store(int64(time.Millisecond))
	for i := range 50 {
		id := fmt.Sprintf("d-%02d", i+3)
		if err := sink.Enqueue(testRecord(id)); err == nil {
			accepted = append(accepted, id)
		}
	}
	require.NoError(t, sink.Close())

	var written []string
	for _, l := range w.lines(t) {
		written = append(written, l["decision_id"].(string))
	}
	assert.Equal(t, accepted, written, "every accepted record is written, in order")
	assert.Equal(t, float64(len(accepted)), sinkCount(m.recordsWritten, "file"))
	assert.ErrorIs(t, sink.Enqueue(testRecord("late")), ErrSinkClosed)
}

func TestFileSinkCloseDrains(t *testing.T) {
	before := runtime.NumGoroutine()
	w := newSlowWriter(time.Millisecond)
	sink := newFileSink(FileSinkOptions{QueueSize: 1000}, nil, w)
	for i := range 500 {
		require.NoError(t, sink.Enqueue(testRecord(fmt.Sprintf("d-%03d", i))))
	}
	require.NoError(t, sink.Close())
	assert.Len(t, w.lines(t), 500)
	assertNoGoroutineLeak(t, before)
}

func TestFileSinkFlushesWhenIdle(t *testing.T) {
	w := &slowWriter{}
	sink := newFileSink(FileSinkOptions{}, nil, w)
	defer func() { assert.NoError(t, sink.Close()) }()
	require.NoError(t, sink.Enqueue(testRecord("d-1")))
	assert.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return bytes.Count(w.buf.Bytes(), []byte("\n")) == 1
	}, time.Second, time.Millisecond, "the queue drained: the record is flushed without Close")
}

func TestFileSinkWriteFailure(t *testing.T) {
	old := retryAfterFailure
	retryAfterFailure = 50 * time.Millisecond
	t.Cleanup(func() { retryAfterFailure = old })

	m := newTestMetrics(t)
	w := &slowWriter{}
	w.fail.Store(true)
	errs := make(chan error, 10)
	sink := newFileSink(FileSinkOptions{OnError: func(err error) { errs <- err }}, m, w)

	require.NoError(t, sink.Enqueue(testRecord("lost")))
	select {
	case err := <-errs:
		assert.ErrorContains(t, err, "disk full")
		assert.ErrorContains(t, err, "lost 1 decision record")
	case <-time.After(time.Second):
		t.Fatal("OnError not called")
	}
	assert.Equal(t, 1.0, sinkCount(m.recordsFailed, "file"))
	assert.ErrorIs(t, sink.Enqueue(testRecord("refused")), ErrSinkFailing, "fail closed while the sink is failing")
	assert.Equal(t, 2.0, sinkCount(m.recordsFailed, "file"))

	w.fail.Store(false)
	time.Sleep(retryAfterFailure)
	require.NoError(t, sink.Enqueue(testRecord("recovered")))
	require.NoError(t, sink.Close())
	w.mu.Lock()
	out := w.buf.String()
	w.mu.Unlock()
	partial, rest, ok := strings.Cut(out, "\n")
	require.True(t, ok, "the partial line of the failure is terminated")
	assert.True(t, strings.HasPrefix(partial, `{"decision_id":"lost"`), partial)
	var next map[string]any
	require.NoError(t, json.Unmarshal([]byte(rest), &next), "the next record is whole: %q", rest)
	assert.Equal(t, "recovered", next["decision_id"])
}

func TestFileSinkHugeRecord(t *testing.T) {
	// A record larger than the bufio buffer goes out in one write.
	w := &countingWriter{}
	sink := newFileSink(FileSinkOptions{}, nil, w)
	rec := testRecord("big")
	rec.Result.Reasons = []string{strings.Repeat("r", 200<<10)}
	require.NoError(t, sink.Enqueue(testRecord("small")))
	require.NoError(t, sink.Enqueue(rec))
	require.NoError(t, sink.Close())
	for _, p := range w.writes {
		assert.True(t, bytes.HasSuffix(p, []byte("\n")), "writes hold whole lines")
	}
}

type countingWriter struct{ writes [][]byte }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

func TestFileSinkSharesFileAcrossReloads(t *testing.T) {
	file := filepath.Join(t.TempDir(), "d.log")
	opts := FileSinkOptions{Path: file, MaxSizeMB: 5}
	old, err := NewFileSink(opts, nil)
	require.NoError(t, err)
	cur, err := NewFileSink(opts, nil)
	require.NoError(t, err)
	assert.Same(t, old.q.be.(*fileBackend).out, cur.q.be.(*fileBackend).out, "one rotating logger per file")
	assert.IsType(t, &sharedFile{}, cur.q.be.(*fileBackend).out)
	for i := range 100 {
		require.NoError(t, old.Enqueue(testRecord(fmt.Sprintf("old-%d", i))))
		require.NoError(t, cur.Enqueue(testRecord(fmt.Sprintf("new-%d", i))))
	}
	require.NoError(t, old.Close())
	require.NoError(t, cur.Enqueue(testRecord("after")))
	require.NoError(t, cur.Close())
	assert.Len(t, readLines(t, file), 201)
	_, inUse := files.References(file)
	assert.False(t, inUse, "the last sink closed the file")
}

// TestFileSinkReloadChangesRotation is a reload that changes roll_size: the
// new config's sink is opened while the old one still writes, both write
// through one logger that now rotates as the new config says, and the file
// is closed only when both are.
func TestFileSinkReloadChangesRotation(t *testing.T) {
	file := filepath.Join(t.TempDir(), "d.log")
	old, err := NewFileSink(FileSinkOptions{Path: file, MaxSizeMB: 5, MaxBackups: 2}, nil)
	require.NoError(t, err)
	require.NoError(t, old.Enqueue(testRecord("before-reload")))
	oldDone := make(chan struct{})
	go func() { // the old config keeps serving during the reload
		defer close(oldDone)
		for i := range 200 {
			if err := old.Enqueue(testRecord(fmt.Sprintf("old-%d", i))); err != nil {
				t.Error(err)
			}
		}
	}()
	// The same file through a path that is not yet absolute.
	t.Chdir(filepath.Dir(file))
	cur, err := NewFileSink(FileSinkOptions{Path: "d.log", MaxSizeMB: 7}, nil)
	require.NoError(t, err)
	shared := cur.q.be.(*fileBackend).out.(*sharedFile)
	assert.Same(t, old.q.be.(*fileBackend).out, shared, "one writer per path")
	refs, _ := files.References(file)
	assert.Equal(t, 2, refs)
	shared.mu.Lock()
	assert.Equal(t, 7, shared.lj.MaxSize, "the new config's rotation")
	assert.Equal(t, 0, shared.lj.MaxBackups)
	shared.mu.Unlock()
	for i := range 200 {
		require.NoError(t, cur.Enqueue(testRecord(fmt.Sprintf("new-%d", i))))
	}
	<-oldDone
	require.NoError(t, old.Close()) // the old config is cleaned up
	refs, _ = files.References(file)
	assert.Equal(t, 1, refs)
	require.NoError(t, cur.Enqueue(testRecord("after-reload")))
	require.NoError(t, cur.Close())
	_, inUse := files.References(file)
	assert.False(t, inUse)
	ids := map[string]bool{}
	for _, rec := range readLines(t, file) {
		ids[rec["decision_id"].(string)] = true
	}
	assert.Len(t, ids, 402, "every record of both configs, each once")

	// The next config opens the path afresh.
	next, err := NewFileSink(FileSinkOptions{Path: file}, nil)
	require.NoError(t, err)
	assert.NotSame(t, shared, next.q.be.(*fileBackend).out)
	require.NoError(t, next.Enqueue(testRecord("next")))
	require.NoError(t, next.Close())
	assert.Len(t, readLines(t, file), 403)
}

func TestNewFileSinkErrors(t *testing.T) {
	_, err := NewFileSink(FileSinkOptions{}, nil)
	assert.Error(t, err)
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	_, err = NewFileSink(FileSinkOptions{Path: filepath.Join(blocker, "d.log")}, nil)
	assert.Error(t, err, "the directory is a file")
}

var _ io.Writer = (*slowWriter)(nil)
