package ecssim

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func roleNames(t *testing.T, tok map[string]any) []string {
	t.Helper()
	var out []string
	for _, r := range tok["roles"].([]any) {
		out = append(out, r.(map[string]any)["name"].(string))
	}
	return out
}

func TestKeystoneIssueAndValidate(t *testing.T) {
	s := newSim(t, &Handler{PublicURL: "http://gateway.example:8080/v2.1", IdentityURL: "http://keystone.example/v3"})

	r := s.get("/v3", "")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "http://keystone.example/v3/", r.json(t)["version"].(map[string]any)["links"].([]any)[0].(map[string]any)["href"])

	tok := s.login("alice", "demo")

	// A token validates itself.
	v := s.do(req{method: http.MethodGet, path: "/v3/auth/tokens", token: tok, header: map[string]string{"X-Subject-Token": tok}})
	require.Equal(t, http.StatusOK, v.Status, string(v.Body))
	assert.Equal(t, tok, v.Header.Get("X-Subject-Token"))
	assert.Regexp(t, `^req-[0-9a-f-]{36}$`, v.Header.Get("X-Openstack-Request-Id"))
	body := v.json(t)["token"].(map[string]any)
	assert.Equal(t, []any{"password"}, body["methods"])
	user := body["user"].(map[string]any)
	assert.Equal(t, "alice", user["name"])
	assert.Equal(t, "1d000000000000000000000000000002", user["id"])
	assert.Equal(t, map[string]any{"id": "default", "name": "Default"}, user["domain"])
	assert.Contains(t, user, "password_expires_at")
	proj := body["project"].(map[string]any)
	assert.Equal(t, projectDemoID, proj["id"])
	assert.Equal(t, "demo", proj["name"])
	assert.Equal(t, false, body["is_domain"])
	assert.Equal(t, []string{"member", "reader"}, roleNames(t, body))
	assert.Len(t, body["audit_ids"], 1)
	exp, err := time.Parse(keystoneTime, body["expires_at"].(string))
	require.NoError(t, err)
	iss, err := time.Parse(keystoneTime, body["issued_at"].(string))
	require.NoError(t, err)
	assert.Equal(t, 24*time.Hour, exp.Sub(iss))

	urls := map[string]string{}
	for _, e := range body["catalog"].([]any) {
		ce := e.(map[string]any)
		eps := ce["endpoints"].([]any)
		require.Len(t, eps, 3)
		for _, ep := range eps {
			assert.Equal(t, "RegionOne", ep.(map[string]any)["region"])
		}
		urls[ce["type"].(string)] = eps[0].(map[string]any)["url"].(string)
	}
	assert.Equal(t, map[string]string{
		"compute":  "http://gateway.example:8080/v2.1",
		"identity": "http://keystone.example/v3",
		"image":    s.srv.URL + "/image",
	}, urls)

	// nocatalog
	v = s.do(req{method: http.MethodGet, path: "/v3/auth/tokens?nocatalog", token: tok, header: map[string]string{"X-Subject-Token": tok}})
	require.Equal(t, http.StatusOK, v.Status)
	assert.NotContains(t, v.json(t)["token"], "catalog")

	// HEAD
	v = s.do(req{method: http.MethodHead, path: "/v3/auth/tokens", token: tok, header: map[string]string{"X-Subject-Token": tok}})
	assert.Equal(t, http.StatusOK, v.Status)
	assert.Empty(t, v.Body)
}

func TestKeystoneErrors(t *testing.T) {
	s := newSim(t, nil)
	alice := s.login("alice", "demo")
	bob := s.login("bob", "demo")
	admin := s.login("admin", "admin")

	validate := func(caller, subject string) *resp {
		return s.do(req{method: http.MethodGet, path: "/v3/auth/tokens", token: caller, header: map[string]string{"X-Subject-Token": subject}})
	}

	// Unknown subject: 404.
	r := validate(alice, "gAAAAAnonsense")
	require.Equal(t, http.StatusNotFound, r.Status)
	assert.JSONEq(t, `{"error": {"code": 404, "title": "Not Found", "message": "Could not recognize Fernet token"}}`, string(r.Body))
	r = validate(alice, "")
	assert.Equal(t, http.StatusNotFound, r.Status)

	// Invalid caller: 401 with WWW-Authenticate.
	r = validate("bogus", alice)
	require.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Equal(t, `Keystone uri="`+s.srv.URL+`/v3"`, r.Header.Get("WWW-Authenticate"))
	assert.JSONEq(t, `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`, string(r.Body))

	// Another user's token: 403; an admin may validate anything.
	r = validate(bob, alice)
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.Equal(t, http.StatusOK, validate(admin, alice).Status)
	// A second token of the same user validates the first (token subject).
	assert.Equal(t, http.StatusOK, validate(s.login("alice", "demo"), alice).Status)

	// Bad credentials and scopes.
	issue := func(body string) *resp {
		return s.do(req{method: http.MethodPost, path: "/v3/auth/tokens", body: body})
	}
	r = issue(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "alice", "domain": {"name": "Default"}, "password": "nope"}}}}}`)
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	assert.NotEmpty(t, r.Header.Get("WWW-Authenticate"))
	r = issue(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "alice", "domain": {"name": "Default"}, "password": "alice-secret"}}}, "scope": {"project": {"id": "` + projectOtherID + `"}}}}`)
	assert.Equal(t, http.StatusUnauthorized, r.Status, "alice has no role in other")
	r = issue(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "alice", "domain": {"name": "Elsewhere"}, "password": "alice-secret"}}}}}`)
	assert.Equal(t, http.StatusUnauthorized, r.Status)
	r = issue(`not json`)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = issue(`{"auth": {}}`)
	assert.Equal(t, http.StatusBadRequest, r.Status)

	// By user id and project id; unscoped tokens carry no project or catalog.
	r = issue(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "1d000000000000000000000000000006", "password": "eve-secret"}}}, "scope": {"project": {"id": "` + projectOtherID + `"}}}}`)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	assert.Equal(t, projectOtherID, r.json(t)["token"].(map[string]any)["project"].(map[string]any)["id"])
	r = issue(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "eve", "domain": {"id": "default"}, "password": "eve-secret"}}}, "scope": "unscoped"}}`)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	unscoped := r.json(t)["token"].(map[string]any)
	assert.NotContains(t, unscoped, "project")
	assert.NotContains(t, unscoped, "catalog")

	// Rescoping with the token method.
	r = issue(`{"auth": {"identity": {"methods": ["token"], "token": {"id": "` + r.Header.Get("X-Subject-Token") + `"}}, "scope": {"project": {"name": "other", "domain": {"name": "Default"}}}}}`)
	require.Equal(t, http.StatusCreated, r.Status, string(r.Body))
	assert.Equal(t, []any{"token"}, r.json(t)["token"].(map[string]any)["methods"])

	// Admin roles include implied ones.
	r = validate(admin, admin)
	assert.Equal(t, []string{"admin", "member", "reader"}, roleNames(t, r.json(t)["token"].(map[string]any)))
}

func TestKeystoneRevokeAndExpiry(t *testing.T) {
	s := newSim(t, nil)
	alice := s.login("alice", "demo")
	other := s.login("alice", "demo")
	assert.Equal(t, http.StatusOK, s.get("/v2.1/servers", alice).Status)

	r := s.do(req{method: http.MethodDelete, path: "/v3/auth/tokens", token: other, header: map[string]string{"X-Subject-Token": alice}})
	require.Equal(t, http.StatusNoContent, r.Status, string(r.Body))
	r = s.do(req{method: http.MethodGet, path: "/v3/auth/tokens", token: other, header: map[string]string{"X-Subject-Token": alice}})
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, http.StatusUnauthorized, s.get("/v2.1/servers", alice).Status)

	// Expiry after 24 h (allow_expired shows it for a while longer).
	defer func(f func() time.Time) { now = f }(now)
	base := time.Now()
	now = func() time.Time { return base.Add(25 * time.Hour) }
	assert.Equal(t, http.StatusUnauthorized, s.get("/v2.1/servers", other).Status)
	demo := "demo-bob"
	r = s.do(req{method: http.MethodGet, path: "/v3/auth/tokens", token: demo, header: map[string]string{"X-Subject-Token": other}})
	assert.Equal(t, http.StatusNotFound, r.Status)
	assert.Contains(t, string(r.Body), "Could not recognize Fernet token")
	r = s.do(req{method: http.MethodGet, path: "/v3/auth/tokens?allow_expired=true", token: "demo-admin", header: map[string]string{"X-Subject-Token": other}})
	assert.Equal(t, http.StatusOK, r.Status)
	// Demo tokens never expire.
	assert.Equal(t, http.StatusOK, s.get("/v2.1/servers", demo).Status)
}

func TestKeystoneDemoTokens(t *testing.T) {
	s := newSim(t, nil)
	r := s.do(req{method: http.MethodGet, path: "/v3/auth/tokens", token: "demo-dave", header: map[string]string{"X-Subject-Token": "demo-dave"}})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	tok := r.json(t)["token"].(map[string]any)
	assert.Equal(t, "dave", tok["user"].(map[string]any)["name"])
	assert.Equal(t, projectDemoID, tok["project"].(map[string]any)["id"])
	assert.Equal(t, []string{"member", "ecs_unlocker", "reader"}, roleNames(t, tok))

	assert.Equal(t, http.StatusUnauthorized, s.get("/v2.1/servers", "demo-mallory").Status)

	// Revocable until reset.
	r = s.do(req{method: http.MethodDelete, path: "/v3/auth/tokens", token: "demo-eve", header: map[string]string{"X-Subject-Token": "demo-eve"}})
	require.Equal(t, http.StatusNoContent, r.Status)
	assert.Equal(t, http.StatusUnauthorized, s.get("/v2.1/servers", "demo-eve").Status)
	require.Equal(t, http.StatusNoContent, s.do(req{method: http.MethodPost, path: "/__ecssim/reset"}).Status)
	assert.Equal(t, http.StatusOK, s.get("/v2.1/servers", "demo-eve").Status)
}
