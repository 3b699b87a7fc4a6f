package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// Explanation is one decision together with how the policy reached it.
type Explanation struct {
	// Decision is the gateway's decision: Engine.Decide's, not the traced
	// evaluation's (the two are checked to agree).
	Decision Decision
	// Rules are the rules that fired, in the order the evaluation entered
	// them (so a rule comes before the rules it consulted).
	Rules []FiredRule
	// Trace is OPA's full evaluation trace, for topdown.PrettyTrace and the
	// filters of topdown/lineage.
	Trace []*topdown.Event
}

// FiredRule is one rule, or one branch of an else chain, whose body held
// during the evaluation. A rule can fire inside a branch that failed
// afterwards (a helper consulted by an earlier branch of the decision);
// of the decision rule itself, only the branch that produced the result
// fires.
type FiredRule struct {
	// File and Row locate the rule's head, or an else branch's `else`.
	File string `json:"file"`
	Row  int    `json:"row"`
	// Rule is the rule's full reference, e.g. data.ecsgate.authz.violations.
	Rule string `json:"rule"`
	// Head is the head as written in the source, on one line; an else
	// branch's reads `else := ...`.
	Head string `json:"head"`
	// Default marks the default rule, used when no other rule applied.
	Default bool `json:"default,omitempty"`
	// Branch numbers the branches of an else chain from 1 (the rule before
	// the first else) out of Branches; both are 0 for a rule without else.
	Branch   int `json:"branch,omitempty"`
	Branches int `json:"branches,omitempty"`
	// Args are a function's arguments in this call.
	Args []any `json:"args,omitempty"`
	// Value is what this firing produced, where the head leaves it to the
	// body: the element a `contains` rule added, the value of a rule or
	// function computed in its body, as JSON.
	Value any `json:"value,omitempty"`

	args  []*ast.Term
	value *ast.Term
}

// String renders the rule as one line, "file:row head", followed by the
// branch and what it produced where the head does not say.
func (r FiredRule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d %s", r.File, r.Row, r.Head)
	if r.Branches > 0 {
		fmt.Fprintf(&b, "  (%s, branch %d of %d)", r.name(), r.Branch, r.Branches)
	}
	switch {
	case r.args != nil:
		b.WriteString("  => ")
		b.WriteString(r.name())
		b.WriteByte('(')
		for i, a := range r.args {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.String())
		}
		b.WriteByte(')')
		if r.value != nil && !r.value.Equal(ast.BooleanTerm(true)) {
			b.WriteString(" = ")
			b.WriteString(r.value.String())
		}
	case r.value != nil:
		b.WriteString("  => ")
		b.WriteString(r.value.String())
	}
	return b.String()
}

// name is the rule's last name, as its head spells it.
func (r FiredRule) name() string { return r.Rule[strings.LastIndexByte(r.Rule, '.')+1:] }

// ErrExplainMismatch means the traced evaluation decided otherwise than the
// engine: its rules may not be the ones behind the engine's decision.
var ErrExplainMismatch = errors.New("the traced evaluation decided otherwise than the engine")

// ErrRevisionChanged means a new policy revision became active while a
// decision was being explained: the decision and the trace could come from
// different policies.
var ErrRevisionChanged = errors.New("the policy revision changed during the explanation")

// Explain decides as Decide does and reports which rules fired. It
// evaluates the policy a second time, through rego with a tracer, over the
// active revision's compiler and store: Decide runs a query
// partially evaluated against the data, whose trace would not name the
// policy's own rules. The decision that evaluation reaches must be the
// engine's (ErrExplainMismatch otherwise). Any other error comes with a
// denying decision, as Decide's; the rules and trace are then those the
// traced evaluation got to.
func (e *Engine) Explain(ctx context.Context, in *Input) (Explanation, error) {
	c := e.active.Load()
	d, err := e.Decide(ctx, in)
	ex := Explanation{Decision: d}
	if c == nil {
		return ex, ErrNotReady
	}
	if e.active.Load() != c {
		return ex, ErrRevisionChanged
	}
	val, verr := in.Value()
	if verr != nil {
		return ex, errors.Join(err, fmt.Errorf("building policy input: %w", verr))
	}
	tracer := topdown.NewBufferTracer()
	rs, terr := e.tracedEval(ctx, c, val, tracer)
	ex.Trace = *tracer
	ex.Rules = firedRules(ex.Trace, c.compiler)
	if err != nil {
		return ex, err
	}
	if terr != nil {
		return ex, fmt.Errorf("traced evaluation of %s: %w", e.DecisionPath(), terr)
	}
	traced := Undefined()
	if len(rs) > 0 && len(rs[0].Expressions) > 0 {
		if traced, terr = decisionFromResult(rs[0].Expressions[0].Value); terr != nil {
			return ex, fmt.Errorf("traced evaluation of %s: %w", e.DecisionPath(), terr)
		}
	}
	engine := d
	engine.Cached = false // where a decision came from is not what it is
	if !reflect.DeepEqual(traced, engine) {
		return ex, fmt.Errorf("%w: %+v, engine %+v", ErrExplainMismatch, traced, d)
	}
	return ex, nil
}

// tracedEval evaluates the decision over c's compiler and store with the
// engine's built-ins and clock, as Decide's query has them.
func (e *Engine) tracedEval(ctx context.Context, c *compiled, input ast.Value, tracer topdown.QueryTracer) (rego.ResultSet, error) {
	pq, err := rego.New(
		rego.Compiler(c.compiler),
		rego.Store(c.store),
		rego.Query(e.DecisionPath()),
		serverFunction(e.opts.ServerLookup),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	opts := []rego.EvalOption{rego.EvalParsedInput(input), rego.EvalQueryTracer(tracer)}
	if e.opts.Now != nil {
		opts = append(opts, rego.EvalTime(e.opts.Now()))
	}
	return pq.Eval(ctx, opts...)
}

// chainPlace is a rule's place in its else chain.
type chainPlace struct{ branch, branches int }

// firedRules reads the rules that fired off a trace: every rule body that
// was exited (held), once per distinct result, ordered by when the
// evaluation entered it.
func firedRules(trace []*topdown.Event, compiler *ast.Compiler) []FiredRule {
	places := elseChains(compiler)
	entered := map[uint64]int{} // query id -> order of its Enter
	type fired struct {
		FiredRule
		enter, exit int
	}
	var out []fired
	seen := map[string]bool{}
	for i, ev := range trace {
		rule, ok := ev.Node.(*ast.Rule)
		if !ok {
			continue
		}
		switch ev.Op {
		case topdown.EnterOp:
			if _, ok := entered[ev.QueryID]; !ok {
				entered[ev.QueryID] = i
			}
		case topdown.ExitOp:
			r := describeRule(rule, ev.Locals, places)
			key := fmt.Sprintf("%s:%d:%d %v %v", r.File, r.Row, locCol(rule), r.args, r.value)
			if seen[key] {
				continue
			}
			seen[key] = true
			enter, ok := entered[ev.QueryID]
			if !ok {
				enter = i
			}
			out = append(out, fired{r, enter, i})
		}
	}
	slices.SortStableFunc(out, func(a, b fired) int {
		return cmp.Or(cmp.Compare(a.enter, b.enter), cmp.Compare(a.exit, b.exit))
	})
	rules := make([]FiredRule, len(out))
	for i, f := range out {
		rules[i] = f.FiredRule
	}
	return rules
}

func describeRule(rule *ast.Rule, locals *ast.ValueMap, places map[*ast.Rule]chainPlace) FiredRule {
	r := FiredRule{Default: rule.Default}
	if loc := rule.Location; loc != nil {
		r.File, r.Row = loc.File, loc.Row
	}
	if rule.Module != nil {
		r.Rule = rule.Module.Package.Path.Extend(rule.Head.Ref().GroundPrefix()).String()
	} else {
		r.Rule = rule.Head.Ref().String()
	}
	r.Head = headText(rule)
	if p, ok := places[rule]; ok {
		r.Branch, r.Branches = p.branch, p.branches
	}
	head := rule.Head
	if len(head.Args) > 0 {
		r.args = make([]*ast.Term, len(head.Args))
		for i, a := range head.Args {
			r.args[i] = plug(a, locals)
			r.Args = append(r.Args, jsonOf(r.args[i]))
		}
		if head.Value != nil {
			r.value = plug(head.Value, locals)
			r.Value = jsonOf(r.value)
		}
		return r
	}
	// The head's own term, unless the source spells it out.
	t := head.Value
	if head.RuleKind() == ast.MultiValue {
		t = head.Key
	}
	if t != nil && !t.IsGround() {
		r.value = plug(t, locals)
		r.Value = jsonOf(r.value)
	}
	return r
}

// headText is the head as written, on one line. The compiled rule's own
// head names the variables the compiler introduced (__local12__); its
// location keeps the source text.
func headText(rule *ast.Rule) string {
	var text string
	if loc := rule.Head.Location; loc != nil && len(loc.Text) > 0 {
		text = string(loc.Text)
	} else {
		text = rule.Head.String()
	}
	text = strings.Join(strings.Fields(text), " ")
	if rule.Default && !strings.HasPrefix(text, "default ") {
		text = "default " + text
	}
	return text
}

func locCol(rule *ast.Rule) int {
	if rule.Location == nil {
		return 0
	}
	return rule.Location.Col
}

// plug replaces the variables of t bound in locals by their values.
func plug(t *ast.Term, locals *ast.ValueMap) *ast.Term {
	if locals == nil || t.IsGround() {
		return t
	}
	// TransformVars rewrites composites in place: plug a copy.
	x, err := ast.TransformVars(t.Copy().Value, func(v ast.Var) (ast.Value, error) {
		if val := locals.Get(v); val != nil {
			return val, nil
		}
		return v, nil
	})
	v, ok := x.(ast.Value)
	if err != nil || !ok {
		return t
	}
	return ast.NewTerm(v)
}

// jsonOf is t as JSON when it is plain data; otherwise its Rego text.
func jsonOf(t *ast.Term) any {
	if t.IsGround() {
		if v, err := ast.JSON(t.Value); err == nil {
			return v
		}
	}
	return t.String()
}

// elseChains numbers the branches of every rule that has an else.
func elseChains(compiler *ast.Compiler) map[*ast.Rule]chainPlace {
	places := map[*ast.Rule]chainPlace{}
	for _, m := range compiler.Modules {
		for _, r := range m.Rules {
			n := 0
			for b := r; b != nil; b = b.Else {
				n++
			}
			if n < 2 {
				continue
			}
			i := 0
			for b := r; b != nil; b = b.Else {
				i++
				places[b] = chainPlace{i, n}
			}
		}
	}
	return places
}
