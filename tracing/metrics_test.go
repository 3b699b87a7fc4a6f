package tracing

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/policy"
)

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	m1, err := NewMetrics(reg)
	require.NoError(t, err)
	m2, err := NewMetrics(reg)
	require.NoError(t, err, "a second registration on the same registry reuses the collectors")
	assert.Same(t, m1.decisions, m2.decisions)
	assert.Equal(t, m1.evalDuration, m2.evalDuration)

	m1.ObserveDecision(testRecord("d-1"))
	m2.ObserveDecision(testRecord("d-2"))
	assert.Equal(t, 2.0, testutil.ToFloat64(m1.decisions.WithLabelValues("server.action", "changePassword", "deny")))
}

func TestMetricsConflictingCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "ecsgate", Name: "policy_eval_duration_seconds", Help: "Time spent evaluating the Rego policy.",
	})))
	_, err := NewMetrics(reg)
	assert.Error(t, err)
}

func TestMetricsObserveDecision(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	require.NoError(t, err)

	allow := testRecord("a")
	allow.Result = &policy.Decision{Allow: true}
	allow.IdentityCacheHit = false
	allow.IdentityDuration = 80 * time.Millisecond
	other := testRecord("o")
	other.Input.Action.Name = "someVendorAction"
	reject := &Record{Rejected: "bad_body", Input: &policy.Input{Operation: "server.action"}}
	failed := testRecord("e")
	failed.Err = "keystone unreachable"
	noAction := testRecord("n")
	noAction.Input.Operation, noAction.Input.Action = "server.read", nil

	for _, rec := range []*Record{allow, testRecord("d"), other, reject, failed, noAction} {
		m.ObserveDecision(rec)
	}
	var nilMetrics *Metrics
	nilMetrics.ObserveDecision(allow) // no panic

	assert.Equal(t, 6, testutil.CollectAndCount(m.decisions))
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"server.action", "changePassword", "allow"}, 1},
		{[]string{"server.action", "changePassword", "deny"}, 1},
		{[]string{"server.action", "other", "deny"}, 1},
		{[]string{"server.action", "none", "reject"}, 1},
		{[]string{"server.action", "changePassword", "error"}, 1},
		{[]string{"server.read", "none", "deny"}, 1},
	} {
		assert.Equal(t, c.want, testutil.ToFloat64(m.decisions.WithLabelValues(c.labels...)), "%v", c.labels)
	}
	assert.Equal(t, 1.0, testutil.ToFloat64(m.identityLookups.WithLabelValues("miss")))
	assert.Equal(t, 4.0, testutil.ToFloat64(m.identityLookups.WithLabelValues("hit")))
	assert.Equal(t, 2, testutil.CollectAndCount(m.identityDuration))

	// The rejected record has no evaluation: five observations.
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP caddy_ecsgate_policy_eval_duration_seconds Time spent evaluating the Rego policy.
# TYPE caddy_ecsgate_policy_eval_duration_seconds histogram
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="5e-06"} 0
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="1e-05"} 0
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="2.5e-05"} 0
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="5e-05"} 5
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="0.0001"} 5
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="0.00025"} 5
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="0.0005"} 5
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="0.001"} 5
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="0.0025"} 5
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="0.005"} 5
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="0.01"} 5
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="0.025"} 5
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="0.05"} 5
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="0.1"} 5
caddy_ecsgate_policy_eval_duration_seconds_bucket{le="+Inf"} 5
caddy_ecsgate_policy_eval_duration_seconds_sum 0.00020999999999999998
caddy_ecsgate_policy_eval_duration_seconds_count 5
`), "caddy_ecsgate_policy_eval_duration_seconds"))
}

func TestActionLabel(t *testing.T) {
	assert.Equal(t, "os-start", ActionLabel("os-start"))
	assert.Equal(t, "changeos", ActionLabel("changeos"))
	for _, host := range []string{"reboot", "shutdown", "startup"} {
		assert.Equal(t, host, ActionLabel(host))
	}
	assert.Equal(t, "other", ActionLabel("os-start; DROP"))
	assert.Equal(t, "none", ActionLabel(""))
}

func TestSinkMetricsNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	require.NoError(t, err)
	c := m.sink("file")
	c.written.Inc()
	c.blocked.Inc()
	c.failed.Inc()
	n, err := testutil.GatherAndCount(reg,
		"caddy_ecsgate_records_written_total", "caddy_ecsgate_records_blocked_total", "caddy_ecsgate_records_failed_total")
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func TestMetricsShadowAndCachedDecisions(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	in := &policy.Input{Operation: "server.action", Action: &policy.Action{Name: "unlock"}}
	m.ObserveDecision(&Record{Input: in, Result: &policy.Decision{Allow: true}, DecisionCached: true})
	m.ObserveDecision(&Record{Input: in, Result: &policy.Decision{Allow: false}, DryRun: true})
	assert.Equal(t, 1.0, testutil.ToFloat64(m.cacheHits))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.decisions.WithLabelValues("server.action", "unlock", "allow")))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.dryRuns.WithLabelValues("server.action", "unlock", "deny")),
		"a shadow decision is counted apart")
	assert.Zero(t, testutil.ToFloat64(m.decisions.WithLabelValues("server.action", "unlock", "deny")))
}
