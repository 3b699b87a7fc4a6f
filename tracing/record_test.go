package tracing

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/policy"
)

func TestRecordJSON(t *testing.T) {
	rec := testRecord("d-1")
	rec.TraceID = "0af7651916cd43dd8448eb211c80319c"
	rec.SpanID = "b7ad6b7169203331"
	rec.Result.Headers = map[string]string{"X-Ecsgate-Reason": "admin-only"}
	m := decode(t, rec)

	assert.Equal(t, "d-1", m["decision_id"])
	assert.Equal(t, map[string]any{"id": "inst-1", "version": "v0.1.0", "app": "ecsgate"}, m["labels"])
	assert.Equal(t, "ecsgate/authz/decision", m["path"])
	assert.Equal(t, "192.0.2.7", m["requested_by"])
	assert.Equal(t, "2026-05-06T05:08:09.123456789Z", m["timestamp"], "RFC3339Nano in UTC")
	assert.Equal(t, map[string]any{
		"timer_rego_query_eval_ns":  42000.0,
		"timer_ecsgate_identity_ns": 3000.0,
		"timer_ecsgate_total_ns":    60000.0,
	}, m["metrics"])
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", m["trace_id"])
	assert.Equal(t, "b7ad6b7169203331", m["span_id"])
	assert.Equal(t, "sha256:abc", path(m, "bundles", "ecsgate", "revision"))
	assert.Equal(t, map[string]any{
		"allow":   false,
		"reasons": []any{"changePassword is admin-only"},
		"status":  403.0,
		"headers": map[string]any{"X-Ecsgate-Reason": "admin-only"},
	}, m["result"])
	assert.Equal(t, 403.0, m["status"])
	assert.NotContains(t, m, "rejected")
	assert.NotContains(t, m, "error")
	assert.Equal(t, []any{"/input/action/args/adminPass"}, m["masked"])

	// The input is the document the policy saw.
	in := m["input"]
	assert.Equal(t, map[string]any{
		"id": "req-1", "method": "POST", "path": "/v2.1/p1/servers/s1/action", "query": "",
		"headers": map[string]any{
			"x-auth-token":           policy.Redacted,
			"content-type":           "application/json",
			"openstack-api-version":  "compute 2.79",
			"x-openstack-request-id": "req-abc",
		},
		"remote_ip": "192.0.2.7",
	}, path(in, "request"))
	assert.Equal(t, map[string]any{"family": "nova", "version": "v2.1", "microversion": "2.79", "route": "/servers/{server_id}/action"}, path(in, "api"))
	assert.Equal(t, "server.action", path(in, "operation"))
	assert.Equal(t, map[string]any{"name": "changePassword", "args": map[string]any{"adminPass": policy.Redacted}}, path(in, "action"))
	assert.Equal(t, []any{"s1"}, path(in, "server_ids"))
	assert.Equal(t, "p1", path(in, "project_id"))
	assert.Equal(t, map[string]any{
		"method":       "token",
		"user":         map[string]any{"id": "u1", "name": "alice", "domain": map[string]any{"id": "default", "name": "Default"}},
		"project":      map[string]any{"id": "p1", "name": "proj", "domain": map[string]any{"id": "default", "name": "Default"}},
		"scope":        nil,
		"roles":        []any{"member", "reader"},
		"auth_methods": []any{},
		"expires_at":   "2030-01-02T03:04:05Z",
		"access_key":   nil,
	}, path(in, "identity"))

	// Marshalling neither modifies the record nor depends on a previous run.
	assert.JSONEq(t, `{"adminPass": "hunter2"}`, string(rec.Input.Action.Args))
	b1, _ := rec.MarshalJSON()
	b2, _ := rec.MarshalJSON()
	assert.Equal(t, b1, b2)
	assert.NotContains(t, string(b1), "\n")
}

// The record renders the input exactly as policy.Input.Value does.
func TestRecordInputMatchesPolicyValue(t *testing.T) {
	for name, in := range map[string]*policy.Input{
		"full":    testInput(),
		"minimal": {Request: policy.Request{Method: "GET"}},
		"no project, AK/SK": {Operation: "server.read", Identity: &policy.Identity{Method: "aksk", AccessKey: "AK1"},
			Action: &policy.Action{Name: "lock"}},
	} {
		t.Run(name, func(t *testing.T) {
			if in.Action != nil && in.Action.Name == "changePassword" {
				in.Action.Args = []byte(`{"type":"HARD"}`) // nothing to mask
			}
			val, err := in.Value()
			require.NoError(t, err)
			got := decode(t, &Record{Input: in})
			assert.JSONEq(t, val.String(), mustJSON(t, got["input"]))
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestRecordRejectedAndError(t *testing.T) {
	rec := &Record{
		DecisionID: "d-2",
		Rejected:   "bad_method",
		Status:     404,
		Input:      &policy.Input{Request: policy.Request{Method: "PATCH", Path: "/v2.1/servers"}},
		Err:        strings.Repeat("é", 1000),
		Timestamp:  time.Unix(0, 0),
	}
	m := decode(t, rec)
	assert.Equal(t, "bad_method", m["rejected"])
	assert.Equal(t, 404.0, m["status"])
	assert.NotContains(t, m, "result")
	assert.NotContains(t, m, "bundles")
	assert.NotContains(t, m, "trace_id")
	assert.NotContains(t, m, "masked")
	assert.Equal(t, map[string]any{}, m["labels"])
	assert.Equal(t, "1970-01-01T00:00:00Z", m["timestamp"])
	assert.LessOrEqual(t, len(m["error"].(string)), maxErrLen+len("…"))
	assert.True(t, strings.HasSuffix(m["error"].(string), "é…"), "cut on a rune boundary")

	m = decode(t, &Record{DecisionID: "d-3"})
	assert.NotContains(t, m, "input")
}

func TestMaskArgs(t *testing.T) {
	cases := map[string]struct {
		args   string
		want   string // args after masking
		masked []string
	}{
		"null":            {`null`, `null`, nil},
		"empty":           {``, `null`, nil},
		"no secret":       {`{"type": "SOFT"}`, `{"type":"SOFT"}`, nil},
		"multi-line":      {"{\n  \"type\": \"HARD\"\n}", `{"type":"HARD"}`, nil},
		"changePassword":  {`{"adminPass":"hunter2"}`, `{"adminPass":"[REDACTED]"}`, []string{"/adminPass"}},
		"rescue":          {`{"adminPass":"hunter2","rescue_image_ref":"img"}`, `{"adminPass":"[REDACTED]","rescue_image_ref":"img"}`, []string{"/adminPass"}},
		"evacuate":        {`{"host":"h","adminPass":"hunter2"}`, `{"adminPass":"[REDACTED]","host":"h"}`, []string{"/adminPass"}},
		"escaped key":     {`{"admin\u0050ass":"hunter2"}`, `{"adminPass":"[REDACTED]"}`, []string{"/adminPass"}},
		"escaped value":   {`{"x":"x\u0032"}`, `{"x":"x2"}`, nil},
		"case":            {`{"ADMINPASS":"hunter2","Admin_Pass":"hunter2"}`, `{"ADMINPASS":"[REDACTED]","Admin_Pass":"[REDACTED]"}`, []string{"/ADMINPASS", "/Admin_Pass"}},
		"password in key": {`{"a":{"old_password":"hunter2","root_password_hash":{"v":"hunter2"}}}`, `{"a":{"old_password":"[REDACTED]","root_password_hash":"[REDACTED]"}}`, []string{"/a/old_password", "/a/root_password_hash"}},
		"rebuild": {
			`{"imageRef":"i","adminPass":"hunter2","user_data":"I2Nsb3VkLWNvbmZpZw==","personality":[{"path":"/etc/x","contents":"aHVudGVyMg=="}],"metadata":{"k":"v"}}`,
			`{"adminPass":"[REDACTED]","imageRef":"i","metadata":{"k":"v"},"personality":[{"contents":"[REDACTED]","path":"/etc/x"}],"user_data":"[REDACTED]"}`,
			[]string{"/adminPass", "/personality/0/contents", "/user_data"},
		},
		"contents elsewhere": {`{"contents":"fine"}`, `{"contents":"fine"}`, nil},
		"native changeos": {
			`{"os-change":{"adminpass":"hunter2","keyname":"k","metadata":{"user_data":"c2VjcmV0"}}}`,
			`{"os-change":{"adminpass":"[REDACTED]","keyname":"k","metadata":{"user_data":"[REDACTED]"}}}`,
			[]string{"/os-change/adminpass", "/os-change/metadata/user_data"},
		},
		"pointer escaping": {`{"a/b~c_password":"x"}`, `{"a/b~c_password":"[REDACTED]"}`, []string{"/a~1b~0c_password"}},
		"numbers kept":     {`{"adminPass":"x","n":12345678901234567890}`, `{"adminPass":"[REDACTED]","n":12345678901234567890}`, []string{"/adminPass"}},
		"invalid":          {`{"adminPass":"hunter2"`, `"[REDACTED]"`, []string{""}},
		"trailing data":    {`{"a":1}}{"adminPass":"hunter2"}`, `"[REDACTED]"`, []string{""}},
		"trailing, pass":   {`{"adminPass":1} x`, `"[REDACTED]"`, []string{""}},
		"invalid utf-8":    {"{\"x\":\"\xff\"}", `{"x":"\ufffd"}`, nil},
		"array root":       {`[{"password":"p"}]`, `[{"password":"[REDACTED]"}]`, []string{"/0/password"}},
		"scalar root":      {`"plain"`, `"plain"`, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, masked := appendMaskedJSON([]byte("prefix:"), json.RawMessage(c.args), "")
			require.True(t, strings.HasPrefix(string(got), "prefix:"))
			assert.JSONEq(t, c.want, string(got[len("prefix:"):]))
			assert.NotContains(t, string(got), "hunter2")
			assert.Equal(t, c.masked, masked)
		})
	}
}

func TestMaskHeaders(t *testing.T) {
	rec := &Record{Input: &policy.Input{Request: policy.Request{Headers: map[string]string{
		"x-user-password": "hunter2", "x-auth-token": policy.Redacted, "accept": "*/*",
	}}}}
	m := decode(t, rec)
	assert.Equal(t, policy.Redacted, path(m, "input", "request", "headers", "x-user-password"))
	assert.Equal(t, []any{"/input/request/headers/x-user-password"}, m["masked"], "already redacted headers are not listed")
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " backslash \ slash /`, "ctl \x00\x01\x1f\x7f tab\t nl\n cr\r",
		"<html> & 'x'", "é ü 日本 🎉", "\u2028\u2029", "bad \xff\xfe utf8 \xe2\x82", "\xed\xa0\x80 surrogate",
	} {
		got := appendString(nil, s)
		var back string
		require.NoError(t, json.Unmarshal(got, &back), "%q → %s", s, got)
		want, _ := json.Marshal(s)
		var wantBack string
		require.NoError(t, json.Unmarshal(want, &wantBack))
		assert.Equal(t, wantBack, back, "%q", s)
		assert.NotContains(t, string(got), "\n")
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a\"b\\c\x00\u2028\xff")
	f.Fuzz(func(t *testing.T, s string) {
		var back string
		if err := json.Unmarshal(appendString(nil, s), &back); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		_ = json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q: got %q want %q", s, back, wantBack)
		}
	})
}

func TestLogPath(t *testing.T) {
	assert.Equal(t, "ecsgate/authz/decision", LogPath("data.ecsgate.authz.decision"))
	assert.Equal(t, "ecsgate/authz/decision", LogPath("ecsgate/authz/decision"))
	assert.Equal(t, `data.x["a.b"]`, LogPath(`data.x["a.b"]`))
}
