package ecssim

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNovaUnauthenticated(t *testing.T) {
	s := newSim(t, &Handler{IdentityURL: "http://ks.example/v3"})
	for _, tok := range []string{"", "garbage"} {
		r := s.action(tok, web1, `{"unlock": null}`)
		require.Equal(t, http.StatusUnauthorized, r.Status)
		assert.JSONEq(t, `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`, string(r.Body))
		assert.Equal(t, `Keystone uri="http://ks.example/v3"`, r.Header.Get("WWW-Authenticate"))
		assert.Empty(t, r.Header.Get("OpenStack-API-Version"))
		id := r.Header.Get("X-Openstack-Request-Id")
		assert.Regexp(t, `^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, id)
		assert.Equal(t, id, r.Header.Get("X-Compute-Request-Id"))
	}
	// Unknown API paths need authentication first.
	assert.Equal(t, http.StatusUnauthorized, s.get("/v2.1/no-such-thing", "").Status)
}

func TestNovaVersionDocs(t *testing.T) {
	s := newSim(t, &Handler{PublicURL: "http://gw.example:8080/v2.1", MaxMicroversion: "2.60"})
	r := s.get("/", "")
	require.Equal(t, http.StatusOK, r.Status)
	vs := r.json(t)["versions"].([]any)
	require.Len(t, vs, 2)
	cur := vs[1].(map[string]any)
	assert.Equal(t, "2.60", cur["version"])
	assert.Equal(t, "http://gw.example:8080/v2.1/", cur["links"].([]any)[0].(map[string]any)["href"])

	for _, p := range []string{"/v2.1", "/v2.1/"} {
		r = s.get(p, "")
		require.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, "v2.1", r.json(t)["version"].(map[string]any)["id"])
	}
	r = s.get("/v2", "")
	assert.Equal(t, "v2.0", r.json(t)["version"].(map[string]any)["id"])

	// An unversioned API path is version discovery: 300.
	r = s.do(req{method: http.MethodPost, path: "/servers/" + web1 + "/action", token: "demo-alice", body: `{"lock": null}`})
	require.Equal(t, http.StatusMultipleChoices, r.Status)
	assert.Len(t, r.json(t)["choices"], 2)

	// Paths the simulator does not own go to the next handler.
	assert.Equal(t, http.StatusTeapot, s.get("/metrics", "").Status)
	assert.Equal(t, http.StatusTeapot, s.get("/v2.0/ports", "").Status)
}

func TestNovaMicroversions(t *testing.T) {
	s := newSim(t, nil)
	tok := "demo-alice"
	get := func(h map[string]string) *resp {
		return s.do(req{method: http.MethodGet, path: "/v2.1/servers/" + web1, token: tok, header: h})
	}
	r := get(nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "compute 2.1", r.Header.Get("OpenStack-API-Version"))
	assert.Equal(t, "2.1", r.Header.Get("X-OpenStack-Nova-API-Version"))
	assert.Equal(t, []string{"OpenStack-API-Version", "X-OpenStack-Nova-API-Version"}, r.Header.Values("Vary"))

	cases := []struct {
		h    map[string]string
		want string
	}{
		{map[string]string{"OpenStack-API-Version": "compute 2.9"}, "2.9"},
		{map[string]string{"OpenStack-API-Version": "compute 2.5, volume 3.0, COMPUTE 2.20"}, "2.20"},
		{map[string]string{"OpenStack-API-Version": "volume 3.0", "X-OpenStack-Nova-API-Version": "2.3, 2.11"}, "2.11"},
		{map[string]string{"X-OpenStack-Nova-API-Version": "latest"}, "2.93"},
	}
	for _, c := range cases {
		r := get(c.h)
		require.Equal(t, http.StatusOK, r.Status, c.h)
		assert.Equal(t, c.want, r.Header.Get("X-OpenStack-Nova-API-Version"), c.h)
	}

	r = get(map[string]string{"OpenStack-API-Version": "compute 2.94"})
	require.Equal(t, http.StatusNotAcceptable, r.Status)
	assert.Equal(t, "Version 2.94 is not supported by the API. Minimum is 2.1 and maximum is 2.93.", faultMsg(t, r, "computeFault"))
	r = get(map[string]string{"OpenStack-API-Version": "compute 2.01"})
	require.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, "API Version String 2.01 is of invalid format. Must be of format MajorNum.MinorNum.", faultMsg(t, r, "badRequest"))

	// /v2 ignores the headers and sends none.
	r = s.do(req{method: http.MethodGet, path: "/v2/servers/" + web1, token: tok, header: map[string]string{"OpenStack-API-Version": "compute 2.99"}})
	require.Equal(t, http.StatusOK, r.Status)
	assert.Empty(t, r.Header.Get("OpenStack-API-Version"))
	assert.NotContains(t, r.json(t)["server"], "locked")
}

func TestNovaActionExtraction(t *testing.T) {
	s := newSim(t, nil)
	tok := "demo-alice"
	cases := []struct {
		body   string
		status int
		msg    string
	}{
		{`{}`, 400, msgMalformed},
		{`{"lock": null, "unlock": null}`, 400, msgMalformed},
		{`not json`, 400, msgMalformed},
		{`{"lock": null} x`, 400, msgMalformed},
		{`{"lock": nul}`, 400, msgMalformed},
		{"{\"lock\": \"\xff\"}", 400, msgMalformed},
		{"\xef\xbb\xbf{\"lock\": null}", 400, msgMalformed},
		{`{"Lock": null}`, 400, "There is no such action: Lock"},
		{`{"lock ": null}`, 400, "There is no such action: lock "},
		{`{"frobnicate": {}}`, 400, "There is no such action: frobnicate"},
		{`[1]`, 404, msgNotFound},
		{`"a"`, 404, msgNotFound},
		{`null`, 404, msgNotFound},
		{`5`, 404, msgNotFound},
		{`true`, 404, msgNotFound},
		{`[1, 2]`, 400, msgMalformed},
		{`"ab"`, 400, msgMalformed},
		{`{"reboot": null}`, 400, "Invalid input for field/attribute reboot. Value: None. None is not of type 'object'"},
		{`{"reboot": {}}`, 400, "Invalid input for field/attribute reboot. Value: {}. 'type' is a required property"},
		{`{"reboot": {"type": "FAST"}}`, 400, "Invalid input for field/attribute type. Value: FAST. 'FAST' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']"},
		{`{"resetNetwork": null}`, 410, "This resource is no longer available.  No forwarding address is given."},
		{`{"trigger_crash_dump": null}`, 404, msgNotFound}, // 2.17+
	}
	for _, c := range cases {
		r := s.action(tok, web1, c.body)
		require.Equal(t, c.status, r.Status, "%q: %s", c.body, r.Body)
		names := map[int]string{400: "badRequest", 404: "itemNotFound", 410: "computeFault"}
		assert.Equal(t, c.msg, faultMsg(t, r, names[c.status]), c.body)
		assert.Equal(t, ctJSONUTF8, r.Header.Get("Content-Type"))
		assert.Equal(t, "compute 2.1", r.Header.Get("OpenStack-API-Version"), c.body)
	}

	// Python accepts duplicates (last wins), NaN and surrounding whitespace.
	for _, body := range []string{`{"lock": 1, "lock": null}`, `{"lock": NaN}`, " \n{\"unlock\": -Infinity}\r\n", `{"lock": 1e999}`} {
		r := s.action(tok, web1, body)
		assert.Equal(t, http.StatusAccepted, r.Status, "%q: %s", body, r.Body)
	}
	// Escapes are decoded before the name is compared.
	assert.Equal(t, http.StatusAccepted, s.action(tok, web1, `{"\u006cock": null}`).Status)
	assert.Equal(t, true, s.state(web1)["locked"])

	// Deep nesting is a RecursionError: 500.
	deep := `{"lock": ` + strings.Repeat("[", 1200) + strings.Repeat("]", 1200) + `}`
	r := s.action(tok, web1, deep)
	require.Equal(t, http.StatusInternalServerError, r.Status)
	assert.Contains(t, faultMsg(t, r, "computeFault"), "RecursionError")
	// trigger_crash_dump exists at 2.17.
	r = s.action(tok, db1, `{"trigger_crash_dump": null}`, "X-OpenStack-Nova-API-Version", "2.17")
	assert.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
}

func TestNovaContentTypeAndFraming(t *testing.T) {
	s := newSim(t, nil)
	tok := "demo-alice"
	for ct, want := range map[string]int{
		"application/json":                        202,
		"application/json; charset=UTF-8":         202,
		"text/plain":                              202,
		"application/vnd.openstack.compute+json":  202,
		"Application/JSON":                        415,
		"application/json ;charset=UTF-8":         415,
		"application/x-www-form-urlencoded":       415,
		"application/json-patch+json;charset=foo": 415,
	} {
		r := s.action(tok, web1, `{"unlock": null}`, "Content-Type", ct)
		require.Equal(t, want, r.Status, ct)
		if want == 415 {
			assert.Equal(t, "Unsupported Content-Type", faultMsg(t, r, "badMediaType"))
		}
	}
	// No Content-Type at all is fine.
	r := s.do(req{method: http.MethodPost, path: "/v2.1/servers/" + web1 + "/action", token: tok, body: `{"unlock": null}`, header: map[string]string{"Content-Type": ""}})
	assert.Equal(t, http.StatusAccepted, r.Status)

	// Chunked: the action is peeked from the body, the controller gets none.
	r = s.do(req{method: http.MethodPost, path: "/v2.1/servers/" + web1 + "/action", token: tok, body: `{"reboot": {"type": "HARD"}}`, chunked: true})
	require.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, "None is not of type 'object'", faultMsg(t, r, "badRequest"))
	r = s.do(req{method: http.MethodPost, path: "/v2.1/servers/" + web1 + "/action", token: tok, body: `{"lock": {"locked_reason": "hidden"}}`, chunked: true,
		header: map[string]string{"OpenStack-API-Version": "compute 2.1"}})
	require.Equal(t, http.StatusAccepted, r.Status)
	assert.Equal(t, true, s.state(web1)["locked"])

	// Over the body limit: 413 before authentication.
	big := `{"unlock": "` + strings.Repeat("a", novaMaxBody) + `"}`
	r = s.action("", web1, big, "Accept", "application/json")
	require.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	assert.Contains(t, string(r.Body), "Request is too large. Larger than max_request_body_size (114688).")
}

func TestNovaRouting(t *testing.T) {
	s := newSim(t, nil)
	tok := "demo-alice"

	// Project segment: must match the token's project.
	r := s.do(req{method: http.MethodPost, path: "/v2.1/" + projectDemoID + "/servers/" + web1 + "/action", token: tok, body: `{"lock": null}`})
	assert.Equal(t, http.StatusAccepted, r.Status)
	r = s.do(req{method: http.MethodPost, path: "/v2/" + projectOtherID + "/servers/" + web1 + "/action", token: tok, body: `{"unlock": null}`})
	require.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, "Malformed request URL: URL's project_id '"+projectOtherID+"' doesn't match Context's project_id '"+projectDemoID+"'", faultMsg(t, r, "badRequest"))
	assert.Equal(t, true, s.state(web1)["locked"])
	// Links carry the project when the URL did.
	r = s.get("/v2.1/"+projectDemoID+"/servers/"+web1, tok)
	require.Equal(t, http.StatusOK, r.Status)
	self := r.json(t)["server"].(map[string]any)["links"].([]any)[0].(map[string]any)["href"]
	assert.Equal(t, s.srv.URL+"/v2.1/"+projectDemoID+"/servers/"+web1, self)

	// Router 404s: webob body by Accept, no microversion headers.
	for _, p := range []string{
		"/v2.1/DEMO/servers/" + web1,             // project segment not lowercase hex
		"/v2.1/servers/" + web1 + "/action/",     // trailing slash
		"/v2.1/servers/" + web1 + "/action.json", // format suffix
	} {
		r = s.do(req{method: http.MethodPost, path: p, token: tok, body: `{"unlock": null}`, header: map[string]string{"Accept": "application/json"}})
		require.Equal(t, http.StatusNotFound, r.Status, p)
		assert.JSONEq(t, `{"message": "The resource could not be found.<br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"}`, string(r.Body), p)
		assert.Empty(t, r.Header.Get("OpenStack-API-Version"))
		assert.NotEmpty(t, r.Header.Get("X-Compute-Request-Id"))
	}
	// Wrong method: 404 (HTML by default, 154 bytes).
	r = s.do(req{method: http.MethodGet, path: "/v2.1/servers/" + web1 + "/action", token: tok, header: map[string]string{"Accept": "*/*"}})
	require.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, ctHTMLUTF8, r.Header.Get("Content-Type"))
	assert.Len(t, r.Body, 154)
	// GET .../{id}.json is show of a server named "{id}.json".
	r = s.get("/v2.1/servers/"+web1+".json", tok)
	require.Equal(t, http.StatusNotFound, r.Status)
	assert.Equal(t, "Instance "+web1+".json could not be found.", faultMsg(t, r, "itemNotFound"))

	// Slash runs collapse; os-volumes_boot is an alias; one trailing newline is tolerated.
	assert.Equal(t, http.StatusAccepted, s.do(req{method: http.MethodPost, path: "//v2.1//servers/" + web1 + "//action", token: tok, body: `{"unlock": null}`}).Status)
	assert.Equal(t, http.StatusAccepted, s.do(req{method: http.MethodPost, path: "/v2.1/os-volumes_boot/" + web1 + "/action", token: tok, body: `{"lock": null}`}).Status)
	assert.Equal(t, http.StatusAccepted, s.do(req{method: http.MethodPost, path: "/v2.1/servers/" + web1 + "/action%0A", token: tok, body: `{"unlock": null}`}).Status)
	assert.Equal(t, false, s.state(web1)["locked"])

	// Server ids are looked up case-insensitively (MySQL collation).
	r = s.get("/v2.1/servers/"+strings.ToUpper(web1), tok)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, web1, r.json(t)["server"].(map[string]any)["id"])

	// Query-string method override: route by _method, run under the real method.
	r = s.get("/v2.1/servers/"+db1+"?_method=DELETE", tok)
	require.Equal(t, http.StatusNoContent, r.Status)
	assert.Equal(t, http.StatusNotFound, s.get("/__ecssim/servers/"+db1, "").Status)

	// Underscore headers fold into the dashed name (WSGI environ).
	r = s.do(req{method: http.MethodGet, path: "/v2.1/servers/" + web1, header: map[string]string{"X_Auth_Token": tok}})
	assert.Equal(t, http.StatusOK, r.Status)
}

func TestNovaServerStates(t *testing.T) {
	s := newSim(t, nil)
	tok := "demo-bob"
	r := s.action(tok, web1, `{"os-start": null}`)
	require.Equal(t, http.StatusConflict, r.Status)
	assert.Equal(t, "Cannot 'start' instance "+web1+" while it is in vm_state active", faultMsg(t, r, "conflictingRequest"))

	steps := []struct {
		body, status string
		code         int
	}{
		{`{"os-stop": null}`, "SHUTOFF", 202},
		{`{"os-stop": null}`, "SHUTOFF", 409},
		{`{"reboot": {"type": "SOFT"}}`, "SHUTOFF", 409},
		{`{"reboot": {"type": "hard"}}`, "ACTIVE", 202},
		{`{"pause": null}`, "PAUSED", 202},
		{`{"suspend": null}`, "PAUSED", 409},
		{`{"unpause": null}`, "ACTIVE", 202},
		{`{"suspend": null}`, "SUSPENDED", 202},
		{`{"resume": null}`, "ACTIVE", 202},
		{`{"os-resetState": {"state": "error"}}`, "ACTIVE", 403},
	}
	for _, st := range steps {
		r := s.action(tok, web1, st.body)
		require.Equal(t, st.code, r.Status, "%s: %s", st.body, r.Body)
		assert.Equal(t, st.status, s.state(web1)["status"], st.body)
	}
	r = s.action("demo-admin", web1, `{"os-resetState": {"state": "error"}}`)
	require.Equal(t, http.StatusAccepted, r.Status)
	g := s.get("/v2.1/servers/"+web1, tok).json(t)["server"].(map[string]any)
	assert.Equal(t, "ERROR", g["status"])
	assert.Equal(t, "error", g["OS-EXT-STS:vm_state"])
	assert.Equal(t, http.StatusAccepted, s.action(tok, web1, `{"os-stop": null}`).Status)

	// Unimplemented but valid actions are accepted no-ops.
	assert.Equal(t, http.StatusAccepted, s.action(tok, db1, `{"shelve": null}`).Status)
	assert.Equal(t, http.StatusForbidden, s.action(tok, db1, `{"migrate": null}`).Status)
	r = s.action(tok, db1, `{"os-getConsoleOutput": {"length": 10}}`)
	assert.Equal(t, http.StatusOK, r.Status)

	// Delete.
	r = s.do(req{method: http.MethodDelete, path: "/v2.1/servers/" + db1, token: "demo-carol"})
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.Equal(t, "Policy doesn't allow os_compute_api:servers:delete to be performed.", faultMsg(t, r, "forbidden"))
	r = s.do(req{method: http.MethodDelete, path: "/v2.1/servers/" + db1, token: tok})
	assert.Equal(t, http.StatusNoContent, r.Status)
	assert.Empty(t, r.Body)
	assert.Equal(t, http.StatusNotFound, s.get("/v2.1/servers/"+db1, tok).Status)
}

func TestNovaServerReads(t *testing.T) {
	s := newSim(t, nil)
	alice := "demo-alice"

	r := s.get("/v2.1/servers", alice)
	require.Equal(t, http.StatusOK, r.Status)
	list := r.json(t)["servers"].([]any)
	require.Len(t, list, 2)
	assert.Equal(t, db1, list[0].(map[string]any)["id"]) // newest first
	assert.ElementsMatch(t, []string{"id", "name", "links"}, keys(list[0].(map[string]any)))

	r = s.get("/v2.1/servers/detail?name=web", alice)
	list = r.json(t)["servers"].([]any)
	require.Len(t, list, 1)
	d := list[0].(map[string]any)
	assert.Equal(t, "web-1", d["name"])
	assert.Equal(t, "ACTIVE", d["status"])
	assert.Equal(t, projectDemoID, d["tenant_id"])
	assert.Equal(t, "1d000000000000000000000000000002", d["user_id"])
	assert.Equal(t, "active", d["OS-EXT-STS:vm_state"])
	assert.EqualValues(t, 1, d["OS-EXT-STS:power_state"])
	assert.Equal(t, imageID, d["image"].(map[string]any)["id"])
	assert.Equal(t, "1", d["flavor"].(map[string]any)["id"])
	assert.NotContains(t, d, "OS-EXT-SRV-ATTR:host") // admin only

	r = s.get("/v2.1/servers?name=^web-1$&status=SHUTOFF", alice)
	assert.Empty(t, r.json(t)["servers"])

	// Pagination.
	r = s.get("/v2.1/servers?limit=1", alice)
	m := r.json(t)
	require.Len(t, m["servers"], 1)
	next := m["servers_links"].([]any)[0].(map[string]any)["href"].(string)
	assert.Contains(t, next, "marker="+db1)

	// Admin: own project only, unless all_tenants.
	r = s.get("/v2.1/servers", "demo-admin")
	assert.Empty(t, r.json(t)["servers"])
	r = s.get("/v2.1/servers/detail?all_tenants=1", "demo-admin")
	require.Len(t, r.json(t)["servers"], 3)
	assert.Contains(t, r.json(t)["servers"].([]any)[0], "OS-EXT-SRV-ATTR:host")
	r = s.get("/v2.1/servers?all_tenants=1", alice)
	require.Equal(t, http.StatusForbidden, r.Status)
	assert.Equal(t, "Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be performed.", faultMsg(t, r, "forbidden"))

	// Flavors and limits.
	r = s.get("/v2.1/flavors/detail", alice)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Len(t, r.json(t)["flavors"], 2)
	r = s.get("/v2.1/flavors/1", alice)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, "m1.tiny", r.json(t)["flavor"].(map[string]any)["name"])
	assert.Equal(t, http.StatusNotFound, s.get("/v2.1/flavors/99", alice).Status)
	assert.Equal(t, http.StatusOK, s.get("/v2.1/limits", alice).Status)

	// Embedded flavor from 2.47.
	r = s.do(req{method: http.MethodGet, path: "/v2.1/servers/" + web1, token: alice, header: map[string]string{"OpenStack-API-Version": "compute 2.47"}})
	assert.Equal(t, "m1.tiny", r.json(t)["server"].(map[string]any)["flavor"].(map[string]any)["original_name"])
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestNovaUpdateCreateMetadata(t *testing.T) {
	s := newSim(t, nil)
	bob := "demo-bob"
	put := func(path, body string) *resp {
		return s.do(req{method: http.MethodPut, path: path, token: bob, body: body})
	}
	post := func(path, body string) *resp {
		return s.do(req{method: http.MethodPost, path: path, token: bob, body: body})
	}

	r := put("/v2.1/servers/"+web1, `{"server": {"name": "web-one"}}`)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	assert.Equal(t, "web-one", r.json(t)["server"].(map[string]any)["name"])
	r = put("/v2.1/servers/"+web1, `{"server": {"name": "x", "bogus": 1}}`)
	require.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, "Invalid input for field/attribute server. Value: {'name': 'x', 'bogus': 1}. Additional properties are not allowed ('bogus' was unexpected)", faultMsg(t, r, "badRequest"))
	// /v2 drops unknown properties.
	r = s.do(req{method: http.MethodPut, path: "/v2/servers/" + web1, token: bob, body: `{"server": {"name": "web-1", "bogus": 1}}`})
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	r = put("/v2.1/servers/"+web1, `{"server": {"name": " padded"}}`)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	r = put("/v2.1/servers/"+web1, `{"server": `)
	require.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, msgMalformed, faultMsg(t, r, "badRequest"))

	// Metadata.
	r = post("/v2.1/servers/"+web1+"/metadata", `{"metadata": {"env": "prod", "tier": "web"}}`)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	r = put("/v2.1/servers/"+web1+"/metadata/env", `{"meta": {"env": "dev"}}`)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	r = put("/v2.1/servers/"+web1+"/metadata/env", `{"meta": {"other": "dev"}}`)
	require.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, "Request body and URI mismatch", faultMsg(t, r, "badRequest"))
	r = s.get("/v2.1/servers/"+web1+"/metadata/env", "demo-carol")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, map[string]any{"env": "dev"}, r.json(t)["meta"])
	r = s.do(req{method: http.MethodDelete, path: "/v2.1/servers/" + web1 + "/metadata/tier", token: bob})
	require.Equal(t, http.StatusNoContent, r.Status)
	r = s.get("/v2.1/servers/"+web1+"/metadata", bob)
	assert.Equal(t, map[string]any{"env": "dev"}, r.json(t)["metadata"])
	r = put("/v2.1/servers/"+web1+"/metadata", `{"metadata": {}}`)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Empty(t, s.state(web1)["metadata"])
	r = s.get("/v2.1/servers/"+web1+"/metadata/env", bob)
	assert.Equal(t, "Metadata item was not found", faultMsg(t, r, "itemNotFound"))
	r = s.do(req{method: http.MethodPost, path: "/v2.1/servers/" + web1 + "/metadata", token: "demo-carol", body: `{"metadata": {"a": "b"}}`})
	assert.Equal(t, "Policy doesn't allow os_compute_api:server-metadata:create to be performed.", faultMsg(t, r, "forbidden"))

	// Create.
	r = post("/v2.1/servers", `{"server": {"name": "new-1", "imageRef": "`+imageID+`", "flavorRef": "2"}}`)
	require.Equal(t, http.StatusAccepted, r.Status, string(r.Body))
	id := r.json(t)["server"].(map[string]any)["id"].(string)
	assert.Equal(t, "c0ffee00-0000-4000-8000-000000001001", id)
	assert.Equal(t, s.srv.URL+"/v2.1/servers/"+id, r.Header.Get("Location"))
	st := s.state(id)
	assert.Equal(t, "ACTIVE", st["status"])
	assert.Equal(t, projectDemoID, st["project_id"])
	r = post("/v2.1/servers", `{"server": {"name": "new-2", "flavorRef": "42"}}`)
	assert.Equal(t, http.StatusBadRequest, r.Status)
}
