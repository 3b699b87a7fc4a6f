package policy

import (
	"context"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/types"
)

// ServerBuiltin is the name of the built-in that returns a server as the
// compute API shows it: ecs.server(server_id).
const ServerBuiltin = "ecs.server"

// ServerLookup fetches one server for the request being decided (its context
// carries whatever the lookup needs, such as the caller's credential). A nil
// map or an error makes the built-in undefined, so a rule that needs the
// server fails and the request is denied.
type ServerLookup func(ctx context.Context, serverID string) (map[string]any, error)

// ServerDecl is ecs.server's type: a string in, an object out. It is also
// what rego/capabilities.json declares for `opa check` and `opa test`.
var ServerDecl = types.NewFunction(
	types.Args(types.Named("server_id", types.S).Description("the server's id")),
	types.Named("server", types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))).
		Description("the server as the compute API shows it to the caller"),
)

// serverFunction declares ecs.server for one query. It is non-deterministic
// (it reads live state), so OPA never evaluates it ahead of time, never
// caches it beyond one evaluation, and memoises it within one: a rule that
// asks twice costs one lookup. Time spent waiting for the lookup does not
// count against the evaluation timeout.
func serverFunction(lookup ServerLookup) func(*rego.Rego) {
	return rego.Function1(&rego.Function{
		Name:             ServerBuiltin,
		Decl:             ServerDecl,
		Memoize:          true,
		Nondeterministic: true,
	}, func(bctx rego.BuiltinContext, id *ast.Term) (*ast.Term, error) {
		sid, ok := id.Value.(ast.String)
		if !ok || lookup == nil {
			return nil, nil
		}
		start := time.Now()
		server, err := lookup(bctx.Context, string(sid))
		if d, ok := bctx.Cancel.(*deadline); ok {
			d.extend(time.Since(start))
		}
		if err != nil || server == nil {
			return nil, nil
		}
		v, err := ast.InterfaceToValue(server)
		if err != nil {
			return nil, nil
		}
		return ast.NewTerm(v), nil
	})
}
