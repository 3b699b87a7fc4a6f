package tracing

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the sink queues.
const (
	DefaultQueueSize     = 4096
	DefaultMaxWait       = 2 * time.Second
	DefaultFlushInterval = time.Second
)

// retryAfterFailure is how long a sink refuses records after it failed to
// write: the gateway fails closed rather than forward requests it cannot
// record, and tries again after this pause. A variable for tests.
var retryAfterFailure = time.Second

// Errors returned by Enqueue. The handler fails closed on any error.
var (
	// ErrQueueFull means the sink's queue stayed full for MaxWait.
	ErrQueueFull = errors.New("decision record queue full")
	// ErrSinkClosed means the sink was closed.
	ErrSinkClosed = errors.New("decision record sink closed")
	// ErrSinkFailing means the sink recently failed to write records.
	ErrSinkFailing = errors.New("decision record sink failing")
)

// monoBase anchors monoNow to the monotonic clock: a wall-clock step must
// not stretch the time a failing sink refuses records.
var monoBase = time.Now()

// monoNow is monotonic nanoseconds, never 0.
func monoNow() int64 { return int64(time.Since(monoBase)) + 1 }

// Sink receives decision records. Enqueue must cost the request little
// (typically one channel send) and return an error when the record was not
// accepted: the caller then fails closed. Close writes out everything
// accepted; Enqueue after Close fails.
type Sink interface {
	Enqueue(*Record) error
	Close() error
}

// backend is what a queue's single worker goroutine drives. Both write and
// flush report the records they got out (written) or gave up on (lost).
type backend interface {
	// write handles one record; it may buffer it.
	write(*Record) (written, lost int, err error)
	// flush pushes buffered records out.
	flush() (written, lost int, err error)
	// close releases the backend after the final flush.
	close() error
}

// queue is the bounded, asynchronous front of a sink: Enqueue sends on a
// buffered channel, one goroutine writes. When the channel is full Enqueue
// blocks up to maxWait, then fails (counted as blocked, then failed).
type queue struct {
	name          string
	ch            chan *Record
	maxWait       time.Duration
	flushInterval time.Duration
	counters      sinkCounters
	onError       func(error)
	be            backend

	mu     sync.RWMutex // Enqueue holds R while sending; Close holds W to close ch
	closed bool
	done   chan struct{}
	once   sync.Once
	err    error

	failedAt atomic.Int64 // monoNow() of the last write failure, 0 when healthy
	lastErr  atomic.Pointer[error]
}

func newQueue(name string, size int, maxWait, flushInterval time.Duration, m *Metrics, onError func(error), be backend) *queue {
	if size <= 0 {
		size = DefaultQueueSize
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	if flushInterval <= 0 {
		flushInterval = DefaultFlushInterval
	}
	q := &queue{
		name:          name,
		ch:            make(chan *Record, size),
		maxWait:       maxWait,
		flushInterval: flushInterval,
		counters:      m.sink(name),
		onError:       onError,
		be:            be,
		done:          make(chan struct{}),
	}
	go q.run()
	return q
}

// Enqueue hands rec to the writer goroutine. It blocks at most maxWait when
// the queue is full.
func (q *queue) Enqueue(rec *Record) error {
	if rec == nil {
		return fmt.Errorf("%s sink: nil decision record", q.name)
	}
	if at := q.failedAt.Load(); at != 0 && monoNow()-at < int64(retryAfterFailure) {
		q.counters.failed.Inc()
		return fmt.Errorf("%s sink: %w: %w", q.name, ErrSinkFailing, *q.lastErr.Load())
	}
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.counters.failed.Inc()
		return fmt.Errorf("%s sink: %w", q.name, ErrSinkClosed)
	}
	select {
	case q.ch <- rec:
		return nil
	default:
	}
	q.counters.blocked.Inc()
	t := time.NewTimer(q.maxWait)
	defer t.Stop()
	select {
	case q.ch <- rec:
		return nil
	case <-t.C:
		q.counters.failed.Inc()
		return fmt.Errorf("%s sink: %w after %s", q.name, ErrQueueFull, q.maxWait)
	}
}

// Close stops accepting records, waits for the writer to write and flush
// everything accepted, and closes the backend. It is idempotent.
func (q *queue) Close() error {
	q.once.Do(func() {
		q.mu.Lock()
		q.closed = true
		close(q.ch) // no sender is inside Enqueue past this point
		q.mu.Unlock()
		<-q.done
		q.err = q.be.close()
	})
	return q.err
}

// run is the single writer. It writes records as they come and flushes when
// the queue drains, or after flushInterval of continuous load, so a record
// waits in the buffer at most about that long.
func (q *queue) run() {
	defer close(q.done)
	for {
		rec, ok := <-q.ch
		if !ok {
			return
		}
		last := time.Now()
		q.write(rec)
	drain:
		for {
			select {
			case rec, ok := <-q.ch:
				if !ok {
					q.flush()
					return
				}
				q.write(rec)
				if time.Since(last) >= q.flushInterval {
					q.flush()
					last = time.Now()
				}
			default:
				break drain
			}
		}
		q.flush()
	}
}

func (q *queue) write(rec *Record) {
	q.account(q.be.write(rec))
}

func (q *queue) flush() {
	q.account(q.be.flush())
}

// account counts what the backend did. A failure also makes Enqueue refuse
// records for retryAfterFailure; a later successful flush ends that early.
func (q *queue) account(written, lost int, err error) {
	if written > 0 {
		q.counters.written.Add(float64(written))
	}
	if err == nil {
		if written > 0 {
			q.failedAt.Store(0)
		}
		return
	}
	q.counters.failed.Add(float64(lost))
	last := err // a copy, so that err does not escape on the success path
	q.lastErr.Store(&last)
	q.failedAt.Store(monoNow())
	if q.onError != nil {
		q.onError(fmt.Errorf("%s sink lost %d decision record(s): %w", q.name, lost, err))
	}
}
