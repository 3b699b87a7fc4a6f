package tracing

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Decision results, the "result" label of decisions_total.
const (
	ResultAllow  = "allow"
	ResultDeny   = "deny"
	ResultReject = "reject"
	ResultError  = "error"
)

// labelNone is the label value for an absent operation or action.
const labelNone = "none"

// labelOther is the action label of names outside KnownActions.
const labelOther = "other"

// knownActions bounds the "action" label: Nova server actions
// (POST /servers/{id}/action), the migration action, the host power actions
// (host.action; "reboot" is also a server action) and Huawei ECS native
// action names. Anything else is counted as "other".
var knownActions = map[string]bool{
	// Nova
	"addFixedIp": true, "addFloatingIp": true, "addSecurityGroup": true, "changePassword": true,
	"confirmResize": true, "createBackup": true, "createImage": true, "evacuate": true,
	"forceDelete": true, "injectNetworkInfo": true, "lock": true, "migrate": true,
	"os-getConsoleOutput": true, "os-getRDPConsole": true, "os-getSPICEConsole": true,
	"os-getSerialConsole": true, "os-getVNCConsole": true, "os-migrateLive": true,
	"os-resetState": true, "os-start": true, "os-stop": true, "pause": true, "reboot": true,
	"rebuild": true, "removeFixedIp": true, "removeFloatingIp": true, "removeSecurityGroup": true,
	"rescue": true, "resetNetwork": true, "resize": true, "restore": true, "resume": true,
	"revertResize": true, "shelve": true, "shelveOffload": true, "suspend": true,
	"trigger_crash_dump": true, "unlock": true, "unpause": true, "unrescue": true, "unshelve": true,
	"force_complete": true,
	// Nova host power actions (GET /os-hosts/{host_name}/...)
	"shutdown": true, "startup": true,
	// Huawei ECS native
	"changeos": true, "reinstallos": true, "os-reset-password": true, "trigger-crash-dump": true,
	"redeploy": true, "changevpc": true, "revert": true,
}

// ActionLabel is the bounded "action" label for an action name.
func ActionLabel(name string) string {
	switch {
	case name == "":
		return labelNone
	case knownActions[name]:
		return name
	default:
		return labelOther
	}
}

// Metrics are ecsgate's Prometheus collectors. A nil *Metrics records nothing.
type Metrics struct {
	decisions        *prometheus.CounterVec
	evalDuration     prometheus.Histogram
	identityDuration *prometheus.HistogramVec
	identityLookups  *prometheus.CounterVec
	recordsWritten   *prometheus.CounterVec
	recordsBlocked   *prometheus.CounterVec
	recordsFailed    *prometheus.CounterVec
	wireRefusals     *prometheus.CounterVec
	dryRuns          *prometheus.CounterVec
	activations      prometheus.Counter
	activationErrors prometheus.Counter
	revision         *prometheus.GaugeVec
	cacheHits        prometheus.Counter
}

// evalBuckets suit an in-process Rego evaluation: 5µs to 100ms.
var evalBuckets = []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1}

// identityBuckets span cache hits (µs) and Keystone round trips (up to 5s).
var identityBuckets = append(append([]float64(nil), evalBuckets...), 0.25, 0.5, 1, 2.5, 5)

// NewMetrics creates the collectors and registers them on reg (namespace
// caddy, subsystem ecsgate). A collector already registered on reg, by an
// earlier call for the same registry, is reused. reg may be nil: the
// collectors then work unregistered.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	const ns, sub = "caddy", "ecsgate"
	m := &Metrics{}
	var err error
	if m.decisions, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "decisions_total",
		Help: "Policy decisions by operation, action and result (allow, deny, reject, error).",
	}, []string{"operation", "action", "result"})); err != nil {
		return nil, err
	}
	if m.evalDuration, err = register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "policy_eval_duration_seconds",
		Help:    "Time spent evaluating the Rego policy.",
		Buckets: evalBuckets,
	})); err != nil {
		return nil, err
	}
	if m.identityDuration, err = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "identity_lookup_duration_seconds",
		Help:    "Time spent establishing the caller's identity, by cache hit or miss.",
		Buckets: identityBuckets,
	}, []string{"cache"})); err != nil {
		return nil, err
	}
	if m.identityLookups, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "identity_lookups_total",
		Help: "Identity lookups by cache hit or miss.",
	}, []string{"cache"})); err != nil {
		return nil, err
	}
	if m.recordsWritten, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "records_written_total",
		Help: "Decision records written by a sink.",
	}, []string{"sink"})); err != nil {
		return nil, err
	}
	if m.recordsBlocked, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "records_blocked_total",
		Help: "Decision records whose request waited for room in a full sink queue.",
	}, []string{"sink"})); err != nil {
		return nil, err
	}
	if m.recordsFailed, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "records_failed_total",
		Help: "Decision records a sink refused (request failed closed) or could not write.",
	}, []string{"sink"})); err != nil {
		return nil, err
	}
	if m.wireRefusals, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "wire_refusals_total",
		Help: "Requests the ecs_verified transport did not send, by reason (no_decision, method, target, header, framing, body, switching_protocols).",
	}, []string{"reason"})); err != nil {
		return nil, err
	}
	if m.dryRuns, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "dry_run_decisions_total",
		Help: "Shadow decisions (dry_run): computed and recorded, the request forwarded whatever the result.",
	}, []string{"operation", "action", "result"})); err != nil {
		return nil, err
	}
	if m.activations, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "policy_activations_total",
		Help: "Policy revisions activated (at load, on a file change, on a new bundle).",
	})); err != nil {
		return nil, err
	}
	if m.activationErrors, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "policy_activation_errors_total",
		Help: "Policy revisions that could not be activated (the last good one kept serving).",
	})); err != nil {
		return nil, err
	}
	if m.revision, err = register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "policy_revision_info",
		Help: "The active policy revision (value 1), by decision path.",
	}, []string{"decision", "revision"})); err != nil {
		return nil, err
	}
	if m.cacheHits, err = register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "decision_cache_hits_total",
		Help: "Policy decisions taken from the decision cache instead of an evaluation (against decisions_total: the hit ratio).",
	})); err != nil {
		return nil, err
	}
	return m, nil
}

// PolicyActivated records that revision is now the active policy for the
// decision path.
func (m *Metrics) PolicyActivated(decision, revision string) {
	if m == nil {
		return
	}
	m.activations.Inc()
	// One series per decision path: the old revision's goes.
	m.revision.DeletePartialMatch(prometheus.Labels{"decision": decision})
	m.revision.WithLabelValues(decision, revision).Set(1)
}

// PolicyActivationFailed counts a revision that could not be activated.
func (m *Metrics) PolicyActivationFailed() {
	if m == nil {
		return
	}
	m.activationErrors.Inc()
}

// WireRefused counts a request the ecs_verified transport did not send.
// reason is one of a fixed set of codes.
func (m *Metrics) WireRefused(reason string) {
	if m == nil {
		return
	}
	m.wireRefusals.WithLabelValues(reason).Inc()
}

// register registers c, or returns the collector of the same description
// already registered on reg.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if reg == nil {
		return c, nil
	}
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
		return c, fmt.Errorf("metrics: a collector of another type is registered as %T: %w", are.ExistingCollector, err)
	}
	return c, fmt.Errorf("metrics: %w", err)
}

// Result is the "result" label of a record.
func Result(rec *Record) string {
	switch {
	case rec.Rejected != "":
		return ResultReject
	case rec.Err != "":
		return ResultError
	case rec.Result != nil && rec.Result.Allow:
		return ResultAllow
	default:
		return ResultDeny
	}
}

// ObserveDecision counts the decision and observes its durations. An
// evaluation is observed when EvalDuration > 0, an identity lookup when
// IdentityDuration > 0 or IdentityCacheHit.
func (m *Metrics) ObserveDecision(rec *Record) {
	if m == nil || rec == nil {
		return
	}
	op, action := labelNone, labelNone
	if in := rec.Input; in != nil {
		if in.Operation != "" {
			op = in.Operation
		}
		if in.Action != nil {
			action = ActionLabel(in.Action.Name)
		}
	}
	if rec.DryRun {
		m.dryRuns.WithLabelValues(op, action, Result(rec)).Inc()
	} else {
		m.decisions.WithLabelValues(op, action, Result(rec)).Inc()
	}
	if rec.DecisionCached {
		m.cacheHits.Inc()
	}
	if rec.EvalDuration > 0 {
		m.evalDuration.Observe(rec.EvalDuration.Seconds())
	}
	if rec.IdentityDuration > 0 || rec.IdentityCacheHit {
		cache := "miss"
		if rec.IdentityCacheHit {
			cache = "hit"
		}
		m.identityDuration.WithLabelValues(cache).Observe(rec.IdentityDuration.Seconds())
		m.identityLookups.WithLabelValues(cache).Inc()
	}
}

// sinkCounters are one sink's record counters, resolved once.
type sinkCounters struct {
	written, blocked, failed prometheus.Counter
}

// nopCounter stands in when there are no metrics.
type nopCounter struct{ prometheus.Counter }

func (nopCounter) Inc()        {}
func (nopCounter) Add(float64) {}

func (m *Metrics) sink(name string) sinkCounters {
	if m == nil {
		return sinkCounters{nopCounter{}, nopCounter{}, nopCounter{}}
	}
	return sinkCounters{
		written: m.recordsWritten.WithLabelValues(name),
		blocked: m.recordsBlocked.WithLabelValues(name),
		failed:  m.recordsFailed.WithLabelValues(name),
	}
}
