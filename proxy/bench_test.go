package proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/stretchr/testify/require"
)

// The whole ecs_policy handler on the request `make bench` sends: POST
// {"unlock": null} with a token whose identity is already cached, a no-op
// next handler. Run: go test -run '^$' -bench ServeHTTP -benchmem ./proxy/
// (bench/README.md).

// benchHandler provisions a handler validating tokens against a stub
// Keystone (the same answers as newFakeKeystone, which needs a *testing.T).
func benchHandler(b *testing.B) *Handler {
	b.Helper()
	ks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("X-Subject-Token")
		body, ok := benchTokenBodies[tok]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("X-Subject-Token", tok)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}))
	b.Cleanup(ks.Close)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	h := &Handler{Keystone: ks.URL + "/v3"}
	// Without a config, ctx.Logger() is a zap development logger opened on
	// os.Stderr; point it at /dev/null so that log lines (one per denial)
	// do not break benchstat's parsing. Encoding them is still measured.
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(b, err)
	b.Cleanup(func() { _ = devnull.Close() })
	stderr := os.Stderr
	os.Stderr = devnull
	err = h.Provision(ctx)
	os.Stderr = stderr
	require.NoError(b, err)
	b.Cleanup(func() { _ = h.Cleanup() })
	require.NoError(b, h.Validate())
	return h
}

var benchTokenBodies = map[string]string{
	"tok-dave":  benchTokenBody(`{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}, {"id": "r3", "name": "ecs_unlocker"}`),
	"tok-alice": benchTokenBody(`{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}`),
}

func benchTokenBody(roles string) string {
	return `{"token": {"methods": ["password"], "expires_at": "2099-01-01T00:00:00.000000Z",
		"user": {"id": "u1", "name": "dave", "domain": {"id": "default", "name": "Default"}},
		"project": {"id": "` + demoProject + `", "name": "demo", "domain": {"id": "default", "name": "Default"}},
		"roles": [` + roles + `]}}`
}

// nopNext stands in for reverse_proxy: it drains the body and answers 202.
type nopNext struct{}

func (nopNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	_, _ = io.Copy(io.Discard, r.Body)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// discardWriter is a reusable ResponseWriter; httptest.ResponseRecorder
// would add its own allocations to every iteration.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// benchRequest returns a prepared request and a function making a fresh copy
// of it (headers and body are consumed or rewritten by the handler).
func benchRequest(token, body string) func() *http.Request {
	tmpl := httptest.NewRequest(http.MethodPost, "/v2.1/"+demoProject+"/servers/"+server1+"/action", nil)
	tmpl.Header.Set("Content-Type", "application/json")
	if token != "" {
		tmpl.Header.Set("X-Auth-Token", token)
	}
	tmpl.Header.Set("User-Agent", "wrk")
	tmpl.Header.Set("Accept", "*/*")
	tmpl = caddyhttp.PrepareRequest(tmpl, caddy.NewReplacer(), nil, &caddyhttp.Server{})
	raw := []byte(body)
	return func() *http.Request {
		r := *tmpl
		r.Header = tmpl.Header.Clone()
		r.Body = io.NopCloser(bytes.NewReader(raw))
		r.ContentLength = int64(len(raw))
		return &r
	}
}

// BenchmarkServeHTTP is the whole handler, identity cached, next a no-op.
func BenchmarkServeHTTP(b *testing.B) {
	for _, bc := range []struct {
		name, token string
		want        int
	}{
		{"allow", "tok-dave", http.StatusAccepted},  // member + ecs_unlocker
		{"deny", "tok-alice", http.StatusForbidden}, // member only
		{"no-token", "", http.StatusForbidden},      // unauthenticated
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := benchHandler(b)
			next := benchRequest(bc.token, `{"unlock": null}`)
			w := &discardWriter{h: http.Header{}}
			// Warm the identity cache.
			require.NoError(b, h.ServeHTTP(w, next(), nopNext{}))
			require.Equal(b, bc.want, w.status)
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.status = 0
				if err := h.ServeHTTP(w, next(), nopNext{}); err != nil || w.status != bc.want {
					b.Fatal(err, w.status)
				}
			}
		})
	}
}

// BenchmarkServeHTTPParallel runs the allowed request on every CPU, as wrk
// does.
func BenchmarkServeHTTPParallel(b *testing.B) {
	h := benchHandler(b)
	next := benchRequest("tok-dave", `{"unlock": null}`)
	require.NoError(b, h.ServeHTTP(&discardWriter{h: http.Header{}}, next(), nopNext{}))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			w.status = 0
			if err := h.ServeHTTP(w, next(), nopNext{}); err != nil || w.status != http.StatusAccepted {
				panic("expected 202")
			}
		}
	})
}

// BenchmarkRequestCopy is the harness's own cost per iteration (copying the
// request template), to subtract from the ServeHTTP figures.
func BenchmarkRequestCopy(b *testing.B) {
	next := benchRequest("tok-dave", `{"unlock": null}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = next()
	}
}
