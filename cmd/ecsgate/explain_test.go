package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestExplain from the binary's output")

// binary is the ecsgate built once for the tests: they run it as a user or
// a CI job would, exit status included.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "ecsgate-explain-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "ecsgate")
	goCmd := os.Getenv("GO") // as the Makefile names it
	if goCmd == "" {
		goCmd = "go"
	}
	build := exec.Command(goCmd, "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building ecsgate:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

type run struct {
	stdout, stderr string
	code           int
}

// explain runs `ecsgate explain args...` in this package's directory, so
// the file names in its output are the relative ones given.
func explain(t *testing.T, stdin string, args ...string) run {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"explain"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		var exit *exec.ExitError
		require.True(t, errors.As(err, &exit), "running ecsgate: %v", err)
		code = exit.ExitCode()
	}
	return run{stdout.String(), stderr.String(), code}
}

const (
	demoProject = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	web1        = "c0ffee00-0000-4000-8000-000000000001"
	db1         = "c0ffee00-0000-4000-8000-000000000002"
	td          = "testdata/explain/"
)

var web1Action = "/v2.1/" + demoProject + "/servers/" + web1 + "/action"

// custom is the policy a policy repository would keep: its own rules and
// data, its own decision rule.
var custom = []string{"--policy", td + "custom", "--data", td + "custom/data.yaml", "--decision", "data.acme.compute.decision"}

func TestExplain(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		stdin string
		code  int
	}{
		{name: "allow-dave-unlock", code: 0,
			args: []string{"--identity", td + "dave.identity.json", "POST", web1Action, `{"unlock": null}`}},
		{name: "deny-alice-unlock", code: 1,
			args: []string{"--identity", td + "alice.identity.json", "POST", web1Action, `{"unlock": null}`}},
		{name: "refused-method-override", code: 1,
			args: []string{"--identity", td + "alice.identity.json", "-H", "X-Auth-Token: gAAAAA-not-printed",
				"POST", web1Action + "?_method=DELETE", `{"unlock": null}`}},
		{name: "refused-connection-names-token", code: 1,
			args: []string{"--request", td + "connection-names-token.http"}},
		{name: "custom-policy-frozen", code: 1,
			args: append(append([]string{}, custom...), "--identity", td+"alice.identity.json", "--explain", "notes",
				"-H", "X-Change-Ticket: CHG-1234", "POST", "/v2.1/servers/"+db1+"/action", `{"os-stop": null}`)},
		{name: "custom-policy-allow", code: 0,
			args: append(append([]string{}, custom...), "--identity", td+"alice.identity.json",
				"-H", "X-Change-Ticket: CHG-1234", "POST", "/v2.1/servers/"+web1+"/action", `{"os-stop": null}`)},
	}
	for _, tc := range cases {
		for _, format := range []string{"text", "json"} {
			t.Run(tc.name+"/"+format, func(t *testing.T) {
				got := explain(t, tc.stdin, append([]string{"--format", format}, tc.args...)...)
				assert.Equal(t, tc.code, got.code, "exit status; stderr:\n%s", got.stderr)
				assert.Empty(t, got.stderr)
				golden := filepath.Join(td, tc.name+"."+format+".golden")
				if *update {
					require.NoError(t, os.WriteFile(golden, []byte(got.stdout), 0o644))
				}
				want, err := os.ReadFile(golden)
				require.NoError(t, err, "run with -update to create it")
				assert.Equal(t, string(want), got.stdout)
			})
		}
	}
}

func TestExplainSecretsStayOut(t *testing.T) {
	got := explain(t, "", "--format", "json", "--identity", td+"alice.identity.json",
		"-H", "X-Auth-Token: gAAAAA-secret-token", "-H", "Cookie: session=secret-cookie",
		"POST", web1Action, `{"changePassword": {"adminPass": "secret-password"}}`)
	assert.Equal(t, 0, got.code, got.stderr)
	assert.NotContains(t, got.stdout, "secret")
	assert.Contains(t, got.stdout, `"x-auth-token": "[REDACTED]"`)
	assert.Contains(t, got.stdout, `"/input/action/args/adminPass"`)
}

func TestExplainRequestFromStdin(t *testing.T) {
	raw := "GET /v2.1/servers/detail HTTP/1.1\nHost: ecs\nX-Roles: admin\nConnection: keep-alive\nKeep-Alive: timeout=5\n\n"
	got := explain(t, raw, "--format", "json", "--identity", td+"alice.identity.json", "--request", "-")
	assert.Equal(t, 0, got.code, got.stderr)
	// Hop-by-hop and spoofable identity headers are gone, as the gateway
	// removes them before the policy sees the request.
	assert.Contains(t, got.stdout, `"headers": {}`)
	assert.Contains(t, got.stdout, `"operation": "server.read"`)

	got = explain(t, "POST /v2.1/servers HTTP/1.1\nHost: ecs\n\n{\"server\": {}}", "--request", "-")
	assert.Equal(t, 2, got.code)
	assert.Contains(t, got.stderr, "bytes follow the request")
	assert.Empty(t, got.stdout)
}

func TestExplainPolicyErrors(t *testing.T) {
	got := explain(t, "", "--policy", td+"broken", "--decision", "data.broken.decision", "GET", "/v2.1/servers")
	assert.Equal(t, 2, got.code)
	assert.Empty(t, got.stdout)
	assert.Contains(t, got.stderr, td+"broken/policy.rego:5: rego_type_error")

	got = explain(t, "", "--policy", td+"missing", "GET", "/v2.1/servers")
	assert.Equal(t, 2, got.code)
	assert.Contains(t, got.stderr, "no such file or directory")

	got = explain(t, "", "--policy", td+"custom", "GET", "/v2.1/servers")
	assert.Equal(t, 2, got.code, "the default decision rule is not in the custom policy")
	assert.Contains(t, got.stderr, "data.ecsgate.authz.decision")
}

func TestExplainUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--format", "yaml", "GET", "/v2.1/servers"},
		{"--bogus", "GET", "/v2.1/servers"},
		{"GET"},
		{"GET", "/a", "b", "c"},
		{"--request", td + "connection-names-token.http", "GET", "/v2.1/servers"},
		{"--token", "t", "GET", "/v2.1/servers"},
		{"--keystone", "http://127.0.0.1:1/v3", "--identity", td + "dave.identity.json", "GET", "/v2.1/servers"},
		{"--explain", "everything", "GET", "/v2.1/servers"},
		{"-H", "no colon", "GET", "/v2.1/servers"},
		{"--identity", td + "custom/data.yaml", "GET", "/v2.1/servers"},
		{"GET", "/v2.1/servers", "@" + td + "missing.json"},
		{"--max-microversion", "3.0", "GET", "/v2.1/servers"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			got := explain(t, "", args...)
			assert.Equal(t, 2, got.code, got.stderr)
			assert.Empty(t, got.stdout)
			assert.Contains(t, got.stderr, "ecsgate explain: ")
		})
	}
}

// fakeKeystone answers token validation for one token, like Keystone.
func fakeKeystone(t *testing.T, down bool) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path != "/v3/auth/tokens" || r.Header.Get("X-Subject-Token") != "tok-dave" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("X-Subject-Token", "tok-dave")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"token": {
			"methods": ["password"],
			"user": {"id": "u-dave", "name": "dave", "domain": {"id": "default", "name": "Default"}},
			"project": {"id": "`+demoProject+`", "name": "demo", "domain": {"id": "default", "name": "Default"}},
			"roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "ecs_unlocker"}],
			"expires_at": "2099-01-01T00:00:00.000000Z",
			"issued_at": "2026-01-01T00:00:00.000000Z"}}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v3"
}

func TestExplainKeystone(t *testing.T) {
	ks := fakeKeystone(t, false)
	got := explain(t, "", "--keystone", ks, "--token", "tok-dave", "POST", web1Action, `{"unlock": null}`)
	assert.Equal(t, 0, got.code, got.stderr)
	assert.Contains(t, got.stdout, `"name": "dave"`)
	assert.NotContains(t, got.stdout, "tok-dave")

	// A token in the request file is validated the same way.
	raw := "GET /v2.1/servers HTTP/1.1\r\nHost: ecs\r\nX-Auth-Token: tok-dave\r\n\r\n"
	got = explain(t, raw, "--keystone", ks, "--request", "-")
	assert.Equal(t, 0, got.code, got.stderr)
	assert.Contains(t, got.stdout, `"name": "dave"`)

	// An unknown token is no identity: the policy denies.
	got = explain(t, "", "--keystone", ks, "--token", "tok-nobody", "POST", web1Action, `{"unlock": null}`)
	assert.Equal(t, 1, got.code, got.stderr)
	assert.Contains(t, got.stdout, "authentication required")

	// --token next to the request's own token would hide one of them.
	got = explain(t, raw, "--keystone", ks, "--token", "tok-dave", "--request", "-")
	assert.Equal(t, 2, got.code)
	assert.Contains(t, got.stderr, "X-Auth-Token")

	// Keystone unreachable: the gateway answers 503 without the policy;
	// that says nothing about the policy, so it is no deny.
	got = explain(t, "", "--keystone", fakeKeystone(t, true), "--token", "tok-dave", "POST", web1Action, `{"unlock": null}`)
	assert.Equal(t, 2, got.code)
	assert.Contains(t, got.stdout, "refused before the policy ran (identity), status 503")
	assert.Contains(t, got.stderr, "identity service unavailable")
}
