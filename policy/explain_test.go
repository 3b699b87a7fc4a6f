package policy_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/policy"
)

// explainInput is an action on server serverID in project demoProject by a
// project-scoped token with roles (nil identity when roles is nil).
func explainInput(action string, roles []string) *policy.Input {
	in := &policy.Input{
		Request:   policy.Request{ID: "req-1", Method: "POST", Path: "/v2.1/" + demoProject + "/servers/" + serverID + "/action"},
		API:       policy.API{Family: "nova", Version: "v2.1", Microversion: "2.1", Route: "/servers/{server_id}/action"},
		Operation: "server.action",
		Action:    &policy.Action{Name: action, Args: json.RawMessage("null")},
		ServerIDs: []string{serverID},
		ProjectID: demoProject,
	}
	if roles != nil {
		in.Identity = &policy.Identity{Method: "token", User: policy.Scope{ID: "u1", Name: "alice"},
			Project: &policy.Scope{ID: demoProject, Name: "demo"}, Roles: roles}
	}
	return in
}

func ruleLines(rules []policy.FiredRule) []string {
	lines := make([]string, len(rules))
	for i, r := range rules {
		lines[i] = r.String()
	}
	return lines
}

func findRule(t *testing.T, rules []policy.FiredRule, head string) policy.FiredRule {
	t.Helper()
	for _, r := range rules {
		if r.Head == head {
			return r
		}
	}
	t.Fatalf("no fired rule %q in\n%s", head, strings.Join(ruleLines(rules), "\n"))
	return policy.FiredRule{}
}

func TestExplainUnlockDenial(t *testing.T) {
	e, err := policy.New(t.Context(), policy.Options{})
	require.NoError(t, err)

	in := explainInput("unlock", []string{"member", "reader"})
	ex, err := e.Explain(t.Context(), in)
	require.NoError(t, err)
	d, err := e.Decide(t.Context(), in)
	require.NoError(t, err)
	d.Cached, ex.Decision.Cached = false, false
	assert.Equal(t, d, ex.Decision)
	assert.False(t, ex.Decision.Allow)
	require.NotEmpty(t, ex.Trace)

	// The decision's first branch (deny with every violation) produced it,
	// and the violation that gave its one reason fired.
	first := ex.Rules[0]
	assert.Equal(t, "data.ecsgate.authz.decision", first.Rule)
	assert.Equal(t, "ecsgate/authz.rego", first.File)
	assert.Equal(t, map[string]any{"allow": false, "reasons": []any{d.Reasons[0]}}, first.Value)
	var violation bool
	for _, r := range ex.Rules {
		if r.Rule == "data.ecsgate.authz.violations" && r.Value == d.Reasons[0] {
			violation = true
		}
	}
	assert.True(t, violation, "the violation behind the reason is listed")
}

func TestExplainViolations(t *testing.T) {
	e, err := policy.New(t.Context(), policy.Options{})
	require.NoError(t, err)

	in := explainInput("lock", []string{"reader"})
	in.ProjectID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	ex, err := e.Explain(t.Context(), in)
	require.NoError(t, err)
	require.Len(t, ex.Decision.Reasons, 2)

	var got []any
	for _, r := range ex.Rules {
		if r.Rule == "data.ecsgate.authz.violations" {
			assert.Equal(t, "violations contains msg", r.Head)
			assert.Contains(t, r.String(), "violations contains msg  => \"")
			got = append(got, r.Value)
		}
	}
	assert.ElementsMatch(t, []any{ex.Decision.Reasons[0], ex.Decision.Reasons[1]}, got)

	// The rule consulted comes after the one that consulted it.
	lines := strings.Join(ruleLines(ex.Rules), "\n")
	assert.Less(t, strings.Index(lines, "full_decision :="), strings.Index(lines, "violations contains"), lines)

	// A function's firing shows its arguments.
	ex, err = e.Explain(t.Context(), explainInput("os-migrateLive", []string{"member"}))
	require.NoError(t, err)
	hasRole := findRule(t, ex.Rules, "has_role(names)")
	assert.Equal(t, []any{[]any{"admin", "member"}}, hasRole.Args)
	assert.Contains(t, hasRole.String(), `=> has_role({"admin", "member"})`)

	// Unauthenticated: the violation whose head spells its message out
	// carries no separate value.
	ex, err = e.Explain(t.Context(), explainInput("lock", nil))
	require.NoError(t, err)
	auth := findRule(t, ex.Rules, `violations contains "authentication required: send a valid X-Auth-Token"`)
	assert.Nil(t, auth.Value)
	assert.NotContains(t, auth.String(), "=>")
}

func TestExplainDefaultAndCustomPolicy(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.rego"), []byte(`package custom

default allow := false

allow if input.operation == "server.read"

double(x) := x * 2

n := double(count(input.server_ids))
`), 0o600))
	e, err := policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.custom.allow"})
	require.NoError(t, err)

	ex, err := e.Explain(t.Context(), explainInput("lock", []string{"member"}))
	require.NoError(t, err)
	assert.False(t, ex.Decision.Allow)
	require.Len(t, ex.Rules, 1, ruleLines(ex.Rules))
	assert.True(t, ex.Rules[0].Default)
	assert.Equal(t, "default allow := false", ex.Rules[0].Head)
	assert.Equal(t, filepath.Join(dir, "p.rego")+":3 default allow := false", ex.Rules[0].String())

	e, err = policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.custom.n"})
	require.NoError(t, err)
	ex, err = e.Explain(t.Context(), explainInput("lock", []string{"member"}))
	require.ErrorIs(t, err, policy.ErrInvalidDecision, "a number is no decision")
	assert.False(t, ex.Decision.Allow)
	double := findRule(t, ex.Rules, "double(x) := x * 2")
	assert.Equal(t, []any{json.Number("1")}, double.Args)
	assert.Equal(t, json.Number("2"), double.Value)
	assert.Contains(t, double.String(), "=> double(1) = 2")
}

func TestExplainEvaluationError(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.rego"), []byte(`package conflict

decision := true if input.operation == "server.action"

decision := false if count(input.server_ids) == 1
`), 0o600))
	e, err := policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.conflict.decision"})
	require.NoError(t, err)
	ex, err := e.Explain(t.Context(), explainInput("lock", []string{"member"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "conflict")
	assert.False(t, ex.Decision.Allow)
	assert.NotEmpty(t, ex.Rules, "the rules that fired before the conflict")
}

// The traced evaluation has the engine's built-ins and clock: a policy
// that asks ecs.server, or reads the time, is explained as decided.
func TestExplainWithServerLookupAndClock(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.rego"), []byte(`package t

decision if {
	ecs.server(input.server_ids[0]).status == "SHUTOFF"
	time.now_ns() == 1767225600000000000
}
`), 0o600))
	lookup := func(_ context.Context, id string) (map[string]any, error) {
		return map[string]any{"id": id, "status": "SHUTOFF"}, nil
	}
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	e, err := policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.t.decision",
		ServerLookup: lookup, Now: now})
	require.NoError(t, err)
	ex, err := e.Explain(t.Context(), explainInput("lock", []string{"member"}))
	require.NoError(t, err)
	assert.True(t, ex.Decision.Allow)
	require.Len(t, ex.Rules, 1)
	assert.Equal(t, "decision", ex.Rules[0].Head)
}
