package rego_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/policy"
)

// TestLibraryDeployed loads the library as the gateway does (the `policy`
// and `data` lines of rego/README.md, testdata/rules.yaml as the data) and
// checks decisions that hold whatever the time.
func TestLibraryDeployed(t *testing.T) {
	src, err := os.ReadFile("testdata/rules.yaml")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, util.Unmarshal(src, &doc))
	rules := doc["ecsgate"].(map[string]any)["rules"].(map[string]any)

	// Rules calling ecs.server load only where the gateway registers it.
	paths := []string{"ecsgate"}
	var unloaded []string
	for name := range rules {
		src, err := os.ReadFile(filepath.Join("lib", name, name+".rego"))
		require.NoError(t, err, "rules.yaml names %s", name)
		if strings.Contains(string(src), "ecs.server(") && ast.BuiltinMap["ecs.server"] == nil {
			unloaded = append(unloaded, name)
			continue
		}
		paths = append(paths, filepath.Join("lib", name))
	}
	engine := func(rules map[string]any) *policy.Engine {
		data := filepath.Join(t.TempDir(), "rules.json")
		writeJSON(t, data, map[string]any{"ecsgate": map[string]any{"rules": rules}})
		e, err := policy.New(t.Context(), policy.Options{Policies: paths, Data: []string{data}, Timeout: time.Minute})
		require.NoError(t, err)
		return e
	}
	decide := func(e *policy.Engine, in map[string]any) policy.Decision {
		val, err := ast.InterfaceToValue(in)
		require.NoError(t, err)
		d, err := e.DecideValue(t.Context(), val)
		require.NoError(t, err)
		return d
	}
	unlock := func(roles []any, headers map[string]any) map[string]any {
		in := libInput("POST", "server.action", map[string]any{"name": "unlock", "args": nil}, roles)
		for k, v := range headers {
			in["request"].(map[string]any)["headers"].(map[string]any)[k] = v
		}
		return in
	}

	if len(unloaded) > 0 {
		// Turned on but not loaded: everything is denied, and why.
		d := decide(engine(rules), libInput("GET", "server.read", nil, []any{"reader"}))
		require.False(t, d.Allow)
		for _, name := range unloaded {
			require.Contains(t, d.Reasons, "library rule "+name+" is enabled in data.ecsgate.rules but not loaded (ecsgate denies until it is)")
		}
		t.Logf("without ecs.server in this build, not loaded: %v", unloaded)
		for _, name := range unloaded {
			delete(rules, name)
		}
	}
	e := engine(rules)

	// Reads are listed for the project and outside every rule's reach.
	require.Equal(t, policy.Decision{Allow: true, Reasons: []string{}}, decide(e, libInput("GET", "server.read", nil, []any{"reader"})))

	// Unlock without a ticket is denied with the ticket's reason, whatever
	// the time (outside the windows, with that reason too).
	d := decide(e, unlock([]any{"member", "ecs_unlocker"}, nil))
	require.False(t, d.Allow)
	require.True(t, slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.Contains(r, "needs a change ticket") }), d.Reasons)

	// A change the allow-list does not give members.
	d = decide(e, libInput("DELETE", "server.delete", nil, []any{"member"}))
	require.False(t, d.Allow)
	require.True(t, slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.Contains(r, "allow-list") }), d.Reasons)

	// An admin breaks the glass: allowed, and the decision says so.
	d = decide(e, unlock([]any{"admin"}, map[string]any{"x-break-glass-reason": "INC-4711 database down"}))
	require.True(t, d.Allow, d.Reasons)
	require.Len(t, d.Reasons, 1)
	require.True(t, strings.HasPrefix(d.Reasons[0], "break-glass: INC-4711 database down (waived: "), d.Reasons)
	require.Contains(t, d.Reasons[0], "needs a change ticket")
}

func libInput(method, operation string, action any, roles []any) map[string]any {
	return map[string]any{
		"request": map[string]any{
			"id": "req-1", "method": method, "path": "/v2.1/servers", "query": "",
			"headers": map[string]any{"x-auth-token": "[REDACTED]"}, "remote_ip": "127.0.0.1",
		},
		"api":        map[string]any{"family": "nova", "version": "v2.1", "microversion": "2.1", "route": "/servers/{server_id}"},
		"operation":  operation,
		"action":     action,
		"server_ids": []any{serverOne},
		"project_id": projectY,
		"identity": map[string]any{
			"method": "token", "user": map[string]any{"id": "u1", "name": "alice"},
			"project": map[string]any{"id": projectY, "name": "demo"}, "roles": roles,
			"auth_methods": []any{"password"}, "access_key": nil, "scope": map[string]any{"type": "project"},
		},
	}
}
