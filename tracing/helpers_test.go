package tracing

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/policy"
)

const secret = "hunter2"

// testInput is a changePassword request with every field set; its headers
// are redacted as the classifier leaves them and its args carry a password.
func testInput() *policy.Input {
	return &policy.Input{
		Request: policy.Request{
			ID:     "req-1",
			Method: http.MethodPost,
			Path:   "/v2.1/p1/servers/s1/action",
			Query:  "",
			Headers: policy.Headers(http.Header{
				"X-Auth-Token":           {"gAAAAAsecret-token"},
				"Content-Type":           {"application/json"},
				"Openstack-Api-Version":  {"compute 2.79"},
				"X-Openstack-Request-Id": {"req-abc"},
			}),
			RemoteIP: "192.0.2.7",
		},
		API:       policy.API{Family: "nova", Version: "v2.1", Microversion: "2.79", Route: "/servers/{server_id}/action"},
		Operation: "server.action",
		Action:    &policy.Action{Name: "changePassword", Args: json.RawMessage(`{"adminPass": "` + secret + `"}`)},
		ServerIDs: []string{"s1"},
		ProjectID: "p1",
		Identity: &policy.Identity{
			Method:    "token",
			User:      policy.Scope{ID: "u1", Name: "alice", Domain: policy.Ref{ID: "default", Name: "Default"}},
			Project:   &policy.Scope{ID: "p1", Name: "proj", Domain: policy.Ref{ID: "default", Name: "Default"}},
			Roles:     []string{"member", "reader"},
			ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		},
	}
}

func testRecord(id string) *Record {
	return &Record{
		DecisionID:       id,
		Path:             "data.ecsgate.authz.decision",
		Revision:         "sha256:abc",
		Input:            testInput(),
		Result:           &policy.Decision{Allow: false, Reasons: []string{"changePassword is admin-only"}, Status: 403},
		Status:           403,
		RemoteIP:         "192.0.2.7",
		Timestamp:        time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600)),
		EvalDuration:     42 * time.Microsecond,
		IdentityDuration: 3 * time.Microsecond,
		TotalDuration:    60 * time.Microsecond,
		IdentityCacheHit: true,
		Labels:           Labels("inst-1", "v0.1.0"),
	}
}

// decode marshals rec and decodes it generically.
func decode(t testing.TB, rec *Record) map[string]any {
	t.Helper()
	b, err := rec.MarshalJSON()
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), string(b))
	return m
}

// path walks a decoded JSON document.
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Sprintf("<not an object at %q>", k)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				return fmt.Sprintf("<no element %d>", k)
			}
			v = a[k]
		}
	}
	return v
}
