package identity

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unsafe"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"golang.org/x/sync/singleflight"
)

// Defaults for [KeystoneOptions].
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxTTL      = 5 * time.Minute // keystonemiddleware's token_cache_time (300 s)
	DefaultNegativeTTL = 10 * time.Second
	DefaultMaxEntries  = 10000
)

// maxTokenBody bounds the 200 body read from Keystone. With ?nocatalog a
// token body is a few KiB; Huawei IAM with a catalog is well under this.
const maxTokenBody = 2 << 20

// maxDrain bounds how much of an error body is read to keep the connection
// reusable.
const maxDrain = 64 << 10

// KeystoneOptions configures [NewKeystone]. Zero values take the defaults.
type KeystoneOptions struct {
	// BaseURL is the Keystone v3 (or Huawei IAM v3) root, such as
	// http://127.0.0.1:5000/v3 or https://iam.myhuaweicloud.com/v3. http or
	// https, with a host, and no user info, query or fragment. A trailing
	// slash is ignored.
	BaseURL string
	// Timeout bounds one Keystone call (default 5s).
	Timeout time.Duration
	// MaxTTL caps how long a valid token is cached (default 5m, like
	// keystonemiddleware's token_cache_time). An entry never outlives the
	// token's expires_at. A revoked token keeps working until its entry ages
	// out, as it does in Nova.
	MaxTTL time.Duration
	// NegativeTTL is how long an invalid token (401/403/404) is remembered
	// (default 10s; negative disables negative caching).
	NegativeTTL time.Duration
	// MaxEntries bounds the cache (default 10000); the oldest entry is
	// evicted when it is full.
	MaxEntries int
	// Transport sends the Keystone calls. Default: otelhttp.NewTransport over
	// a clone of http.DefaultTransport, propagating with autoprop (explicitly:
	// Caddy's tracing handler keeps its propagator to itself and sets no
	// global one, so otelhttp's default would inject nothing). otelhttp
	// takes the TracerProvider from the span in the request context, so
	// client spans follow Caddy's tracing handler without a global provider.
	// A Transport given here is used as is.
	Transport http.RoundTripper
	// Now is the clock (default time.Now); for tests.
	Now func() time.Time
}

// Keystone validates tokens against Keystone v3 / Huawei IAM by
// self-validation (GET /auth/tokens with the token as both X-Auth-Token and
// X-Subject-Token) and caches the results. It is safe for concurrent use.
type Keystone struct {
	endpoint    string // {BaseURL}/auth/tokens?nocatalog
	client      *http.Client
	timeout     time.Duration
	maxTTL      time.Duration
	negativeTTL time.Duration
	now         func() time.Time
	cache       *cache
	group       singleflight.Group
}

// NewKeystone checks opts and builds a validator. It does no network I/O.
func NewKeystone(opts KeystoneOptions) (*Keystone, error) {
	endpoint, err := tokensEndpoint(opts.BaseURL)
	if err != nil {
		return nil, err
	}
	k := &Keystone{
		endpoint:    endpoint,
		timeout:     opts.Timeout,
		maxTTL:      opts.MaxTTL,
		negativeTTL: opts.NegativeTTL,
		now:         opts.Now,
	}
	switch {
	case k.timeout < 0:
		return nil, fmt.Errorf("identity: negative keystone timeout %v", k.timeout)
	case k.timeout == 0:
		k.timeout = DefaultTimeout
	}
	switch {
	case k.maxTTL < 0:
		return nil, fmt.Errorf("identity: negative keystone cache max TTL %v", k.maxTTL)
	case k.maxTTL == 0:
		k.maxTTL = DefaultMaxTTL
	}
	if k.negativeTTL == 0 {
		k.negativeTTL = DefaultNegativeTTL
	}
	maxEntries := opts.MaxEntries
	switch {
	case maxEntries < 0:
		return nil, fmt.Errorf("identity: negative keystone cache size %d", maxEntries)
	case maxEntries == 0:
		maxEntries = DefaultMaxEntries
	}
	k.cache = newCache(maxEntries)
	if k.now == nil {
		k.now = time.Now
	}
	rt := opts.Transport
	if rt == nil {
		base := http.DefaultTransport.(*http.Transport).Clone()
		rt = otelhttp.NewTransport(base, otelhttp.WithPropagators(autoprop.NewTextMapPropagator()))
	}
	k.client = &http.Client{
		Transport: rt,
		// Never follow a redirect: it would carry X-Auth-Token (which
		// net/http does not treat as sensitive) to wherever Keystone points.
		// A 3xx is an unexpected answer, so ErrUnavailable.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return k, nil
}

func tokensEndpoint(base string) (string, error) {
	if base == "" {
		return "", errors.New("identity: keystone base URL is empty")
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("identity: keystone base URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("identity: keystone base URL scheme %q is not http or https", u.Scheme)
	case u.Host == "":
		return "", errors.New("identity: keystone base URL has no host")
	case u.User != nil:
		return "", errors.New("identity: keystone base URL must not carry user info")
	case u.RawQuery != "" || u.ForceQuery:
		return "", errors.New("identity: keystone base URL must not have a query")
	case strings.Contains(base, "#"):
		return "", errors.New("identity: keystone base URL must not have a fragment")
	}
	u = u.JoinPath("auth", "tokens")
	u.RawQuery = "nocatalog"
	return u.String(), nil
}

// Validate returns the identity behind token.
//
// The token is trimmed of surrounding whitespace as keystonemiddleware does;
// an empty token gives (nil, false, nil). An invalid, expired or revoked
// token (Keystone 401, 403 or 404) gives a nil identity and no error. Any
// other failure returns an error wrapping [ErrUnavailable] (never containing
// the token), and is not cached. cacheHit reports whether the answer came
// from the cache. The returned identity is shared and read-only.
//
// Concurrent calls for one token share a single Keystone call, which runs
// detached from the caller's cancellation (bounded by the timeout) so that
// one waiter giving up does not fail the others; a caller whose ctx ends
// first gets an ErrUnavailable error wrapping the context's error.
func (k *Keystone) Validate(ctx context.Context, token string) (id *Identity, cacheHit bool, err error) {
	token = trimPySpace(token)
	if token == "" {
		return nil, false, nil
	}
	// sha256 only reads its input and keeps no reference to it, so hash the
	// string's bytes in place: []byte(token) would copy a multi-KiB IAM token
	// to the heap on every request (measured: 1 alloc of len(token) bytes).
	key := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
	if id, ok := k.cache.get(&key, k.now()); ok {
		return id, true, nil
	}
	return k.miss(ctx, key, token)
}

// miss handles a cache miss. It takes the key by value so that the hit path
// in Validate keeps its key on the stack (the closure below captures it).
func (k *Keystone) miss(ctx context.Context, key tokenKey, token string) (*Identity, bool, error) {
	if !validHeaderValue(token) {
		// Cannot be sent in a header, so it cannot be a token Keystone
		// knows; Nova's server would not have accepted the request either.
		return nil, false, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrUnavailable, context.Cause(ctx))
	}
	ch := k.group.DoChan(string(key[:]), func() (any, error) {
		return k.fetch(ctx, &key, token)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, false, r.Err
		}
		id, _ := r.Val.(*Identity)
		return id, false, nil
	case <-ctx.Done():
		return nil, false, fmt.Errorf("%w: %w", ErrUnavailable, context.Cause(ctx))
	}
}

// fetch runs once per token for all concurrent callers.
func (k *Keystone) fetch(parent context.Context, key *tokenKey, token string) (*Identity, error) {
	// A caller that missed the cache just before the previous flight stored
	// its result must not trigger a second call.
	if id, ok := k.cache.get(key, k.now()); ok {
		return id, nil
	}
	// Keep the first caller's values (its span parents the client span) but
	// not its cancellation: other callers may be waiting on this result.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), k.timeout)
	defer cancel()
	id, err := k.call(ctx, token)
	if err != nil {
		return nil, err
	}
	now := k.now()
	if id != nil && !now.Before(id.ExpiresAt) {
		// Keystone only returns expired tokens with allow_expired; this is
		// clock skew. keystonemiddleware rejects it (will_expire_soon(0)).
		id = nil
	}
	if id == nil {
		if k.negativeTTL > 0 {
			k.cache.put(key, nil, now.Add(k.negativeTTL))
		}
		return nil, nil
	}
	until := now.Add(k.maxTTL)
	if id.ExpiresAt.Before(until) {
		until = id.ExpiresAt
	}
	k.cache.put(key, id, until)
	return id, nil
}

// call performs one validation request. (nil, nil) means the token is
// invalid.
func (k *Keystone) call(ctx context.Context, token string) (*Identity, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: building keystone request: %w", ErrUnavailable, err)
	}
	req.Header.Set(headerAuthToken, token)
	req.Header.Set("X-Subject-Token", token)
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		// *url.Error names the method and URL (no token in either).
		return nil, fmt.Errorf("%w: keystone request: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody+1))
		if err != nil {
			return nil, fmt.Errorf("%w: reading keystone answer: %w", ErrUnavailable, err)
		}
		if len(body) > maxTokenBody {
			return nil, fmt.Errorf("%w: keystone answer larger than %d bytes", ErrUnavailable, maxTokenBody)
		}
		id, err := parseTokenBody(body)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return id, nil
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return nil, nil
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return nil, fmt.Errorf("%w: keystone answered %d", ErrUnavailable, resp.StatusCode)
	}
}

// Wire format of GET /v3/auth/tokens (docs/compute-api-facts.md, "Keystone
// tokens and keystonemiddleware").
type ksRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type ksScope struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain *ksRef `json:"domain"`
}

type ksTokenBody struct {
	Token *struct {
		Methods   []string `json:"methods"`
		User      *ksScope `json:"user"`
		ExpiresAt string   `json:"expires_at"`
		Project   *ksScope `json:"project"`
		Domain    *ksRef   `json:"domain"`
		System    *struct {
			All bool `json:"all"`
		} `json:"system"`
		Roles []ksRef `json:"roles"`
	} `json:"token"`
}

// parseTokenBody turns a 200 body into an Identity. Error texts name fields
// only, never values.
func parseTokenBody(body []byte) (*Identity, error) {
	var b ksTokenBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("unparsable token body: %w", err)
	}
	t := b.Token
	switch {
	case t == nil:
		return nil, errors.New("token body has no token object")
	case t.User == nil || t.User.ID == "":
		return nil, errors.New("token body has no user id")
	case t.Project != nil && t.Project.ID == "":
		return nil, errors.New("token body has a project without id")
	case t.Domain != nil && t.Domain.ID == "":
		return nil, errors.New("token body has a domain scope without id")
	}
	exp, err := parseExpiry(t.ExpiresAt)
	if err != nil {
		return nil, err
	}
	id := &Identity{
		Method:      MethodToken,
		User:        scopeOf(t.User),
		Project:     scopeOf(t.Project),
		System:      t.System != nil && t.System.All,
		Roles:       make([]string, 0, len(t.Roles)),
		AuthMethods: t.Methods,
		ExpiresAt:   exp,
	}
	if t.Domain != nil {
		id.DomainScope = Ref(*t.Domain)
	}
	for _, r := range t.Roles {
		if r.Name == "" {
			return nil, errors.New("token body has a role without name")
		}
		id.Roles = append(id.Roles, r.Name)
	}
	return id, nil
}

func scopeOf(s *ksScope) Scope {
	if s == nil {
		return Scope{}
	}
	out := Scope{ID: s.ID, Name: s.Name}
	if s.Domain != nil {
		out.Domain = Ref(*s.Domain)
	}
	return out
}

// parseExpiry reads Keystone's expires_at ("2026-11-29T04:28:54.000000Z").
// Like keystoneauth's iso8601 parsing, a time without zone is UTC.
func parseExpiry(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("token body has no expires_at")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("token body has an unparsable expires_at")
}

// trimPySpace strips what Python's str.strip() strips from a WSGI header
// value (latin-1 decoded, PEP 3333): keystonemiddleware calls token.strip()
// before validating (bug 1689468), so "tok\xa0" reaches Keystone as "tok".
func trimPySpace(s string) string {
	start, end := 0, len(s)
	for start < end && isPySpace(s[start]) {
		start++
	}
	for end > start && isPySpace(s[end-1]) {
		end--
	}
	return s[start:end]
}

func isPySpace(c byte) bool {
	switch {
	case c >= '\t' && c <= '\r', c >= 0x1c && c <= 0x20, c == 0x85, c == 0xa0:
		return true
	}
	return false
}

// validHeaderValue reports whether s can be sent as a header value:
// net/http refuses control characters other than horizontal tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
