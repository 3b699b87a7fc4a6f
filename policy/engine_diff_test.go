package policy

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/internal/fixtures/inventory"
)

// regoDecide is how decisions were made before the engine called topdown
// directly: rego's prepared query and its map[string]any result.
func regoDecide(t *testing.T, modules map[string]string, data map[string]any, query string) func(ast.Value) Decision {
	opts := []func(*rego.Rego){rego.Query(query), rego.Store(inmem.NewFromObject(data))}
	for name, src := range modules {
		opts = append(opts, rego.Module(name, src))
	}
	pq, err := rego.New(opts...).PrepareForEval(t.Context())
	require.NoError(t, err)
	return func(in ast.Value) Decision {
		rs, err := pq.Eval(context.Background(), rego.EvalParsedInput(in))
		if err != nil {
			return denyOnError()
		}
		if len(rs) == 0 {
			return Undefined()
		}
		d, err := decisionFromResult(rs[0].Expressions[0].Value)
		if err != nil {
			return denyOnError()
		}
		return d
	}
}

// TestEngineMatchesRego compares the engine with rego's evaluation on the
// shipped policy (with and without access-key data) and on a policy using
// the constructs that exercise the evaluation cache (with, functions,
// every, comprehensions, partial rules).
func TestEngineMatchesRego(t *testing.T) {
	shippedSrc, err := os.ReadFile("../rego/ecsgate/authz.rego")
	require.NoError(t, err)
	keys := map[string]any{"ecsgate": map[string]any{"access_keys": map[string]any{
		"AKEXAMPLE": map[string]any{"project_id": "p1", "roles": []any{"member"}},
		"AKADMIN":   map[string]any{"roles": []any{"admin"}},
	}}}
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	require.NoError(t, os.WriteFile(keysFile, []byte(`{"ecsgate": {"access_keys": {
		"AKEXAMPLE": {"project_id": "p1", "roles": ["member"]}, "AKADMIN": {"roles": ["admin"]}}}}`), 0o600))

	constructs := `package t

import rego.v1

roles contains r if some r in input.identity.roles

has(x) if x in roles

double(n) := n * 2

checks["member"] := has("member")

checks["proj"] := input.project_id == input.identity.project.id

admin_view if has("admin") with input.identity.roles as ["admin"]

all_servers_short if every s in input.server_ids { count(s) < 40 }

reasons contains sprintf("no %s", [k]) if {
	some k, ok in checks
	not ok
}

reasons contains "too many servers" if count(input.server_ids) > double(1)

# After admin_view (a with) ran, roles must be the input's again.
reasons contains sprintf("view %v, roles %s", [admin_view, concat(",", sort([r | some r in roles]))]) if {
	admin_view
	count(input.server_ids) == 1
}

decision := {"allow": count(reasons) == 0, "reasons": sort([r | some r in reasons]), "admin_view": admin_view, "short": all_servers_short}
`
	constructsDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(constructsDir, "t.rego"), []byte(constructs), 0o600))

	type setup struct {
		engine *Engine
		ref    func(ast.Value) Decision
	}
	mk := func(opts Options, modules map[string]string, data map[string]any, query string) setup {
		opts.Timeout = time.Minute // decisions are compared, not timing
		e, err := New(t.Context(), opts)
		require.NoError(t, err)
		return setup{e, regoDecide(t, modules, data, query)}
	}
	setups := map[string]setup{
		"shipped": mk(Options{}, map[string]string{"authz.rego": string(shippedSrc)}, map[string]any{}, "data.ecsgate.authz.decision"),
		"shipped with keys": mk(Options{Data: []string{keysFile}},
			map[string]string{"authz.rego": string(shippedSrc)}, keys, "data.ecsgate.authz.decision"),
		"constructs": mk(Options{Policies: []string{constructsDir}, Decision: "data.t.decision"},
			map[string]string{"t.rego": constructs}, map[string]any{}, "data.t.decision"),
	}
	rng := rand.New(rand.NewPCG(7, 11))
	allowed := 0
	for i := range 3000 {
		in := randomInput(rng)
		val, err := in.Value()
		require.NoError(t, err)
		for name, s := range setups {
			got, _ := s.engine.DecideValue(t.Context(), val)
			got.Cached = false
			want := s.ref(val)
			require.Equal(t, want, got, "%s, input %d: %v", name, i, val)
			if got.Allow {
				allowed++
			}
		}
	}
	require.Positive(t, allowed)
}

// TestDecisionCacheMatchesEvaluation: a cached decision is the decision a
// new evaluation makes. Inputs repeat (a small pool, reused with changes the
// policy may or may not read: the request id, an unread header), so that the
// cache is hit; every answer is compared with an engine that never caches.
func TestDecisionCacheMatchesEvaluation(t *testing.T) {
	dir := t.TempDir()
	invPolicy, invData, err := inventory.WriteFiles(dir, 200, 3)
	require.NoError(t, err)
	headersDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(headersDir, "h.rego"), []byte(`package h

import rego.v1

# Reads headers by a variable name and the identity's roles.
decision := {"allow": allowed, "reasons": [sprintf("%s=%s", [k, v]) | some k, v in input.request.headers; startswith(k, "x-")]}

allowed if "admin" in input.identity.roles

allowed if input.request.headers["x-ticket"] == "CHG-1"
`), 0o600))
	constantDir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(constantDir, "c.rego"), []byte(`package c

decision := {"allow": true}
`), 0o600))
	cases := map[string]struct {
		opts      Options
		cacheable bool
	}{
		"shipped":   {Options{}, true},
		"headers":   {Options{Policies: []string{headersDir}, Decision: "data.h.decision"}, true},
		"inventory": {Options{Policies: []string{invPolicy}, Data: []string{invData}, Decision: inventory.Decision}, false},
		"constant":  {Options{Policies: []string{constantDir}, Decision: "data.c.decision"}, true},
	}
	rng := rand.New(rand.NewPCG(5, 8))
	var pool []*Input
	for i := range 40 {
		in := randomInput(rng)
		inventoryInput(rng, in)
		if in.Identity != nil && i%4 != 0 {
			in.Identity.Seal()
		}
		pool = append(pool, in)
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.opts.Timeout = time.Minute
			cached, err := New(t.Context(), tc.opts)
			require.NoError(t, err)
			tc.opts.DecisionCache = -1
			fresh, err := New(t.Context(), tc.opts)
			require.NoError(t, err)
			for i := range 3000 {
				in := *pool[rng.IntN(len(pool))]
				in.Request.ID = fmt.Sprint("req-", i)
				in.Request.Headers = maps.Clone(in.Request.Headers)
				switch rng.IntN(3) {
				case 0:
					in.Request.Headers["x-ticket"] = []string{"CHG-1", "CHG-2"}[rng.IntN(2)]
				case 1:
					in.Request.Headers["traceparent"] = fmt.Sprint(i)
				}
				val, err := in.Value()
				require.NoError(t, err)
				var got Decision
				var gotErr error
				if i%2 == 0 {
					got, gotErr = cached.DecideValue(t.Context(), val)
				} else {
					// Keyed on the Go input (sealed identities).
					got, gotErr = cached.Decide(t.Context(), &in)
				}
				want, wantErr := fresh.DecideValue(t.Context(), val)
				require.Equal(t, wantErr == nil, gotErr == nil)
				got.Cached = false
				require.Equal(t, want, got, "input %d: %v", i, val)
			}
			hits, _, enabled := cached.CacheStats()
			require.Equal(t, tc.cacheable, enabled, "cacheable")
			if tc.cacheable {
				c := cached.active.Load().cache
				goKeys, valueKeys := 0, 0
				for _, gen := range []map[string]Decision{c.cur, c.old} {
					for k := range gen {
						if k[0] == 'g' {
							goKeys++
						} else {
							valueKeys++
						}
					}
				}
				require.Positive(t, goKeys, "decisions keyed on the Go input")
				require.Positive(t, valueKeys, "decisions keyed on the OPA value")
			}
			if tc.cacheable {
				require.Positive(t, hits)
			}
		})
	}
}

func TestCachePlan(t *testing.T) {
	for src, want := range map[string]string{
		`package p
d if input.a.b == input.a.c[input.x]`: `[a.b a.c x]`,
		`package p
d if input.request.headers[h] == "x"`: `[request.headers]`,
		`package p
d if object.get(input, "a", 1) == 1`: `[a]`,
		`package p
d if object.get(input.r, ["a", "b"], 1) == 1`: `[r.a.b]`,
		`package p
d if object.get(input, ["a", input.k], 1) == 1`: `uncacheable`,
		`package p
d if walk(input, [p, v])`: `uncacheable`,
		`package p
import input.identity as id
d if id.roles[_] == "admin"`: `[identity]`,
		`package p
d if input.servers[input.i].x`: `[i servers]`,
		`package p
x := input
d if x.a`: `uncacheable`,
		`package p
d if time.now_ns() > input.t`: `uncacheable`,
		`package p
d if [x | x := rand.intn("s", 10)][0] > input.t`: `uncacheable`,
		`package p
d if ecs.server(input.id).locked`: `uncacheable`,
		`package p
d if crypto.x509.parse_and_verify_certificates(input.chain)[0]`: `uncacheable`,
		`package p
f(_, _) := 1
d if f("s", input.x) > 0 with f as rand.intn`: `uncacheable`,
		`package p
d if f(input.y.z)
f(x) if x == 1`: `[y.z]`,
	} {
		mods := map[string]*ast.Module{"p.rego": ast.MustParseModuleWithOpts(src, ast.ParserOptions{RegoVersion: ast.RegoV1})}
		c := newCompiler()
		c.Compile(mods)
		require.False(t, c.Failed(), "%v", c.Errors)
		paths, ok := cachePlan(mods)
		got := "uncacheable"
		if ok {
			got = fmt.Sprint(paths)
		}
		assert.Equal(t, want, got, src)
	}
}

// inventoryInput makes some inputs speak about the inventory policy's
// servers, projects and owners.
func inventoryInput(rng *rand.Rand, in *Input) {
	if rng.IntN(2) == 0 {
		return
	}
	in.ServerIDs = nil
	for range 1 + rng.IntN(2) {
		in.ServerIDs = append(in.ServerIDs, inventory.ServerID(rng.IntN(1100)))
	}
	if in.Identity != nil && in.Identity.Method == "token" {
		in.Identity.User.Name = inventory.User(rng.IntN(60))
		in.Identity.Project = &Scope{ID: inventory.Project(rng.IntN(11))}
		if rng.IntN(2) == 0 {
			in.Identity.Roles = append(in.Identity.Roles, "member")
		}
	}
	if rng.IntN(2) == 0 {
		in.Operation = []string{"server.read", "server.action", "server.delete", "server.update"}[rng.IntN(4)]
	}
}

func randomInput(rng *rand.Rand) *Input {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	in := &Input{
		Request: Request{ID: "d", Method: pick("GET", "HEAD", "POST", "DELETE"), Path: "/v2.1/servers",
			Headers: map[string]string{"x-auth-token": Redacted}, RemoteIP: "127.0.0.1"},
		API:       API{Family: "nova", Version: "v2.1", Microversion: "2.1", Route: pick("/servers/{server_id}/action", "/os-keypairs", "/os-aggregates", "/os-hosts/{host_name}/reboot")},
		Operation: pick("server.read", "server.action", "server.create", "other", "mystery", "host.action"),
		ProjectID: pick("", "p1", "p2"),
	}
	if rng.IntN(4) == 0 {
		in.Request.Headers["x-sdk-content-sha256"] = "UNSIGNED-PAYLOAD"
	}
	for range rng.IntN(4) {
		in.ServerIDs = append(in.ServerIDs, pick("c0ffee00-0000-4000-8000-000000000001", "s2", "a-very-long-server-identifier-beyond-forty-chars"))
	}
	if rng.IntN(3) > 0 {
		in.Action = &Action{Name: pick("unlock", "lock", "os-migrateLive", "unshelve", "os-resetState", "reboot", "shutdown"),
			Args: []byte(pick("null", `{"host": "h"}`, `{"host": null}`, `{}`))}
	}
	switch rng.IntN(4) {
	case 0:
	case 1:
		in.Identity = &Identity{Method: "aksk", AccessKey: pick("AKEXAMPLE", "AKADMIN", "AKNONE")}
	default:
		var roles []string
		for _, r := range []string{"admin", "member", "reader", "ecs_unlocker"} {
			if rng.IntN(2) == 0 {
				roles = append(roles, r)
			}
		}
		in.Identity = &Identity{Method: "token", User: Scope{ID: "u"}, Roles: roles}
		if p := pick("p1", "p2", "", "-"); p != "-" {
			in.Identity.Project = &Scope{ID: p}
		}
	}
	return in
}
