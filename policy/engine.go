// Package policy evaluates ecsgate's Rego policies in-process with OPA. It
// owns the policy input document and the decision type; it knows nothing of
// Caddy or HTTP routing.
package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"encoding/json"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

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

// Engine holds one prepared query: everything that can be done once per
// configuration load is done in New.
type Engine struct {
	query    rego.PreparedEvalQuery
	decision string
	revision string
	timeout  time.Duration
}

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

	regoOpts := []func(*rego.Rego){
		rego.Query(opts.Decision),
		rego.Store(inmem.NewFromObject(docs)),
	}
	names := make([]string, 0, len(modules))
	for name := range modules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		regoOpts = append(regoOpts, rego.ParsedModule(modules[name].Parsed))
	}
	pq, err := rego.New(regoOpts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("compiling policy: %w", err)
	}
	if !definesRule(modules, ref) {
		return nil, fmt.Errorf("decision %s: no loaded policy defines it", opts.Decision)
	}
	return &Engine{
		query:    pq,
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
	// A request whose client is gone or whose deadline passed is denied
	// outright: OPA notices cancellation only at its next check.
	if err := ctx.Err(); err != nil {
		return denyOnError(), fmt.Errorf("evaluating %s: %w", e.decision, err)
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(val))
	if err != nil {
		return denyOnError(), fmt.Errorf("evaluating %s: %w", e.decision, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return Undefined(), nil
	}
	d, err := decisionFromResult(rs[0].Expressions[0].Value)
	if err != nil {
		return denyOnError(), fmt.Errorf("%s: %w", e.decision, err)
	}
	return d, nil
}

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
