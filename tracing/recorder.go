package tracing

import (
	"errors"
	"maps"
	"time"
)

// Recorder counts every decision in the metrics and hands its record to
// every sink.
type Recorder struct {
	metrics *Metrics
	sinks   []Sink
	labels  map[string]string
}

// NewRecorder returns a Recorder over sinks (none is valid: metrics only).
// m may be nil.
func NewRecorder(m *Metrics, sinks ...Sink) *Recorder {
	return &Recorder{metrics: m, sinks: sinks, labels: Labels("", "")}
}

// Labels returns OPA's decision-log labels for an ecsgate instance: id (an
// instance id, e.g. a UUID made at provisioning), version and app.
func Labels(id, version string) map[string]string {
	return map[string]string{"id": id, "version": version, "app": App}
}

// WithLabels sets the labels given to records that have none (see Labels).
// Call it before the first Record.
func (r *Recorder) WithLabels(labels map[string]string) *Recorder {
	r.labels = maps.Clone(labels)
	if r.labels == nil {
		r.labels = map[string]string{}
	}
	if _, ok := r.labels["app"]; !ok {
		r.labels["app"] = App
	}
	return r
}

// Record counts rec and enqueues it on every sink; from then on the sinks own
// rec (see Record). It fills in Timestamp and Labels when unset. An error
// means at least one sink did not accept the record: the caller must fail
// closed (503) instead of forwarding the request. The sinks that did accept it
// still write it.
func (r *Recorder) Record(rec *Record) error {
	if rec == nil {
		return errors.New("nil decision record")
	}
	if rec.Timestamp.IsZero() {
		rec.Timestamp = time.Now()
	}
	if rec.Labels == nil {
		rec.Labels = r.labels // shared and never modified
	}
	r.metrics.ObserveDecision(rec)
	var errs []error
	for _, s := range r.sinks {
		if err := s.Enqueue(rec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close closes every sink, writing out what they accepted.
func (r *Recorder) Close() error {
	var errs []error
	for _, s := range r.sinks {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
