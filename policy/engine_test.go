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

const (
	demoProject = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	serverID    = "c0ffee00-0000-4000-8000-000000000001"
)

func unlockInput(roles ...string) *policy.Input {
	return &policy.Input{
		Request: policy.Request{
			ID: "req-1", Method: "POST", Path: "/v2.1/" + demoProject + "/servers/" + serverID + "/action",
			Headers: map[string]string{"x-auth-token": policy.Redacted}, RemoteIP: "127.0.0.1",
		},
		API:       policy.API{Family: "nova", Version: "v2.1", Microversion: "2.1", Route: "/servers/{server_id}/action"},
		Operation: "server.action",
		Action:    &policy.Action{Name: "unlock", Args: json.RawMessage("null")},
		ServerIDs: []string{serverID},
		ProjectID: demoProject,
		Identity: &policy.Identity{
			Method: "token",
			User:   policy.Scope{ID: "u1", Name: "dave", Domain: policy.Ref{ID: "default", Name: "Default"}},
			Project: &policy.Scope{ID: demoProject, Name: "demo",
				Domain: policy.Ref{ID: "default", Name: "Default"}},
			Roles:     roles,
			ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		},
	}
}

func writePolicy(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.rego"), []byte(src), 0o600))
	return dir
}

func TestEmbeddedPolicyDecides(t *testing.T) {
	e, err := policy.New(t.Context(), policy.Options{})
	require.NoError(t, err)
	assert.Equal(t, "data.ecsgate.authz.decision", e.DecisionPath())
	assert.True(t, strings.HasPrefix(e.Revision(), "sha256:"))

	d, err := e.Decide(t.Context(), unlockInput("member", "reader", "ecs_unlocker"))
	require.NoError(t, err)
	assert.True(t, d.Allow)

	d, err = e.Decide(t.Context(), unlockInput("member", "reader"))
	require.NoError(t, err)
	assert.False(t, d.Allow)
	assert.Equal(t, 403, d.Status)
	assert.Equal(t, []string{"unlock on server " + serverID + " requires role ecs_unlocker or admin (caller has: member, reader)"}, d.Reasons)
}

func TestActionArgsReachPolicy(t *testing.T) {
	dir := writePolicy(t, `package t
decision := input.action.args.locked_reason`)
	// The decision is a string, which no caller may read as an allow.
	e, err := policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.t.decision"})
	require.NoError(t, err)
	in := unlockInput()
	in.Action.Args = json.RawMessage(`{"locked_reason": "maintenance"}`)
	d, err := e.Decide(t.Context(), in)
	require.ErrorIs(t, err, policy.ErrInvalidDecision)
	assert.False(t, d.Allow)
}

func TestDecisionShapes(t *testing.T) {
	cases := map[string]struct {
		rego    string
		allow   bool
		status  int
		reasons []string
		headers map[string]string
		err     error
	}{
		"boolean true":         {rego: `decision := true`, allow: true},
		"boolean false":        {rego: `decision := false`, status: 403},
		"undefined":            {rego: `decision := true if input.nothing`, status: 403, reasons: []string{"policy decision is undefined (denied by default)"}},
		"object":               {rego: `decision := {"allow": false, "reasons": ["no"], "status": 429, "headers": {"retry-after": "5"}}`, status: 429, reasons: []string{"no"}, headers: map[string]string{"Retry-After": "5"}},
		"401 becomes 403":      {rego: `decision := {"allow": false, "status": 401}`, status: 403},
		"5xx becomes 403":      {rego: `decision := {"allow": false, "status": 503}`, status: 403},
		"single reason":        {rego: `decision := {"allow": false, "reasons": "just no"}`, status: 403, reasons: []string{"just no"}},
		"string allow":         {rego: `decision := {"allow": "true"}`, status: 403, err: policy.ErrInvalidDecision},
		"missing allow":        {rego: `decision := {"reasons": []}`, status: 403, err: policy.ErrInvalidDecision},
		"number":               {rego: `decision := 1`, status: 403, err: policy.ErrInvalidDecision},
		"bad header":           {rego: `decision := {"allow": false, "headers": {"x-a": "b\nc"}}`, status: 403, err: policy.ErrInvalidDecision},
		"non-string reasons":   {rego: `decision := {"allow": false, "reasons": [1]}`, status: 403, err: policy.ErrInvalidDecision},
		"allow ignores status": {rego: `decision := {"allow": true, "status": 418}`, allow: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e, err := policy.New(t.Context(), policy.Options{Policies: []string{writePolicy(t, "package t\n"+tc.rego)}, Decision: "data.t.decision"})
			require.NoError(t, err)
			d, err := e.Decide(t.Context(), unlockInput())
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tc.allow, d.Allow)
			assert.Equal(t, tc.status, d.Status)
			if tc.reasons != nil {
				assert.Equal(t, tc.reasons, d.Reasons)
			}
			assert.Equal(t, tc.headers, d.Headers)
		})
	}
}

func TestEvaluationTimeoutDenies(t *testing.T) {
	dir := writePolicy(t, `package t
decision if count([x | some x in numbers.range(1, 100000000 + count(input.server_ids))]) > 0`)
	e, err := policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.t.decision", Timeout: 5 * time.Millisecond})
	require.NoError(t, err)
	start := time.Now()
	d, err := e.Decide(t.Context(), unlockInput())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, d.Allow)
	assert.Less(t, time.Since(start), 5*time.Second, "the timeout must stop evaluation")
}

func TestCancelledRequestDenies(t *testing.T) {
	e, err := policy.New(t.Context(), policy.Options{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d, err := e.Decide(ctx, unlockInput("admin"))
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, d.Allow)
}

func TestRequestCancelledDuringEvaluationDenies(t *testing.T) {
	dir := writePolicy(t, `package t
decision if count([x | some x in numbers.range(1, 100000000 + count(input.server_ids))]) > 0`)
	e, err := policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.t.decision", Timeout: time.Minute})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Millisecond)
	defer cancel()
	start := time.Now()
	d, err := e.Decide(ctx, unlockInput())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, d.Allow)
	assert.Less(t, time.Since(start), 5*time.Second, "the request's end must stop evaluation")
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	dir := writePolicy(t, "package t\n\ndecision := {\n")
	_, err := policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.t.decision"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "p.rego")+":")

	dir = writePolicy(t, "package t\n\ndecision := undefined_fn(1)\n")
	_, err = policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.t.decision"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "p.rego:3")

	_, err = policy.New(t.Context(), policy.Options{Policies: []string{filepath.Join(t.TempDir(), "missing.rego")}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.rego")

	_, err = policy.New(t.Context(), policy.Options{Decision: "data.ecsgate.authz.decisoin"})
	require.ErrorContains(t, err, "no loaded policy defines it")

	_, err = policy.New(t.Context(), policy.Options{Decision: "input.x"})
	require.ErrorContains(t, err, "must be a reference under data")

	_, err = policy.New(t.Context(), policy.Options{Policies: []string{t.TempDir()}})
	require.ErrorContains(t, err, "no .rego files")
}

func TestDataDocumentsAndRevision(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys.yaml")
	require.NoError(t, os.WriteFile(keys, []byte("ecsgate:\n  access_keys:\n    AKDEMO:\n      project_id: "+demoProject+"\n      roles: [member, ecs_unlocker]\n"), 0o600))

	plain, err := policy.New(t.Context(), policy.Options{})
	require.NoError(t, err)
	withData, err := policy.New(t.Context(), policy.Options{Data: []string{keys}})
	require.NoError(t, err)
	assert.NotEqual(t, plain.Revision(), withData.Revision(), "data is part of the revision")

	in := unlockInput()
	in.Identity = &policy.Identity{Method: "aksk", AccessKey: "AKDEMO"}
	d, err := withData.Decide(t.Context(), in)
	require.NoError(t, err)
	assert.True(t, d.Allow, d.Reasons)

	d, err = plain.Decide(t.Context(), in)
	require.NoError(t, err)
	assert.False(t, d.Allow)

	_, err = policy.New(t.Context(), policy.Options{Data: []string{filepath.Join(dir, "keys.txt")}})
	require.ErrorContains(t, err, "keys.txt")
}

func TestHeadersRedactSecrets(t *testing.T) {
	h := map[string][]string{
		"X-Auth-Token":  {"gAAAAAsecret"},
		"Authorization": {"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=00"},
		"Content-Type":  {"application/json"},
		"Accept":        {"a", "b"},
	}
	got := policy.Headers(h)
	assert.Equal(t, map[string]string{
		"x-auth-token": policy.Redacted, "authorization": policy.Redacted,
		"content-type": "application/json", "accept": "a, b",
	}, got)
}
