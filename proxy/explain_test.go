package proxy

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/internal/identity"
	"github.com/ecsgate/ecsgate/policy"
	"github.com/ecsgate/ecsgate/tracing"
)

// captureSink keeps every decision record the handler writes.
type captureSink struct {
	mu      sync.Mutex
	records []*tracing.Record
}

func (s *captureSink) Enqueue(r *tracing.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, r)
	return nil
}

func (s *captureSink) Close() error { return nil }

func (s *captureSink) last(t *testing.T) *tracing.Record {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NotEmpty(t, s.records)
	return s.records[len(s.records)-1]
}

// inputJSON renders an input without the parts that differ per request by
// design (decision id, client address).
func inputJSON(t *testing.T, in *policy.Input) string {
	t.Helper()
	cp := *in
	cp.Request.ID, cp.Request.RemoteIP = "", ""
	b, err := json.Marshal(cp)
	require.NoError(t, err)
	return string(b)
}

// BuildInput repeats Handler.decide's steps rather than sharing its code
// (serve.go is not to be restructured for it); this keeps the two from
// drifting apart: for each request, the input and refusal BuildInput
// reports are the ones ServeHTTP records.
func TestBuildInputMatchesServeHTTP(t *testing.T) {
	fk := newFakeKeystone(t)
	sig := "SDK-HMAC-SHA256 Access=AKDEMO, SignedHeaders=x-project-id;x-sdk-date, Signature=" + strings.Repeat("ab", 32)
	with := func(req *http.Request, kv ...string) *http.Request {
		for i := 0; i < len(kv); i += 2 {
			req.Header.Add(kv[i], kv[i+1])
		}
		return req
	}
	cases := []struct {
		name    string
		req     func() *http.Request
		down    bool
		refused string
	}{
		{name: "allowed unlock", req: func() *http.Request {
			return actionRequest("tok-dave", demoProject, server1, `{"unlock": null}`)
		}},
		{name: "denied unlock", req: func() *http.Request {
			return actionRequest("tok-alice", demoProject, server1, `{"unlock": null}`)
		}},
		{name: "unknown token", req: func() *http.Request {
			return actionRequest("tok-nobody", "", server1, `{"lock": null}`)
		}},
		{name: "hop-by-hop and spoofable headers", req: func() *http.Request {
			return with(actionRequest("tok-alice", demoProject, server1, `{"lock": null}`),
				"Connection", "close, Keep-Alive", "Keep-Alive", "timeout=5", "X-Roles", "admin",
				"Te", "trailers, deflate", "Openstack-Api-Version", "compute 2.60")
		}},
		{name: "aksk", req: func() *http.Request {
			return with(httptest.NewRequest(http.MethodGet, "/v2.1/servers", nil),
				"Authorization", sig, "X-Project-Id", demoProject, "X-Sdk-Date", "20260101T000000Z")
		}},
		{name: "read without credential", req: func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/v2.1/servers/"+server1+"?a=b", nil)
		}},
		{name: "method override", refused: "method_override", req: func() *http.Request {
			return actionRequest("tok-alice", demoProject, server1+"?_method=DELETE", `{"lock": null}`)
		}},
		{name: "connection names a token", refused: "connection_header", req: func() *http.Request {
			return with(actionRequest("tok-dave", demoProject, server1, `{"unlock": null}`), "Connection", "X-Auth-Token")
		}},
		{name: "upgrade", refused: "upgrade", req: func() *http.Request {
			return with(httptest.NewRequest(http.MethodGet, "/v2.1/servers", nil), "Upgrade", "websocket")
		}},
		{name: "service token", refused: "service_token", req: func() *http.Request {
			return with(actionRequest("tok-dave", "", server1, `{"lock": null}`), "X-Service-Token", "tok-admin")
		}},
		{name: "declared trailers", refused: "trailers", req: func() *http.Request {
			req := actionRequest("tok-dave", "", server1, `{"lock": null}`)
			req.Trailer = http.Header{"X-Auth-Token": nil}
			return req
		}},
		{name: "body too large", refused: "body", req: func() *http.Request {
			return actionRequest("tok-dave", "", server1, `{"lock": "`+strings.Repeat("x", DefaultMaxBody)+`"}`)
		}},
		{name: "identity service down", refused: "identity", down: true, req: func() *http.Request {
			return actionRequest("tok-dave", "", server1, `{"lock": null}`)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fk.down.Store(tc.down)
			defer fk.down.Store(false)

			h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
			sink := &captureSink{}
			h.recorder = tracing.NewRecorder(nil, sink)
			serve(t, h, tc.req())
			want := sink.last(t)

			ks, err := identity.NewKeystone(identity.KeystoneOptions{BaseURL: fk.URL + "/v3"})
			require.NoError(t, err)
			in, refusal, err := BuildInput(t.Context(), tc.req(), InputOptions{DecisionID: "id", Keystone: ks})
			require.NoError(t, err)

			assert.Equal(t, inputJSON(t, want.Input), inputJSON(t, in))
			assert.Equal(t, "id", in.Request.ID)
			if tc.refused == "" {
				assert.Nil(t, refusal)
				assert.Empty(t, want.Rejected)
				return
			}
			require.NotNil(t, refusal)
			assert.Equal(t, tc.refused, want.Rejected)
			assert.Equal(t, want.Rejected, refusal.Reason)
			assert.Equal(t, *want.Result, refusal.Decision)
		})
	}
}

func TestBuildInputReplacesIdentity(t *testing.T) {
	dave := &policy.Identity{Method: "token", User: policy.Scope{ID: "u-dave", Name: "dave"}, Roles: []string{"member"}}
	in, refusal, err := BuildInput(t.Context(), actionRequest("tok-whatever", demoProject, server1, `{"unlock": null}`),
		InputOptions{ReplaceIdentity: true, Identity: dave})
	require.NoError(t, err)
	require.Nil(t, refusal)
	assert.Same(t, dave, in.Identity)
	assert.Equal(t, policy.Redacted, in.Request.Headers["x-auth-token"])

	// The credential headers are still judged: an ambiguous pair is
	// refused whatever identity stands in.
	req := actionRequest("tok-a", demoProject, server1, `{"unlock": null}`)
	req.Header.Set("X-Storage-Token", "tok-b")
	in, refusal, err = BuildInput(t.Context(), req, InputOptions{ReplaceIdentity: true, Identity: dave})
	require.NoError(t, err)
	require.NotNil(t, refusal)
	assert.Equal(t, "ambiguous_credentials", refusal.Reason)
	assert.Nil(t, in.Identity)
}

func TestBuildInputRejectsBadMicroversion(t *testing.T) {
	_, _, err := BuildInput(t.Context(), httptest.NewRequest(http.MethodGet, "/v2.1/servers", nil),
		InputOptions{MaxMicroversion: "3.0"})
	assert.ErrorContains(t, err, "max_microversion")
}
