package classify

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"unsafe"
)

// serverPath matches the paths whose mutations must never come out as a read
// or "other": Nova and native server collections, with or without project.
var serverPath = regexp.MustCompile(`^/v[0-9.]+(/[0-9a-f-]+)?/(servers|os-volumes_boot|cloudservers|recycle-bin)(/|$)`)

// getMutationPath matches the paths where Nova mutates on GET: below
// /os-hosts/{host_name}. Whatever is accepted there is a host action, never
// a read or "other", and whatever the method.
var getMutationPath = regexp.MustCompile(`^/v2(\.1)?(/[0-9a-f-]+)?/os-hosts/[^/]+/`)

var hostActionNames = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range HostActions() {
		m[n] = true
	}
	return m
}()

// parseFuzzHeaders reads "Name: value" lines; a line without ':' is skipped.
func parseFuzzHeaders(s string) http.Header {
	h := http.Header{}
	for line := range strings.SplitSeq(s, "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		h[name] = append(h[name], strings.TrimSpace(value))
	}
	return h
}

var allowedActionNames = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range novaServerActionNames {
		m[n] = true
	}
	for n := range nativeBatchActions {
		m[n] = true
	}
	for _, n := range []string{
		"force_complete", NativeResize, NativeChangeOS, NativeReinstallOS, NativeResetPassword, NativeMigrate,
		NativeTriggerCrashDump, NativeRedeploy, NativeChangeVPC, NativeRecycleRevert,
	} {
		m[n] = true
	}
	return m
}()

func isSubslice(sub, of []byte) bool {
	if len(sub) == 0 {
		return true
	}
	if len(of) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(of)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(sub)))
	return p >= start && p+uintptr(len(sub)) <= start+uintptr(len(of))
}

func fuzzSeeds() [][5]string {
	id := testServer
	p := testProject
	return [][5]string{
		{"POST", "/v2.1/" + p + "/servers/" + id + "/action", "", "Content-Type: application/json\nX-Auth-Token: t", `{"unlock": null}`},
		{"POST", "/v2.1/servers/" + id + "/action", "", "", `{"lock": {"locked_reason": "x"}}`},
		{"POST", "/v2/servers/" + id + "/action", "", "OpenStack-API-Version: compute 2.73", `{"unl\u006fck": null}`},
		{"GET", "/v2.1/servers/" + id, "_method=DELETE", "", ""},
		{"GET", "/v2.1/servers/" + id, "%255Fmethod=DELETE", "", ""},
		{"DELETE", "/v2.1/os-volumes_boot/" + id, "", "", ""},
		{"POST", "/v1/" + p + "/cloudservers/action", "", "Content-Type: application/json", `{"os-stop": {"servers": [{"id": "` + id + `"}], "type": "HARD"}}`},
		{"POST", "/v1/" + p + "/cloudservers/delete", "", "Content-Type: application/json", `{"servers": [{"id": "` + id + `"}, {"id": "` + testServer2 + `"}]}`},
		{"PUT", "/v1/" + p + "/cloudservers/os-reset-passwords", "", "Content-Type: application/json", `{"new_password": "x", "servers": [{"id": "` + id + `"}]}`},
		{"POST", "/v2/" + p + "/cloudservers/" + id + "/changeos", "", "Content-Type: application/json", `{"os-change": {}}`},
		{"POST", "/v1.1/" + p + "/cloudservers/" + id + "/resize", "", "Content-Type: application/json", `{"resize": {"flavorRef": "x"}}`},
		{"POST", "/v1/" + p + "/recycle-bin/cloudservers/" + id + "/actions/revert", "", "", ""},
		{"POST", "/v2.1/servers/" + id + "/migrations/3/action", "", "", `{"force_complete": null}`},
		{"DELETE", "/v2.1/servers/" + id + "/migrations/3", "", "", ""},
		{"PUT", "/v2.1/servers/" + id + "/tags/a", "", "", ""},
		{"POST", "/v2.1//servers/" + id + "/action", "", "", `{"unlock": null}`},
		{"POST", "/v2.1/servers/" + id + "/action/", "", "", `{"unlock": null}`},
		{"POST", "/v2.1/servers/" + id + "%2Faction", "", "", `{"unlock": null}`},
		{"POST", "/v2.1/servers/" + strings.ToUpper(id) + "/action", "", "", `{"unlock": null}`},
		{"post", "/v2.1/servers/" + id + "/action", "", "", `{"unlock": null}`},
		{"POST", "/v2.1/servers/" + id + "/action", "", "X_Auth_Token: a", `{"unlock": null}`},
		{"POST", "/v2.1/servers/" + id + "/action", "", "X-HTTP-Method-Override: DELETE", `{"unlock": null}`},
		{"POST", "/v2.1/servers/" + id + "/action", "", "Content-Type: application/x-www-form-urlencoded", `_method=DELETE`},
		{"POST", "/v2.1/servers/" + id + "/action", "", "", `{"unlock": null, "unlock": 1}`},
		{"POST", "/v2.1/servers/" + id + "/action", "", "", `["unlock"]`},
		{"POST", "/v2.1/servers/" + id + "/action", "", "", `{"unlock": "\ud800"}`},
		{"POST", "/v2.1/servers/" + id + "/action", "", "", "\xef\xbb\xbf{\"unlock\": null}"},
		{"POST", "/v2.1/servers/" + id + "/action", "", "X-OpenStack-Nova-API-Version: latest", `{"reboot": {"type": "HARD"}}`},
		{"GET", "/v2.1/" + p + "/flavors/detail", "minDisk=1", "", ""},
		{"GET", "/", "", "", ""},
		{"GET", "/v1/" + p + "/cloudservers/" + id + "/os-server-password", "", "", ""},
		{"POST", "/v2.1/servers", "", "Content-Length: 2", `{}`},
		{"GET", "/v2.1/os-hosts/cmp-1/reboot", "", "", ""},
		{"HEAD", "/v2/" + p + "/os-hosts/cmp-1/shutdown", "", "", ""},
		{"GET", "/v2.1/" + p + "/os-hosts/cmp-1/startup", "", "OpenStack-API-Version: compute 2.43", ""},
		{"GET", "/v2.1/os-hosts/cmp-1/reboot.json", "", "", ""},
		{"GET", "/v2.1/os-hosts/cmp-1", "", "", ""},
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s[0], s[1], s[2], s[3], []byte(s[4]))
	}
	c, err := New(Options{MaxMicroversion: "2.60"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, path, query, headers string, body []byte) {
		req := &Request{Method: method, RawPath: path, RawQuery: query, Header: parseFuzzHeaders(headers), Body: body}
		op, err := c.Classify(req)
		if err != nil {
			rej, ok := err.(*Rejection)
			if !ok {
				t.Fatalf("error is %T, not *Rejection", err)
			}
			if rej.Status < 400 || rej.Status > 499 || rej.Status == 401 || rej.Status == 403 {
				t.Fatalf("bad rejection status %d", rej.Status)
			}
			if rej.Family != FamilyNova && rej.Family != FamilyECS {
				t.Fatalf("bad rejection family %q", rej.Family)
			}
			if rej.Reason == "" || rej.Message == "" {
				t.Fatalf("rejection without reason or message: %+v", rej)
			}
			return
		}

		if op.Family != FamilyNova && op.Family != FamilyECS {
			t.Fatalf("bad family %q", op.Family)
		}
		if !allowedMethod(method) {
			t.Fatalf("method %q accepted", method)
		}
		if op.Name == OpRead && !isRead(method) {
			t.Fatalf("%s classified as read", method)
		}
		if !isRead(method) && serverPath.MatchString(path) && (op.Name == OpRead || op.Name == OpOther) {
			t.Fatalf("%s %s classified as %s", method, path, op.Name)
		}
		if getMutationPath.MatchString(path) && op.Name != OpHostAction {
			t.Fatalf("%s %s classified as %s", method, path, op.Name)
		}
		if op.Name == OpHostAction {
			if !isRead(method) || !getMutationPath.MatchString(path) {
				t.Fatalf("host action for %s %s", method, path)
			}
			if op.Action == nil || !hostActionNames[op.Action.Name] || op.Action.Args != nil {
				t.Fatalf("host action with action %+v", op.Action)
			}
			if !strings.HasSuffix(path, "/"+op.Action.Name) || op.Route != "/os-hosts/{host_name}/"+op.Action.Name {
				t.Fatalf("host action %q on %s, route %s", op.Action.Name, path, op.Route)
			}
			if len(op.ServerIDs) != 0 {
				t.Fatalf("host action with server ids %v", op.ServerIDs)
			}
		}
		if op.Route == "" || op.Name == "" {
			t.Fatalf("empty name or route: %+v", op)
		}
		if strings.ContainsAny(path, "%\x00\n\r\t ") || strings.Contains(path, "//") || strings.HasSuffix(path, "/") && path != "/" && path != "/v2.1/" && path != "/v2/" {
			t.Fatalf("non-canonical path %q accepted", path)
		}
		if strings.Contains(strings.ToLower(query), "_method") {
			t.Fatalf("method override %q accepted", query)
		}
		for _, id := range op.ServerIDs {
			if !isCanonicalUUID(id) {
				t.Fatalf("non-canonical server id %q", id)
			}
		}
		if len(body) > 0 {
			if isRead(method) || method == http.MethodDelete {
				t.Fatalf("%s with body accepted", method)
			}
			if !json.Valid(body) {
				t.Fatalf("invalid JSON body accepted: %q", body)
			}
		}
		if op.Action != nil && op.Name != OpHostAction {
			if op.Name != OpAction && op.Name != OpMigrationForceComplete {
				t.Fatalf("action on %s", op.Name)
			}
			if !allowedActionNames[op.Action.Name] {
				t.Fatalf("action %q not in allow-list", op.Action.Name)
			}
			if op.Family == FamilyNova && len(op.Action.Args) == 0 {
				t.Fatal("nova action without args")
			}
			if len(op.Action.Args) > 0 && !json.Valid(op.Action.Args) {
				t.Fatalf("invalid args %q", op.Action.Args)
			}
			if !isSubslice(op.Action.Args, body) {
				t.Fatal("args are not the body's bytes")
			}
		} else if op.Name == OpAction {
			t.Fatal("server.action without Action")
		}
	})
}

func FuzzParseActionBody(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s[4]))
	}
	for _, s := range []string{
		`{"unlock": null}`, `{"\u0075nlock": {"a": [1, 2.5e3, "x", true, null]}}`, `{}`, `[]`, `"u"`, `5`,
		`{"reboot": {"type": "HARD"}} `, `{"a":1,"b":2}`, `{"rebuild": {"name": "\ud83d\ude00"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		top, reason, valid := validateBody(body, true)
		if valid && !json.Valid(body) {
			t.Fatalf("scanner accepted what encoding/json rejects: %q", body)
		}
		// The scanner may only be stricter than encoding/json for the
		// documented reasons, never on plain syntax.
		if reason == "invalid_json" && json.Valid(body) {
			t.Fatalf("scanner rejects valid JSON %q", body)
		}
		if valid && top.kind == '{' && top.count == 1 {
			// The unescaped key must be the key a real decoder sees.
			var m map[string]json.RawMessage
			if err := json.Unmarshal(body, &m); err != nil || len(m) != 1 {
				t.Fatalf("encoding/json disagrees on %q: %v", body, err)
			}
			if _, ok := m[string(appendUnescaped(nil, top.keyRaw))]; !ok {
				t.Fatalf("unescaped key of %q differs from encoding/json's", body)
			}
		}

		name, args, rej := parseAction(body, novaServerActions, FamilyNova)
		if rej != nil {
			if rej.Status != 400 && rej.Status != 404 {
				t.Fatalf("status %d", rej.Status)
			}
			if rej.Status == 404 && !json.Valid(body) {
				t.Fatalf("404 for invalid JSON %q", body)
			}
			return
		}
		if !valid {
			t.Fatal("parseAction accepted a body validateBody rejects")
		}
		if novaServerActions[name] != name {
			t.Fatalf("name %q not in allow-list", name)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("encoding/json cannot decode accepted body %q: %v", body, err)
		}
		if len(m) != 1 {
			t.Fatalf("%d keys in accepted body", len(m))
		}
		v, ok := m[name]
		if !ok {
			t.Fatalf("encoding/json sees another key than %q", name)
		}
		if !bytes.Equal(v, args) {
			t.Fatalf("args %q differ from encoding/json's %q", args, v)
		}
		if !isSubslice(args, body) {
			t.Fatal("args are not the body's bytes")
		}
		dec := json.NewDecoder(bytes.NewReader(args))
		dec.UseNumber()
		var anyv any
		if err := dec.Decode(&anyv); err != nil {
			t.Fatalf("args do not re-decode: %v", err)
		}
	})
}
