package ecssim

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNativeAPI(t *testing.T) {
	s := newSim(t, nil)
	base := "/v1/" + projectDemoID + "/cloudservers"
	bob := "demo-bob"

	r := s.get(base+"/detail", bob)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	m := r.json(t)
	assert.EqualValues(t, 2, m["count"])
	assert.Len(t, m["servers"], 2)
	assert.Len(t, r.Header.Get("X-Request-Id"), 32)

	r = s.get(base+"/"+web1, "demo-carol")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, false, r.json(t)["server"].(map[string]any)["locked"])
	r = s.get(base+"/"+eve1, bob)
	require.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, "Ecs.0114", r.json(t)["error"].(map[string]any)["code"])

	post := func(tok, body string) *resp {
		return s.do(req{method: http.MethodPost, path: base + "/action", token: tok, body: body})
	}
	r = post(bob, `{"os-stop": {"servers": [{"id": "`+web1+`"}, {"id": "`+db1+`"}]}}`)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	jobID := r.json(t)["job_id"].(string)
	assert.Equal(t, "SHUTOFF", s.state(web1)["status"])
	assert.Equal(t, "SHUTOFF", s.state(db1)["status"])
	r = s.get("/v1/"+projectDemoID+"/jobs/"+jobID, bob)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "SUCCESS", r.json(t)["status"])

	// Wrong state: the job fails.
	r = post(bob, `{"os-stop": {"servers": [{"id": "`+web1+`"}]}}`)
	require.Equal(t, http.StatusOK, r.Status)
	r = s.get("/v1/"+projectDemoID+"/jobs/"+r.json(t)["job_id"].(string), bob)
	assert.Equal(t, "FAIL", r.json(t)["status"])

	r = post(bob, `{"reboot": {"type": "HARD", "servers": [{"id": "`+web1+`"}]}}`)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "ACTIVE", s.state(web1)["status"])

	// Errors.
	for body, status := range map[string]int{
		`{"os-start": {"servers": []}}`: 400,
		`{"os-start": {"servers": [{"id": "` + web1 + `"}]}, "os-stop": {"servers": [{"id": "` + web1 + `"}]}}`: 400,
		`{"reboot": {"servers": [{"id": "` + web1 + `"}]}}`:                                                     400,
		`{"delete": {"servers": [{"id": "` + web1 + `"}]}}`:                                                     400,
		`{"os-start": {"servers": [{"id": "` + eve1 + `"}]}}`:                                                   404,
	} {
		r = post(bob, body)
		require.Equal(t, status, r.Status, body)
		assert.Contains(t, r.json(t), "error")
	}
	r = post("demo-carol", `{"os-start": {"servers": [{"id": "`+db1+`"}]}}`)
	require.Equal(t, http.StatusForbidden, r.Status)
	assert.Equal(t, "Ecs.0003", r.json(t)["error"].(map[string]any)["code"])

	// Locked servers refuse non-admins.
	require.Equal(t, http.StatusAccepted, s.action("demo-alice", db1, `{"lock": null}`).Status)
	r = post(bob, `{"os-start": {"servers": [{"id": "`+db1+`"}]}}`)
	require.Equal(t, http.StatusConflict, r.Status)

	// Auth: APIG-style 401; token project must be the path project.
	r = s.get(base+"/detail", "")
	require.Equal(t, http.StatusUnauthorized, r.Status)
	assert.Equal(t, "APIGW.0301", r.json(t)["error_code"])
	r = s.get("/v1/"+projectOtherID+"/cloudservers/detail", bob)
	assert.Equal(t, http.StatusForbidden, r.Status)
}
