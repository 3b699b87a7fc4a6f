//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The policy's life around the request: rules that read the server's live
// state at Nova (server_api, ecs.server) and shadow decisions (dry_run).
// Each is shown against the real nova-api: what Nova executed, what its
// database holds and what the decision record says.

// lifecycleFiles are what the lifecycle sites load, prepared by TestMain.
type lifecycleFiles struct {
	shippedDir, libDir string // the repository's rego/ecsgate and rego/lib
	protectedData      string // data turning the library's protected rule on
}

// lifecycleSetup writes the lifecycle sites' files into workDir: the data
// for the protected site.
func lifecycleSetup() (lifecycleFiles, error) {
	var lc lifecycleFiles
	var err error
	// The library is loaded from the repository as a deployment copies it:
	// the binary embeds rego/ecsgate/authz.rego only.
	if lc.shippedDir, err = filepath.Abs("../../rego/ecsgate"); err != nil {
		return lc, err
	}
	if lc.libDir, err = filepath.Abs("../../rego/lib"); err != nil {
		return lc, err
	}
	for _, dir := range []string{lc.shippedDir, lc.libDir} {
		if _, err := os.Stat(dir); err != nil {
			return lc, fmt.Errorf("the rule library: %w", err)
		}
	}
	lc.protectedData = filepath.Join(workDir, "protected-rules.json")
	if err := os.WriteFile(lc.protectedData, []byte(`{"ecsgate": {"rules": {"protected": {}}}}`), 0o644); err != nil {
		return lc, err
	}
	return lc, nil
}

// ---- leaving Nova as the test found it ----------------------------------------

// sameServer compares what a test can change about a server; updated_at
// moves on any write, even one that changes nothing.
func sameServer(a, b dbState) bool {
	a.Row, b.Row = "", ""
	return a == b
}

// keepServers puts every seeded server back, when the test ends, in the
// state it had when the test began: lock, who locked it and why, metadata.
// The other tests reset the servers before they start; these leave them as
// they found them, so that a later test (or a person inspecting the stack)
// does not inherit a protected or unlocked server.
func keepServers(t *testing.T) {
	t.Helper()
	ids := []string{env["SERVER1"], env["SERVER2"], env["SERVER3"]}
	before := map[string]dbState{}
	for _, id := range ids {
		before[id] = novaDBState(t, id)
	}
	t.Cleanup(func() {
		changed := false
		for _, id := range ids {
			if !sameServer(before[id], novaDBState(t, id)) {
				changed = true
			}
		}
		if !changed {
			return
		}
		resetServers(t)
		for _, id := range ids {
			restoreServer(t, id, before[id])
			after := novaDBState(t, id)
			assert.True(t, sameServer(before[id], after), "server %s not restored:\n  was %+v\n  now %+v", id, before[id], after)
		}
	})
}

// restoreServer brings a freshly reset server to state s.
func restoreServer(t *testing.T, id string, s dbState) {
	t.Helper()
	if !s.Exists || s.VMState != "active" || s.TaskState != "" || s.Name != seededName(id) {
		t.Logf("server %s was %s (%s) before the test: only lock and metadata are restored", id, s.short(), s.Row)
	}
	if s.Metadata != "" {
		meta := map[string]string{}
		for _, kv := range strings.Split(s.Metadata, ",") {
			k, v, _ := strings.Cut(kv, "=")
			meta[k] = v
		}
		doc, err := json.Marshal(map[string]any{"metadata": meta})
		require.NoError(t, err)
		status, _, body := novaDo(t, "admin", http.MethodPut, "/v2.1/servers/"+id+"/metadata", string(doc))
		require.Equal(t, http.StatusOK, status, "restoring metadata of %s: %s", id, body)
	}
	if !s.Locked {
		return
	}
	// locked_by is "owner" when someone of the server's project locked it,
	// "admin" otherwise; the seeded owners are alice (demo) and eve (other).
	user := "alice"
	if id == env["SERVER3"] {
		user = "eve"
	}
	if s.LockedBy == "admin" {
		user = "admin"
	}
	lock := `{"lock": null}`
	if s.LockedReason != "" {
		doc, err := json.Marshal(map[string]any{"lock": map[string]string{"locked_reason": s.LockedReason}})
		require.NoError(t, err)
		lock = string(doc)
	}
	status, _, body := novaDo(t, user, http.MethodPost, "/v2.1/servers/"+id+"/action", lock, "OpenStack-API-Version: compute 2.73")
	require.Equal(t, http.StatusAccepted, status, "relocking %s as %s: %s", id, user, body)
}

// ---- 1. a rule on live server metadata ------------------------------------------

// setProtected sets or removes metadata protected=true on id straight at
// Nova, as user.
func setProtected(t *testing.T, user, id string, on bool) {
	t.Helper()
	path := "/v2.1/servers/" + id + "/metadata/protected"
	if on {
		status, _, body := novaDo(t, user, http.MethodPut, path, `{"meta": {"protected": "true"}}`)
		require.Equal(t, http.StatusOK, status, "setting protected=true as %s: %s", user, body)
		return
	}
	status, _, body := novaDo(t, user, http.MethodDelete, path, "")
	require.Equal(t, http.StatusNoContent, status, "removing protected as %s: %s", user, body)
}

// TestProtectedServerLiveMetadata: the library's protected rule, decided on
// the metadata Nova holds at the moment of the request, looked up with the
// caller's own token. Nothing but Nova's metadata changes between a denied
// and an allowed unlock.
func TestProtectedServerLiveMetadata(t *testing.T) {
	keepServers(t)
	s1 := env["SERVER1"]
	action := "/v2.1/servers/" + s1 + "/action"
	lookup := "GET /v2.1/" + env["DEMO_PROJECT_ID"] + "/servers/" + s1 + " => 200"
	resetServers(t)
	setProtected(t, "alice", s1, true)
	lockAs(t, "alice", s1)

	t.Run("dave's unlock of the protected server is denied", func(t *testing.T) {
		mark := nlog.mark(t)
		status, hdr, body := httpDo(t, gwProtected, "dave", http.MethodPost, action, `{"unlock": null}`)
		reached := nlog.since(t, mark)
		require.Equal(t, http.StatusForbidden, status, "%s", body)
		msg := novaFault(t, status, hdr, body, "forbidden")
		assert.Contains(t, msg, "server "+s1+" is protected (metadata protected=true): server.action unlock needs one of the roles admin")
		assert.Equal(t, []string{lookup}, reached, "one lookup with dave's token and project, no unlock")
		assert.Equal(t, "locked(owner)", novaDBState(t, s1).short())
		rec := decisionFor(t, gwProtected, hdr)
		assert.Equal(t, "dave/"+env["DEMO_PROJECT_ID"], rec.who())
		if assert.NotNil(t, rec.Result) {
			assert.False(t, rec.Result.Allow)
		}
	})

	t.Run("a read asks Nova nothing more", func(t *testing.T) {
		mark := nlog.mark(t)
		status, _, body := httpDo(t, gwProtected, "dave", http.MethodGet, "/v2.1/servers/"+s1, "")
		require.Equal(t, http.StatusOK, status, "%s", body)
		assert.Equal(t, []string{"GET /v2.1/servers/" + s1 + " => 200"}, nlog.since(t, mark),
			"the protected rule guards changes only: no lookup for a read")
	})

	t.Run("without the metadata the same unlock goes through", func(t *testing.T) {
		// A locked server takes no metadata change from its own project
		// (Nova answers 409); an admin's is allowed.
		setProtected(t, "admin", s1, false)
		mark := nlog.mark(t)
		status, hdr, body := httpDo(t, gwProtected, "dave", http.MethodPost, action, `{"unlock": null}`)
		reached := nlog.since(t, mark)
		require.Equal(t, http.StatusAccepted, status, "%s", body)
		assert.Equal(t, []string{lookup, "POST " + action + " => 202"}, reached)
		assert.Equal(t, "unlocked", novaDBState(t, s1).short())
		assert.Equal(t, "dave/"+env["DEMO_PROJECT_ID"], decisionFor(t, gwProtected, hdr).who())
	})

	t.Run("admin may unlock a protected server", func(t *testing.T) {
		setProtected(t, "alice", s1, true)
		lockAs(t, "alice", s1)
		mark := nlog.mark(t)
		status, hdr, body := httpDo(t, gwProtected, "admin", http.MethodPost, action, `{"unlock": null}`)
		reached := nlog.since(t, mark)
		require.Equal(t, http.StatusAccepted, status, "%s", body)
		assert.Equal(t, []string{"POST " + action + " => 202"}, reached, "an admin is not guarded: no lookup")
		after := novaDBState(t, s1)
		assert.Equal(t, "unlocked", after.short())
		assert.Equal(t, "protected=true", after.Metadata)
		assert.Equal(t, "admin/"+env["ADMIN_PROJECT_ID"], decisionFor(t, gwProtected, hdr).who())
	})
}

// ---- 2. dry run --------------------------------------------------------------------

// TestDryRunForwardsAndRecords: with `dry_run unlock`, an unlock the policy
// denies still reaches Nova, and the record keeps the denial it would have
// been; everything else is enforced as usual.
func TestDryRunForwardsAndRecords(t *testing.T) {
	keepServers(t)
	s1 := env["SERVER1"]
	action := "/v2.1/servers/" + s1 + "/action"
	resetServers(t)
	lockAs(t, "alice", s1)

	t.Run("alice's unlock is forwarded, the denial recorded", func(t *testing.T) {
		mark := nlog.mark(t)
		status, hdr, body := httpDo(t, gwDryRun, "alice", http.MethodPost, action, `{"unlock": null}`)
		reached := nlog.since(t, mark)
		require.Equal(t, http.StatusAccepted, status, "Nova's answer: %s", body)
		assert.Equal(t, []string{"POST " + action + " => 202"}, reached)
		assert.Equal(t, "unlocked", novaDBState(t, s1).short())
		rec := decisionFor(t, gwDryRun, hdr)
		assert.True(t, rec.DryRun, "the record says dry_run")
		assert.Equal(t, "alice/"+env["DEMO_PROJECT_ID"], rec.who())
		if assert.NotNil(t, rec.Result) {
			assert.False(t, rec.Result.Allow, "the would-be result is kept")
			assert.Contains(t, strings.Join(rec.Result.Reasons, "\n"), "requires role ecs_unlocker or admin")
		}
	})

	t.Run("carol's lock is still denied", func(t *testing.T) {
		before := novaDBState(t, s1)
		mark := nlog.mark(t)
		status, hdr, body := httpDo(t, gwDryRun, "carol", http.MethodPost, action, `{"lock": null}`)
		reached := nlog.since(t, mark)
		require.Equal(t, http.StatusForbidden, status, "%s", body)
		assert.Contains(t, novaFault(t, status, hdr, body, "forbidden"), "requires role member or admin")
		assert.Empty(t, reached, "nothing may reach nova-api")
		assert.Equal(t, before, novaDBState(t, s1))
		rec := decisionFor(t, gwDryRun, hdr)
		assert.False(t, rec.DryRun, "lock is not in dry_run")
		if assert.NotNil(t, rec.Result) {
			assert.False(t, rec.Result.Allow)
		}
	})
}
