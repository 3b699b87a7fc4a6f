package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/policy"
)

func decidedFor(t *testing.T, r *http.Request, body string) *decidedRequest {
	t.Helper()
	return newDecidedRequest(r, []byte(body), &policy.Input{Request: policy.Request{ID: "d-1"}}, "rev", nil)
}

// outgoing is what reverse_proxy hands its transport for r: a clone with
// the headers it adds.
func outgoing(r *http.Request, body string) *http.Request {
	out := r.Clone(r.Context())
	out.Header["X-Forwarded-For"] = []string{"192.0.2.1"}
	out.Header["X-Forwarded-Proto"] = []string{"http"}
	out.Header["X-Forwarded-Host"] = []string{"gw"}
	out.Header["Via"] = []string{"1.1 Caddy"}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""}
	}
	out.Body = io.NopCloser(strings.NewReader(body))
	out.ContentLength = int64(len(body))
	return out
}

func TestVerifyAcceptsTheDecidedRequest(t *testing.T) {
	const body = `{"unlock": null}`
	r := httptest.NewRequest(http.MethodPost, "/v2.1/p/servers/s/action?x=%2F", strings.NewReader(body))
	r.Header.Set("X-Auth-Token", "tok")
	r.Header.Set("Content-Type", "application/json")
	d := decidedFor(t, r, body)
	out := outgoing(r, body)
	require.Nil(t, d.verify(out))
	got, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	assert.Equal(t, body, string(got), "the body is there to send after the check")
	again, err := out.GetBody()
	require.NoError(t, err)
	got, _ = io.ReadAll(again)
	assert.Equal(t, body, string(got), "and for a retry")
}

func TestVerifyRefusesEveryChange(t *testing.T) {
	const body = `{"unlock": null}`
	for name, tc := range map[string]struct {
		change func(*http.Request)
		reason string
	}{
		"method":           {func(o *http.Request) { o.Method = http.MethodPut }, "method"},
		"path":             {func(o *http.Request) { o.URL.Path = "/v2.1/p/servers/t/action" }, "target"},
		"query":            {func(o *http.Request) { o.URL.RawQuery = "x=1" }, "target"},
		"escaping":         {func(o *http.Request) { o.URL.RawPath = "/v2.1/p/servers/%73/action" }, "target"},
		"token replaced":   {func(o *http.Request) { o.Header.Set("X-Auth-Token", "other") }, "header"},
		"token removed":    {func(o *http.Request) { o.Header.Del("X-Auth-Token") }, "header"},
		"token added":      {func(o *http.Request) { o.Header.Set("X-Storage-Token", "other") }, "header"},
		"microversion":     {func(o *http.Request) { o.Header.Set("Openstack-Api-Version", "compute 2.1") }, "header"},
		"second value":     {func(o *http.Request) { o.Header.Add("Content-Type", "text/plain") }, "header"},
		"upgrade":          {func(o *http.Request) { o.Header.Set("Connection", "Upgrade"); o.Header.Set("Upgrade", "websocket") }, "header"},
		"user agent set":   {func(o *http.Request) { o.Header.Set("User-Agent", "x") }, "header"},
		"body":             {func(o *http.Request) { o.Body = io.NopCloser(strings.NewReader(`{"lock": null}  `)) }, "body"},
		"body same length": {func(o *http.Request) { o.Body = io.NopCloser(strings.NewReader(`{"lock":   null}`)) }, "body"},
		"body dropped":     {func(o *http.Request) { o.Body, o.ContentLength = nil, 0 }, "body"},
		"chunked":          {func(o *http.Request) { o.TransferEncoding = []string{"chunked"} }, "framing"},
		"trailers":         {func(o *http.Request) { o.Trailer = http.Header{"X-Auth-Token": {"x"}} }, "framing"},
		"length":           {func(o *http.Request) { o.ContentLength = -1 }, "body"},
	} {
		t.Run(name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v2.1/p/servers/s/action", strings.NewReader(body))
			r.Header.Set("X-Auth-Token", "tok")
			r.Header.Set("Content-Type", "application/json")
			d := decidedFor(t, r, body)
			out := outgoing(r, body)
			tc.change(out)
			m := d.verify(out)
			require.NotNil(t, m)
			assert.Equal(t, tc.reason, m.reason)
			assert.NotContains(t, m.Error(), "tok", "never a header value")
		})
	}
}

func TestSnapshotIsNotAffectedByLaterHandlers(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/v2.1/servers", nil)
	r.Header.Set("X-Auth-Token", "tok")
	d := decidedFor(t, r, "")
	r.Header.Set("X-Auth-Token", "admin") // a request_header after ecs_policy
	m := d.verify(outgoing(r, ""))
	require.NotNil(t, m)
	assert.Equal(t, "header", m.reason)
}
