//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGophercloudThroughGateway: real gophercloud clients, identities from
// the real Keystone, compute endpoint overridden to the gateway. Allowed
// lock/unlock change Nova's state; denied ones get the policy's 403 and
// change nothing.
func TestGophercloudThroughGateway(t *testing.T) {
	resetServers(t)
	s1, s2 := env["SERVER1"], env["SERVER2"]
	alice := computeVia(t, "alice", gwShipped)
	carol := computeVia(t, "carol", gwShipped)
	dave := computeVia(t, "dave", gwShipped)
	ctx := t.Context()

	// Reads pass for every role, the reader included.
	pages, err := servers.List(carol, nil).AllPages(ctx)
	require.NoError(t, err)
	list, err := servers.ExtractServers(pages)
	require.NoError(t, err)
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	assert.ElementsMatch(t, []string{s1, s2}, ids, "carol lists the demo project's servers through the gateway")
	got, err := servers.Get(ctx, carol, s1).Extract()
	require.NoError(t, err)
	assert.Equal(t, s1, got.ID)

	// A member may lock: Nova really locks (locked_by owner: same project).
	require.NoError(t, servers.Lock(ctx, alice, s1).ExtractErr())
	st := novaState(t, s1)
	assert.True(t, st.Locked, "alice's lock through the gateway locked the server in Nova")
	assert.Equal(t, "owner", st.LockedBy)

	// alice lacks ecs_unlocker: 403 from the policy, with its reason; Nova's
	// state is unchanged (Nova itself would have allowed it: owner lock).
	err = servers.Unlock(ctx, alice, s1).ExtractErr()
	require.Error(t, err)
	assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusForbidden), "%v", err)
	assert.Contains(t, err.Error(), "unlock on server "+s1+" requires role ecs_unlocker or admin (caller has: member, reader)")
	assert.Equal(t, st, novaState(t, s1), "the denied unlock changed nothing")

	// carol is a reader: her lock is denied by the policy.
	before2 := novaState(t, s2)
	err = servers.Lock(ctx, carol, s2).ExtractErr()
	require.Error(t, err)
	assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusForbidden), "%v", err)
	assert.Contains(t, err.Error(), "server.action lock on server "+s2+" requires role member or admin (caller has: reader)")
	assert.Equal(t, before2, novaState(t, s2), "the denied lock changed nothing")

	// dave (member + ecs_unlocker) unlocks: Nova really unlocks.
	require.NoError(t, servers.Unlock(ctx, dave, s1).ExtractErr())
	st = novaState(t, s1)
	assert.False(t, st.Locked, "dave's unlock through the gateway unlocked the server in Nova")

	// The same answers at microversion 2.9, where gophercloud shows `locked`.
	alice.Microversion = "2.9"
	require.NoError(t, servers.Lock(ctx, alice, s2).ExtractErr())
	var shown struct {
		Locked bool `json:"locked"`
	}
	require.NoError(t, servers.Get(ctx, alice, s2).ExtractInto(&shown)) // unwraps "server"
	assert.True(t, shown.Locked, "GET at 2.9 through the gateway shows the lock")
	assert.True(t, novaState(t, s2).Locked)
	alice.Microversion = ""
}

// TestNovaLockSemanticsThroughGateway: what Nova decides on its own still
// holds behind the gateway (docs/compute-api-facts.md, "Lock and unlock").
func TestNovaLockSemanticsThroughGateway(t *testing.T) {
	ctx := t.Context()
	s1 := env["SERVER1"]
	admin := computeVia(t, "admin", gwShipped)
	alice := computeVia(t, "alice", gwShipped)
	bob := computeVia(t, "bob", gwShipped)
	dave := computeVia(t, "dave", gwShipped)

	t.Run("admin lock needs unlock_override", func(t *testing.T) {
		resetServers(t)
		// admin is not in demo: Nova records locked_by = admin.
		require.NoError(t, servers.Lock(ctx, admin, s1).ExtractErr())
		st := novaState(t, s1)
		require.True(t, st.Locked)
		require.Equal(t, "admin", st.LockedBy)

		// dave passes the policy (ecs_unlocker), Nova refuses with its own 403.
		err := servers.Unlock(ctx, dave, s1).ExtractErr()
		require.Error(t, err)
		assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusForbidden), "%v", err)
		assert.Contains(t, err.Error(), `{"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed."}}`)
		assert.NotContains(t, err.Error(), "ecsgate", "this 403 is Nova's, not the gateway's")
		assert.Equal(t, st, novaState(t, s1))

		// The admin itself may unlock through the gateway.
		require.NoError(t, servers.Unlock(ctx, admin, s1).ExtractErr())
		assert.False(t, novaState(t, s1).Locked)
	})

	t.Run("owner lock: bob denied by policy, dave allowed by both", func(t *testing.T) {
		resetServers(t)
		require.NoError(t, servers.Lock(ctx, alice, s1).ExtractErr())
		st := novaState(t, s1)
		require.True(t, st.Locked)
		require.Equal(t, "owner", st.LockedBy)

		err := servers.Unlock(ctx, bob, s1).ExtractErr()
		require.Error(t, err)
		assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusForbidden), "%v", err)
		assert.Contains(t, err.Error(), "requires role ecs_unlocker or admin (caller has: member, reader)")
		assert.Equal(t, st, novaState(t, s1), "bob's denied unlock changed nothing")

		require.NoError(t, servers.Unlock(ctx, dave, s1).ExtractErr())
		assert.False(t, novaState(t, s1).Locked, "dave unlocked alice's (owner) lock")
	})
}

// TestUpstreamErrorsPassThrough: Nova's own errors reach the client
// unchanged. Each request is sent straight to Nova and through the gateway
// (from the same starting state); status, body and the content and version
// headers must be identical.
func TestUpstreamErrorsPassThrough(t *testing.T) {
	s1, s3 := env["SERVER1"], env["SERVER3"]
	unknown := "c0ffee00-0000-4000-8000-0000000fffff"
	lockedByAlice := func(t *testing.T) { lockAs(t, "alice", s1) }
	lockedByAdmin := func(t *testing.T) { lockAs(t, "admin", s1) }
	cases := []struct {
		name    string
		pre     func(t *testing.T)
		user    string
		method  string
		path    string
		body    string
		headers []string
		status  int
	}{
		{name: "404 another project's server (GET)", user: "alice", method: "GET", path: "/v2.1/servers/" + s3, status: 404},
		{name: "404 another project's server (lock)", user: "alice", method: "POST", path: "/v2.1/servers/" + s3 + "/action", body: `{"lock": null}`, status: 404},
		{name: "404 unknown canonical uuid (GET)", user: "alice", method: "GET", path: "/v2.1/servers/" + unknown, status: 404},
		{name: "404 unknown canonical uuid (lock)", user: "alice", method: "POST", path: "/v2.1/" + env["DEMO_PROJECT_ID"] + "/servers/" + unknown + "/action", body: `{"lock": null}`, status: 404},
		{name: "409 os-stop on a locked server", pre: lockedByAlice, user: "alice", method: "POST", path: "/v2.1/servers/" + s1 + "/action", body: `{"os-stop": null}`, status: 409},
		{name: "409 metadata update on a locked server", pre: lockedByAlice, user: "alice", method: "PUT", path: "/v2.1/servers/" + s1 + "/metadata/e2e", body: `{"meta": {"e2e": "x"}}`, status: 409},
		{name: "409 delete of a locked server by a member", pre: lockedByAlice, user: "alice", method: "DELETE", path: "/v2.1/servers/" + s1, status: 409},
		{name: "409 os-stop without a compute host", user: "alice", method: "POST", path: "/v2.1/servers/" + s1 + "/action", body: `{"os-stop": null}`, status: 409},
		{name: "400 lock reason of the wrong type at 2.73", user: "alice", method: "POST", path: "/v2.1/servers/" + s1 + "/action", body: `{"lock": {"locked_reason": 5}}`, headers: []string{"OpenStack-API-Version: compute 2.73"}, status: 400},
		{name: "400 lock with an extra key at 2.73", user: "alice", method: "POST", path: "/v2.1/servers/" + s1 + "/action", body: `{"lock": {"locked_reason": "x", "force": true}}`, headers: []string{"OpenStack-API-Version: compute 2.73"}, status: 400},
		{name: "403 Nova's unlock_override (policy passed)", pre: lockedByAdmin, user: "dave", method: "POST", path: "/v2.1/servers/" + s1 + "/action", body: `{"unlock": null}`, status: 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resetServers(t)
			if c.pre != nil {
				c.pre(t)
			}
			before := novaState(t, s1)
			dStatus, dHdr, dBody := novaDo(t, c.user, c.method, c.path, c.body, c.headers...)
			require.Equal(t, c.status, dStatus, "direct to Nova: %s", dBody)
			require.Equal(t, before, novaState(t, s1), "the direct request changed nothing")

			resetServers(t)
			if c.pre != nil {
				c.pre(t)
			}
			before = novaState(t, s1)
			gStatus, gHdr, gBody := httpDo(t, gwShipped, c.user, c.method, c.path, c.body, c.headers...)
			assert.Equal(t, dStatus, gStatus, "status")
			assert.Equal(t, string(dBody), string(gBody), "body")
			for _, h := range []string{"Content-Type", "Openstack-Api-Version", "X-Openstack-Nova-Api-Version"} {
				assert.Equal(t, dHdr.Get(h), gHdr.Get(h), h)
			}
			assert.Regexp(t, `^req-[0-9a-f-]{36}$`, gHdr.Get("X-Compute-Request-Id"), "Nova's request id is passed on")
			assert.NotEmpty(t, gHdr.Get("X-Ecsgate-Decision-Id"))
			assert.Equal(t, before, novaState(t, s1), "the request through the gateway changed nothing")
			t.Logf("%d %s", gStatus, gBody)
		})
	}
}

// TestOpenstackCLIThroughGateway drives the real openstack CLI
// (python3-openstackclient 6.0) through the gateway.
//
// Its server lock/unlock/show/list commands use python-novaclient, which
// ignores clouds.yaml's compute_endpoint_override (only openstacksdk-based
// commands honour it): with password auth they would silently go straight
// to Nova. So each cloud entry authenticates with a token the real Keystone
// issued to that user (auth_type admin_token) and names the gateway as the
// endpoint; compute_endpoint_override is kept for the SDK-based paths. The
// assertions check the traffic really went through the gateway.
func TestOpenstackCLIThroughGateway(t *testing.T) {
	if _, err := exec.LookPath("openstack"); err != nil {
		t.Fatalf("the openstack CLI is missing (test/openstack/up.sh installs python3-openstackclient): %v", err)
	}
	resetServers(t)
	s1, s2 := env["SERVER1"], env["SERVER2"]
	gw := "http://" + gwShipped + "/v2.1"
	var cfg strings.Builder
	cfg.WriteString("clouds:\n")
	for _, user := range []string{"alice", "dave"} {
		fmt.Fprintf(&cfg, `  %s:
    auth_type: admin_token
    auth:
      endpoint: %s
      token: %s
    region_name: RegionOne
    interface: public
    identity_api_version: "3"
    compute_endpoint_override: %s
`, user, gw, token(t, user), gw)
	}
	clouds := filepath.Join(t.TempDir(), "clouds.yaml")
	require.NoError(t, os.WriteFile(clouds, []byte(cfg.String()), 0o600))

	run := func(user string, args ...string) (stdout, stderr string, err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "openstack", append([]string{"--os-cloud", user}, args...)...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "OS_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "OS_CLIENT_CONFIG_FILE="+clouds)
		var o, e strings.Builder
		cmd.Stdout, cmd.Stderr = &o, &e
		start := time.Now()
		err = cmd.Run()
		t.Logf("openstack --os-cloud %s %s (%.1fs): err=%v\n  stdout: %s\n  stderr: %s", user, strings.Join(args, " "),
			time.Since(start).Seconds(), err, strings.TrimSpace(o.String()), strings.TrimSpace(e.String()))
		return o.String(), e.String(), err
	}

	name := novaState(t, s1).Name // "ecsgate-test-1"
	mark := nlog.mark(t)

	// list
	out, _, err := run("dave", "server", "list", "-f", "json", "-c", "ID", "-c", "Name")
	require.NoError(t, err)
	var rows []struct {
		ID   string `json:"ID"`
		Name string `json:"Name"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	assert.ElementsMatch(t, []string{s1, s2}, ids)

	// show by name: GET /servers/<name> is a 404 (the gateway does not pass a
	// non-UUID id), then the CLI lists with a name filter.
	out, _, err = run("dave", "server", "show", name, "-f", "value", "-c", "id")
	require.NoError(t, err)
	assert.Equal(t, s1, strings.TrimSpace(out))

	// lock by name as dave: really locked.
	_, _, err = run("dave", "server", "lock", name)
	require.NoError(t, err)
	locked := novaState(t, s1)
	assert.True(t, locked.Locked)

	// unlock as alice: the policy's reason, then openstackclient's suffix.
	_, stderr, err := run("alice", "server", "unlock", s1)
	require.Error(t, err)
	assert.Regexp(t, regexp.MustCompile(`(?m)^Denied by ecsgate policy: unlock on server `+s1+
		` requires role ecs_unlocker or admin \(caller has: member, reader\) \(HTTP 403\) \(Request-ID: req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\)$`), stderr)
	assert.Equal(t, locked, novaState(t, s1), "alice's denied unlock changed nothing")

	// unlock as dave; show at 2.9 reads `locked` through the gateway.
	_, _, err = run("dave", "server", "unlock", s1)
	require.NoError(t, err)
	assert.False(t, novaState(t, s1).Locked)
	out, _, err = run("dave", "--os-compute-api-version", "2.9", "server", "show", s1, "-f", "value", "-c", "locked")
	require.NoError(t, err)
	assert.Equal(t, "False", strings.TrimSpace(out))

	// Everything Nova saw came through the gateway (Caddy's reverse_proxy
	// keeps the client's Host, so Nova's log cannot tell; the gateway's log
	// can): the name lookup's GET /servers/<name> never reached Nova.
	reqs := nlog.since(t, mark)
	for _, r := range reqs {
		assert.NotContains(t, r, "/servers/"+name+" ", "the gateway answers the name lookup itself")
	}
	logged, err := os.ReadFile(gatewayLg)
	require.NoError(t, err)
	assert.Contains(t, string(logged), "requires role ecs_unlocker or admin", "the gateway decided alice's unlock")
}
