package classify

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNew(t *testing.T) {
	c, err := New(Options{})
	require.NoError(t, err)
	assert.Equal(t, "2.93", c.maxVersionStr)

	c, err = New(Options{MaxMicroversion: "2.60"})
	require.NoError(t, err)
	assert.Equal(t, "2.60", c.maxVersionStr)

	for _, bad := range []string{"latest", "2", "2.01", "1.5", "3.0", "2.0", " 2.5", "x.y"} {
		_, err := New(Options{MaxMicroversion: bad})
		assert.Error(t, err, bad)
	}
}

func TestRejectionError(t *testing.T) {
	r := &Rejection{Status: 404, Message: msgNotFound, Family: FamilyNova, Reason: "no_route"}
	assert.Contains(t, r.Error(), "no_route")
	assert.Contains(t, r.Error(), "404")
}

// novaPrefixes are every version/project combination a Nova route exists
// under, with the expected Version, ProjectID and Microversion.
var novaPrefixes = []struct {
	prefix, version, project string
}{
	{"/v2.1", "v2.1", ""},
	{"/v2.1/" + testProject, "v2.1", testProject},
	{"/v2", "v2", ""},
	{"/v2/" + testProject, "v2", testProject},
	// Keystone project ids are hex; Nova accepts hyphens too.
	{"/v2.1/0123-abcd", "v2.1", "0123-abcd"},
}

type routeCase struct {
	method, suffix, body string
	name, route          string
	ids                  bool   // the op targets testServer
	action               string // expected Action.Name, "" for none
}

// novaServerRouteCases covers every server route of doc.go's "Nova routes",
// relative to /servers (also tested under /os-volumes_boot).
var novaServerRouteCases = []routeCase{
	{"GET", "", "", OpRead, "/servers", false, ""},
	{"HEAD", "", "", OpRead, "/servers", false, ""},
	{"POST", "", `{"server": {"name": "a", "flavorRef": "1", "imageRef": "x"}}`, OpCreate, "/servers", false, ""},
	{"GET", "/detail", "", OpRead, "/servers/detail", false, ""},
	{"GET", "/{id}", "", OpRead, "/servers/{server_id}", true, ""},
	{"HEAD", "/{id}", "", OpRead, "/servers/{server_id}", true, ""},
	{"PUT", "/{id}", `{"server": {"name": "b"}}`, OpUpdate, "/servers/{server_id}", true, ""},
	{"DELETE", "/{id}", "", OpDelete, "/servers/{server_id}", true, ""},
	{"POST", "/{id}/action", `{"unlock": null}`, OpAction, "/servers/{server_id}/action", true, "unlock"},

	{"GET", "/{id}/metadata", "", OpRead, "/servers/{server_id}/metadata", true, ""},
	{"POST", "/{id}/metadata", `{"metadata": {"a": "b"}}`, OpMetadataUpdate, "/servers/{server_id}/metadata", true, ""},
	{"PUT", "/{id}/metadata", `{"metadata": {"a": "b"}}`, OpMetadataUpdate, "/servers/{server_id}/metadata", true, ""},
	{"GET", "/{id}/metadata/k1", "", OpRead, "/servers/{server_id}/metadata/{key}", true, ""},
	{"PUT", "/{id}/metadata/k1", `{"meta": {"k1": "v"}}`, OpMetadataUpdate, "/servers/{server_id}/metadata/{key}", true, ""},
	{"DELETE", "/{id}/metadata/k1", "", OpMetadataDelete, "/servers/{server_id}/metadata/{key}", true, ""},

	{"GET", "/{id}/tags", "", OpRead, "/servers/{server_id}/tags", true, ""},
	{"PUT", "/{id}/tags", `{"tags": ["a"]}`, OpTagsUpdate, "/servers/{server_id}/tags", true, ""},
	{"DELETE", "/{id}/tags", "", OpTagsDelete, "/servers/{server_id}/tags", true, ""},
	{"GET", "/{id}/tags/t1", "", OpRead, "/servers/{server_id}/tags/{tag}", true, ""},
	{"PUT", "/{id}/tags/t1", "", OpTagsUpdate, "/servers/{server_id}/tags/{tag}", true, ""},
	{"DELETE", "/{id}/tags/t1", "", OpTagsDelete, "/servers/{server_id}/tags/{tag}", true, ""},

	{"GET", "/{id}/os-volume_attachments", "", OpRead, "/servers/{server_id}/os-volume_attachments", true, ""},
	{"POST", "/{id}/os-volume_attachments", `{"volumeAttachment": {"volumeId": "v"}}`, OpVolumeAttachmentCreate, "/servers/{server_id}/os-volume_attachments", true, ""},
	{"GET", "/{id}/os-volume_attachments/v1", "", OpRead, "/servers/{server_id}/os-volume_attachments/{volume_id}", true, ""},
	{"PUT", "/{id}/os-volume_attachments/v1", `{"volumeAttachment": {"volumeId": "v2"}}`, OpVolumeAttachmentUpdate, "/servers/{server_id}/os-volume_attachments/{volume_id}", true, ""},
	{"DELETE", "/{id}/os-volume_attachments/v1", "", OpVolumeAttachmentDelete, "/servers/{server_id}/os-volume_attachments/{volume_id}", true, ""},

	{"GET", "/{id}/os-interface", "", OpRead, "/servers/{server_id}/os-interface", true, ""},
	{"POST", "/{id}/os-interface", `{"interfaceAttachment": {"port_id": "p"}}`, OpInterfaceCreate, "/servers/{server_id}/os-interface", true, ""},
	{"GET", "/{id}/os-interface/p1", "", OpRead, "/servers/{server_id}/os-interface/{port_id}", true, ""},
	{"DELETE", "/{id}/os-interface/p1", "", OpInterfaceDelete, "/servers/{server_id}/os-interface/{port_id}", true, ""},

	{"GET", "/{id}/os-server-password", "", OpRead, "/servers/{server_id}/os-server-password", true, ""},
	{"DELETE", "/{id}/os-server-password", "", OpPasswordDelete, "/servers/{server_id}/os-server-password", true, ""},

	{"GET", "/{id}/migrations", "", OpRead, "/servers/{server_id}/migrations", true, ""},
	{"GET", "/{id}/migrations/42", "", OpRead, "/servers/{server_id}/migrations/{migration_id}", true, ""},
	{"DELETE", "/{id}/migrations/42", "", OpMigrationAbort, "/servers/{server_id}/migrations/{migration_id}", true, ""},
	{"POST", "/{id}/migrations/42/action", `{"force_complete": null}`, OpMigrationForceComplete, "/servers/{server_id}/migrations/{migration_id}/action", true, "force_complete"},

	{"POST", "/{id}/remote-consoles", `{"remote_console": {"protocol": "vnc", "type": "novnc"}}`, OpRemoteConsoleCreate, "/servers/{server_id}/remote-consoles", true, ""},

	{"GET", "/{id}/shares", "", OpRead, "/servers/{server_id}/shares", true, ""},
	{"POST", "/{id}/shares", `{"share": {"share_id": "s"}}`, OpShareCreate, "/servers/{server_id}/shares", true, ""},
	{"GET", "/{id}/shares/s1", "", OpRead, "/servers/{server_id}/shares/{share_id}", true, ""},
	{"DELETE", "/{id}/shares/s1", "", OpShareDelete, "/servers/{server_id}/shares/{share_id}", true, ""},

	{"GET", "/{id}/consoles", "", OpRead, "/servers/{server_id}/consoles", true, ""},
	{"POST", "/{id}/consoles", "", OpConsoleCreate, "/servers/{server_id}/consoles", true, ""},
	{"GET", "/{id}/consoles/1", "", OpRead, "/servers/{server_id}/consoles/{console_id}", true, ""},
	{"DELETE", "/{id}/consoles/1", "", OpConsoleDelete, "/servers/{server_id}/consoles/{console_id}", true, ""},

	{"GET", "/{id}/ips", "", OpRead, "/servers/{server_id}/ips", true, ""},
	{"GET", "/{id}/ips/private", "", OpRead, "/servers/{server_id}/ips/{network_label}", true, ""},
	{"GET", "/{id}/os-instance-actions", "", OpRead, "/servers/{server_id}/os-instance-actions", true, ""},
	{"GET", "/{id}/os-instance-actions/req-1", "", OpRead, "/servers/{server_id}/os-instance-actions/{request_id}", true, ""},
	{"GET", "/{id}/diagnostics", "", OpRead, "/servers/{server_id}/diagnostics", true, ""},
	{"GET", "/{id}/topology", "", OpRead, "/servers/{server_id}/topology", true, ""},
	{"GET", "/{id}/os-security-groups", "", OpRead, "/servers/{server_id}/os-security-groups", true, ""},
	{"GET", "/{id}/os-virtual-interfaces", "", OpRead, "/servers/{server_id}/os-virtual-interfaces", true, ""},
}

func TestNovaServerRoutes(t *testing.T) {
	c := newTestClassifier(t)
	for _, pfx := range novaPrefixes {
		for _, coll := range []string{"/servers", "/os-volumes_boot"} {
			for _, tc := range novaServerRouteCases {
				path := pfx.prefix + coll + strings.ReplaceAll(tc.suffix, "{id}", testServer)
				t.Run(tc.method+" "+path, func(t *testing.T) {
					op := classifyOK(t, c, mkReq(tc.method, path, tc.body, "Content-Type", "application/json"))
					assert.Equal(t, FamilyNova, op.Family)
					assert.Equal(t, pfx.version, op.Version)
					assert.Equal(t, pfx.project, op.ProjectID)
					assert.Equal(t, "2.1", op.Microversion)
					assert.Equal(t, tc.name, op.Name)
					assert.Equal(t, tc.route, op.Route)
					if tc.ids {
						assert.Equal(t, []string{testServer}, op.ServerIDs)
					} else {
						assert.Empty(t, op.ServerIDs)
					}
					if tc.action == "" {
						assert.Nil(t, op.Action)
					} else {
						require.NotNil(t, op.Action)
						assert.Equal(t, tc.action, op.Action.Name)
						assert.Equal(t, "null", string(op.Action.Args))
					}
				})
			}
		}
	}
}

// TestNovaWrongMethods: Nova's router answers a method a route lacks with
// 404, never 405, and nothing reaches upstream.
func TestNovaWrongMethods(t *testing.T) {
	c := newTestClassifier(t)
	cases := []struct{ method, suffix string }{
		{"PUT", ""}, {"DELETE", ""},
		{"POST", "/detail"}, {"DELETE", "/detail"},
		{"POST", "/{id}"},
		{"GET", "/{id}/action"}, {"PUT", "/{id}/action"}, {"DELETE", "/{id}/action"}, {"HEAD", "/{id}/action"},
		{"DELETE", "/{id}/metadata"}, {"POST", "/{id}/metadata/k"},
		{"POST", "/{id}/tags"}, {"POST", "/{id}/tags/t"},
		{"PUT", "/{id}/os-volume_attachments"}, {"DELETE", "/{id}/os-volume_attachments"}, {"POST", "/{id}/os-volume_attachments/v"},
		{"PUT", "/{id}/os-interface/p"}, {"DELETE", "/{id}/os-interface"},
		{"POST", "/{id}/os-server-password"}, {"PUT", "/{id}/os-server-password"},
		{"POST", "/{id}/migrations"}, {"POST", "/{id}/migrations/1"}, {"GET", "/{id}/migrations/1/action"},
		{"GET", "/{id}/remote-consoles"}, {"DELETE", "/{id}/remote-consoles"},
		{"PUT", "/{id}/shares/s"},
		{"POST", "/{id}/ips"}, {"DELETE", "/{id}/diagnostics"}, {"POST", "/{id}/topology"},
	}
	for _, tc := range cases {
		path := "/v2.1/servers" + strings.ReplaceAll(tc.suffix, "{id}", testServer)
		t.Run(tc.method+" "+path, func(t *testing.T) {
			rej := classifyRejected(t, c, mkReq(tc.method, path, ""))
			assert.Equal(t, http.StatusNotFound, rej.Status)
			assert.Equal(t, FamilyNova, rej.Family)
		})
	}
}

func TestNovaUnknownSubPaths(t *testing.T) {
	c := newTestClassifier(t)
	for _, suffix := range []string{
		"/{id}/action.json", "/{id}/action/x", "/{id}/actions", "/{id}/Action",
		"/{id}/unknown", "/{id}/metadata/k/extra", "/{id}/migrations/abc", "/{id}/migrations/1/action/x",
		"/{id}/migrations/x/action", "/{id}/diagnostics/x", "/{id}/os-server-password/x", "/{id}/remote-consoles/x",
	} {
		for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
			path := "/v2.1/servers" + strings.ReplaceAll(suffix, "{id}", testServer)
			rej := classifyRejected(t, c, mkReq(m, path, ""))
			assert.Equal(t, http.StatusNotFound, rej.Status, "%s %s", m, path)
		}
	}
}

func TestNovaServerIDs(t *testing.T) {
	c := newTestClassifier(t)
	bad := []string{
		strings.ToUpper(testServer),
		strings.ReplaceAll(testServer, "-", ""),
		"{" + testServer + "}",
		"urn:uuid:" + testServer,
		testServer + ".json",
		testServer[:35],
		testServer + "0",
		"d7e3c1a2-5b4f-4c8e-9a1d-2f3e4d5c6b7g",
		"d7e3c1a25-b4f-4c8e-9a1d-2f3e4d5c6b7a",
		"my-server-name",
	}
	for _, id := range bad {
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			rej := classifyRejected(t, c, mkReq(m, "/v2.1/servers/"+id, ""))
			assert.Equal(t, http.StatusNotFound, rej.Status, id)
			assert.Equal(t, "bad_server_id", rej.Reason, id)
			assert.Equal(t, "Instance "+id+" could not be found.", rej.Message)
		}
		rej := classifyRejected(t, c, mkReq("POST", "/v2.1/"+testProject+"/servers/"+id+"/action", `{"unlock": null}`))
		assert.Equal(t, http.StatusNotFound, rej.Status, id)
		assert.Equal(t, "bad_server_id", rej.Reason, id)
	}
}

func TestNovaOtherRoutes(t *testing.T) {
	c := newTestClassifier(t)
	cases := []struct{ method, path, route string }{
		{"GET", "/v2.1/flavors", "/flavors"},
		{"GET", "/v2.1/" + testProject + "/flavors/detail", "/flavors/..."},
		{"GET", "/v2/images/abc", "/images/..."},
		{"GET", "/v2.1/limits", "/limits"},
		{"POST", "/v2.1/os-keypairs", "/os-keypairs"},
		{"DELETE", "/v2.1/os-keypairs/mykey", "/os-keypairs/..."},
		{"GET", "/v2.1/os-hypervisors/1/servers", "/os-hypervisors/..."},
		{"POST", "/v2.1/os-server-external-events", "/os-server-external-events"},
		{"GET", "/v2.1", "/"},
		{"GET", "/v2", "/"},
		{"GET", "/v2.1/", "/"},
		{"HEAD", "/v2/", "/"},
	}
	for _, tc := range cases {
		body := ""
		if tc.method == "POST" {
			body = `{"keypair": {"name": "k"}}`
		}
		op := classifyOK(t, c, mkReq(tc.method, tc.path, body))
		assert.Equal(t, OpOther, op.Name, tc.path)
		assert.Equal(t, tc.route, op.Route, tc.path)
		assert.Equal(t, FamilyNova, op.Family)
		assert.Empty(t, op.ServerIDs)
		assert.Nil(t, op.Action)
	}

	// Unknown collections, and the bare project form, match no route.
	for _, p := range []string{
		"/v2.1/unknown", "/v2.1/" + testProject, "/v2.1/" + testProject + "/nothing",
		"/v2.1/servers.json", "/v2.1/cloudservers", "/v2.1/" + testProject + "/", "/v1/", "/v1.1/", "/v2/cloudservers/x", "/v2.1/" + testProject + "/cloudservers",
	} {
		rej := classifyRejected(t, c, mkReq("GET", p, ""))
		assert.Equal(t, http.StatusNotFound, rej.Status, p)
	}
}

// TestNovaHostActions: Nova's hosts API reboots, shuts down or starts a
// compute host on a GET, so these paths are a mutation under every prefix,
// with HEAD too, whatever the microversion.
func TestNovaHostActions(t *testing.T) {
	c := newTestClassifier(t)
	for _, pfx := range novaPrefixes {
		for _, name := range HostActions() {
			for _, method := range []string{"GET", "HEAD"} {
				for _, host := range []string{"cmp-1", "compute1.example.com", "reboot"} {
					path := pfx.prefix + "/os-hosts/" + host + "/" + name
					t.Run(method+" "+path, func(t *testing.T) {
						op := classifyOK(t, c, mkReq(method, path, ""))
						assert.Equal(t, OpHostAction, op.Name)
						assert.Equal(t, "/os-hosts/{host_name}/"+name, op.Route)
						assert.Equal(t, FamilyNova, op.Family)
						assert.Equal(t, pfx.version, op.Version)
						assert.Equal(t, pfx.project, op.ProjectID)
						assert.Equal(t, "2.1", op.Microversion)
						require.NotNil(t, op.Action)
						assert.Equal(t, name, op.Action.Name)
						assert.Nil(t, op.Action.Args)
						assert.Empty(t, op.ServerIDs)
					})
				}
			}
		}
	}

	// Upstream drops the routes after 2.42; a fork may not.
	for _, mv := range []string{"2.42", "2.43", "2.93", "latest"} {
		for _, hdr := range []string{"OpenStack-API-Version", "X-OpenStack-Nova-API-Version"} {
			val := mv
			if hdr == "OpenStack-API-Version" {
				val = "compute " + mv
			}
			op := classifyOK(t, c, mkReq("GET", "/v2.1/"+testProject+"/os-hosts/cmp-1/shutdown", "", hdr, val))
			assert.Equal(t, OpHostAction, op.Name, mv)
			assert.Equal(t, HostShutdown, op.Action.Name, mv)
		}
	}
	// /v2 forces 2.1 whatever the headers say.
	op := classifyOK(t, c, mkReq("GET", "/v2/os-hosts/cmp-1/startup", "", "X-OpenStack-Nova-API-Version", "2.60"))
	assert.Equal(t, OpHostAction, op.Name)
	assert.Equal(t, "2.1", op.Microversion)
}

// TestNovaHostReadsStayReads: the hosts API's neighbouring routes are reads
// (and its update a non-GET "other", admin-only in policy), unchanged.
func TestNovaHostReadsStayReads(t *testing.T) {
	c := newTestClassifier(t)
	for _, pfx := range novaPrefixes {
		cases := []struct{ method, suffix, route string }{
			{"GET", "/os-hosts", "/os-hosts"},
			{"HEAD", "/os-hosts", "/os-hosts"},
			{"GET", "/os-hosts/cmp-1", "/os-hosts/..."},
			{"HEAD", "/os-hosts/cmp-1", "/os-hosts/..."},
			// A host may be named like an action: this is its show.
			{"GET", "/os-hosts/reboot", "/os-hosts/..."},
			{"GET", "/os-hosts/shutdown", "/os-hosts/..."},
			{"PUT", "/os-hosts/cmp-1", "/os-hosts/..."},
		}
		for _, tc := range cases {
			path := pfx.prefix + tc.suffix
			body := ""
			if tc.method == "PUT" {
				body = `{"status": "disable"}`
			}
			op := classifyOK(t, c, mkReq(tc.method, path, body))
			assert.Equal(t, OpOther, op.Name, "%s %s", tc.method, path)
			assert.Equal(t, tc.route, op.Route, "%s %s", tc.method, path)
			assert.Nil(t, op.Action, path)
			assert.Empty(t, op.ServerIDs, path)
		}
	}
}

// TestNovaHostActionRejections: nothing else routes below /os-hosts/{host},
// and a method the power actions lack is 404, as Nova answers. A format
// suffix or another spelling is refused, not read: older Nova routed
// "reboot.json" to the power action.
func TestNovaHostActionRejections(t *testing.T) {
	c := newTestClassifier(t)
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		for _, name := range HostActions() {
			path := "/v2.1/" + testProject + "/os-hosts/cmp-1/" + name
			rej := classifyRejected(t, c, mkReq(m, path, ""))
			assert.Equal(t, http.StatusNotFound, rej.Status, "%s %s", m, path)
			assert.Equal(t, FamilyNova, rej.Family)
		}
	}
	for _, suffix := range []string{
		"/cmp-1/reboot.json", "/cmp-1/shutdown.xml", "/cmp-1/REBOOT", "/cmp-1/Startup", "/cmp-1/reboot/x",
		"/cmp-1/unknown", "/cmp-1/reboot/x/y", "/cmp-1/edit",
	} {
		for _, m := range []string{"GET", "HEAD"} {
			for _, pfx := range []string{"/v2.1", "/v2/" + testProject} {
				path := pfx + "/os-hosts" + suffix
				rej := classifyRejected(t, c, mkReq(m, path, ""))
				assert.Equal(t, http.StatusNotFound, rej.Status, "%s %s", m, path)
				assert.Equal(t, "no_route", rej.Reason, path)
			}
		}
	}
	rej := classifyRejected(t, c, mkReq("GET", "/v2.1/os-hosts/cmp-1/reboot", `{}`))
	assert.Equal(t, http.StatusBadRequest, rej.Status)
	assert.Equal(t, "body_not_allowed", rej.Reason)
	rej = classifyRejected(t, c, mkReq("GET", "/v2.1/os-hosts/cmp-1/reboot", "", "OpenStack-API-Version", "compute 2.99"))
	assert.Equal(t, http.StatusNotAcceptable, rej.Status)
}

func TestUnversioned(t *testing.T) {
	c := newTestClassifier(t)
	op := classifyOK(t, c, mkReq("GET", "/", ""))
	assert.Equal(t, Operation{Family: FamilyNova, Name: OpOther, Route: "/"}, op)
	op = classifyOK(t, c, mkReq("HEAD", "/", ""))
	assert.Equal(t, OpOther, op.Name)

	for _, r := range []*Request{
		mkReq("POST", "/", "{}"),
		mkReq("DELETE", "/", ""),
		mkReq("GET", "/servers", ""),
		mkReq("POST", "/servers/"+testServer+"/action", `{"unlock": null}`),
		mkReq("POST", "/V2.1/servers/"+testServer+"/action", `{"unlock": null}`),
		mkReq("GET", "/v2.1x/servers", ""),
		mkReq("GET", "/v3/auth/tokens", ""),
	} {
		rej := classifyRejected(t, c, r)
		assert.Equal(t, http.StatusNotFound, rej.Status, r.RawPath)
	}
}

// TestNativeRoutes covers the routes of doc.go's "Native routes" under each
// native version prefix.
func TestNativeRoutes(t *testing.T) {
	c := newTestClassifier(t)
	id, id2 := testServer, testServer2
	batch := `{"servers": [{"id": "` + id + `"}, {"id": "` + id2 + `"}]}`
	cases := []struct {
		method, path, body string
		name, route        string
		ids                []string
		action             string
		args               string // expected Action.Args ("" = body when action set)
	}{
		{"POST", "/cloudservers/action", `{"os-start": ` + batch + `}`, OpAction, "/cloudservers/action", []string{id, id2}, "os-start", batch},
		{"POST", "/cloudservers/action", `{"os-stop": {"servers": [{"id": "` + id + `"}], "type": "HARD"}}`, OpAction, "/cloudservers/action", []string{id}, "os-stop", `{"servers": [{"id": "` + id + `"}], "type": "HARD"}`},
		{"POST", "/cloudservers/action", `{"reboot": {"type": "SOFT", "servers": [{"id": "` + id2 + `"}]}}`, OpAction, "/cloudservers/action", []string{id2}, "reboot", `{"type": "SOFT", "servers": [{"id": "` + id2 + `"}]}`},
		{"POST", "/cloudservers/delete", `{"servers": [{"id": "` + id + `"}], "delete_publicip": true, "delete_volume": false}`, OpDelete, "/cloudservers/delete", []string{id}, "", ""},
		{"POST", "/cloudservers/{id}/resize", `{"resize": {"flavorRef": "s6.large.2"}, "dry_run": false}`, OpAction, "/cloudservers/{server_id}/resize", []string{id}, NativeResize, ""},
		{"POST", "/cloudservers/batch-resize", `{"resize": {"flavorRef": "s6.large.2", "servers": [{"id": "` + id + `"}]}}`, OpAction, "/cloudservers/batch-resize", []string{id}, NativeResize, ""},
		{"POST", "/cloudservers/resize", `{"flavorRef": "s6.large.2", "servers": [{"id": "` + id + `"}, {"id": "` + id2 + `"}]}`, OpAction, "/cloudservers/resize", []string{id, id2}, NativeResize, ""},
		{"POST", "/cloudservers/{id}/changeos", `{"os-change": {"imageid": "x"}}`, OpAction, "/cloudservers/{server_id}/changeos", []string{id}, NativeChangeOS, ""},
		{"POST", "/cloudservers/{id}/reinstallos", `{"os-reinstall": {"adminpass": "x"}}`, OpAction, "/cloudservers/{server_id}/reinstallos", []string{id}, NativeReinstallOS, ""},
		{"PUT", "/cloudservers/os-reset-passwords", `{"new_password": "p", "servers": [{"id": "` + id + `"}]}`, OpAction, "/cloudservers/os-reset-passwords", []string{id}, NativeResetPassword, ""},
		{"PUT", "/cloudservers/{id}/os-reset-password", `{"reset-password": {"new_password": "p"}}`, OpAction, "/cloudservers/{server_id}/os-reset-password", []string{id}, NativeResetPassword, ""},
		{"PUT", "/cloudservers/server-name", `{"name": "n", "servers": [{"id": "` + id + `"}]}`, OpUpdate, "/cloudservers/server-name", []string{id}, "", ""},
		{"PUT", "/cloudservers/{id}", `{"server": {"name": "n"}}`, OpUpdate, "/cloudservers/{server_id}", []string{id}, "", ""},
		{"POST", "/cloudservers/{id}/migrate", `{"migrate": {}}`, OpAction, "/cloudservers/{server_id}/migrate", []string{id}, NativeMigrate, ""},
		{"POST", "/cloudservers/{id}/actions/trigger-crash-dump", `{"trigger-crash-dump": {}}`, OpAction, "/cloudservers/{server_id}/actions/trigger-crash-dump", []string{id}, NativeTriggerCrashDump, ""},
		{"POST", "/cloudservers/{id}/actions/redeploy", `{"redeploy": {}}`, OpAction, "/cloudservers/{server_id}/actions/redeploy", []string{id}, NativeRedeploy, ""},
		{"POST", "/cloudservers/{id}/actions/redeploy", ``, OpAction, "/cloudservers/{server_id}/actions/redeploy", []string{id}, NativeRedeploy, ""},
		{"POST", "/cloudservers/{id}/changevpc", `{"vpc_id": "v", "nic": {}}`, OpAction, "/cloudservers/{server_id}/changevpc", []string{id}, NativeChangeVPC, ""},
		{"POST", "/cloudservers/{id}/attachvolume", `{"volumeAttachment": {"volumeId": "v"}}`, OpVolumeAttachmentCreate, "/cloudservers/{server_id}/attachvolume", []string{id}, "", ""},
		{"DELETE", "/cloudservers/{id}/detachvolume/vol-1", ``, OpVolumeAttachmentDelete, "/cloudservers/{server_id}/detachvolume/{volume_id}", []string{id}, "", ""},
		{"POST", "/cloudservers/{id}/nics", `{"nics": [{"subnet_id": "s"}]}`, OpInterfaceCreate, "/cloudservers/{server_id}/nics", []string{id}, "", ""},
		{"POST", "/cloudservers/{id}/nics/delete", `{"nics": [{"id": "n"}]}`, OpInterfaceDelete, "/cloudservers/{server_id}/nics/delete", []string{id}, "", ""},
		{"POST", "/cloudservers/{id}/tags/action", `{"action": "create", "tags": []}`, OpTagsUpdate, "/cloudservers/{server_id}/tags/action", []string{id}, "", ""},
		{"DELETE", "/cloudservers/{id}/os-server-password", ``, OpPasswordDelete, "/cloudservers/{server_id}/os-server-password", []string{id}, "", ""},
		{"POST", "/cloudservers/{id}/metadata", `{"metadata": {"a": "b"}}`, OpMetadataUpdate, "/cloudservers/{server_id}/metadata", []string{id}, "", ""},
		{"DELETE", "/cloudservers/{id}/metadata/k", ``, OpMetadataDelete, "/cloudservers/{server_id}/metadata/{key}", []string{id}, "", ""},
		{"POST", "/cloudservers/{id}/remote_console", `{"remote_console": {"protocol": "vnc"}}`, OpRemoteConsoleCreate, "/cloudservers/{server_id}/remote_console", []string{id}, "", ""},
		{"POST", "/recycle-bin/cloudservers/{id}/actions/revert", ``, OpAction, "/recycle-bin/cloudservers/{server_id}/actions/revert", []string{id}, NativeRecycleRevert, ""},
		{"DELETE", "/recycle-bin/cloudservers/{id}", ``, OpDelete, "/recycle-bin/cloudservers/{server_id}", []string{id}, "", ""},
		{"POST", "/cloudservers", `{"server": {"name": "n"}}`, OpCreate, "/cloudservers", nil, "", ""},

		{"GET", "/cloudservers/detail", ``, OpRead, "/cloudservers/detail", nil, "", ""},
		{"GET", "/cloudservers", ``, OpRead, "/cloudservers", nil, "", ""},
		{"GET", "/cloudservers/{id}", ``, OpRead, "/cloudservers/{server_id}", []string{id}, "", ""},
		{"HEAD", "/cloudservers/{id}", ``, OpRead, "/cloudservers/{server_id}", []string{id}, "", ""},
		{"GET", "/cloudservers/{id}/os-server-password", ``, OpRead, "/cloudservers/{server_id}/...", []string{id}, "", ""},
		{"GET", "/cloudservers/{id}/block_device/vol-1", ``, OpRead, "/cloudservers/{server_id}/...", []string{id}, "", ""},
		{"GET", "/cloudservers/flavors", ``, OpOther, "/cloudservers/flavors", nil, "", ""},
		{"GET", "/cloudservers/os-server-groups/g1", ``, OpOther, "/cloudservers/os-server-groups/...", nil, "", ""},
		{"GET", "/recycle-bin/cloudservers", ``, OpRead, "/recycle-bin/cloudservers", nil, "", ""},
		{"GET", "/recycle-bin/cloudservers/detail", ``, OpRead, "/recycle-bin/cloudservers/detail", nil, "", ""},
		{"GET", "/recycle-bin/cloudservers/{id}", ``, OpRead, "/recycle-bin/cloudservers/{server_id}", []string{id}, "", ""},
		{"GET", "/jobs/job-1", ``, OpOther, "/jobs/{job_id}", nil, "", ""},
	}
	for _, version := range []string{"v1", "v1.1", "v2"} {
		for _, tc := range cases {
			path := "/" + version + "/" + testProject + strings.ReplaceAll(tc.path, "{id}", id)
			if version == "v2" && !strings.HasPrefix(tc.path, "/cloudservers") {
				// Only /cloudservers routes exist natively under /v2; the
				// rest is Nova's legacy prefix.
				continue
			}
			t.Run(tc.method+" "+path, func(t *testing.T) {
				op := classifyOK(t, c, mkReq(tc.method, path, tc.body, "Content-Type", "application/json;charset=UTF-8"))
				assert.Equal(t, FamilyECS, op.Family)
				assert.Equal(t, version, op.Version)
				assert.Equal(t, testProject, op.ProjectID)
				assert.Empty(t, op.Microversion)
				assert.Equal(t, tc.name, op.Name)
				assert.Equal(t, tc.route, op.Route)
				assert.Equal(t, tc.ids, op.ServerIDs)
				if tc.action == "" {
					assert.Nil(t, op.Action)
					return
				}
				require.NotNil(t, op.Action)
				assert.Equal(t, tc.action, op.Action.Name)
				want := tc.args
				if want == "" {
					want = tc.body
				}
				assert.Equal(t, want, string(op.Action.Args))
			})
		}
	}
}

func TestNativeRejections(t *testing.T) {
	c := newTestClassifier(t)
	p := "/v1/" + testProject
	id := testServer
	cases := []struct {
		name, method, path, body string
		status                   int
		reason                   string
	}{
		{"batch two keys", "POST", p + "/cloudservers/action", `{"os-start": {"servers": [{"id": "` + id + `"}]}, "os-stop": {"servers": []}}`, 400, "action_key_count"},
		{"batch unknown key", "POST", p + "/cloudservers/action", `{"lock": {"servers": [{"id": "` + id + `"}]}}`, 400, "unknown_action"},
		{"batch wrong case", "POST", p + "/cloudservers/action", `{"OS-START": {"servers": [{"id": "` + id + `"}]}}`, 400, "unknown_action"},
		{"batch duplicate key", "POST", p + "/cloudservers/action", `{"os-start": {"servers": []}, "os-start": {"servers": [{"id": "` + id + `"}]}}`, 400, "duplicate_key"},
		{"batch no servers", "POST", p + "/cloudservers/action", `{"os-start": {"servers": []}}`, 400, "no_servers"},
		{"batch servers missing", "POST", p + "/cloudservers/action", `{"os-start": {}}`, 400, "no_servers"},
		{"batch value not object", "POST", p + "/cloudservers/action", `{"os-start": [1]}`, 400, "bad_batch_body"},
		{"batch servers not array", "POST", p + "/cloudservers/action", `{"os-start": {"servers": {"id": "` + id + `"}}}`, 400, "bad_servers"},
		{"batch element not object", "POST", p + "/cloudservers/action", `{"os-start": {"servers": ["` + id + `"]}}`, 400, "bad_servers"},
		{"batch id upper", "POST", p + "/cloudservers/action", `{"os-stop": {"servers": [{"id": "` + strings.ToUpper(id) + `"}]}}`, 400, "bad_server_id"},
		{"batch id escaped", "POST", p + "/cloudservers/action", `{"os-stop": {"servers": [{"id": "\u0064` + id[1:] + `"}]}}`, 400, "bad_server_id"},
		{"batch id number", "POST", p + "/cloudservers/action", `{"os-stop": {"servers": [{"id": 5}]}}`, 400, "bad_server_id"},
		{"batch id missing", "POST", p + "/cloudservers/action", `{"reboot": {"type": "SOFT", "servers": [{"name": "x"}]}}`, 400, "bad_server_id"},
		{"batch second id bad", "POST", p + "/cloudservers/action", `{"reboot": {"servers": [{"id": "` + id + `"}, {"id": "x"}]}}`, 400, "bad_server_id"},
		{"batch top scalar", "POST", p + "/cloudservers/action", `null`, 400, "action_body_shape"},
		{"batch empty", "POST", p + "/cloudservers/action", ``, 400, "empty_body"},
		{"delete no servers", "POST", p + "/cloudservers/delete", `{"delete_volume": true}`, 400, "no_servers"},
		{"delete empty", "POST", p + "/cloudservers/delete", ``, 400, "empty_body"},
		{"delete array", "POST", p + "/cloudservers/delete", `[{"id": "` + id + `"}]`, 400, "bad_batch_body"},
		{"delete bad id", "POST", p + "/cloudservers/delete", `{"servers": [{"id": "` + id + `x"}]}`, 400, "bad_server_id"},
		{"rename nested bad", "PUT", p + "/cloudservers/server-name", `{"name": "n", "servers": [{"id": "` + id + `"}], "x": {"servers": 1}}`, 400, "bad_servers"},
		{"unknown mutation", "POST", p + "/cloudservers/" + id + "/lock", `{}`, 404, "no_route"},
		{"unknown collection mutation", "POST", p + "/cloudservers/os-server-groups", `{}`, 404, "no_route"},
		{"nic update", "PUT", p + "/cloudservers/nics/n1", `{}`, 404, "no_route"},
		{"delete single", "DELETE", p + "/cloudservers/" + id, ``, 404, "no_route"},
		{"post server", "POST", p + "/cloudservers/" + id, `{}`, 404, "no_route"},
		{"upper id", "GET", p + "/cloudservers/" + strings.ToUpper(id), ``, 404, "bad_server_id"},
		{"braced id", "POST", p + "/cloudservers/{" + id + "}/resize", `{}`, 404, "bad_server_id"},
		{"short id", "GET", p + "/cloudservers/abc", ``, 404, "no_route"},
		{"bad project", "GET", "/v1/ABC/cloudservers/detail", ``, 404, "bad_project_id"},
		{"no project", "GET", "/v1/cloudservers/detail", ``, 404, "bad_project_id"},
		{"project only", "GET", p, ``, 404, "no_route"},
		{"recycle bad", "POST", p + "/recycle-bin/cloudservers/" + id + "/actions/delete", ``, 404, "no_route"},
		{"recycle upper", "DELETE", p + "/recycle-bin/cloudservers/" + strings.ToUpper(id), ``, 404, "bad_server_id"},
		{"jobs mutation", "DELETE", p + "/jobs/1", ``, 404, "no_route"},
		{"text/plain body", "POST", p + "/cloudservers/delete", `{"servers": [{"id": "` + id + `"}]}`, 415, "unsupported_content_type"},
		{"invalid json", "PUT", p + "/cloudservers/" + id, `{"server": }`, 400, "invalid_json"},
		{"native get body", "GET", p + "/cloudservers/detail", `{}`, 400, "body_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct := "application/json"
			if tc.name == "text/plain body" {
				ct = "text/plain"
			}
			rej := classifyRejected(t, c, mkReq(tc.method, tc.path, tc.body, "Content-Type", ct))
			assert.Equal(t, tc.status, rej.Status)
			assert.Equal(t, tc.reason, rej.Reason)
			assert.Equal(t, FamilyECS, rej.Family)
		})
	}
}

func TestNativeContentType(t *testing.T) {
	c := newTestClassifier(t)
	path := "/v1/" + testProject + "/cloudservers/" + testServer
	body := `{"server": {"name": "n"}}`
	for _, ct := range []string{"application/json", "application/json;charset=UTF-8", "application/json; charset=utf-8"} {
		classifyOK(t, c, mkReq("PUT", path, body, "Content-Type", ct))
	}
	// Absent is fine without a body only.
	classifyOK(t, c, mkReq("GET", path, ""))
	rej := classifyRejected(t, c, mkReq("PUT", path, body))
	assert.Equal(t, http.StatusUnsupportedMediaType, rej.Status)
	for _, ct := range []string{"", "text/plain", "Application/JSON", "application/vnd.openstack.compute+json", "application/x-www-form-urlencoded", "application/json-patch+json"} {
		rej := classifyRejected(t, c, mkReq("PUT", path, body, "Content-Type", ct))
		assert.Equal(t, http.StatusUnsupportedMediaType, rej.Status, ct)
	}
}

func TestNativeBatchUnion(t *testing.T) {
	c := newTestClassifier(t)
	body := `{"servers": [{"id": "` + testServer + `"}], "resize": {"flavorRef": "f", "servers": [{"id": "` + testServer2 + `"}]}}`
	op := classifyOK(t, c, mkReq("POST", "/v1/"+testProject+"/cloudservers/batch-resize", body, "Content-Type", "application/json"))
	assert.Equal(t, []string{testServer, testServer2}, op.ServerIDs)

	// Escaped key names are still "servers" and "id".
	body = `{"\u0073ervers": [{"\u0069d": "` + testServer + `"}]}`
	op = classifyOK(t, c, mkReq("POST", "/v1/"+testProject+"/cloudservers/delete", body, "Content-Type", "application/json"))
	assert.Equal(t, []string{testServer}, op.ServerIDs)
}

// TestRequestRules covers the request-level parser differentials
// (docs/compute-api-facts.md, "Parser differentials").
func TestRequestRules(t *testing.T) {
	c := newTestClassifier(t)
	action := "/v2.1/" + testProject + "/servers/" + testServer + "/action"
	unlock := `{"unlock": null}`
	withQuery := func(q string) *Request {
		r := mkReq("GET", "/v2.1/servers/"+testServer, "")
		r.RawQuery = q
		return r
	}
	cases := []struct {
		name   string
		req    *Request
		status int
		reason string
	}{
		// Methods.
		{"lowercase method", mkReq("post", action, unlock), 404, "bad_method"},
		{"mixed case method", mkReq("Post", action, unlock), 404, "bad_method"},
		{"PATCH", mkReq("PATCH", action, unlock), 404, "bad_method"},
		{"OPTIONS", mkReq("OPTIONS", action, ""), 404, "bad_method"},
		{"empty method", mkReq("", action, ""), 404, "bad_method"},
		{"native PATCH", mkReq("PATCH", "/v1/"+testProject+"/cloudservers/"+testServer, "{}"), 404, "bad_method"},

		// Query method override.
		{"_method", withQuery("_method=DELETE"), 400, "method_override"},
		{"_METHOD", withQuery("_METHOD=DELETE"), 400, "method_override"},
		{"second param", withQuery("a=1&_method=DELETE"), 400, "method_override"},
		{"semicolon", withQuery("a=1;_method=DELETE"), 400, "method_override"},
		{"encoded underscore", withQuery("%5Fmethod=DELETE"), 400, "method_override"},
		{"encoded lower", withQuery("%5fmethod=DELETE"), 400, "method_override"},
		{"encoded letters", withQuery("_%6D%65thod=DELETE"), 400, "method_override"},
		{"double encoded", withQuery("%255Fmethod=DELETE"), 400, "method_override"},
		{"triple encoded", withQuery("%25255Fmethod=DELETE"), 400, "method_override"},
		{"plus and encoded", withQuery("x=a+b&%5F%4D%45%54%48%4F%44=delete"), 400, "method_override"},
		{"no value", withQuery("_method"), 400, "method_override"},
		{"too many encodings", withQuery("%2525252525252525252525252541"), 400, "query_decode"},

		// Headers.
		{"X-HTTP-Method-Override", mkReq("POST", action, unlock, "X-HTTP-Method-Override", "DELETE"), 400, "method_override"},
		{"X-HTTP-Method", mkReq("POST", action, unlock, "X-HTTP-Method", "DELETE"), 400, "method_override"},
		{"X-Method-Override", mkReq("POST", action, unlock, "X-Method-Override", "DELETE"), 400, "method_override"},
		{"underscore header", mkReq("POST", action, unlock, "X_Auth_Token", "t"), 400, "underscore_header"},
		{"underscore any header", mkReq("GET", "/v2.1/servers", "", "Foo_Bar", "x"), 400, "underscore_header"},
		{"dup token", mkReq("POST", action, unlock, "X-Auth-Token", "a", "X-Auth-Token", "b"), 400, "duplicate_header"},
		{"dup authorization", mkReq("GET", "/v2.1/servers", "", "Authorization", "a", "Authorization", "a"), 400, "duplicate_header"},
		{"dup microversion", mkReq("POST", action, unlock, "OpenStack-API-Version", "compute 2.1", "OpenStack-API-Version", "compute 2.73"), 400, "duplicate_header"},
		{"dup legacy microversion", mkReq("POST", action, unlock, "X-OpenStack-Nova-API-Version", "2.1", "X-OpenStack-Nova-API-Version", "2.5"), 400, "duplicate_header"},
		{"dup project", mkReq("GET", "/v2.1/servers", "", "X-Project-Id", "a", "X-Project-Id", "b"), 400, "duplicate_header"},
		{"dup sdk date", mkReq("GET", "/v2.1/servers", "", "X-Sdk-Date", "a", "X-Sdk-Date", "b"), 400, "duplicate_header"},
		{"dup security token", mkReq("GET", "/v2.1/servers", "", "X-Security-Token", "a", "X-Security-Token", "b"), 400, "duplicate_header"},
		{"dup content type", mkReq("POST", action, unlock, "Content-Type", "application/json", "Content-Type", "text/html"), 400, "duplicate_header"},
		{"dup content length", mkReq("POST", action, unlock, "Content-Length", "16", "Content-Length", "16"), 400, "duplicate_header"},
		{"dup content encoding", mkReq("POST", action, unlock, "Content-Encoding", "identity", "Content-Encoding", "identity"), 400, "duplicate_header"},
		{"transfer encoding", mkReq("POST", action, unlock, "Transfer-Encoding", "chunked"), 400, "transfer_encoding"},
		{"gzip", mkReq("POST", action, unlock, "Content-Encoding", "gzip"), 415, "content_encoding"},
		{"empty encoding", mkReq("POST", action, unlock, "Content-Encoding", ""), 415, "content_encoding"},
		{"content length short", mkReq("POST", action, unlock, "Content-Length", "10"), 400, "content_length_mismatch"},
		{"content length junk", mkReq("POST", action, unlock, "Content-Length", "+16"), 400, "content_length_mismatch"},

		// Paths.
		{"relative path", mkReq("GET", "v2.1/servers", ""), 400, "bad_path"},
		{"absolute uri", mkReq("GET", "http://h/v2.1/servers", ""), 400, "bad_path"},
		{"empty path", mkReq("GET", "", ""), 400, "bad_path"},
		{"encoded slash", mkReq("POST", "/v2.1/servers/"+testServer+"%2Faction", unlock), 400, "encoded_path"},
		{"encoded letter", mkReq("POST", "/v2.1/servers/"+testServer+"/%61ction", unlock), 400, "encoded_path"},
		{"encoded newline", mkReq("POST", action+"%0A", unlock), 400, "encoded_path"},
		{"encoded id", mkReq("GET", "/v2.1/servers/%64"+testServer[1:], ""), 400, "encoded_path"},
		{"raw newline", mkReq("POST", action+"\n", unlock), 400, "path_char"},
		{"raw space", mkReq("GET", "/v2.1/servers/"+testServer+" ", ""), 400, "path_char"},
		{"raw tab", mkReq("GET", "/v2.1/servers\t", ""), 400, "path_char"},
		{"raw nul", mkReq("GET", "/v2.1/servers/\x00", ""), 400, "path_char"},
		{"raw DEL", mkReq("GET", "/v2.1/servers/\x7f", ""), 400, "path_char"},
		{"non-ascii", mkReq("GET", "/v2.1/servers/é", ""), 400, "path_char"},
		{"double slash", mkReq("POST", "/v2.1//servers/"+testServer+"/action", unlock), 404, "empty_segment"},
		{"leading double slash", mkReq("POST", "//v2.1/servers/"+testServer+"/action", unlock), 404, "empty_segment"},
		{"inner double slash", mkReq("POST", "/v2.1/servers/"+testServer+"//action", unlock), 404, "empty_segment"},
		{"trailing slash", mkReq("POST", action+"/", unlock), 404, "trailing_slash"},
		{"trailing slash read", mkReq("GET", "/v2.1/servers/", ""), 404, "trailing_slash"},
		{"version root slash POST", mkReq("POST", "/v2.1/", "{}"), 404, "trailing_slash"},
		{"version root slash body", mkReq("GET", "/v2.1/", "{}"), 400, "body_not_allowed"},
		{"dot segment", mkReq("POST", "/v2.1/./servers/"+testServer+"/action", unlock), 404, "dot_segment"},
		{"dotdot segment", mkReq("POST", "/v2.1/x/../servers/"+testServer+"/action", unlock), 404, "dot_segment"},
		{"action.json", mkReq("POST", action+".json", unlock), 404, "no_route"},
		{"show .json", mkReq("GET", "/v2.1/servers/"+testServer+".json", ""), 404, "bad_server_id"},
		{"too deep", mkReq("GET", "/v2.1"+strings.Repeat("/a", 20), ""), 404, "no_route"},
		{"upper project", mkReq("POST", "/v2.1/ABCDEF/servers/"+testServer+"/action", unlock), 404, "no_route"},
		{"non-hex project", mkReq("POST", "/v2.1/my-project/servers/"+testServer+"/action", unlock), 404, "no_route"},

		// Bodies on body-less methods.
		{"GET body", mkReq("GET", "/v2.1/servers/"+testServer, "{}"), 400, "body_not_allowed"},
		{"HEAD body", mkReq("HEAD", "/v2.1/servers/"+testServer, "x"), 400, "body_not_allowed"},
		{"DELETE body", mkReq("DELETE", "/v2.1/servers/"+testServer, `{"force": true}`), 400, "body_not_allowed"},

		// Content-Type (Nova 415 set) and form bodies.
		{"form body", mkReq("POST", action, "_method=DELETE", "Content-Type", "application/x-www-form-urlencoded"), 415, "form_body"},
		{"multipart", mkReq("POST", action, unlock, "Content-Type", "multipart/form-data; boundary=x"), 415, "form_body"},
		{"text/html", mkReq("POST", action, unlock, "Content-Type", "text/html"), 415, "unsupported_content_type"},
		{"upper json", mkReq("POST", action, unlock, "Content-Type", "Application/json"), 415, "unsupported_content_type"},
		{"json space", mkReq("POST", action, unlock, "Content-Type", "application/json ;charset=utf-8"), 415, "unsupported_content_type"},
		{"415 on GET too", mkReq("GET", "/v2.1/servers", "", "Content-Type", "application/xml"), 415, "unsupported_content_type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rej := classifyRejected(t, c, tc.req)
			assert.Equal(t, tc.status, rej.Status)
			assert.Equal(t, tc.reason, rej.Reason)
			assert.NotEmpty(t, rej.Message)
		})
	}
}

func TestRequestRulesAccepted(t *testing.T) {
	c := newTestClassifier(t)
	action := "/v2.1/" + testProject + "/servers/" + testServer + "/action"
	unlock := `{"unlock": null}`
	for _, ct := range []string{"", "text/plain", "application/json", "application/vnd.openstack.compute+json",
		"application/json; charset=UTF-8", "text/plain;x", ";charset=utf-8"} {
		op := classifyOK(t, c, mkReq("POST", action, unlock, "Content-Type", ct))
		assert.Equal(t, "unlock", op.Action.Name, ct)
	}
	classifyOK(t, c, mkReq("POST", action, unlock))
	classifyOK(t, c, mkReq("POST", action, unlock, "Content-Encoding", "identity"))
	classifyOK(t, c, mkReq("POST", action, unlock, "Content-Length", "16"))
	classifyOK(t, c, mkReq("POST", action, unlock,
		"X-Auth-Token", "t", "Accept", "application/json", "User-Agent", "gophercloud", "X-Openstack-Request-Id", "req-1"))

	// Harmless queries pass; a query that merely looks like the override
	// does not.
	r := mkReq("GET", "/v2.1/servers/detail", "")
	r.RawQuery = "name=web%2B1&limit=10&status=ACTIVE+x"
	classifyOK(t, c, r)
	r.RawQuery = "name=x_method"
	assert.Equal(t, "method_override", classifyRejected(t, c, r).Reason)

	// A non-canonical Header map (built by hand) is still checked
	// case-insensitively.
	r = mkReq("POST", action, unlock)
	r.Header["x-auth-token"] = []string{"a"}
	r.Header["X-Auth-Token"] = []string{"b"}
	assert.Equal(t, "duplicate_header", classifyRejected(t, c, r).Reason)
	r = mkReq("POST", action, unlock)
	r.Header["x-http-method-override"] = []string{"GET"}
	assert.Equal(t, "method_override", classifyRejected(t, c, r).Reason)

	_, err := c.Classify(nil)
	var rej *Rejection
	require.ErrorAs(t, err, &rej)
	assert.Equal(t, http.StatusBadRequest, rej.Status)

	// /v2/{p}/recycle-bin is Nova's legacy prefix, where it is no route.
	rej = classifyRejected(t, c, mkReq("GET", "/v2/"+testProject+"/recycle-bin/cloudservers", ""))
	assert.Equal(t, FamilyNova, rej.Family)
	assert.Equal(t, http.StatusNotFound, rej.Status)
}

// TestRejectionFamily: errors on native paths are answered in the native
// format, including /v2/{p}/cloudservers which shares Nova's /v2 prefix.
func TestRejectionFamily(t *testing.T) {
	c := newTestClassifier(t)
	cases := map[string]string{
		"/v1/" + testProject + "/cloudservers/x%2F":        FamilyECS,
		"/v1.1/" + testProject + "/cloudservers//x":        FamilyECS,
		"/v2/" + testProject + "/cloudservers/x/":          FamilyECS,
		"/v2/" + testProject + "/servers/x/":               FamilyNova,
		"/v2.1/" + testProject + "/cloudservers/x":         FamilyNova,
		"/v2.1/servers/%41":                                FamilyNova,
		"/nothing":                                         FamilyNova,
		"/v2/" + testProject + "/cloudservers/" + "x/y/z/": FamilyECS,
	}
	for p, fam := range cases {
		rej := classifyRejected(t, c, mkReq("POST", p, "{}"))
		assert.Equal(t, fam, rej.Family, p)
	}
	rej := classifyRejected(t, c, mkReq("PATCH", "/v1/"+testProject+"/cloudservers", ""))
	assert.Equal(t, FamilyECS, rej.Family)
}

// TestNeverReadForMutations: a mutating method on a server path is never
// classified as a read or "other".
func TestNeverReadForMutations(t *testing.T) {
	c := newTestClassifier(t)
	for _, tc := range novaServerRouteCases {
		if isRead(tc.method) {
			continue
		}
		assert.NotEqual(t, OpRead, tc.name)
		assert.NotEqual(t, OpOther, tc.name)
	}
	op := classifyOK(t, c, mkReq("DELETE", "/v2.1/servers/"+testServer+"/tags/x", ""))
	assert.Equal(t, OpTagsDelete, op.Name)

	// Mutations Nova runs on GET are no reads either.
	for _, name := range HostActions() {
		for _, m := range []string{"GET", "HEAD"} {
			op := classifyOK(t, c, mkReq(m, "/v2.1/os-hosts/cmp-1/"+name, ""))
			assert.NotEqual(t, OpRead, op.Name)
			assert.NotEqual(t, OpOther, op.Name)
		}
	}
}

func BenchmarkClassifyUnlock(b *testing.B) {
	c := newTestClassifier(b)
	req := mkReq("POST", "/v2.1/"+testProject+"/servers/"+testServer+"/action", `{"unlock": null}`,
		"X-Auth-Token", "gAAAAABexampletoken", "Content-Type", "application/json", "Accept", "application/json",
		"User-Agent", "gophercloud/v2.15.0", "Content-Length", "16",
		"X-Openstack-Nova-Api-Version", "2.60", "Openstack-Api-Version", "compute 2.60")
	b.ReportAllocs()
	for b.Loop() {
		op, err := c.Classify(req)
		if err != nil || op.Action == nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassifyRead(b *testing.B) {
	c := newTestClassifier(b)
	req := mkReq("GET", "/v2.1/"+testProject+"/servers/"+testServer, "",
		"X-Auth-Token", "gAAAAABexampletoken", "Accept", "application/json", "User-Agent", "openstacksdk/4.0")
	b.ReportAllocs()
	for b.Loop() {
		op, err := c.Classify(req)
		if err != nil || op.Name != OpRead {
			b.Fatal(err)
		}
	}
}
