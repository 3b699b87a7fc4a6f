package tracing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/server"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"
)

// OPASinkOptions configure an OPASink.
type OPASinkOptions struct {
	// URL is the decision-log service (OPA's services.<name>.url); events
	// are POSTed gzipped to URL + "/logs".
	URL string
	// Labels are the events' labels (see Labels); OPA fills in id and
	// version when they are missing.
	Labels map[string]string
	// MinDelay and MaxDelay bound the upload period (default 300s/600s, as
	// in OPA; whole seconds).
	MinDelay, MaxDelay time.Duration
	// ShutdownTimeout bounds the final upload in Close. Default 5s.
	ShutdownTimeout time.Duration
	// QueueSize, MaxWait, FlushInterval and OnError are as in FileSinkOptions.
	QueueSize     int
	MaxWait       time.Duration
	FlushInterval time.Duration
	OnError       func(error)
	// Logger receives OPA's plugin logs. Default: none.
	Logger logging.Logger
}

// OPASink sends records to a remote OPA decision-log service through OPA's
// own decision_logs plugin (its buffering, gzip chunking, retries and
// trace_id/span_id fields). Records cross the same bounded queue as the file
// sink, but delivery is only as reliable as OPA's buffer: the file sink is the
// record of truth.
type OPASink struct {
	q       *queue
	manager *plugins.Manager
	timeout time.Duration
}

var _ Sink = (*OPASink)(nil)

// NewOPASink builds a plugin manager for one service and starts the
// decision_logs plugin. It does not contact the service.
func NewOPASink(ctx context.Context, opts OPASinkOptions, m *Metrics) (*OPASink, error) {
	if opts.URL == "" {
		return nil, errors.New("opa sink: url is required")
	}
	reporting := map[string]any{}
	if opts.MinDelay > 0 || opts.MaxDelay > 0 {
		minDelay, maxDelay := max(int64(opts.MinDelay.Seconds()), 1), int64(opts.MaxDelay.Seconds())
		reporting["min_delay_seconds"], reporting["max_delay_seconds"] = minDelay, max(maxDelay, minDelay)
	}
	raw, err := json.Marshal(map[string]any{
		"labels":        opts.Labels,
		"services":      map[string]any{"ecsgate_logs": map[string]any{"url": opts.URL}},
		"decision_logs": map[string]any{"service": "ecsgate_logs", "reporting": reporting},
	})
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = logging.NewNoOpLogger()
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 5 * time.Second
	}
	mgr, err := plugins.New(raw, opts.Labels["id"], inmem.New(),
		plugins.Logger(logger), plugins.ConsoleLogger(logger),
		plugins.GracefulShutdownPeriod(int(max(opts.ShutdownTimeout.Seconds(), 1))))
	if err != nil {
		return nil, fmt.Errorf("opa sink: %w", err)
	}
	// OPA sets labels.version to its own version; events carry ours, as the
	// file records do. Nothing runs yet, so no lock is needed.
	maps.Copy(mgr.Config.Labels, opts.Labels)
	cfg, err := logs.ParseConfig(mgr.Config.DecisionLogs, mgr.Services(), nil)
	if err != nil {
		return nil, fmt.Errorf("opa sink: %w", err)
	}
	plugin := logs.New(cfg, mgr)
	mgr.Register(logs.Name, plugin)
	if err := mgr.Start(ctx); err != nil {
		return nil, fmt.Errorf("opa sink: %w", err)
	}
	be := &opaBackend{plugin: plugin}
	return &OPASink{
		q:       newQueue("opa", opts.QueueSize, opts.MaxWait, opts.FlushInterval, m, opts.OnError, be),
		manager: mgr,
		timeout: opts.ShutdownTimeout,
	}, nil
}

// Enqueue queues rec like FileSink.Enqueue.
func (s *OPASink) Enqueue(rec *Record) error { return s.q.Enqueue(rec) }

// Close hands the queued records to the plugin, then stops it, uploading
// its buffer (bounded by ShutdownTimeout).
func (s *OPASink) Close() error {
	err := s.q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	s.manager.Stop(ctx)
	return err
}

// opaBackend hands records to the plugin, which buffers them itself.
type opaBackend struct {
	plugin *logs.Plugin
	buf    []byte
}

func (b *opaBackend) write(rec *Record) (written, lost int, err error) {
	// Reuse the record's masked JSON rather than a second masking path.
	if b.buf, err = rec.appendJSON(b.buf[:0]); err != nil {
		return 0, 1, err
	}
	var ev struct {
		Input    *any           `json:"input"`
		Result   *any           `json:"result"`
		Masked   []string       `json:"masked"`
		Status   int            `json:"status"`
		Rejected string         `json:"rejected"`
		Metrics  map[string]any `json:"metrics"`
	}
	if err := util.UnmarshalJSON(b.buf, &ev); err != nil {
		return 0, 1, err
	}
	custom := map[string]any{"status": ev.Status}
	if ev.Rejected != "" {
		custom["rejected"] = ev.Rejected
	}
	if len(ev.Masked) > 0 {
		custom["masked"] = ev.Masked
	}
	info := &server.Info{
		DecisionID: rec.DecisionID,
		TraceID:    rec.TraceID,
		SpanID:     rec.SpanID,
		Path:       LogPath(rec.Path),
		RemoteAddr: rec.RemoteIP,
		Timestamp:  rec.Timestamp.UTC(),
		Input:      ev.Input,
		Results:    ev.Result,
		Metrics:    fixedMetrics{metrics.New(), ev.Metrics},
		Custom:     custom,
	}
	if rec.Revision != "" {
		info.Bundles = map[string]server.BundleInfo{BundleName: {Revision: rec.Revision}}
	}
	if rec.Err != "" {
		info.Error = logError(truncate(rec.Err, maxErrLen))
	}
	if err := b.plugin.Log(context.Background(), info); err != nil {
		return 0, 1, err
	}
	return 1, 0, nil
}

func (*opaBackend) flush() (int, int, error) { return 0, 0, nil }
func (*opaBackend) close() error             { return nil }

// fixedMetrics reports the record's timers as OPA's metrics.
type fixedMetrics struct {
	metrics.Metrics
	all map[string]any
}

func (m fixedMetrics) All() map[string]any { return m.all }

// logError serializes like OPA's own errors.
type logError string

func (e logError) Error() string { return string(e) }

func (e logError) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"code": "ecsgate_error", "message": string(e)})
}
