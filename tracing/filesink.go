package tracing

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"gopkg.in/natefinch/lumberjack.v2"
)

// FileSinkOptions configure a FileSink.
type FileSinkOptions struct {
	// Path is the JSON-lines file. Backups are created beside it
	// (name-<timestamp>.ext) when it reaches MaxSizeMB.
	Path string
	// MaxSizeMB is the size in megabytes at which the file rotates
	// (lumberjack's unit). Default 100.
	MaxSizeMB int
	// MaxBackups is how many rotated files to keep; 0 keeps all.
	MaxBackups int
	// MaxAgeDays removes rotated files older than this; 0 keeps them.
	MaxAgeDays int
	// Compress gzips rotated files.
	Compress bool
	// QueueSize is how many records may wait for the writer. Default 4096.
	QueueSize int
	// MaxWait is how long Enqueue blocks on a full queue before it fails
	// (and the request fails closed). Default 2s.
	MaxWait time.Duration
	// FlushInterval bounds how long a record stays buffered while the queue
	// never drains. Default 1s.
	FlushInterval time.Duration
	// OnError, when set, is told about records that were accepted but
	// could not be written (the handler logs it). It runs on the writer
	// goroutine and must not block.
	OnError func(error)
}

// FileSink writes records as JSON lines to a size-rotated file, off the
// request path: Enqueue is a channel send, one goroutine marshals and writes
// through a bufio.Writer.
type FileSink struct {
	q *queue
}

var _ Sink = (*FileSink)(nil)

// Enqueue queues rec for writing. When the queue is full it blocks up to
// MaxWait, then returns an error wrapping ErrQueueFull: the caller must fail
// closed. It also fails after Close (ErrSinkClosed) and for a second after a
// write error (ErrSinkFailing). The sink owns rec from then on.
func (s *FileSink) Enqueue(rec *Record) error { return s.q.Enqueue(rec) }

// Close stops accepting records, writes and flushes every accepted one and
// closes the file. It is idempotent.
func (s *FileSink) Close() error { return s.q.Close() }

// NewFileSink opens (creating if needed, mode 0600) opts.Path and starts the
// writer. It fails when the file cannot be opened for appending.
func NewFileSink(opts FileSinkOptions, m *Metrics) (*FileSink, error) {
	if opts.Path == "" {
		return nil, errors.New("file sink: path is required")
	}
	if opts.MaxSizeMB <= 0 {
		opts.MaxSizeMB = 100
	}
	if opts.MaxBackups < 0 || opts.MaxAgeDays < 0 {
		return nil, errors.New("file sink: max backups and max age must not be negative")
	}
	path, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	opts.Path = path
	if err := checkWritable(path); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	f, err := openShared(opts)
	if err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	return newFileSink(opts, m, f), nil
}

// newFileSink writes to w (tests slow or break it).
func newFileSink(opts FileSinkOptions, m *Metrics, w io.Writer) *FileSink {
	if _, ok := w.(*sharedFile); !ok {
		w = &lineWriter{w: w}
	}
	be := &fileBackend{out: w, bw: bufio.NewWriterSize(w, 64<<10)}
	if c, ok := w.(io.Closer); ok {
		be.closer = c
	}
	return &FileSink{q: newQueue("file", opts.QueueSize, opts.MaxWait, opts.FlushInterval, m, opts.OnError, be)}
}

func checkWritable(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// fileBackend marshals records into a bufio.Writer. Every write reaching the
// underlying writer holds whole lines, so rotation never splits a record.
type fileBackend struct {
	out     io.Writer
	closer  io.Closer
	bw      *bufio.Writer
	buf     []byte
	pending int // records in bw
}

// lineWriter serializes writes and, when a write failed half-way through a
// line, ends that line before the next write, so that one failure costs the
// records it lost and never corrupts the next one (of any sink sharing the
// file).
type lineWriter struct {
	mu      sync.Mutex
	w       io.Writer
	partial bool
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.partial {
		if _, err := l.w.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		l.partial = false
	}
	n, err := l.w.Write(p)
	l.partial = err != nil && n > 0 && p[n-1] != '\n'
	return n, err
}

func (b *fileBackend) write(rec *Record) (written, lost int, err error) {
	line, err := rec.appendJSON(b.buf[:0])
	if err != nil {
		return 0, 1, fmt.Errorf("marshalling decision %s: %w", rec.DecisionID, err)
	}
	line = append(line, '\n')
	if cap(line) <= 1<<20 { // keep the buffer unless a record was huge
		b.buf = line
	}
	if len(line) > b.bw.Available() && b.bw.Buffered() > 0 {
		if written, lost, err = b.flush(); err != nil {
			return written, lost + 1, err
		}
	}
	// With an empty buffer bufio hands a line longer than its size to the
	// writer in one call.
	if _, err := b.bw.Write(line); err != nil {
		_, lost, err = b.reset(1, err)
		return written, lost, err
	}
	if b.bw.Buffered() == 0 {
		return written + 1, 0, nil
	}
	b.pending++
	return written, 0, nil
}

func (b *fileBackend) flush() (written, lost int, err error) {
	if err := b.bw.Flush(); err != nil {
		return b.reset(0, err)
	}
	written, b.pending = b.pending, 0
	return written, 0, nil
}

// reset discards what bufio holds after an error (bufio errors are sticky)
// and reports the pending records plus extra as lost.
func (b *fileBackend) reset(extra int, err error) (written, lost int, _ error) {
	lost = b.pending + extra
	b.pending = 0
	b.bw.Reset(b.out)
	return 0, lost, err
}

func (b *fileBackend) close() error {
	if b.closer != nil {
		return b.closer.Close()
	}
	return nil
}

// files holds one sharedFile per absolute path, whatever config opened it:
// during a Caddy reload the new config is provisioned before the old one is
// cleaned up, and both must write through one writer, so that two
// lumberjack.Loggers never rotate the same file and a reload does not start
// another logger's rotation goroutine. The last FileSink to close a path
// closes its file (sharedFile.Destruct).
var files = caddy.NewUsagePool()

// sharedFile is the lumberjack.Logger of one path, shared by every FileSink
// writing that path. Each FileSink holds one reference, released by Close.
type sharedFile struct {
	lineWriter // over lj; mu also guards rot and lj
	path       string
	rot        rotation
	lj         *lumberjack.Logger
}

var _ caddy.Destructor = (*sharedFile)(nil)

// rotation is what a lumberjack.Logger is configured with besides the path.
type rotation struct {
	maxSize, maxBackups, maxAge int
	compress                    bool
}

func openShared(opts FileSinkOptions) (*sharedFile, error) {
	v, _, err := files.LoadOrNew(opts.Path, func() (caddy.Destructor, error) {
		return &sharedFile{path: opts.Path}, nil
	})
	if err != nil {
		return nil, err
	}
	f := v.(*sharedFile)
	f.configure(rotation{opts.MaxSizeMB, opts.MaxBackups, opts.MaxAgeDays, opts.Compress})
	return f, nil
}

// configure makes the file rotate as rot asks: the latest config sharing the
// file wins, so a reload that changes the rotation options takes effect.
// Replacing the logger leaves its idle rotation goroutine behind (lumberjack
// never stops it); that happens only when the options change.
func (f *sharedFile) configure(rot rotation) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lj != nil && f.rot == rot {
		return
	}
	if f.lj != nil {
		_ = f.lj.Close() // reopened by the new logger's first write
	}
	f.rot = rot
	f.lj = &lumberjack.Logger{
		Filename:   f.path,
		MaxSize:    rot.maxSize,
		MaxBackups: rot.maxBackups,
		MaxAge:     rot.maxAge,
		Compress:   rot.compress,
	}
	f.w = f.lj
}

// Close releases one FileSink's reference; the last one closes the file.
func (f *sharedFile) Close() error {
	_, err := files.Delete(f.path)
	return err
}

// Destruct closes the file once no FileSink uses it.
func (f *sharedFile) Destruct() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lj == nil {
		return nil
	}
	return f.lj.Close()
}
