package rego_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/policy"
)

const (
	projectX  = "7e57000000000000000000000000000a" // testdata/no_deletes_in_project_x.rego
	projectY  = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	serverOne = "c0ffee00-0000-4000-8000-000000000001"
	serverTwo = "c0ffee00-0000-4000-8000-000000000002"
	userRule  = "no deletes in project X"
)

// accessKeys map keys to project X, so an AK/SK caller can be one of its
// members or an admin.
var accessKeys = map[string]any{"ecsgate": map[string]any{"access_keys": map[string]any{
	"AKMEMBER": map[string]any{"project_id": projectX, "roles": []any{"member"}},
	"AKADMIN":  map[string]any{"project_id": projectX, "roles": []any{"admin", "member"}},
}}}

// TestUserRuleAlwaysDenies does what a security team does with the shipped
// policy, adds a rule to violations, and deploys it as the gateway loads any
// policy. Every request the rule matches must be denied with its reason,
// whoever asks: admins, members in their own project with or without the
// project in the URL (the requests the shipped policy used to allow before
// asking violations), AK/SK callers. Every other request must be decided as
// the shipped policy alone decides it.
func TestUserRuleAlwaysDenies(t *testing.T) {
	shipped, err := os.ReadFile("ecsgate/authz.rego")
	require.NoError(t, err)
	ext, err := os.ReadFile("testdata/no_deletes_in_project_x.rego")
	require.NoError(t, err)
	extBody := regexp.MustCompile(`(?m)^package .*$`).ReplaceAllString(string(ext), "")

	dataFile := filepath.Join(t.TempDir(), "access_keys.json")
	writeJSON(t, dataFile, accessKeys)
	engine := func(files map[string]string) decider {
		dir := t.TempDir()
		for name, src := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600))
		}
		// A generous timeout: a loaded CI machine must not turn into a deny.
		e, err := policy.New(t.Context(), policy.Options{Policies: []string{dir}, Data: []string{dataFile}, Timeout: time.Minute})
		require.NoError(t, err)
		return func(in ast.Value) policy.Decision {
			d, err := e.DecideValue(t.Context(), in)
			require.NoError(t, err)
			return d
		}
	}
	library := libraryModules(t)
	withLibrary := func(files map[string]string) decider {
		modules := maps.Clone(library)
		maps.Copy(modules, files)
		return libraryDecider(t, modules)
	}
	type layout struct{ base, extended decider }
	layouts := map[string]layout{
		"rule added to authz.rego": {
			engine(map[string]string{"authz.rego": string(shipped)}),
			engine(map[string]string{"authz.rego": string(shipped) + "\n" + extBody}),
		},
		"rule in a module of its own": {
			engine(map[string]string{"authz.rego": string(shipped)}),
			engine(map[string]string{"authz.rego": string(shipped), "no_deletes.rego": string(ext)}),
		},
		// Every library rule on, break-glass among them, and admins
		// breaking the glass: the team's rule still denies.
		"with the library and break-glass": {
			withLibrary(map[string]string{"authz.rego": string(shipped)}),
			withLibrary(map[string]string{"authz.rego": string(shipped), "no_deletes.rego": string(ext)}),
		},
	}
	// Whether the rule matches is the rule's own business: ask it.
	matches := violationsQuery(t, map[string]string{"authz.rego": string(shipped), "ext.rego": string(ext)}, accessKeys)

	inputs := userRuleInputs()
	for name, l := range layouts {
		var matched, matchedBaseAllows, matchedAdmin int
		for _, in := range inputs {
			val, err := ast.InterfaceToValue(in)
			require.NoError(t, err)
			got, want := l.extended(val), l.base(val)
			if !slices.Contains(matches(val), userRule) {
				require.Equal(t, want, got, "%s: a request the rule does not match: %v", name, val)
				continue
			}
			require.False(t, got.Allow, "%s: allowed a request the rule denies: %v", name, val)
			require.Contains(t, got.Reasons, userRule, "%s: %v", name, val)
			matched++
			if want.Allow {
				matchedBaseAllows++
				if hasRole(in, "admin") {
					matchedAdmin++
				}
			}
		}
		// Proof that the inputs reach the cases that matter: requests the
		// rule denies and the policy without it allows, admins' among them.
		require.NotZero(t, matched, name)
		require.NotZero(t, matchedBaseAllows, name)
		require.NotZero(t, matchedAdmin, name)
		t.Logf("%s: %d inputs; the rule matched %d, %d of them allowed without it (%d by admins)",
			name, len(inputs), matched, matchedBaseAllows, matchedAdmin)
	}
}

// A decider decides one input.
type decider func(ast.Value) policy.Decision

// libraryModules are the library's modules, tests left out as the gateway
// leaves them out.
func libraryModules(t *testing.T) map[string]string {
	files, err := filepath.Glob("lib/*/*.rego")
	require.NoError(t, err)
	modules := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.rego") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		modules[f] = string(src)
	}
	require.NotEmpty(t, modules)
	return modules
}

// libraryRules turns on every library rule. The maintenance window is never
// open at the mocked time, the change ticket never sent and every server
// protected, so each guarded request has library violations that
// break-glass then waives.
var libraryRules = map[string]any{
	"nova_defaults":      map[string]any{},
	"unlock_role":        map[string]any{"roles": []any{"admin"}},
	"change_ticket":      map[string]any{"operations": []any{"server.delete"}},
	"protected":          map[string]any{},
	"maintenance_window": map[string]any{"windows": []any{map[string]any{"days": []any{"Sun"}, "start": "02:00", "end": "03:00"}}},
	"break_glass":        map[string]any{},
	"project_allowlist": map[string]any{"projects": map[string]any{
		projectX: []any{map[string]any{"roles": []any{"admin", "member", "reader"}}},
	}},
}

// mocks stand in for the gateway's ecs.server, as the Rego tests do.
const mocks = `package ecsgate.userrule_mocks

server(id) := {"id": id, "locked": true, "locked_by": "admin", "metadata": {"protected": "true"}, "tags": ["protected"]}
`

// libraryDecider evaluates with OPA's rego package: the library calls
// ecs.server, which only capabilities.json declares here.
func libraryDecider(t *testing.T, modules map[string]string) decider {
	data := map[string]any{"ecsgate": map[string]any{
		"access_keys": accessKeys["ecsgate"].(map[string]any)["access_keys"],
		"rules":       libraryRules,
	}}
	tuesday := time.Date(2024, 6, 4, 14, 0, 0, 0, time.UTC).UnixNano()
	query := fmt.Sprintf("data.ecsgate.authz.decision with ecs.server as data.ecsgate.userrule_mocks.server with time.now_ns as %d", tuesday)
	opts := []func(*rego.Rego){
		rego.Query(query), rego.Store(inmem.NewFromObject(data)),
		rego.Capabilities(capabilities(t)), rego.Module("mocks.rego", mocks),
	}
	for name, src := range modules {
		opts = append(opts, rego.Module(name, src))
	}
	pq, err := rego.New(opts...).PrepareForEval(t.Context())
	require.NoError(t, err)
	return func(in ast.Value) policy.Decision {
		rs, err := pq.Eval(t.Context(), rego.EvalParsedInput(in))
		require.NoError(t, err)
		require.Len(t, rs, 1)
		b, err := json.Marshal(rs[0].Expressions[0].Value)
		require.NoError(t, err)
		var d policy.Decision
		require.NoError(t, json.Unmarshal(b, &d))
		return d
	}
}

// violationsQuery returns the violations the modules find for an input.
func violationsQuery(t *testing.T, modules map[string]string, data map[string]any) func(ast.Value) []string {
	opts := []func(*rego.Rego){rego.Query("data.ecsgate.authz.violations"), rego.Store(inmem.NewFromObject(data))}
	for name, src := range modules {
		opts = append(opts, rego.Module(name, src))
	}
	pq, err := rego.New(opts...).PrepareForEval(t.Context())
	require.NoError(t, err)
	return func(in ast.Value) []string {
		rs, err := pq.Eval(t.Context(), rego.EvalParsedInput(in))
		require.NoError(t, err)
		require.Len(t, rs, 1)
		var out []string
		for _, v := range rs[0].Expressions[0].Value.([]any) {
			out = append(out, v.(string))
		}
		return out
	}
}

func hasRole(in map[string]any, role string) bool {
	id, _ := in["identity"].(map[string]any)
	if id == nil {
		return false
	}
	if roles, _ := id["roles"].([]any); slices.Contains(roles, any(role)) {
		return true
	}
	key, _ := id["access_key"].(string)
	keys := accessKeys["ecsgate"].(map[string]any)["access_keys"].(map[string]any)
	if k, ok := keys[key].(map[string]any); ok {
		return slices.Contains(k["roles"].([]any), any(role))
	}
	return false
}

// userRuleInputs is every combination of caller, request, project in the
// URL and break-glass header that bears on the rule: deletes and the
// requests around them.
func userRuleInputs() []map[string]any {
	var identities []any
	identities = append(identities, nil)
	roleSets := [][]any{{}, {"reader"}, {"member"}, {"member", "reader"}, {"member", "ecs_unlocker"}, {"admin"}, {"admin", "member", "reader"}}
	for _, roles := range roleSets {
		for _, project := range []any{projectX, projectY, nil, ""} {
			id := map[string]any{
				"method": "token", "user": map[string]any{"id": "u1", "name": "alice"},
				"roles": roles, "auth_methods": []any{"password"}, "access_key": nil,
				"scope": map[string]any{"type": "project"}, "project": nil,
			}
			if project != nil {
				id["project"] = map[string]any{"id": project, "name": "p"}
			}
			identities = append(identities, id)
		}
	}
	for _, key := range []string{"AKMEMBER", "AKADMIN", "AKUNMAPPED"} {
		identities = append(identities, map[string]any{
			"method": "aksk", "user": nil, "roles": []any{}, "auth_methods": []any{},
			"access_key": key, "scope": map[string]any{"type": "unscoped"}, "project": nil,
		})
	}
	type req struct {
		method, operation, route string
		action                   any
		servers                  []any
	}
	reqs := []req{
		{"DELETE", "server.delete", "/servers/{server_id}", nil, []any{serverOne}},
		{"POST", "server.delete", "/cloudservers/delete", nil, []any{serverOne, serverTwo}},
		{"GET", "server.read", "/servers/{server_id}", nil, []any{serverOne}},
		{"POST", "server.action", "/servers/{server_id}/action", map[string]any{"name": "lock", "args": nil}, []any{serverOne}},
		{"POST", "server.action", "/servers/{server_id}/action", map[string]any{"name": "unlock", "args": nil}, []any{serverOne}},
		{"POST", "server.create", "/servers", nil, []any{}},
		{"DELETE", "other", "/os-keypairs/...", nil, []any{}},
	}
	var inputs []map[string]any
	for _, id := range identities {
		for _, r := range reqs {
			for _, project := range []any{nil, projectX, projectY} {
				for _, breakGlass := range []bool{false, true} {
					headers := map[string]any{"x-auth-token": "[REDACTED]"}
					if breakGlass {
						headers["x-break-glass-reason"] = "INC-4711 outage"
					}
					inputs = append(inputs, map[string]any{
						"request": map[string]any{
							"id": "req-1", "method": r.method, "path": "/v2.1/servers", "query": "",
							"headers": headers, "remote_ip": "127.0.0.1",
						},
						"api":        map[string]any{"family": "nova", "version": "v2.1", "microversion": "2.1", "route": r.route},
						"operation":  r.operation,
						"action":     r.action,
						"server_ids": r.servers,
						"project_id": project,
						"identity":   id,
					})
				}
			}
		}
	}
	return inputs
}

func writeJSON(t *testing.T, path string, v any) {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
}
