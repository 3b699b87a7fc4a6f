package proxy

import (
	"encoding/json"
	"slices"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"
)

// warnUnverifiedSites logs, at provision time (so `ecsgate validate` shows
// it), every server that uses ecs_policy and also has a reverse_proxy
// without the ecs_verified transport: there, nothing checks that what is
// sent is what was decided.
//
// The http app is being provisioned while this runs: routes before this
// handler are already loaded (their raw JSON is gone), routes after it not
// yet, so both forms are walked.
func (h *Handler) warnUnverifiedSites(ctx caddy.Context) {
	for _, m := range ctx.Modules() {
		app, ok := m.(*caddyhttp.App)
		if !ok {
			continue
		}
		names := make([]string, 0, len(app.Servers))
		for name := range app.Servers {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			var w siteWalk
			w.routes(app.Servers[name].Routes)
			if w.policy && w.unverified > 0 {
				h.logger.Warn("this server uses ecs_policy but some reverse_proxy in it lacks `transport ecs_verified`: "+
					"requests changed after the decision would be sent unchecked (see README, \"Verified at the wire\")",
					zap.String("server", name), zap.Int("unverified_proxies", w.unverified))
			}
		}
	}
}

// siteWalk finds ecs_policy handlers and unverified reverse proxies in a
// server's routes, at any depth (subroutes, handle_response routes).
type siteWalk struct {
	policy     bool
	unverified int
}

func (w *siteWalk) routes(routes caddyhttp.RouteList) {
	for _, r := range routes {
		for _, raw := range r.HandlersRaw {
			var v any
			if json.Unmarshal(raw, &v) == nil {
				w.raw(v)
			}
		}
		for _, hd := range r.Handlers {
			w.loaded(hd)
		}
	}
}

func (w *siteWalk) loaded(hd caddyhttp.MiddlewareHandler) {
	switch x := hd.(type) {
	case *Handler:
		w.policy = true
	case *caddyhttp.Subroute:
		w.routes(x.Routes)
	case *reverseproxy.Handler:
		_, verified := x.Transport.(*VerifiedTransport)
		forwardAuth := x.Rewrite != nil && x.Rewrite.Method == "GET" && len(x.HandleResponse) > 0
		if !verified && !forwardAuth {
			w.unverified++
		}
		for _, hr := range x.HandleResponse {
			w.routes(hr.Routes)
		}
	}
}

func (w *siteWalk) raw(v any) {
	switch x := v.(type) {
	case map[string]any:
		switch x["handler"] {
		case "ecs_policy":
			w.policy = true
		case "reverse_proxy":
			transport, _ := x["transport"].(map[string]any)
			rewrite, _ := x["rewrite"].(map[string]any)
			// forward_auth is a reverse_proxy to an auth service that
			// rewrites to GET and handles the response itself; it runs
			// before any decision, so it cannot use the transport.
			forwardAuth := rewrite != nil && rewrite["method"] == "GET" && x["handle_response"] != nil
			if (transport == nil || transport["protocol"] != "ecs_verified") && !forwardAuth {
				w.unverified++
			}
		}
		for _, child := range x {
			w.raw(child)
		}
	case []any:
		for _, child := range x {
			w.raw(child)
		}
	}
}
