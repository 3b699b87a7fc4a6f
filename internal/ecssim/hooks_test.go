package ecssim

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func requestLog(t *testing.T, s *sim) []RequestRecord {
	t.Helper()
	r := s.get("/__ecssim/requests", "")
	require.Equal(t, http.StatusOK, r.Status)
	var out []RequestRecord
	require.NoError(t, json.Unmarshal(r.Body, &out))
	return out
}

func TestRequestLogAndReset(t *testing.T) {
	s := newSim(t, nil)
	tok := s.login("alice", "demo") // /v3 is not logged
	body := `{"lock": null}`
	tp := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	r := s.do(req{method: http.MethodPost, path: "/v2.1/servers/" + web1 + "/action?x=1", token: tok, body: body,
		header: map[string]string{"Traceparent": tp, "X-Roles": "admin"}})
	require.Equal(t, http.StatusAccepted, r.Status)
	s.do(req{method: http.MethodPost, path: "/v2.1/servers/" + web1 + "/action", token: tok, body: `{"unlock": null}`, chunked: true})
	s.get("/__ecssim/servers/"+web1, "") // hooks are not logged

	log := requestLog(t, s)
	require.Len(t, log, 2)
	e := log[0]
	assert.Equal(t, 1, e.Seq)
	assert.Equal(t, http.MethodPost, e.Method)
	assert.Equal(t, "/v2.1/servers/"+web1+"/action?x=1", e.Path)
	assert.Equal(t, sha256Hex([]byte(body)), e.BodySHA256)
	assert.Equal(t, len(body), e.BodyLength)
	assert.Equal(t, "14", e.ContentLength)
	assert.Empty(t, e.TransferEncoding)
	assert.True(t, e.AuthTokenPresent)
	assert.Equal(t, []string{"X-Auth-Token"}, e.CredentialHeaders)
	assert.NotContains(t, e.Headers, "X-Auth-Token")
	assert.Equal(t, []string{"admin"}, e.Headers["X-Roles"])
	assert.Equal(t, tp, e.Traceparent)
	assert.Equal(t, http.StatusAccepted, e.Status)
	assert.Equal(t, r.Header.Get("X-Openstack-Request-Id"), e.RequestID)
	raw, _ := json.Marshal(log)
	assert.NotContains(t, string(raw), tok, "the token value must never be logged")

	c := log[1]
	assert.Equal(t, []string{"chunked"}, c.TransferEncoding)
	assert.Equal(t, "", c.ContentLength)
	assert.Equal(t, len(`{"unlock": null}`), c.BodyLength)

	// Reset: state and log back to the seed; issued tokens survive.
	require.Equal(t, http.StatusAccepted, s.action(tok, web1, `{"lock": null}`).Status)
	require.Equal(t, http.StatusNoContent, s.do(req{method: http.MethodPost, path: "/__ecssim/reset"}).Status)
	assert.Equal(t, false, s.state(web1)["locked"])
	assert.Empty(t, requestLog(t, s))
	assert.Equal(t, http.StatusOK, s.get("/v2.1/servers", tok).Status)
	require.Equal(t, http.StatusNoContent, s.do(req{method: http.MethodPost, path: "/__ecssim/reset?tokens=1"}).Status)
	assert.Equal(t, http.StatusUnauthorized, s.get("/v2.1/servers", tok).Status)

	// Raw state listing and unknown ids.
	r = s.get("/__ecssim/servers", "")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Len(t, r.json(t)["servers"], 3)
	assert.Equal(t, http.StatusNotFound, s.get("/__ecssim/servers/nope", "").Status)
	require.Equal(t, http.StatusNoContent, s.do(req{method: http.MethodDelete, path: "/__ecssim/requests"}).Status)
	assert.Empty(t, requestLog(t, s))
}

func TestGlanceStandIn(t *testing.T) {
	s := newSim(t, &Handler{ImageURL: "http://img.example/image"})
	r := s.get("/image", "")
	require.Equal(t, http.StatusMultipleChoices, r.Status)
	v := r.json(t)["versions"].([]any)[0].(map[string]any)
	assert.Equal(t, "CURRENT", v["status"])
	assert.Equal(t, "http://img.example/image/v2/", v["links"].([]any)[0].(map[string]any)["href"])
	assert.Equal(t, http.StatusOK, s.get("/image/versions", "").Status)
	assert.Equal(t, http.StatusOK, s.get("/image/v2", "").Status)

	assert.Equal(t, http.StatusUnauthorized, s.get("/image/v2/images", "").Status)
	r = s.get("/image/v2/images", "demo-carol")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Len(t, r.json(t)["images"], 1)
	r = s.get("/image/v2/images?name="+imageName, "demo-carol")
	assert.Len(t, r.json(t)["images"], 1)
	r = s.get("/image/v2/images?name=other", "demo-carol")
	assert.Empty(t, r.json(t)["images"])
	r = s.get("/image/v2/images/"+imageID, "demo-carol")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "active", r.json(t)["status"])
	assert.Equal(t, http.StatusNotFound, s.get("/image/v2/images/nope", "demo-carol").Status)
}
