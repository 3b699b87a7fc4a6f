package ecssim

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLockMatrix replays the observed matrix of docs/compute-api-facts.md,
// "Lock and unlock" (new defaults).
func TestLockMatrix(t *testing.T) {
	s := newSim(t, nil)
	alice, bob := s.login("alice", "demo"), s.login("bob", "demo")
	carol, dave := s.login("carol", "demo"), s.login("dave", "demo")
	eve, admin := s.login("eve", "other"), s.login("admin", "admin")

	// member locks; another member of the same project unlocks.
	require.Equal(t, http.StatusAccepted, s.action(alice, web1, `{"lock": null}`).Status)
	st := s.state(web1)
	assert.Equal(t, true, st["locked"])
	assert.Equal(t, "owner", st["locked_by"])
	require.Equal(t, http.StatusAccepted, s.action(bob, web1, `{"unlock": null}`).Status)
	st = s.state(web1)
	assert.Equal(t, false, st["locked"])
	assert.Nil(t, st["locked_by"])

	// owner re-locks a locked server; a member unlocks an unlocked one.
	require.Equal(t, http.StatusAccepted, s.action(alice, web1, `{"lock": null}`).Status)
	assert.Equal(t, http.StatusAccepted, s.action(bob, web1, `{"lock": null}`).Status)
	require.Equal(t, http.StatusAccepted, s.action(bob, web1, `{"unlock": null}`).Status)
	assert.Equal(t, http.StatusAccepted, s.action(bob, web1, `{"unlock": null}`).Status)

	// reader: 403 on lock and unlock.
	r := s.action(carol, web1, `{"lock": null}`)
	require.Equal(t, http.StatusForbidden, r.Status)
	assert.Equal(t, "Policy doesn't allow os_compute_api:os-lock-server:lock to be performed.", faultMsg(t, r, "forbidden"))
	assert.Equal(t, ctJSONUTF8, r.Header.Get("Content-Type"))
	r = s.action(carol, web1, `{"unlock": null}`)
	require.Equal(t, http.StatusForbidden, r.Status)
	assert.Equal(t, "Policy doesn't allow os_compute_api:os-lock-server:unlock to be performed.", faultMsg(t, r, "forbidden"))

	// admin (outside the project) locks; a member cannot unlock; admin can.
	require.Equal(t, http.StatusAccepted, s.action(admin, web1, `{"lock": null}`).Status)
	assert.Equal(t, "admin", s.state(web1)["locked_by"])
	for _, tok := range []string{alice, dave} { // ecs_unlocker means nothing to Nova
		r = s.action(tok, web1, `{"unlock": null}`)
		require.Equal(t, http.StatusForbidden, r.Status)
		assert.Equal(t, "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed.", faultMsg(t, r, "forbidden"))
	}
	assert.Equal(t, true, s.state(web1)["locked"])
	require.Equal(t, http.StatusAccepted, s.action(admin, web1, `{"unlock": null}`).Status)

	// admin also undoes an owner lock.
	require.Equal(t, http.StatusAccepted, s.action(alice, web1, `{"lock": null}`).Status)
	require.Equal(t, http.StatusAccepted, s.action(admin, web1, `{"unlock": null}`).Status)
	assert.Equal(t, false, s.state(web1)["locked"])

	// another project's member: 404 for GET and lock (404 before 403).
	for _, r := range []*resp{s.get("/v2.1/servers/"+web1, eve), s.action(eve, web1, `{"lock": null}`)} {
		require.Equal(t, http.StatusNotFound, r.Status)
		assert.Equal(t, "Instance "+web1+" could not be found.", faultMsg(t, r, "itemNotFound"))
	}
	// and a reader of the owning project sees the server.
	assert.Equal(t, http.StatusOK, s.get("/v2.1/servers/"+web1, carol).Status)
}

func TestLockReasonMicroversions(t *testing.T) {
	s := newSim(t, nil)
	alice := "demo-alice"
	mv := func(v string) []string { return []string{"OpenStack-API-Version", "compute " + v} }

	r := s.action(alice, web1, `{"lock": {"locked_reason": "maintenance"}}`, mv("2.73")...)
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	assert.Equal(t, "compute 2.73", r.Header.Get("OpenStack-API-Version"))
	assert.Equal(t, "maintenance", s.state(web1)["locked_reason"])

	g := s.do(req{method: http.MethodGet, path: "/v2.1/servers/" + web1, token: alice, header: map[string]string{"OpenStack-API-Version": "compute 2.73"}})
	srv := g.json(t)["server"].(map[string]any)
	assert.Equal(t, true, srv["locked"])
	assert.Equal(t, "maintenance", srv["locked_reason"])
	g = s.do(req{method: http.MethodGet, path: "/v2.1/servers/" + web1, token: alice, header: map[string]string{"OpenStack-API-Version": "compute 2.9"}})
	srv = g.json(t)["server"].(map[string]any)
	assert.Equal(t, true, srv["locked"])
	assert.NotContains(t, srv, "locked_reason")
	g = s.get("/v2.1/servers/"+web1, alice)
	assert.NotContains(t, g.json(t)["server"], "locked")

	require.Equal(t, http.StatusAccepted, s.action(alice, web1, `{"unlock": null}`).Status)
	assert.Nil(t, s.state(web1)["locked_reason"])

	bad := map[string]string{
		`{"lock": {"locked_reason": 5}}`:           "Invalid input for field/attribute locked_reason. Value: 5. 5 is not of type 'string'",
		`{"lock": {"locked_reason": "x", "a": 1}}`: "Invalid input for field/attribute lock. Value: {'locked_reason': 'x', 'a': 1}. Additional properties are not allowed ('a' was unexpected)",
		`{"lock": "x"}`:                            "Invalid input for field/attribute lock. Value: x. 'x' is not of type 'object', 'null'",
		`{"lock": {"locked_reason": ""}}`:          "Invalid input for field/attribute locked_reason. Value: . '' is too short",
	}
	for body, msg := range bad {
		r := s.action(alice, web1, body, mv("2.73")...)
		require.Equal(t, http.StatusBadRequest, r.Status, body)
		assert.Equal(t, msg, faultMsg(t, r, "badRequest"), body)
		assert.Equal(t, false, s.state(web1)["locked"])
		// The same bodies are accepted at 2.1 (no schema before 2.73).
		r = s.action(alice, web1, body)
		require.Equal(t, http.StatusAccepted, r.Status, body)
		assert.Nil(t, s.state(web1)["locked_reason"])
		require.Equal(t, http.StatusAccepted, s.action(alice, web1, `{"unlock": {"anything": [1]}}`).Status)
	}
}

func TestLockedServerRefusesMutations(t *testing.T) {
	s := newSim(t, nil)
	alice, bob, admin := "demo-alice", "demo-bob", "demo-admin"
	require.Equal(t, http.StatusAccepted, s.action(alice, web1, `{"lock": null}`).Status)

	locked := "Instance " + web1 + " is locked"
	for _, body := range []string{`{"os-stop": null}`, `{"reboot": {"type": "SOFT"}}`, `{"pause": null}`, `{"suspend": null}`, `{"createImage": {"name": "snap"}}`, `{"resize": {"flavorRef": "2"}}`} {
		r := s.action(bob, web1, body)
		require.Equal(t, http.StatusConflict, r.Status, body)
		assert.Equal(t, locked, faultMsg(t, r, "conflictingRequest"), body)
	}
	r := s.do(req{method: http.MethodDelete, path: "/v2.1/servers/" + web1, token: bob})
	require.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, locked, faultMsg(t, r, "conflictingRequest"))
	r = s.do(req{method: http.MethodPost, path: "/v2.1/servers/" + web1 + "/metadata", token: bob, body: `{"metadata": {"a": "b"}}`})
	require.Equal(t, http.StatusConflict, r.Status)
	r = s.do(req{method: http.MethodDelete, path: "/v2.1/servers/" + web1 + "/metadata/a", token: bob})
	require.Equal(t, http.StatusConflict, r.Status)
	// Nova's update_instance has no lock check.
	r = s.do(req{method: http.MethodPut, path: "/v2.1/servers/" + web1, token: bob, body: `{"server": {"name": "web-renamed"}}`})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	// Reads still work.
	assert.Equal(t, http.StatusOK, s.get("/v2.1/servers/"+web1, bob).Status)
	assert.Equal(t, vmActive, s.state(web1)["vm_state"])

	// An admin is not stopped by the lock.
	require.Equal(t, http.StatusAccepted, s.action(admin, web1, `{"os-stop": null}`).Status)
	assert.Equal(t, "SHUTOFF", s.state(web1)["status"])

	// After unlock the member may act again.
	require.Equal(t, http.StatusAccepted, s.action(bob, web1, `{"unlock": null}`).Status)
	require.Equal(t, http.StatusAccepted, s.action(bob, web1, `{"os-start": null}`).Status)
	assert.Equal(t, "ACTIVE", s.state(web1)["status"])
}
