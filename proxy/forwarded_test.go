package proxy

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestConnectionMayNameOnlyHopByHopHeaders(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	for _, conn := range []string{
		"close, X-Auth-Token",
		"X-Storage-Token",
		"keep-alive, OpenStack-API-Version",
		"X-OpenStack-Nova-API-Version",
		"Content-Type",
		"Authorization",
		"X-Project-Id",
		"X-Anything",
		"close,X-Auth-Token ",
	} {
		t.Run(conn, func(t *testing.T) {
			req := actionRequest("tok-dave", demoProject, server1, `{"unlock": null}`)
			req.Header.Set("X-Storage-Token", "tok-dave")
			req.Header.Set("Connection", conn)
			rec, up := serve(t, h, req)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Zero(t, up.calls, "nothing forwarded")
			name, _, msg := decodeFault(t, rec)
			assert.Equal(t, "badRequest", name)
			assert.Contains(t, msg, "Connection header")
		})
	}
}

func TestHopByHopHeadersAreRemovedBeforeTheDecision(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	req := actionRequest("tok-dave", demoProject, server1, `{"unlock": null}`)
	req.Header.Set("Connection", "keep-alive, close")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("Proxy-Authorization", "Basic Zm9vOmJhcg==")
	req.Header.Set("Alt-Svc", "h3=\":443\"")
	req.Header.Set("Te", "trailers, deflate")
	rec, up := serve(t, h, req)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	for _, name := range hopByHopHeaders {
		if name == "Te" {
			continue
		}
		assert.NotContains(t, up.header, name)
	}
	// reverse_proxy keeps "Te: trailers" (and only that); so does the input.
	assert.Equal(t, []string{"trailers"}, up.header["Te"])
}

// An HTTP/2 request can carry blanks around a value; net/http trims them
// when it writes the HTTP/1.1 request upstream, so the decision must be on
// the trimmed value (found by TestForwardedRequestProperty).
func TestValuesAreDecidedAsWritten(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	req := actionRequest("tok-dave", demoProject, server1, `{"unlock": null}`)
	req.Header["X-Foo"] = []string{" padded\t", "\tsecond "}
	req.Header["Openstack-Api-Version"] = []string{" compute 2.60 "}
	req.Header["Content-Type"] = []string{"application/json "}
	rec, up := serve(t, h, req)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	assert.Equal(t, []string{"padded", "second"}, up.header["X-Foo"])
	assert.Equal(t, []string{"compute 2.60"}, up.header["Openstack-Api-Version"])
	assert.Equal(t, []string{"application/json"}, up.header["Content-Type"])
}

func TestUpgradesAndTunnelsAreRefused(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	for name, mutate := range map[string]func(*http.Request){
		"upgrade header":     func(r *http.Request) { r.Header.Set("Upgrade", "websocket") },
		"connection upgrade": func(r *http.Request) { r.Header.Set("Connection", "Upgrade") },
		"both": func(r *http.Request) {
			r.Header.Set("Connection", "keep-alive, upgrade")
			r.Header.Set("Upgrade", "h2c")
		},
		"empty upgrade":          func(r *http.Request) { r.Header["Upgrade"] = []string{""} },
		"h2 extended connect":    func(r *http.Request) { r.Method = http.MethodConnect; r.Header[":protocol"] = []string{"websocket"} },
		"connect (proxy tunnel)": func(r *http.Request) { r.Method = http.MethodConnect },
	} {
		t.Run(name, func(t *testing.T) {
			req := serverRead("tok-dave")
			mutate(req)
			rec, up := serve(t, h, req)
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.Zero(t, up.calls)
			_, _, msg := decodeFault(t, rec)
			assert.True(t, strings.Contains(msg, "upgrade") || strings.Contains(msg, "CONNECT"), msg)
		})
	}
}

func serverRead(token string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, "http://gw/v2.1/"+demoProject+"/servers/"+server1, nil)
	req.Header.Set("X-Auth-Token", token)
	return req
}

func TestTrailersAreRefused(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})

	declared := actionRequest("tok-dave", demoProject, server1, `{"unlock": null}`)
	declared.Trailer = http.Header{"X-Auth-Token": nil}
	rec, up := serve(t, h, declared)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Zero(t, up.calls)

	// Trailers that arrive with the end of the body (net/http fills them
	// in when the body is read to EOF).
	late := caddyhttp.PrepareRequest(actionRequest("tok-dave", demoProject, server1, `{"unlock": null}`),
		caddy.NewReplacer(), nil, &caddyhttp.Server{})
	late.ContentLength = -1
	late.Body = &trailingBody{r: strings.NewReader(`{"unlock": null}`), req: late}
	rec, up = httptest.NewRecorder(), &upstream{}
	require.NoError(t, h.ServeHTTP(rec, late, up))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Zero(t, up.calls)
	_, _, msg := decodeFault(t, rec)
	assert.Equal(t, "Request trailers are not accepted.", msg)
}

// trailingBody sets the request's trailers when it reaches EOF, as
// net/http's chunked reader does.
type trailingBody struct {
	r   *strings.Reader
	req *http.Request
}

func (b *trailingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil {
		b.req.Trailer = http.Header{"X-Auth-Token": {"tok-alice"}}
	}
	return n, err
}

func (b *trailingBody) Close() error { return nil }

func TestAmbiguousCredentialsAreRefused(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	for name, hdr := range map[string]http.Header{
		"two tokens":             {"X-Auth-Token": {"tok-dave"}, "X-Storage-Token": {"tok-alice"}},
		"empty hides storage":    {"X-Auth-Token": {""}, "X-Storage-Token": {"tok-dave"}},
		"token and signature":    {"X-Storage-Token": {"tok-dave"}, "Authorization": {"SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature=00"}},
		"service token":          {"X-Auth-Token": {"tok-dave"}, "X-Service-Token": {"tok-admin"}},
		"repeated storage token": {"X-Storage-Token": {"tok-dave", "tok-dave"}},
	} {
		t.Run(name, func(t *testing.T) {
			req := actionRequest("", demoProject, server1, `{"unlock": null}`)
			for k, v := range hdr {
				req.Header[k] = v
			}
			rec, up := serve(t, h, req)
			assert.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
			assert.Zero(t, up.calls)
		})
	}
}

func TestStorageTokenIsTheCaller(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	req := actionRequest("", demoProject, server1, `{"unlock": null}`)
	req.Header.Set("X-Storage-Token", "tok-alice")
	rec, up := serve(t, h, req)
	assert.Equal(t, http.StatusForbidden, rec.Code, "decided for alice, who lacks ecs_unlocker")
	assert.Zero(t, up.calls)

	req = actionRequest("", demoProject, server1, `{"unlock": null}`)
	req.Header.Set("X-Storage-Token", "tok-dave")
	rec, up = serve(t, h, req)
	assert.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	assert.Equal(t, 1, up.calls)
}

func TestEarlyDataIsMarkedBeforeTheDecision(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	req := serverRead("tok-dave")
	req.TLS = &tls.ConnectionState{HandshakeComplete: false}
	rec, up := serve(t, h, req)
	require.Equal(t, http.StatusAccepted, rec.Code)
	assert.Equal(t, []string{"1"}, up.header["Early-Data"])
}

func TestForwardingWithoutTheWireCheckIsLoggedOnce(t *testing.T) {
	fk := newFakeKeystone(t)
	h := newHandler(t, &Handler{Keystone: fk.URL + "/v3"})
	core, logs := observer.New(zap.WarnLevel)
	h.logger = zap.New(core)
	for range 3 {
		rec, _ := serve(t, h, serverRead("tok-dave"))
		require.Equal(t, http.StatusAccepted, rec.Code)
	}
	assert.Equal(t, 1, logs.FilterMessageSnippet("without the ecs_verified transport").Len(),
		"the fake upstream here is no ecs_verified transport")
}
