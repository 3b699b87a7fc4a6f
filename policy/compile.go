package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

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
}

// compile prepares the decision query for src, type-checked against OPA's
// built-ins and ecsgate's (ecs.server).
//
// It is not partially evaluated against its data: measured, that gained
// nothing on the shipped policy (20 µs either way per allowed unlock) and
// is ruinous on data-heavy ones, where OPA unrolls every iteration over the
// data into rules of its own (an inventory of 1,000 servers: a million
// rules, four minutes and 5 GB to build). docs/performance.md.
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
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("compiling policy: %w", err)
	}
	var cache *decisionCache
	if max := e.opts.DecisionCache; max >= 0 {
		if max == 0 {
			max = DefaultDecisionCache
		}
		if paths, ok := cachePlan(src.modules); ok {
			cache = newDecisionCache(paths, max)
		}
	}
	rev := src.revision
	if rev == "" {
		rev = revision(names, src.raw, src.data)
	}
	return &compiled{query: pq, compiler: compiler, store: store, revision: rev, cache: cache}, nil
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
	src := &source{modules: map[string]*ast.Module{}, raw: map[string][]byte{}, data: docs}
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
