package identity

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Tokens look like Fernet tokens; they are distinctive so a leak into an
// error string is easy to spot.
const (
	tokAlice = "gAAAAABpALICEtokenXyZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-aliceEND"
	tokBob   = "gAAAAABpBOBtokenXyZ0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-bobEND"
)

var t0 = time.Date(2026, 11, 28, 4, 28, 54, 0, time.UTC)

// testClock is an injectable, advanceable clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *testClock { return &testClock{now: t0} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// keystoneTime formats like Keystone: microseconds and a literal Z.
func keystoneTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// projectTokenBody is a project-scoped Keystone 22 answer to
// GET /v3/auth/tokens?nocatalog, observed shape (docs/compute-api-facts.md,
// "Keystone tokens and keystonemiddleware").
func projectTokenBody(expires time.Time) string {
	return `{"token": {"methods": ["password"], "user": {"domain": {"id": "default", "name": "Default"},
 "id": "6f3c1e2d4b5a49c8a1e0f9d8c7b6a5f4", "name": "alice", "password_expires_at": null},
 "audit_ids": ["dVlEp9gnQn6JxVNcWrcEzg"], "expires_at": "` + keystoneTime(expires) + `",
 "issued_at": "` + keystoneTime(expires.Add(-time.Hour)) + `",
 "project": {"domain": {"id": "default", "name": "Default"}, "id": "b1c7e9a0d2f34e5b8c6d7e8f9a0b1c2d", "name": "demo"},
 "is_domain": false,
 "roles": [{"id": "9fe2ff9ee4384b1894a90878d3e92bab", "name": "member"}, {"id": "0b3a0bbe2e4c4b7a9d2f3c1e5a6b7c8d", "name": "reader"}]}}`
}

func domainTokenBody(expires time.Time) string {
	return `{"token": {"methods": ["password"], "user": {"domain": {"id": "d0", "name": "Acme"}, "id": "u1", "name": "dom-admin",
 "password_expires_at": null}, "audit_ids": ["x"], "expires_at": "` + keystoneTime(expires) + `", "issued_at": "` + keystoneTime(t0) + `",
 "domain": {"id": "d0", "name": "Acme"}, "roles": [{"id": "r1", "name": "admin"}]}}`
}

func systemTokenBody(expires time.Time) string {
	return `{"token": {"methods": ["password", "totp"], "user": {"domain": {"id": "default", "name": "Default"}, "id": "u0", "name": "admin",
 "password_expires_at": null}, "audit_ids": ["y"], "expires_at": "` + keystoneTime(expires) + `", "issued_at": "` + keystoneTime(t0) + `",
 "system": {"all": true}, "roles": [{"id": "r1", "name": "admin"}, {"id": "r2", "name": "member"}, {"id": "r3", "name": "reader"}]}}`
}

const notFoundBody = `{"error": {"code": 404, "title": "Not Found", "message": "Could not recognize Fernet token"}}`

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// fakeKeystone counts hits and answers with handle (which sees the
// validated token).
type fakeKeystone struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	last   http.Header
	lastRQ string
}

func newFakeKeystone(t testing.TB, handle func(w http.ResponseWriter, r *http.Request, token string)) *fakeKeystone {
	t.Helper()
	f := &fakeKeystone{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		f.mu.Lock()
		f.last = r.Header.Clone()
		f.lastRQ = r.Method + " " + r.URL.RequestURI()
		f.mu.Unlock()
		if r.Method != http.MethodGet || r.URL.Path != "/v3/auth/tokens" {
			writeJSON(w, http.StatusNotFound, `{"error": {"code": 404, "title": "Not Found", "message": "The resource could not be found."}}`)
			return
		}
		subject := r.Header.Get("X-Subject-Token")
		if subject == "" {
			writeJSON(w, http.StatusNotFound, notFoundBody)
			return
		}
		handle(w, r, subject)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeKeystone) lastRequest() (string, http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastRQ, f.last
}

// tokenServer knows tokens → body builders; unknown tokens get 404.
func tokenServer(t *testing.T, tokens map[string]string) *fakeKeystone {
	return newFakeKeystone(t, func(w http.ResponseWriter, r *http.Request, token string) {
		if r.Header.Get("X-Auth-Token") != token {
			writeJSON(w, http.StatusForbidden, `{"error": {"code": 403, "title": "Forbidden", "message": "You are not authorized to perform the requested action: identity:validate_token."}}`)
			return
		}
		body, ok := tokens[token]
		if !ok {
			writeJSON(w, http.StatusNotFound, notFoundBody)
			return
		}
		w.Header().Set("X-Subject-Token", token)
		writeJSON(w, http.StatusOK, body)
	})
}

func newTestKeystone(t *testing.T, baseURL string, clk *testClock, mod ...func(*KeystoneOptions)) *Keystone {
	t.Helper()
	opts := KeystoneOptions{BaseURL: baseURL + "/v3", Now: clk.Now}
	for _, m := range mod {
		m(&opts)
	}
	k, err := NewKeystone(opts)
	require.NoError(t, err)
	return k
}

func TestValidateProjectToken(t *testing.T) {
	clk := newClock()
	exp := t0.Add(24 * time.Hour)
	ks := tokenServer(t, map[string]string{tokAlice: projectTokenBody(exp)})
	k := newTestKeystone(t, ks.URL, clk)

	id, hit, err := k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	require.NotNil(t, id)
	assert.False(t, hit)
	assert.Equal(t, &Identity{
		Method:      MethodToken,
		User:        Scope{ID: "6f3c1e2d4b5a49c8a1e0f9d8c7b6a5f4", Name: "alice", Domain: Ref{ID: "default", Name: "Default"}},
		Project:     Scope{ID: "b1c7e9a0d2f34e5b8c6d7e8f9a0b1c2d", Name: "demo", Domain: Ref{ID: "default", Name: "Default"}},
		Roles:       []string{"member", "reader"},
		AuthMethods: []string{"password"},
		ExpiresAt:   exp,
	}, id)
	assert.True(t, id.ExpiresAt.Equal(exp))

	reqLine, h := ks.lastRequest()
	assert.Equal(t, "GET /v3/auth/tokens?nocatalog", reqLine)
	assert.Equal(t, []string{tokAlice}, h.Values("X-Auth-Token"))
	assert.Equal(t, []string{tokAlice}, h.Values("X-Subject-Token"))
	assert.Equal(t, "application/json", h.Get("Accept"))

	id2, hit, err := k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	assert.True(t, hit)
	assert.Same(t, id, id2)
	assert.EqualValues(t, 1, ks.hits.Load())
}

func TestValidateScopes(t *testing.T) {
	clk := newClock()
	exp := t0.Add(time.Hour)
	ks := tokenServer(t, map[string]string{
		tokAlice: domainTokenBody(exp),
		tokBob:   systemTokenBody(exp),
	})
	k := newTestKeystone(t, ks.URL, clk)

	id, _, err := k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	require.NotNil(t, id)
	assert.Equal(t, Ref{ID: "d0", Name: "Acme"}, id.DomainScope)
	assert.Equal(t, Scope{}, id.Project)
	assert.False(t, id.System)
	assert.Equal(t, []string{"admin"}, id.Roles)
	assert.Equal(t, Scope{ID: "u1", Name: "dom-admin", Domain: Ref{ID: "d0", Name: "Acme"}}, id.User)

	id, _, err = k.Validate(t.Context(), tokBob)
	require.NoError(t, err)
	require.NotNil(t, id)
	assert.True(t, id.System)
	assert.Equal(t, Scope{}, id.Project)
	assert.Equal(t, Ref{}, id.DomainScope)
	assert.Equal(t, []string{"admin", "member", "reader"}, id.Roles)
	assert.Equal(t, []string{"password", "totp"}, id.AuthMethods)
}

func TestValidateUnscopedAndVariants(t *testing.T) {
	clk := newClock()
	cases := map[string]struct {
		body  string
		check func(t *testing.T, id *Identity)
	}{
		"unscoped, no roles": {
			body: `{"token": {"methods": ["password"], "user": {"domain": {"id": "default", "name": "Default"}, "id": "u", "name": "n"}, "expires_at": "2026-11-28T05:28:54.123456Z"}}`,
			check: func(t *testing.T, id *Identity) {
				assert.NotNil(t, id.Roles)
				assert.Empty(t, id.Roles)
				assert.Equal(t, Scope{}, id.Project)
				assert.Equal(t, t0.Add(time.Hour+123456*time.Microsecond), id.ExpiresAt)
			},
		},
		"offset and no fraction": {
			body: `{"token": {"user": {"id": "u"}, "expires_at": "2026-11-28T06:28:54+01:00", "roles": []}}`,
			check: func(t *testing.T, id *Identity) {
				assert.True(t, id.ExpiresAt.Equal(t0.Add(time.Hour)))
			},
		},
		"no zone is UTC": {
			body: `{"token": {"user": {"id": "u"}, "expires_at": "2026-11-28T05:28:54.000000"}}`,
			check: func(t *testing.T, id *Identity) {
				assert.True(t, id.ExpiresAt.Equal(t0.Add(time.Hour)))
			},
		},
		"extra keys (trust, app credential, catalog) ignored": {
			body: `{"token": {"methods": ["application_credential"], "user": {"id": "u", "domain": {"id": "d"}},
			  "application_credential": {"id": "ac", "name": "ci", "restricted": true}, "OS-TRUST:trust": {"id": "t"},
			  "catalog": [{"type": "compute", "endpoints": []}], "is_admin_project": true,
			  "expires_at": "2026-11-28T05:28:54.000000Z", "project": {"id": "p", "name": "pn", "domain": {"id": "d", "name": "dn"}},
			  "roles": [{"id": "r", "name": "member"}]}}`,
			check: func(t *testing.T, id *Identity) {
				assert.Equal(t, "p", id.Project.ID)
				assert.Equal(t, []string{"member"}, id.Roles)
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ks := newFakeKeystone(t, func(w http.ResponseWriter, _ *http.Request, _ string) {
				writeJSON(w, http.StatusOK, tc.body)
			})
			k := newTestKeystone(t, ks.URL, clk)
			id, _, err := k.Validate(t.Context(), tokAlice)
			require.NoError(t, err)
			require.NotNil(t, id)
			assert.Equal(t, MethodToken, id.Method)
			tc.check(t, id)
		})
	}
}

func TestValidateInvalidToken(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{http.StatusNotFound, notFoundBody},
		{http.StatusNotFound, `{"error": {"code": 404, "title": "Not Found", "message": "Could not find token: ` + tokAlice + `."}}`},
		{http.StatusUnauthorized, `{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}`},
		{http.StatusForbidden, `{"error": {"code": 403, "title": "Forbidden", "message": "You are not authorized to perform the requested action: identity:validate_token."}}`},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			ks := newFakeKeystone(t, func(w http.ResponseWriter, r *http.Request, _ string) {
				if tc.status == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Keystone uri="http://`+r.Host+`/v3"`)
				}
				writeJSON(w, tc.status, tc.body)
			})
			k := newTestKeystone(t, ks.URL, newClock())
			id, hit, err := k.Validate(t.Context(), tokAlice)
			require.NoError(t, err)
			assert.Nil(t, id)
			assert.False(t, hit)
		})
	}
}

func TestValidateEmptyAndTrimmed(t *testing.T) {
	clk := newClock()
	ks := tokenServer(t, map[string]string{tokAlice: projectTokenBody(t0.Add(time.Hour))})
	k := newTestKeystone(t, ks.URL, clk)

	for _, empty := range []string{"", "   ", "\t\r\n", "\xa0\x85\x1c"} {
		id, hit, err := k.Validate(t.Context(), empty)
		require.NoError(t, err)
		assert.Nil(t, id)
		assert.False(t, hit)
	}
	assert.Zero(t, ks.hits.Load(), "empty tokens never reach Keystone")

	// Python's str.strip() on the latin-1 header value: NBSP, NEL, FS..US,
	// VT, FF are whitespace too.
	id, hit, err := k.Validate(t.Context(), " \t\xa0\v"+tokAlice+"\x85\x1f \f")
	require.NoError(t, err)
	require.NotNil(t, id)
	assert.False(t, hit)
	_, h := ks.lastRequest()
	assert.Equal(t, tokAlice, h.Get("X-Auth-Token"))
	assert.Equal(t, tokAlice, h.Get("X-Subject-Token"))

	// The trimmed and untrimmed spellings share one cache entry.
	_, hit, err = k.Validate(t.Context(), tokAlice+"\n")
	require.NoError(t, err)
	assert.True(t, hit)

	// A control character inside cannot be a header value: invalid, no call.
	id, _, err = k.Validate(t.Context(), "abc\x00def")
	require.NoError(t, err)
	assert.Nil(t, id)
	assert.EqualValues(t, 1, ks.hits.Load())
}

// unavailableCases are Keystone answers that must give ErrUnavailable. Some
// bodies echo the token to prove it never reaches the error.
func unavailableCases() map[string]func(w http.ResponseWriter, r *http.Request, token string) {
	status := func(code int, body string) func(http.ResponseWriter, *http.Request, string) {
		return func(w http.ResponseWriter, _ *http.Request, token string) {
			writeJSON(w, code, strings.ReplaceAll(body, "TOKEN", token))
		}
	}
	ok := func(body string) func(http.ResponseWriter, *http.Request, string) { return status(http.StatusOK, body) }
	return map[string]func(http.ResponseWriter, *http.Request, string){
		"500": status(500, `{"error": {"code": 500, "title": "Internal Server Error", "message": "token TOKEN broke"}}`),
		"502": status(502, `<html>Bad Gateway TOKEN</html>`),
		"503": status(503, `{"error": {"code": 503}}`),
		"400": status(400, `{"error": {"code": 400, "message": "bad TOKEN"}}`),
		"302 not followed": func(w http.ResponseWriter, r *http.Request, _ string) {
			http.Redirect(w, r, "/v3/auth/tokens?again", http.StatusFound)
		},
		"garbage 200":      ok(`<html>TOKEN</html>`),
		"truncated json":   ok(`{"token": {"user": {"id": "TOKEN"`),
		"trailing garbage": ok(`{"token": {"user": {"id": "u"}, "expires_at": "2026-11-28T05:28:54Z"}} TOKEN`),
		"empty 200":        ok(``),
		"null":             ok(`null`),
		"no token object":  ok(`{"TOKEN": {}}`),
		"token null":       ok(`{"token": null}`),
		"token is string":  ok(`{"token": "TOKEN"}`),
		"no user":          ok(`{"token": {"expires_at": "2026-11-28T05:28:54Z"}}`),
		"user without id":  ok(`{"token": {"user": {"name": "TOKEN"}, "expires_at": "2026-11-28T05:28:54Z"}}`),
		"no expires_at":    ok(`{"token": {"user": {"id": "u"}}}`),
		"bad expires_at":   ok(`{"token": {"user": {"id": "u"}, "expires_at": "TOKEN"}}`),
		"expires number":   ok(`{"token": {"user": {"id": "u"}, "expires_at": 1795000000}}`),
		"project no id":    ok(`{"token": {"user": {"id": "u"}, "expires_at": "2026-11-28T05:28:54Z", "project": {"name": "p"}}}`),
		"domain no id":     ok(`{"token": {"user": {"id": "u"}, "expires_at": "2026-11-28T05:28:54Z", "domain": {"name": "d"}}}`),
		"role no name":     ok(`{"token": {"user": {"id": "u"}, "expires_at": "2026-11-28T05:28:54Z", "roles": [{"id": "r"}]}}`),
		"roles not list":   ok(`{"token": {"user": {"id": "u"}, "expires_at": "2026-11-28T05:28:54Z", "roles": "TOKEN"}}`),
		"oversized":        ok(`{"token": {"user": {"id": "u"}, "expires_at": "2026-11-28T05:28:54Z", "pad": "` + strings.Repeat("x", maxTokenBody) + `"}}`),
	}
}

func TestValidateUnavailable(t *testing.T) {
	for name, handle := range unavailableCases() {
		t.Run(name, func(t *testing.T) {
			ks := newFakeKeystone(t, handle)
			k := newTestKeystone(t, ks.URL, newClock())
			for i := 1; i <= 2; i++ {
				id, hit, err := k.Validate(t.Context(), tokAlice)
				require.ErrorIs(t, err, ErrUnavailable)
				assert.Nil(t, id)
				assert.False(t, hit)
				assertNoToken(t, err, tokAlice)
				assert.EqualValues(t, i, ks.hits.Load(), "failures are not cached")
			}
			assert.Zero(t, k.cache.len())
		})
	}
}

func TestValidateTimeout(t *testing.T) {
	release := make(chan struct{})
	ks := newFakeKeystone(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	k := newTestKeystone(t, ks.URL, newClock(), func(o *KeystoneOptions) { o.Timeout = 50 * time.Millisecond })
	start := time.Now()
	id, _, err := k.Validate(t.Context(), tokAlice)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Nil(t, id)
	assert.Less(t, time.Since(start), 5*time.Second)
	assertNoToken(t, err, tokAlice)
	assert.Zero(t, k.cache.len())
}

func TestValidateConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	k := newTestKeystone(t, "http://"+addr, newClock())
	id, _, err := k.Validate(t.Context(), tokAlice)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.Nil(t, id)
	assertNoToken(t, err, tokAlice)
	assert.Zero(t, k.cache.len())
}

func TestValidateCallerContextDone(t *testing.T) {
	ks := tokenServer(t, map[string]string{tokAlice: projectTokenBody(t0.Add(time.Hour))})
	k := newTestKeystone(t, ks.URL, newClock())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := k.Validate(ctx, tokAlice)
	require.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, ks.hits.Load(), "no call for a request that is already gone")
}

func assertNoToken(t *testing.T, err error, token string) {
	t.Helper()
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		assert.NotContains(t, s, token)
		assert.NotContains(t, s, token[len(token)/2:], "not even part of it")
	}
}

func TestValidateCacheTTLIsMaxTTL(t *testing.T) {
	clk := newClock()
	ks := tokenServer(t, map[string]string{tokAlice: projectTokenBody(t0.Add(24 * time.Hour))})
	k := newTestKeystone(t, ks.URL, clk)

	_, hit, err := k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	require.False(t, hit)

	clk.Advance(5*time.Minute - time.Nanosecond)
	id, hit, err := k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	require.NotNil(t, id)
	assert.True(t, hit, "within MaxTTL")
	assert.EqualValues(t, 1, ks.hits.Load())

	clk.Advance(time.Nanosecond)
	id, hit, err = k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	require.NotNil(t, id)
	assert.False(t, hit, "re-validated once MaxTTL has passed")
	assert.EqualValues(t, 2, ks.hits.Load())

	clk.Advance(time.Minute)
	_, hit, err = k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	assert.True(t, hit, "the fresh entry is cached again")
}

func TestValidateCacheNeverBeyondExpiry(t *testing.T) {
	clk := newClock()
	exp := t0.Add(2 * time.Minute)
	var expired atomic.Bool
	ks := newFakeKeystone(t, func(w http.ResponseWriter, _ *http.Request, _ string) {
		if expired.Load() {
			writeJSON(w, http.StatusNotFound, `{"error": {"code": 404, "title": "Not Found", "message": "Failed to validate token"}}`)
			return
		}
		writeJSON(w, http.StatusOK, projectTokenBody(exp))
	})
	k := newTestKeystone(t, ks.URL, clk)

	id, _, err := k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	require.NotNil(t, id)

	clk.Advance(2*time.Minute - time.Nanosecond)
	id, hit, err := k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	require.NotNil(t, id)
	assert.True(t, hit)

	clk.Advance(time.Nanosecond) // exactly expires_at
	expired.Store(true)
	id, hit, err = k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	assert.Nil(t, id, "an expired identity is never returned")
	assert.False(t, hit)
	assert.EqualValues(t, 2, ks.hits.Load())
}

func TestCacheGetRechecksIdentityExpiry(t *testing.T) {
	// Even an entry whose lifetime is (wrongly) longer than the token's is
	// not returned past expires_at.
	c := newCache(10)
	key := tokenKey{1}
	c.put(&key, &Identity{ExpiresAt: t0.Add(time.Minute)}, t0.Add(time.Hour))
	_, ok := c.get(&key, t0.Add(time.Minute-1))
	assert.True(t, ok)
	_, ok = c.get(&key, t0.Add(time.Minute))
	assert.False(t, ok)
}

func TestValidateExpiredInBody(t *testing.T) {
	// Keystone answering 200 for an already expired token (clock skew) is
	// treated like keystonemiddleware does: invalid, negatively cached.
	clk := newClock()
	ks := tokenServer(t, map[string]string{tokAlice: projectTokenBody(t0.Add(-time.Second))})
	k := newTestKeystone(t, ks.URL, clk)
	id, _, err := k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	assert.Nil(t, id)
	id, hit, err := k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	assert.Nil(t, id)
	assert.True(t, hit)
	assert.EqualValues(t, 1, ks.hits.Load())
}

func TestValidateNegativeCache(t *testing.T) {
	clk := newClock()
	ks := tokenServer(t, nil)
	k := newTestKeystone(t, ks.URL, clk)

	id, hit, err := k.Validate(t.Context(), tokBob)
	require.NoError(t, err)
	assert.Nil(t, id)
	assert.False(t, hit)

	clk.Advance(10*time.Second - time.Nanosecond)
	id, hit, err = k.Validate(t.Context(), tokBob)
	require.NoError(t, err)
	assert.Nil(t, id)
	assert.True(t, hit)
	assert.EqualValues(t, 1, ks.hits.Load())

	clk.Advance(time.Nanosecond)
	_, hit, err = k.Validate(t.Context(), tokBob)
	require.NoError(t, err)
	assert.False(t, hit)
	assert.EqualValues(t, 2, ks.hits.Load())

	t.Run("disabled", func(t *testing.T) {
		ks := tokenServer(t, nil)
		k := newTestKeystone(t, ks.URL, clk, func(o *KeystoneOptions) { o.NegativeTTL = -1 })
		for range 3 {
			id, hit, err := k.Validate(t.Context(), tokBob)
			require.NoError(t, err)
			assert.Nil(t, id)
			assert.False(t, hit)
		}
		assert.EqualValues(t, 3, ks.hits.Load())
	})
}

func TestValidateSingleflight(t *testing.T) {
	const n = 50
	release := make(chan struct{})
	arrived := make(chan struct{}, n)
	ks := newFakeKeystone(t, func(w http.ResponseWriter, _ *http.Request, _ string) {
		arrived <- struct{}{}
		<-release
		writeJSON(w, http.StatusOK, projectTokenBody(t0.Add(time.Hour)))
	})
	k := newTestKeystone(t, ks.URL, newClock())

	var wg sync.WaitGroup
	ids := make([]*Identity, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { ids[i], _, errs[i] = k.Validate(t.Context(), tokAlice) })
	}
	<-arrived
	time.Sleep(50 * time.Millisecond) // let the others queue on the flight
	close(release)
	wg.Wait()

	assert.EqualValues(t, 1, ks.hits.Load(), "one Keystone call for 50 concurrent lookups")
	for i := range n {
		require.NoError(t, errs[i])
		require.NotNil(t, ids[i])
		assert.Same(t, ids[0], ids[i])
	}
}

func TestValidateSharedCallSurvivesWaiterCancel(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 2)
	var serverCancelled atomic.Bool
	ks := newFakeKeystone(t, func(w http.ResponseWriter, r *http.Request, _ string) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			serverCancelled.Store(true)
			return
		}
		writeJSON(w, http.StatusOK, projectTokenBody(t0.Add(time.Hour)))
	})
	k := newTestKeystone(t, ks.URL, newClock())

	// The first caller starts the flight, then gives up.
	ctx1, cancel1 := context.WithCancel(t.Context())
	done1 := make(chan error, 1)
	go func() {
		_, _, err := k.Validate(ctx1, tokAlice)
		done1 <- err
	}()
	<-arrived

	done2 := make(chan *Identity, 1)
	go func() {
		id, _, err := k.Validate(t.Context(), tokAlice)
		assert.NoError(t, err)
		done2 <- id
	}()
	time.Sleep(20 * time.Millisecond)
	cancel1()
	err := <-done1
	require.ErrorIs(t, err, ErrUnavailable)
	assert.ErrorIs(t, err, context.Canceled)

	close(release)
	id := <-done2
	require.NotNil(t, id, "the other waiter still gets the shared answer")
	assert.False(t, serverCancelled.Load(), "the shared Keystone call was not cancelled")
	assert.EqualValues(t, 1, ks.hits.Load())
	_, hit, err := k.Validate(t.Context(), tokAlice)
	require.NoError(t, err)
	assert.True(t, hit, "and its result was cached")
}

func TestValidateEvictionBound(t *testing.T) {
	clk := newClock()
	ks := newFakeKeystone(t, func(w http.ResponseWriter, _ *http.Request, token string) {
		if strings.HasPrefix(token, "bad") {
			writeJSON(w, http.StatusNotFound, notFoundBody)
			return
		}
		writeJSON(w, http.StatusOK, projectTokenBody(t0.Add(time.Hour)))
	})
	k := newTestKeystone(t, ks.URL, clk, func(o *KeystoneOptions) { o.MaxEntries = 3 })

	tokens := []string{"tok1", "bad2", "tok3", "tok4", "bad5"}
	for _, tok := range tokens {
		_, hit, err := k.Validate(t.Context(), tok)
		require.NoError(t, err)
		require.False(t, hit)
		assert.LessOrEqual(t, k.cache.len(), 3)
	}
	assert.Equal(t, 3, k.cache.len())
	for _, tok := range tokens[2:] {
		_, hit, err := k.Validate(t.Context(), tok)
		require.NoError(t, err)
		assert.True(t, hit, tok)
	}
	// The two oldest were evicted.
	_, hit, err := k.Validate(t.Context(), "tok1")
	require.NoError(t, err)
	assert.False(t, hit)
	assert.Equal(t, 3, k.cache.len())
	assert.EqualValues(t, 6, ks.hits.Load())

	// Many more distinct tokens never grow the cache past the bound.
	for i := range 100 {
		_, _, err := k.Validate(t.Context(), fmt.Sprintf("tok-%d", i))
		require.NoError(t, err)
	}
	assert.Equal(t, 3, k.cache.len())
}

func TestCacheReplaceKeepsListConsistent(t *testing.T) {
	c := newCache(2)
	a, b, d := tokenKey{1}, tokenKey{2}, tokenKey{3}
	c.put(&a, nil, t0.Add(time.Minute))
	c.put(&b, nil, t0.Add(time.Minute))
	c.put(&a, &Identity{ExpiresAt: t0.Add(time.Hour)}, t0.Add(time.Minute)) // a becomes newest
	c.put(&d, nil, t0.Add(time.Minute))                                     // evicts b
	_, ok := c.get(&b, t0)
	assert.False(t, ok)
	id, ok := c.get(&a, t0)
	assert.True(t, ok)
	assert.NotNil(t, id)
	_, ok = c.get(&d, t0)
	assert.True(t, ok)
	assert.Equal(t, 2, c.len())
}

func TestValidateTracePropagation(t *testing.T) {
	t.Setenv("OTEL_PROPAGATORS", "tracecontext,baggage")
	ks := tokenServer(t, map[string]string{tokAlice: projectTokenBody(t0.Add(time.Hour))})
	k := newTestKeystone(t, ks.URL, newClock()) // default otelhttp transport

	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, parent := tp.Tracer("test").Start(t.Context(), "server")
	id, _, err := k.Validate(ctx, tokAlice)
	parent.End()
	require.NoError(t, err)
	require.NotNil(t, id)

	// otelhttp used the provider of the span in the context (no global
	// provider is installed): the client span was recorded.
	var client sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			client = s
		}
	}
	require.NotNil(t, client, "a client span was recorded")
	assert.Equal(t, parent.SpanContext().TraceID(), client.SpanContext().TraceID())
	assert.Equal(t, parent.SpanContext().SpanID(), client.Parent().SpanID())

	_, h := ks.lastRequest()
	tp0 := h.Get("Traceparent")
	require.NotEmpty(t, tp0)
	parts := strings.Split(tp0, "-")
	require.Len(t, parts, 4)
	assert.Equal(t, parent.SpanContext().TraceID().String(), parts[1])
	assert.Equal(t, client.SpanContext().SpanID().String(), parts[2], "the upstream's parent is the client span")

	// A cache hit makes no call and no span.
	before := len(sr.Ended())
	_, hit, err := k.Validate(ctx, tokAlice)
	require.NoError(t, err)
	assert.True(t, hit)
	assert.Len(t, sr.Ended(), before)
}

func TestNewKeystoneOptions(t *testing.T) {
	for _, bad := range []string{
		"",
		"127.0.0.1:5000/v3",
		"ftp://keystone/v3",
		"http:///v3",
		"http://user:pass@keystone/v3",
		"http://keystone/v3?x=1",
		"http://keystone/v3?",
		"http://keystone/v3#frag",
		"http://keystone/v3#",
		"http://[::1/v3",
	} {
		_, err := NewKeystone(KeystoneOptions{BaseURL: bad})
		assert.Error(t, err, bad)
	}
	for base, want := range map[string]string{
		"http://127.0.0.1:5000/v3":             "http://127.0.0.1:5000/v3/auth/tokens?nocatalog",
		"http://127.0.0.1:5000/v3/":            "http://127.0.0.1:5000/v3/auth/tokens?nocatalog",
		"HTTPS://iam.myhuaweicloud.com/v3":     "https://iam.myhuaweicloud.com/v3/auth/tokens?nocatalog",
		"https://keystone.example/identity/v3": "https://keystone.example/identity/v3/auth/tokens?nocatalog",
	} {
		k, err := NewKeystone(KeystoneOptions{BaseURL: base})
		require.NoError(t, err, base)
		assert.Equal(t, want, k.endpoint)
		assert.Equal(t, DefaultTimeout, k.timeout)
		assert.Equal(t, DefaultMaxTTL, k.maxTTL)
		assert.Equal(t, DefaultNegativeTTL, k.negativeTTL)
		assert.Equal(t, DefaultMaxEntries, k.cache.max)
	}
	for _, opts := range []KeystoneOptions{
		{BaseURL: "http://k/v3", Timeout: -1},
		{BaseURL: "http://k/v3", MaxTTL: -1},
		{BaseURL: "http://k/v3", MaxEntries: -1},
	} {
		_, err := NewKeystone(opts)
		assert.Error(t, err)
	}
}

func TestValidateCacheHitAllocs(t *testing.T) {
	ks := tokenServer(t, map[string]string{tokAlice: projectTokenBody(t0.Add(time.Hour))})
	k := newTestKeystone(t, ks.URL, newClock())
	ctx := t.Context()
	_, _, err := k.Validate(ctx, tokAlice)
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		if _, hit, err := k.Validate(ctx, tokAlice); err != nil || !hit {
			t.Fatal("expected a cache hit")
		}
	})
	assert.Zero(t, allocs)
}

func BenchmarkValidateCacheHit(b *testing.B) {
	// A Huawei IAM token is several KiB; hashing it dominates a hit.
	for _, size := range []int{len(tokAlice), 4096} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			token := strings.Repeat("A", size)
			ks := newFakeKeystone(b, func(w http.ResponseWriter, _ *http.Request, _ string) {
				writeJSON(w, http.StatusOK, projectTokenBody(time.Now().Add(time.Hour)))
			})
			defer ks.Close()
			k, err := NewKeystone(KeystoneOptions{BaseURL: ks.URL + "/v3"})
			require.NoError(b, err)
			ctx := context.Background()
			_, _, err = k.Validate(ctx, token)
			require.NoError(b, err)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				id, hit, err := k.Validate(ctx, token)
				if err != nil || !hit || id == nil {
					b.Fatal("expected a cache hit")
				}
			}
		})
	}
}

func BenchmarkValidateCacheHitParallel(b *testing.B) {
	ks := newFakeKeystone(b, func(w http.ResponseWriter, _ *http.Request, _ string) {
		writeJSON(w, http.StatusOK, projectTokenBody(time.Now().Add(time.Hour)))
	})
	defer ks.Close()
	k, err := NewKeystone(KeystoneOptions{BaseURL: ks.URL + "/v3"})
	require.NoError(b, err)
	_, _, err = k.Validate(context.Background(), tokAlice)
	require.NoError(b, err)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, hit, err := k.Validate(ctx, tokAlice); err != nil || !hit {
				panic("expected a cache hit")
			}
		}
	})
}
