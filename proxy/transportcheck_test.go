package proxy

import (
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func walkCaddyfile(t *testing.T, site string) siteWalk {
	t.Helper()
	cfg, warnings, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt(
		[]byte("http://127.0.0.1:9080 {\n"+site+"\n}\n"), nil)
	require.NoError(t, err, warnings)
	var root struct {
		Apps struct {
			HTTP caddyhttp.App `json:"http"`
		} `json:"apps"`
	}
	require.NoError(t, json.Unmarshal(cfg, &root))
	var w siteWalk
	for _, srv := range root.Apps.HTTP.Servers {
		w.routes(srv.Routes)
	}
	return w
}

func TestSiteWalkFindsUnverifiedProxies(t *testing.T) {
	for name, tc := range map[string]struct {
		site       string
		policy     bool
		unverified int
	}{
		"verified": {site: `ecs_policy
	reverse_proxy 127.0.0.1:1 {
		transport ecs_verified
	}`, policy: true},
		"plain http transport": {site: `ecs_policy
	reverse_proxy 127.0.0.1:1`, policy: true, unverified: 1},
		"nested in handle_path": {site: `handle_path /compute/* {
		ecs_policy
		reverse_proxy 127.0.0.1:1
	}
	handle {
		reverse_proxy 127.0.0.1:2 {
			transport ecs_verified
		}
	}`, policy: true, unverified: 1},
		"forward_auth is not counted": {site: `forward_auth 127.0.0.1:3 {
		uri /auth
	}
	ecs_policy
	reverse_proxy 127.0.0.1:1 {
		transport ecs_verified
	}`, policy: true},
		"no policy": {site: `reverse_proxy 127.0.0.1:1`, unverified: 1},
	} {
		t.Run(name, func(t *testing.T) {
			w := walkCaddyfile(t, tc.site)
			assert.Equal(t, tc.policy, w.policy)
			assert.Equal(t, tc.unverified, w.unverified)
		})
	}
}

func TestSiteWalkReadsLoadedHandlers(t *testing.T) {
	var w siteWalk
	w.routes(caddyhttp.RouteList{
		{Handlers: []caddyhttp.MiddlewareHandler{&Handler{}}},
		{Handlers: []caddyhttp.MiddlewareHandler{&caddyhttp.Subroute{Routes: caddyhttp.RouteList{
			{Handlers: []caddyhttp.MiddlewareHandler{&reverseproxy.Handler{Transport: &reverseproxy.HTTPTransport{}}}},
			{Handlers: []caddyhttp.MiddlewareHandler{&reverseproxy.Handler{Transport: &VerifiedTransport{}}}},
		}}}},
	})
	assert.True(t, w.policy)
	assert.Equal(t, 1, w.unverified)
}
