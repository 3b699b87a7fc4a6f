package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	shipped "github.com/ecsgate/ecsgate/rego"
)

// source is one revision's policy and data, before compilation.
type source struct {
	// modules by file name (or bundle path), parsed.
	modules map[string]*ast.Module
	// raw module text by name, for the revision hash.
	raw  map[string][]byte
	data map[string]any
	// revision is set for bundles (the manifest's); files get a hash.
	revision string
	name     string
}

// compile prepares the decision query for src: type-checked against the
// built-ins (OPA's and Options.Functions), and, unless Options.Generic,
// partially evaluated with input unknown, so that everything that depends
// only on the policy and its data is worked out once per revision instead of
// once per request. Non-deterministic built-ins (time.now_ns, ecs.server)
// are never evaluated ahead of time.
func (e *Engine) compile(ctx context.Context, src *source) (*compiled, error) {
	ref := ast.MustParseRef(e.opts.Decision)
	if !definesRule(src.modules, ref) {
		return nil, fmt.Errorf("decision %s: no loaded policy defines it", e.opts.Decision)
	}
	names := make([]string, 0, len(src.modules))
	for name := range src.modules {
		names = append(names, name)
	}
	sort.Strings(names)

	// Data is stored as AST values so that a policy reading it does not
	// convert it from Go values on every evaluation.
	store := inmem.NewFromObjectWithOpts(src.data, inmem.OptReturnASTValuesOnRead(true))
	compiler := newCompiler()
	opts := []func(*rego.Rego){
		rego.Query(e.opts.Decision),
		rego.Store(store),
		rego.Compiler(compiler),
	}
	for _, name := range names {
		opts = append(opts, rego.ParsedModule(src.modules[name]))
	}
	// Custom built-ins are added to this query only, never registered
	// process-wide: a plugin must not change OPA for the rest of the process.
	opts = append(opts, serverFunction(e.opts.ServerLookup))
	generic, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("compiling policy: %w", err)
	}
	pq := generic
	if !e.opts.Generic {
		pq, err = e.specialise(ctx, opts)
		if err != nil {
			// Unbounded work on data alone (a comprehension over a huge
			// range, say) would otherwise stall the load; the generic query
			// decides the same, only slower.
			pq = generic
			e.reportError(fmt.Errorf("policy served unspecialised: %w", err))
		}
	}
	rev := src.revision
	if rev == "" {
		rev = revision(names, src.raw, src.data)
	}
	return &compiled{query: pq, compiler: compiler, store: store, revision: rev, source: src.name}, nil
}

// SpecialiseBudget bounds the load-time partial evaluation of one revision.
const SpecialiseBudget = 5 * time.Second

// specialise partially evaluates the decision query with input unknown.
// It gets a fresh compiler: the generic query keeps the one it compiled.
func (e *Engine) specialise(ctx context.Context, opts []func(*rego.Rego)) (rego.PreparedEvalQuery, error) {
	ctx, cancel := context.WithTimeout(ctx, SpecialiseBudget)
	defer cancel()
	opts = append(slices.Clone(opts), rego.Compiler(newCompiler()))
	pq, err := rego.New(opts...).PrepareForEval(ctx, rego.WithPartialEval())
	if err != nil {
		return rego.PreparedEvalQuery{}, fmt.Errorf("specialising the policy against its data: %w", err)
	}
	return pq, nil
}

// newCompiler knows ecsgate's built-ins: a compiler handed to rego does not
// learn the query's own functions, and would reject a policy calling them.
func newCompiler() *ast.Compiler {
	return ast.NewCompiler().WithBuiltins(map[string]*ast.Builtin{
		ServerBuiltin: {Name: ServerBuiltin, Decl: ServerDecl, Nondeterministic: true},
	})
}

// loadFiles reads the policy files (or the embedded policy) and data.
func loadFiles(policies, data []string) (*source, error) {
	files, err := loadModules(policies)
	if err != nil {
		return nil, err
	}
	docs, err := loadData(data)
	if err != nil {
		return nil, err
	}
	src := &source{modules: map[string]*ast.Module{}, raw: map[string][]byte{}, data: docs,
		name: strings.Join(policies, ", ")}
	if src.name == "" {
		src.name = "embedded"
	}
	for name, f := range files {
		src.modules[name] = f.Parsed
		src.raw[name] = f.Raw
	}
	return src, nil
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
func definesRule(modules map[string]*ast.Module, ref ast.Ref) bool {
	for _, m := range modules {
		pkg := m.Package.Path
		if !ref.HasPrefix(pkg) || len(ref) == len(pkg) {
			continue
		}
		head := ref[len(pkg)]
		for _, r := range m.Rules {
			if r.Head.Ref()[0].Equal(ast.VarTerm(string(head.Value.(ast.String)))) {
				return true
			}
		}
	}
	return false
}

func revision(names []string, raw map[string][]byte, docs map[string]any) string {
	h := sha256.New()
	for _, name := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(name), len(raw[name]))
		h.Write(raw[name])
	}
	if b, err := json.Marshal(docs); err == nil {
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
