// Package policy evaluates ecsgate's Rego policies in-process with OPA. It
// owns the policy input document and the decision type; it knows nothing of
// Caddy or HTTP routing.
package policy

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"

	shipped "github.com/ecsgate/ecsgate/rego"
)

// DefaultTimeout bounds one evaluation; past it the request is denied.
const DefaultTimeout = 100 * time.Millisecond

// ErrNotReady is returned by Decide until a policy is active: a bundle that
// has not been downloaded yet. The caller must answer 503, never allow.
var ErrNotReady = errors.New("policy: no policy is active yet")

// Options configures an Engine.
type Options struct {
	// Policies are .rego files or directories (searched recursively,
	// *_test.rego skipped). Empty, without Bundle, means the policy
	// embedded in the binary.
	Policies []string
	// Data are JSON or YAML documents merged under `data`.
	Data []string
	// Bundle loads the policy and data from an OPA bundle server instead.
	Bundle *BundleOptions
	// Decision is the rule to evaluate, default data.ecsgate.authz.decision.
	Decision string
	// Timeout bounds each evaluation, default DefaultTimeout. Time spent
	// in lookups of the ecs.server built-in does not count.
	Timeout time.Duration
	// ServerLookup answers the ecs.server built-in (builtins.go); nil makes
	// every call undefined. The built-in is declared either way, so a
	// policy that uses it always compiles.
	ServerLookup ServerLookup
	// DecisionCache bounds how many decisions of a revision are remembered
	// (cache.go): default DefaultDecisionCache, negative turns the cache
	// off. Only deterministic revisions are cached.
	DecisionCache int
	// Now, when set, is the time the policy sees (time.now_ns); tests only.
	Now func() time.Time
	// OnActivate is called after each activation of a policy revision.
	OnActivate func(revision string)
	// OnError is called when a new revision cannot be activated (the last
	// good one keeps serving).
	OnError func(error)
}

// Engine evaluates the active policy revision. The revision can change while
// the gateway runs (watched files, bundles): an evaluation uses the revision
// that was active when it started, and a revision that fails to load never
// replaces a good one.
type Engine struct {
	opts   Options
	active atomic.Pointer[compiled]
	// loaded fingerprints the files the first revision was read from.
	loaded string
}

// compiled is one activated revision: everything that can be done per
// revision is done once, in compile.
type compiled struct {
	// query is the decision query, prepared once per revision.
	query rego.PreparedEvalQuery
	// compiler and store hold the policy and its data, for explanations
	// that name the user's own rules.
	compiler *ast.Compiler
	store    storage.Store
	revision string
	// cache is nil when the revision cannot be cached.
	cache *decisionCache
}

// New loads, compiles and prepares the policy. Errors name the file and line.
// With a Bundle, New returns at once with no active policy (Decide answers
// ErrNotReady) and Start begins the downloads.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Decision == "" {
		opts.Decision = shipped.DefaultDecision
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	ref, err := ast.ParseRef(opts.Decision)
	if err != nil || !ref.HasPrefix(ast.DefaultRootRef) || len(ref) < 2 {
		return nil, fmt.Errorf("decision %q: must be a reference under data, e.g. data.ecsgate.authz.decision", opts.Decision)
	}
	if opts.Bundle != nil && (len(opts.Policies) > 0 || len(opts.Data) > 0) {
		return nil, errors.New("a bundle carries its own policy and data: use either bundle or policy/data")
	}
	e := &Engine{opts: opts}
	if opts.Bundle != nil {
		if err := opts.Bundle.validate(); err != nil {
			return nil, err
		}
		return e, nil
	}
	// Taken before loading: a change made while loading is seen as a
	// change (one harmless reload), never missed.
	e.loaded = fingerprint(opts.Policies, opts.Data)
	src, err := loadFiles(opts.Policies, opts.Data)
	if err != nil {
		return nil, err
	}
	if err := e.activate(ctx, src); err != nil {
		return nil, err
	}
	return e, nil
}

// activate compiles src and makes it the active revision.
func (e *Engine) activate(ctx context.Context, src *source) error {
	c, err := e.compile(ctx, src)
	if err != nil {
		return err
	}
	e.active.Store(c)
	if e.opts.OnActivate != nil {
		e.opts.OnActivate(c.revision)
	}
	return nil
}

// Decide evaluates the policy for in. A non-nil error always comes with a
// denying decision: callers may rely on Allow alone.
func (e *Engine) Decide(ctx context.Context, in *Input) (Decision, error) {
	c := e.active.Load()
	if c == nil {
		return denyOnError(), ErrNotReady
	}
	if err := ctx.Err(); err != nil {
		return denyOnError(), fmt.Errorf("evaluating %s: %w", e.opts.Decision, err)
	}
	// The cache key comes from the Go input when it can: a decision taken
	// from the cache then costs no OPA value at all.
	var key string
	cacheable := false
	if c.cache != nil {
		if key, cacheable = c.cache.inputKey(in); cacheable {
			if d, hit := c.cache.get(key); hit {
				d.Cached = true
				return d, nil
			}
		}
	}
	val, err := in.Value()
	if err != nil {
		return denyOnError(), fmt.Errorf("building policy input: %w", err)
	}
	if cacheable {
		return e.evaluate(ctx, c, val, key, true)
	}
	return e.decide(ctx, c, val)
}

// DecideValue evaluates the policy for an input already built as an OPA
// value (Input.Value).
func (e *Engine) DecideValue(ctx context.Context, input ast.Value) (Decision, error) {
	c := e.active.Load()
	if c == nil {
		return denyOnError(), ErrNotReady
	}
	return e.decide(ctx, c, input)
}

// decide answers from revision c's cache, keyed on the OPA value, or
// evaluates.
func (e *Engine) decide(ctx context.Context, c *compiled, input ast.Value) (Decision, error) {
	// A request whose client is gone or whose deadline passed is denied
	// outright: OPA notices cancellation only at its next check.
	if err := ctx.Err(); err != nil {
		return denyOnError(), fmt.Errorf("evaluating %s: %w", e.opts.Decision, err)
	}
	var key string
	cacheable := false
	if c.cache != nil {
		// A policy that reads nothing of the input has one key, "".
		if key, cacheable = c.cache.key(input); cacheable {
			if d, hit := c.cache.get(key); hit {
				d.Cached = true
				return d, nil
			}
		}
	}
	return e.evaluate(ctx, c, input, key, cacheable)
}

// evaluate runs the policy; the decision is remembered under key when
// cacheable.
func (e *Engine) evaluate(ctx context.Context, c *compiled, input ast.Value, key string, cacheable bool) (Decision, error) {
	cancel := newDeadline(ctx, e.opts.Timeout)
	opts := []rego.EvalOption{
		rego.EvalParsedInput(input),
		// Without an external cancel, Eval starts a goroutine per call to
		// watch the context; the deadline polls it instead.
		rego.EvalExternalCancel(cancel),
		rego.EvalMetrics(noMetrics),
		rego.EvalVirtualCache(newFlatCache()),
		// The result stays an OPA value: converting it to Go maps and back
		// costs more than reading it.
		rego.EvalGenerateJSON(keepTerm),
	}
	if e.opts.Now != nil {
		opts = append(opts, rego.EvalTime(e.opts.Now()))
	}
	rs, err := c.query.Eval(ctx, opts...)
	if err != nil {
		if cause := cancel.cause(); cause != nil {
			err = fmt.Errorf("%w (%w)", cause, err)
		}
		return denyOnError(), fmt.Errorf("evaluating %s: %w", e.opts.Decision, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		if cacheable {
			c.cache.put(key, Undefined())
		}
		return Undefined(), nil
	}
	if len(rs) > 1 {
		return denyOnError(), fmt.Errorf("%s: %w: %d results", e.opts.Decision, ErrInvalidDecision, len(rs))
	}
	term, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return denyOnError(), fmt.Errorf("%s: %w: unexpected result %T", e.opts.Decision, ErrInvalidDecision, rs[0].Expressions[0].Value)
	}
	d, err := decisionFromValue(term.Value)
	if err != nil {
		return denyOnError(), fmt.Errorf("%s: %w", e.opts.Decision, err)
	}
	if cacheable {
		c.cache.put(key, d)
	}
	return d, nil
}

// CacheStats are the decision cache's hits and misses for the active
// revision, and whether it caches at all.
func (e *Engine) CacheStats() (hits, misses int64, enabled bool) {
	c := e.active.Load()
	if c == nil || c.cache == nil {
		return 0, 0, false
	}
	return c.cache.hits.Load(), c.cache.misses.Load(), true
}

func keepTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// noMetrics spares each evaluation a metrics registry of its own.
var noMetrics = metrics.NoOp()

// Revision identifies the active policy and data: a bundle's manifest
// revision, or a SHA-256 over the files. "" before the first activation.
func (e *Engine) Revision() string {
	if c := e.active.Load(); c != nil {
		return c.revision
	}
	return ""
}

// Ready reports whether a policy is active.
func (e *Engine) Ready() bool { return e.active.Load() != nil }

// DecisionPath is the rule the engine evaluates.
func (e *Engine) DecisionPath() string { return e.opts.Decision }

func denyOnError() Decision {
	return Decision{Allow: false, Reasons: []string{"policy evaluation failed (denied)"}, Status: 403}
}

// deadline is the topdown.Cancel of one evaluation: it trips when the
// evaluation has run longer than the engine's timeout or when the request's
// context ends. OPA polls Cancelled before every expression it evaluates, so
// the clock and the context are consulted only once per checkEvery polls:
// cheaper than a timer and a goroutine per evaluation, and still within
// microseconds of the deadline.
type deadline struct {
	ctx       context.Context
	deadline  atomic.Int64 // unix nanoseconds
	polls     atomic.Uint32
	cancelled atomic.Bool
	timedOut  atomic.Bool
}

const checkEvery = 64

func newDeadline(ctx context.Context, timeout time.Duration) *deadline {
	d := &deadline{ctx: ctx}
	d.deadline.Store(time.Now().Add(timeout).UnixNano())
	return d
}

// extend moves the deadline by the time a built-in spent waiting on the
// network: the timeout bounds the policy's own work.
func (d *deadline) extend(by time.Duration) { d.deadline.Add(int64(by)) }

// Cancel implements topdown.Cancel.
func (d *deadline) Cancel() { d.cancelled.Store(true) }

// Cancelled implements topdown.Cancel.
func (d *deadline) Cancelled() bool {
	if d.cancelled.Load() {
		return true
	}
	if d.polls.Add(1)%checkEvery != 0 {
		return false
	}
	if d.ctx.Err() != nil {
		d.cancelled.Store(true)
		return true
	}
	if time.Now().UnixNano() >= d.deadline.Load() {
		d.timedOut.Store(true)
		d.cancelled.Store(true)
		return true
	}
	return false
}

// cause says why an evaluation was stopped, if it was.
func (d *deadline) cause() error {
	switch {
	case d.timedOut.Load():
		return context.DeadlineExceeded
	case d.cancelled.Load():
		if err := context.Cause(d.ctx); err != nil {
			return err
		}
		return context.Canceled
	}
	return nil
}

var _ topdown.Cancel = (*deadline)(nil)
