package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	demoProject  = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	otherProject = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	server1      = "c0ffee00-0000-4000-8000-000000000001"
	server2      = "c0ffee00-0000-4000-8000-000000000002"
)

// fakeKeystone answers token validation like Keystone 22: 200 with the token
// body for known tokens, 404 for the rest, or 503 when down is set.
type fakeKeystone struct {
	*httptest.Server
	down  atomic.Bool
	calls atomic.Int32
}

var tokenRoles = map[string][]string{
	"tok-alice": {"member", "reader"},
	"tok-dave":  {"member", "reader", "ecs_unlocker"},
	"tok-carol": {"reader"},
	"tok-admin": {"admin", "member", "reader"},
}

func newFakeKeystone(t *testing.T) *fakeKeystone {
	fk := &fakeKeystone{}
	fk.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fk.calls.Add(1)
		if fk.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		tok := r.Header.Get("X-Subject-Token")
		roles, ok := tokenRoles[tok]
		if !ok || r.Header.Get("X-Auth-Token") != tok || r.URL.Path != "/v3/auth/tokens" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error": {"code": 404, "title": "Not Found", "message": "Could not recognize Fernet token"}}`)
			return
		}
		var rs []map[string]string
		for i, name := range roles {
			rs = append(rs, map[string]string{"id": strings.Repeat(string(rune('a'+i)), 32), "name": name})
		}
		body, _ := json.Marshal(map[string]any{"token": map[string]any{
			"methods":    []string{"password"},
			"user":       map[string]any{"id": "u-" + strings.TrimPrefix(tok, "tok-"), "name": strings.TrimPrefix(tok, "tok-"), "domain": map[string]string{"id": "default", "name": "Default"}},
			"project":    map[string]any{"id": demoProject, "name": "demo", "domain": map[string]string{"id": "default", "name": "Default"}},
			"roles":      rs,
			"expires_at": time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z"),
			"issued_at":  time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"),
		}})
		w.Header().Set("X-Subject-Token", tok)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(fk.Close)
	return fk
}

func newHandler(t *testing.T, h *Handler) *Handler {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	require.NoError(t, h.Provision(ctx))
	require.NoError(t, h.Validate())
	return h
}

// upstream records what the next handler (reverse_proxy) would forward.
type upstream struct {
	calls  int
	body   []byte
	header http.Header
	length int64
	te     []string
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	u.calls++
	u.header = r.Header.Clone()
	u.length = r.ContentLength
	u.te = r.TransferEncoding
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	u.body = b
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func serve(t *testing.T, h *Handler, req *http.Request) (*httptest.ResponseRecorder, *upstream) {
	t.Helper()
	req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), nil, &caddyhttp.Server{})
	rec := httptest.NewRecorder()
	up := &upstream{}
	require.NoError(t, h.ServeHTTP(rec, req, up))
	return rec, up
}

func actionRequest(token, project, server, body string) *http.Request {
	path := "/v2.1/servers/" + server + "/action"
	if project != "" {
		path = "/v2.1/" + project + "/servers/" + server + "/action"
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	return req
}

type novaFault map[string]struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func decodeFault(t *testing.T, rec *httptest.ResponseRecorder) (string, int, string) {
	t.Helper()
	var f novaFault
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &f), rec.Body.String())
	require.Len(t, f, 1, rec.Body.String())
	for name, v := range f {
		return name, v.Code, v.Message
	}
	return "", 0, ""
}

func TestAllowedUnlockIsForwardedByteForByte(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})

	body := `{ "unl\u006fck" :  {"note": "caf\u00e9 ☕"} }`
	rec, up := serve(t, h, actionRequest("tok-dave", demoProject, server1, body))

	assert.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Equal(t, 1, up.calls)
	assert.Equal(t, []byte(body), up.body, "the upstream gets the exact bytes")
	assert.Equal(t, int64(len(body)), up.length)
	assert.Empty(t, up.te)
	assert.Len(t, rec.Header().Get(HeaderDecisionID), 36)
}

func TestChunkedBodyIsReframedWithContentLength(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	req := actionRequest("tok-dave", "", server1, `{"lock": null}`)
	req.ContentLength = -1
	req.TransferEncoding = []string{"chunked"}

	rec, up := serve(t, h, req)
	assert.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	assert.Equal(t, int64(14), up.length)
	assert.Empty(t, up.te)
	assert.Empty(t, up.header.Get("Transfer-Encoding"))
}

func TestDeniedUnlockNeverReachesUpstream(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})

	rec, up := serve(t, h, actionRequest("tok-alice", demoProject, server1, `{"unlock": null}`))

	assert.Equal(t, 0, up.calls)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	name, code, msg := decodeFault(t, rec)
	assert.Equal(t, "forbidden", name)
	assert.Equal(t, 403, code)
	assert.Equal(t, "Denied by ecsgate policy: unlock on server "+server1+" requires role ecs_unlocker or admin (caller has: member, reader)", msg)
	assert.Equal(t, "application/json; charset=UTF-8", rec.Header().Get("Content-Type"))
	reqID := rec.Header().Get("X-Openstack-Request-Id")
	assert.Regexp(t, `^req-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, reqID)
	assert.Equal(t, reqID, rec.Header().Get("X-Compute-Request-Id"))
	assert.Equal(t, "compute 2.1", rec.Header().Get("Openstack-Api-Version"))
	assert.NotEmpty(t, rec.Header().Get(HeaderDecisionID))
}

func TestDenialsAreNever401(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	for _, token := range []string{"", "tok-unknown"} {
		rec, up := serve(t, h, actionRequest(token, "", server1, `{"lock": null}`))
		assert.Equal(t, http.StatusForbidden, rec.Code)
		assert.Equal(t, 0, up.calls)
		_, _, msg := decodeFault(t, rec)
		assert.Contains(t, msg, "authentication required")
	}
}

func TestProjectMismatchDenied(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	rec, up := serve(t, h, actionRequest("tok-admin", otherProject, server1, `{"lock": null}`))
	assert.Equal(t, http.StatusForbidden, rec.Code)
	assert.Equal(t, 0, up.calls)
}

func TestNativeDenialUsesECSFormat(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	req := httptest.NewRequest(http.MethodPost, "/v1/"+demoProject+"/cloudservers/action",
		strings.NewReader(`{"os-stop": {"type": "HARD", "servers": [{"id": "`+server1+`"}, {"id": "`+server2+`"}]}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Auth-Token", "tok-carol")

	rec, up := serve(t, h, req)
	assert.Equal(t, 0, up.calls)
	assert.Equal(t, http.StatusForbidden, rec.Code)
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	assert.Equal(t, "Ecs.0003", body.Error.Code)
	assert.Contains(t, body.Error.Message, server1+", "+server2)
	assert.NotEmpty(t, rec.Header().Get("X-Request-Id"))
	assert.Empty(t, rec.Header().Get("X-Compute-Request-Id"))
}

func TestErrorFormatOverride(t *testing.T) {
	h := newHandler(t, &Handler{ErrorFormat: FormatECS})
	rec, _ := serve(t, h, actionRequest("", "", server1, `{"lock": null}`))
	assert.Contains(t, rec.Body.String(), `"Ecs.0003"`)
}

func TestMalformedInputRejectedInNovaFormat(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	cases := map[string]struct {
		body   string
		status int
		fault  string
	}{
		"two keys":       {`{"lock": null, "unlock": null}`, 400, "badRequest"},
		"unknown action": {`{"Unlock": null}`, 400, "badRequest"},
		"invalid json":   {`{"unlock": }`, 400, "badRequest"},
		"null body":      {`null`, 404, "itemNotFound"},
		"bad utf-8":      {"{\"unlock\": \"\xff\"}", 400, "badRequest"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rec, up := serve(t, h, actionRequest("tok-admin", "", server1, tc.body))
			assert.Equal(t, 0, up.calls)
			assert.Equal(t, tc.status, rec.Code)
			fault, code, _ := decodeFault(t, rec)
			assert.Equal(t, tc.fault, fault)
			assert.Equal(t, tc.status, code)
			assert.NotEmpty(t, rec.Header().Get(HeaderDecisionID))
		})
	}
}

func TestBodyLimits(t *testing.T) {
	h := newHandler(t, &Handler{MaxBody: 64})
	big := `{"lock": {"locked_reason": "` + strings.Repeat("x", 100) + `"}}`

	rec, up := serve(t, h, actionRequest("tok-admin", "", server1, big))
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Equal(t, 0, up.calls)
	fault, _, _ := decodeFault(t, rec)
	assert.Equal(t, "overLimit", fault)

	req := actionRequest("tok-admin", "", server1, big)
	req.ContentLength = -1
	rec, up = serve(t, h, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code, "without Content-Length the limit applies while reading")
	assert.Equal(t, 0, up.calls)
}

type failingReader struct{ r io.Reader }

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errors.New("client went away")
	}
	return n, err
}

func TestTruncatedBodyIsNotForwarded(t *testing.T) {
	h := newHandler(t, &Handler{})
	req := actionRequest("tok-admin", "", server1, "")
	req.Body = io.NopCloser(&failingReader{r: strings.NewReader(`{"unlock"`)})
	req.ContentLength = 16
	rec, up := serve(t, h, req)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, 0, up.calls)

	req = actionRequest("tok-admin", "", server1, `{"lock": null}`)
	req.ContentLength = 40 // the client promised more than it sent
	rec, up = serve(t, h, req)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, 0, up.calls)
}

func TestKeystoneUnavailableIs503AndNothingForwarded(t *testing.T) {
	fk := newFakeKeystone(t)
	fk.down.Store(true)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	rec, up := serve(t, h, actionRequest("tok-admin", "", server1, `{"unlock": null}`))
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, 0, up.calls)
	fault, _, _ := decodeFault(t, rec)
	assert.Equal(t, "serviceUnavailable", fault)
}

func TestSpoofedIdentityHeadersAreStripped(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	req := actionRequest("tok-dave", "", server1, `{"lock": null}`)
	req.Header.Set("X-Roles", "admin")
	req.Header.Set("X-Identity-Status", "Confirmed")
	req.Header.Set("X-Project-Id", otherProject)
	rec, up := serve(t, h, req)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	assert.Empty(t, up.header.Get("X-Roles"))
	assert.Empty(t, up.header.Get("X-Identity-Status"))
	assert.Empty(t, up.header.Get("X-Project-Id"))
	assert.Equal(t, "tok-dave", up.header.Get("X-Auth-Token"), "the token itself still goes upstream")
}

func TestIdentityCachedAcrossRequests(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	for range 5 {
		rec, _ := serve(t, h, actionRequest("tok-dave", "", server1, `{"lock": null}`))
		require.Equal(t, http.StatusAccepted, rec.Code)
	}
	assert.Equal(t, int32(1), fk.calls.Load())
}

func TestAKSKRequests(t *testing.T) {
	h := newHandler(t, &Handler{})
	sig := "SDK-HMAC-SHA256 Access=AKDEMO, SignedHeaders=x-project-id;x-sdk-date, Signature=" + strings.Repeat("ab", 32)

	req := httptest.NewRequest(http.MethodGet, "/v1/"+demoProject+"/cloudservers/"+server1, nil)
	req.Header.Set("Authorization", sig)
	req.Header.Set("X-Sdk-Date", "20261128T050000Z")
	req.Header.Set("X-Project-Id", demoProject)
	rec, up := serve(t, h, req)
	assert.Equal(t, http.StatusAccepted, rec.Code, "an unmapped access key may read")
	assert.Equal(t, demoProject, up.header.Get("X-Project-Id"), "a signed X-Project-Id is kept")
	assert.Equal(t, sig, up.header.Get("Authorization"), "signed material is never modified")

	req = httptest.NewRequest(http.MethodGet, "/v1/"+demoProject+"/cloudservers/"+server1, nil)
	req.Header.Set("Authorization", "SDK-HMAC-SHA256 Access=AK, Access=AK2, SignedHeaders=x-sdk-date, Signature="+strings.Repeat("ab", 32))
	rec, up = serve(t, h, req)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Equal(t, 0, up.calls)

	req = httptest.NewRequest(http.MethodGet, "/v2.1/servers/"+server1, nil)
	req.Header.Set("Authorization", sig)
	req.Header.Set("X-Auth-Token", "tok-dave")
	rec, up = serve(t, h, req)
	assert.Equal(t, http.StatusBadRequest, rec.Code, "two credentials are ambiguous")
	assert.Equal(t, 0, up.calls)
}

func TestCustomPolicyHeadersAndStatus(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, writeFile(dir+"/p.rego", `package custom
decision := {"allow": false, "reasons": ["maintenance window"], "status": 429, "headers": {"Retry-After": "60"}}`))
	h := newHandler(t, &Handler{Policy: []string{dir}, Decision: "data.custom.decision"})
	rec, up := serve(t, h, actionRequest("", "", server1, `{"lock": null}`))
	assert.Equal(t, 0, up.calls)
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "60", rec.Header().Get("Retry-After"))
	fault, _, msg := decodeFault(t, rec)
	assert.Equal(t, "overLimit", fault)
	assert.Equal(t, "Denied by ecsgate policy: maintenance window", msg)
}

func TestProvisionErrors(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	err := (&Handler{Policy: []string{"/nonexistent/policy.rego"}}).Provision(ctx)
	require.ErrorContains(t, err, "/nonexistent/policy.rego")

	require.ErrorContains(t, (&Handler{Keystone: "ftp://x"}).Provision(ctx), "keystone")

	h := &Handler{ErrorFormat: "xml"}
	require.NoError(t, h.Provision(ctx))
	require.ErrorContains(t, h.Validate(), "error_format")
}

func writeFile(path, content string) error {
	return osWriteFile(path, bytes.NewBufferString(content).Bytes())
}

type failingUpstream struct{ status int }

func (f failingUpstream) ServeHTTP(http.ResponseWriter, *http.Request) error {
	return caddyhttp.Error(f.status, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"))
}

func TestUpstreamFailureAnsweredInNovaFormat(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	req := caddyhttp.PrepareRequest(actionRequest("tok-dave", "", server1, `{"lock": null}`), caddy.NewReplacer(), nil, &caddyhttp.Server{})
	rec := httptest.NewRecorder()
	require.NoError(t, h.ServeHTTP(rec, req, failingUpstream{status: http.StatusBadGateway}))
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	fault, code, msg := decodeFault(t, rec)
	assert.Equal(t, "computeFault", fault)
	assert.Equal(t, 502, code)
	assert.NotContains(t, msg, "127.0.0.1", "internal addresses stay in the log")
	assert.NotEmpty(t, rec.Header().Get("X-Compute-Request-Id"))
}

type partialUpstream struct{}

func (partialUpstream) ServeHTTP(w http.ResponseWriter, _ *http.Request) error {
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, `{"servers": [`)
	return caddyhttp.Error(http.StatusBadGateway, errors.New("upstream went away mid-body"))
}

func TestUpstreamFailureAfterResponseStartedIsNotRewritten(t *testing.T) {
	h := newHandler(t, &Handler{Policy: []string{writeAllowAll(t)}, Decision: "data.t.allow"})
	req := caddyhttp.PrepareRequest(httptest.NewRequest(http.MethodGet, "/v2.1/servers", nil), caddy.NewReplacer(), nil, &caddyhttp.Server{})
	rec := httptest.NewRecorder()
	err := h.ServeHTTP(rec, req, partialUpstream{})
	require.Error(t, err, "the error goes back to Caddy, which aborts the connection")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, `{"servers": [`, rec.Body.String())
}

func writeAllowAll(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, writeFile(dir+"/p.rego", "package t\nallow := true\n"))
	return dir
}
