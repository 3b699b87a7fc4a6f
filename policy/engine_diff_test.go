package policy

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
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
			want := s.ref(val)
			require.Equal(t, want, got, "%s, input %d: %v", name, i, val)
			if got.Allow {
				allowed++
			}
		}
	}
	require.Positive(t, allowed)
}

// TestSpecialisedMatchesGeneric: the revision the engine serves is the
// policy partially evaluated against its data; it must decide exactly as the
// policy does, for every input and at every time. Compared over generated
// inputs, on the shipped policy (with and without access keys), the
// construct-heavy policy above and the data-heavy inventory policy, at
// random times of the week (its maintenance window reads time.now_ns).
func TestSpecialisedMatchesGeneric(t *testing.T) {
	dir := t.TempDir()
	invPolicy, invData, err := inventory.WriteFiles(dir, 1000, 3)
	require.NoError(t, err)
	keysFile := filepath.Join(dir, "keys.json")
	require.NoError(t, os.WriteFile(keysFile, []byte(`{"ecsgate": {"access_keys": {
		"AKEXAMPLE": {"project_id": "p1", "roles": ["member"]}, "AKADMIN": {"roles": ["admin"]}}}}`), 0o600))

	var now time.Time
	clock := func() time.Time { return now }
	pairs := map[string][2]*Engine{}
	for name, opts := range map[string]Options{
		"shipped":           {},
		"shipped with keys": {Data: []string{keysFile}},
		"inventory":         {Policies: []string{invPolicy}, Data: []string{invData}, Decision: inventory.Decision},
	} {
		opts.Now = clock
		// Decisions, not timing, are compared: a loaded machine must not
		// turn one side's evaluation into a timeout.
		opts.Timeout = time.Minute
		special, err := New(t.Context(), opts)
		require.NoError(t, err)
		opts.Generic = true
		generic, err := New(t.Context(), opts)
		require.NoError(t, err)
		pairs[name] = [2]*Engine{special, generic}
	}
	rng := rand.New(rand.NewPCG(21, 42))
	outcomes := map[string]map[bool]int{}
	for i := range 4000 {
		now = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(7 * 24 * time.Hour))))
		in := randomInput(rng)
		inventoryInput(rng, in)
		val, err := in.Value()
		require.NoError(t, err)
		for name, p := range pairs {
			got, gotErr := p[0].DecideValue(t.Context(), val)
			want, wantErr := p[1].DecideValue(t.Context(), val)
			require.Equal(t, want, got, "%s, input %d at %s (errors %v / %v): %v", name, i, now, gotErr, wantErr, val)
			require.Equal(t, wantErr == nil, gotErr == nil, "%s, input %d: %v / %v", name, i, gotErr, wantErr)
			if outcomes[name] == nil {
				outcomes[name] = map[bool]int{}
			}
			outcomes[name][got.Allow]++
		}
	}
	for name, o := range outcomes {
		require.Positive(t, o[true], "%s: some inputs must be allowed", name)
		require.Positive(t, o[false], "%s: some inputs must be denied", name)
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
