// Package serverinfo fetches a server as the compute API shows it to the
// caller of the request being decided, for the policy's ecs.server built-in.
// It asks with the caller's own token, so a policy never sees a server the
// caller could not see, and it caches briefly per caller: the answer is live
// state, and a policy that reads it must not rely on it being older than the
// TTL.
package serverinfo

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
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"golang.org/x/sync/singleflight"
)

// Defaults for Options.
const (
	DefaultTTL          = 5 * time.Second
	DefaultMaxEntries   = 4096
	DefaultTimeout      = 2 * time.Second
	DefaultMicroversion = "2.73"
	maxResponseBytes    = 1 << 20
)

// Options configure a Client.
type Options struct {
	// BaseURL is the compute API's address, scheme and host (and a path
	// prefix if the API lives under one), e.g. http://127.0.0.1:8774.
	BaseURL string
	// TTL bounds how long an answer is reused for the same caller and
	// server (default 5 s).
	TTL time.Duration
	// MaxEntries bounds the cache (default 4096).
	MaxEntries int
	// Timeout bounds one lookup (default 2 s).
	Timeout time.Duration
	// Microversion asked of Nova: 2.73 returns tags (2.26+), locked (2.9+)
	// and locked_reason (2.73+). Cap it at what the upstream supports
	// (Huawei: 2.60, without locked_reason).
	Microversion string
	// Transport, default otelhttp over a clone of http.DefaultTransport.
	Transport http.RoundTripper
}

// Caller is who the lookup is made for: the request being decided.
type Caller struct {
	// Token is the caller's validated token.
	Token string
	// ProjectID is the token's project; used in the URL when known.
	ProjectID string
	// Native asks the Huawei native API (/v1/{project}/cloudservers/{id})
	// instead of Nova's (/v2.1/{project}/servers/{id}).
	Native bool
}

// ErrNoCredential: the caller has no token to ask with (AK/SK callers: the
// gateway holds no secret key to sign a request of its own).
var ErrNoCredential = errors.New("serverinfo: the caller has no token to look the server up with")

// Client looks servers up. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	opts    Options
	client  *http.Client
	group   singleflight.Group
	now     func() time.Time
	mu      sync.Mutex
	entries map[cacheKey]*entry
	order   []cacheKey // insertion order, for eviction
}

type cacheKey struct {
	caller [32]byte // SHA-256 of token, project and API: never the token
	server string
}

type entry struct {
	server map[string]any
	until  time.Time
}

// New returns a Client.
func New(opts Options) (*Client, error) {
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server_api %q: must be an http(s) URL such as http://127.0.0.1:8774", opts.BaseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Microversion == "" {
		opts.Microversion = DefaultMicroversion
	}
	rt := opts.Transport
	if rt == nil {
		base := http.DefaultTransport.(*http.Transport).Clone()
		rt = otelhttp.NewTransport(base, otelhttp.WithPropagators(autoprop.NewTextMapPropagator()))
	}
	return &Client{
		base:    u,
		opts:    opts,
		client:  &http.Client{Transport: rt, Timeout: opts.Timeout},
		now:     time.Now,
		entries: map[cacheKey]*entry{},
	}, nil
}

// Server returns the server with id as the caller sees it, from the cache
// when a lookup for the same caller is younger than the TTL. Concurrent
// lookups of the same server for the same caller share one request. Errors
// are not cached.
func (c *Client) Server(ctx context.Context, caller Caller, id string) (map[string]any, error) {
	if caller.Token == "" {
		return nil, ErrNoCredential
	}
	key := cacheKey{caller: sha256.Sum256([]byte(caller.Token + "\x00" + caller.ProjectID + "\x00" + fmt.Sprint(caller.Native))), server: id}
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && c.now().Before(e.until) {
		c.mu.Unlock()
		return e.server, nil
	}
	c.mu.Unlock()
	ch := c.group.DoChan(fmt.Sprintf("%x/%s", key.caller, id), func() (any, error) {
		s, err := c.fetch(context.WithoutCancel(ctx), caller, id)
		if err == nil {
			c.store(key, s)
		}
		return s, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(map[string]any), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Client) store(key cacheKey, s map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok {
		for len(c.order) >= c.opts.MaxEntries {
			delete(c.entries, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, key)
	}
	c.entries[key] = &entry{server: s, until: c.now().Add(c.opts.TTL)}
}

func (c *Client) fetch(ctx context.Context, caller Caller, id string) (map[string]any, error) {
	u := *c.base
	switch {
	case caller.Native:
		if caller.ProjectID == "" {
			return nil, errors.New("serverinfo: a native lookup needs the caller's project")
		}
		u.Path += "/v1/" + caller.ProjectID + "/cloudservers/" + id
	case caller.ProjectID != "":
		u.Path += "/v2.1/" + caller.ProjectID + "/servers/" + id
	default:
		u.Path += "/v2.1/servers/" + id
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-Token", caller.Token)
	req.Header.Set("Accept", "application/json")
	if !caller.Native {
		req.Header.Set("OpenStack-API-Version", "compute "+c.opts.Microversion)
		req.Header.Set("X-OpenStack-Nova-API-Version", c.opts.Microversion)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("serverinfo: looking up server %s: %w", id, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("serverinfo: reading server %s: %w", id, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("serverinfo: server %s: the compute API answered %d", id, resp.StatusCode)
	}
	var doc struct {
		Server map[string]any `json:"server"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Server == nil {
		return nil, fmt.Errorf("serverinfo: server %s: the answer is not a server document", id)
	}
	normalise(doc.Server)
	return doc.Server, nil
}

// normalise adds the fields a policy should not have to find under several
// names: project_id (Nova says tenant_id), and empty metadata and tags where
// the API omits them.
func normalise(s map[string]any) {
	if _, ok := s["project_id"]; !ok {
		if t, ok := s["tenant_id"]; ok {
			s["project_id"] = t
		}
	}
	if _, ok := s["metadata"]; !ok {
		s["metadata"] = map[string]any{}
	}
	if _, ok := s["tags"]; !ok {
		s["tags"] = []any{}
	}
}
