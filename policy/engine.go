// Package policy evaluates ecsgate's Rego policies in-process with OPA. It
// owns the policy input document and the decision type; it knows nothing of
// Caddy or HTTP routing.
package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"

	shipped "github.com/ecsgate/ecsgate/rego"
)

// DefaultTimeout bounds one evaluation; past it the request is denied.
const DefaultTimeout = 100 * time.Millisecond

// Options configures an Engine.
type Options struct {
	// Policies are .rego files or directories (searched recursively,
	// *_test.rego skipped). Empty means the policy embedded in the binary.
	Policies []string
	// Data are JSON or YAML documents merged under `data`.
	Data []string
	// Decision is the rule to evaluate, default data.ecsgate.authz.decision.
	Decision string
	// Timeout bounds each evaluation, default DefaultTimeout.
	Timeout time.Duration
}

// Engine holds one compiled policy and query: everything that can be done
// once per configuration load is done in New.
//
// Evaluation calls OPA's evaluator (topdown) directly rather than through
// rego.PreparedEvalQuery.Eval, which per call starts a goroutine to watch the
// context, allocates a metrics registry and converts the result to
// map[string]any. Measured with the shipped policy (bench/README.md), that
// wrapper alone cost more than the policy itself.
type Engine struct {
	compiler *ast.Compiler
	query    ast.Body // result = <decision ref>
	result   ast.Var
	store    storage.Store
	decision string
	revision string
	timeout  time.Duration
}

// resultVar names the query variable bound to the decision.
const resultVar = ast.Var("ecsgate_decision")

// New loads, compiles and prepares the policy. Errors name the file and line.
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

	modules, err := loadModules(opts.Policies)
	if err != nil {
		return nil, err
	}
	docs, err := loadData(opts.Data)
	if err != nil {
		return nil, err
	}

	// Data is stored as AST values so that a policy reading it (access keys)
	// does not convert it from Go values on every evaluation.
	store := inmem.NewFromObjectWithOpts(docs, inmem.OptReturnASTValuesOnRead(true))
	compiler := ast.NewCompiler()
	regoOpts := []func(*rego.Rego){
		rego.Query(opts.Decision),
		rego.Store(store),
		rego.Compiler(compiler),
	}
	names := make([]string, 0, len(modules))
	for name := range modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		regoOpts = append(regoOpts, rego.ParsedModule(modules[name].Parsed))
	}
	// rego compiles the modules into compiler (with its checks against the
	// data in store) and type-checks the query; the prepared query itself is
	// not used for evaluation.
	if _, err := rego.New(regoOpts...).PrepareForEval(ctx); err != nil {
		return nil, fmt.Errorf("compiling policy: %w", err)
	}
	if !definesRule(modules, ref) {
		return nil, fmt.Errorf("decision %s: no loaded policy defines it", opts.Decision)
	}
	query, err := compiler.QueryCompiler().Compile(ast.NewBody(ast.Equality.Expr(ast.NewTerm(resultVar), ast.NewTerm(ref))))
	if err != nil {
		return nil, fmt.Errorf("compiling query %s: %w", opts.Decision, err)
	}
	return &Engine{
		compiler: compiler,
		query:    query,
		result:   resultVar,
		store:    store,
		decision: opts.Decision,
		revision: revision(names, modules, docs),
		timeout:  opts.Timeout,
	}, nil
}

// Decide evaluates the policy for in. A non-nil error always comes with a
// denying decision: callers may rely on Allow alone.
func (e *Engine) Decide(ctx context.Context, in *Input) (Decision, error) {
	val, err := in.Value()
	if err != nil {
		return denyOnError(), fmt.Errorf("building policy input: %w", err)
	}
	return e.DecideValue(ctx, val)
}

// DecideValue evaluates the policy for an input already built as an OPA
// value (Input.Value).
func (e *Engine) DecideValue(ctx context.Context, input ast.Value) (Decision, error) {
	// A request whose client is gone or whose deadline passed is denied
	// outright: OPA notices cancellation only at its next check.
	if err := ctx.Err(); err != nil {
		return denyOnError(), fmt.Errorf("evaluating %s: %w", e.decision, err)
	}
	cancel := newDeadline(ctx, e.timeout)
	txn, err := e.store.NewTransaction(ctx)
	if err != nil {
		return denyOnError(), fmt.Errorf("evaluating %s: %w", e.decision, err)
	}
	defer e.store.Abort(ctx, txn)

	q := topdown.NewQuery(e.query).
		WithCompiler(e.compiler).
		WithStore(e.store).
		WithTransaction(txn).
		WithInput(ast.NewTerm(input)).
		WithCancel(cancel).
		WithVirtualCache(newFlatCache()).
		WithMetrics(noMetrics)
	reserveStack()
	// The evaluation runs to its end even though the first result is the
	// decision: OPA finds a rule's conflicting values (an error, so a deny)
	// only while backtracking after the first one.
	var result *ast.Term
	err = q.Iter(ctx, func(qr topdown.QueryResult) error {
		if result == nil {
			result = qr[e.result]
		}
		return nil
	})
	if err != nil {
		if cause := cancel.cause(); cause != nil {
			err = fmt.Errorf("%w (%w)", cause, err)
		}
		return denyOnError(), fmt.Errorf("evaluating %s: %w", e.decision, err)
	}
	if result == nil {
		return Undefined(), nil
	}
	d, err := decisionFromValue(result.Value)
	if err != nil {
		return denyOnError(), fmt.Errorf("%s: %w", e.decision, err)
	}
	return d, nil
}

// reserveStack grows the goroutine's stack, in one step and while it is
// still shallow, to what OPA's recursive evaluator is about to use (32-40
// KiB for the shipped policy's allowed requests, measured). A request's
// goroutine has its stack halved by every GC it sits idle through, so
// without this the next evaluation regrows it two or three times from deep
// inside the evaluator, each copy walking a hundred frames: 5 % of the
// gateway's CPU under wrk went to runtime.copystack.
//
// The frame is declared in a branch that never runs: Go sizes (and
// checks) a function's stack frame for all its locals on entry but zeroes a
// local only where it is declared, so the reservation costs nanoseconds,
// where zeroing 40 KiB per request cost microseconds under load.
//
//go:noinline
func reserveStack() {
	if touchStackReserve {
		var frame [evalStackReserve]byte
		runtime.KeepAlive(&frame)
	}
}

// touchStackReserve is never set; the compiler cannot know that.
var touchStackReserve bool

const evalStackReserve = 40 << 10

// noMetrics spares each evaluation a metrics registry of its own.
var noMetrics = metrics.NoOp()

// deadline is the topdown.Cancel of one evaluation: it trips when the
// evaluation has run longer than the engine's timeout or when the request's
// context ends. OPA polls Cancelled before every expression it evaluates, so
// the clock and the context are consulted only once per checkEvery polls:
// cheaper than a timer and a goroutine per evaluation, and still within
// microseconds of the deadline.
type deadline struct {
	ctx       context.Context
	deadline  time.Time
	polls     atomic.Uint32
	cancelled atomic.Bool
	timedOut  atomic.Bool
}

const checkEvery = 64

func newDeadline(ctx context.Context, timeout time.Duration) *deadline {
	return &deadline{ctx: ctx, deadline: time.Now().Add(timeout)}
}

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
	if !time.Now().Before(d.deadline) {
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

// Revision identifies the loaded policy and data (a SHA-256 over both), so a
// decision record says exactly which policy made it.
func (e *Engine) Revision() string { return e.revision }

// DecisionPath is the rule the engine evaluates.
func (e *Engine) DecisionPath() string { return e.decision }

func denyOnError() Decision {
	return Decision{Allow: false, Reasons: []string{"policy evaluation failed (denied)"}, Status: 403}
}

func loadModules(paths []string) (map[string]*loader.RegoFile, error) {
	regoOnly := func(_ string, info fs.FileInfo, _ int) bool {
		if info.IsDir() {
			return false
		}
		return !strings.HasSuffix(info.Name(), ".rego") || strings.HasSuffix(info.Name(), "_test.rego")
	}
	fl := loader.NewFileLoader().WithProcessAnnotation(true)
	if len(paths) == 0 {
		fl = fl.WithFS(shipped.FS)
		paths = []string{"ecsgate"}
	}
	res, err := fl.Filtered(paths, regoOnly)
	if err != nil {
		return nil, fmt.Errorf("loading policy: %w", err)
	}
	if len(res.Modules) == 0 {
		return nil, fmt.Errorf("loading policy: no .rego files in %s", strings.Join(paths, ", "))
	}
	return res.Modules, nil
}

func loadData(paths []string) (map[string]any, error) {
	if len(paths) == 0 {
		return map[string]any{}, nil
	}
	for _, p := range paths {
		switch strings.ToLower(filepath.Ext(p)) {
		case ".json", ".yaml", ".yml":
		default:
			return nil, fmt.Errorf("data %s: must be a .json, .yaml or .yml file", p)
		}
	}
	res, err := loader.NewFileLoader().All(paths)
	if err != nil {
		return nil, fmt.Errorf("loading data: %w", err)
	}
	return res.Documents, nil
}

// definesRule catches a misspelt decision path at load time: OPA would
// otherwise prepare the query and answer undefined (deny) for every request.
func definesRule(modules map[string]*loader.RegoFile, ref ast.Ref) bool {
	for _, m := range modules {
		pkg := m.Parsed.Package.Path
		if !ref.HasPrefix(pkg) || len(ref) == len(pkg) {
			continue
		}
		head := ref[len(pkg)]
		for _, r := range m.Parsed.Rules {
			if r.Head.Ref()[0].Equal(ast.VarTerm(string(head.Value.(ast.String)))) {
				return true
			}
		}
	}
	return false
}

func revision(names []string, modules map[string]*loader.RegoFile, docs map[string]any) string {
	h := sha256.New()
	for _, name := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(name), len(modules[name].Raw))
		h.Write(modules[name].Raw)
	}
	if b, err := json.Marshal(docs); err == nil {
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
