package ecssim

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// parseCaddyfile sets up the handler from Caddyfile tokens.
func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	if err := m.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	return m, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	ecs_simulator {
//	    public_url       <url>   # compute endpoint in the catalog, e.g. http://127.0.0.1:8080/v2.1
//	    identity_url     <url>   # identity endpoint in the catalog, e.g. http://127.0.0.1:9000/v3
//	    image_url        <url>   # image endpoint in the catalog, e.g. http://127.0.0.1:9000/image
//	    max_microversion <2.N>   # default 2.93
//	}
//
// Every subdirective is optional and the block may be omitted.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		var target *string
		switch d.Val() {
		case "public_url":
			target = &h.PublicURL
		case "identity_url":
			target = &h.IdentityURL
		case "image_url":
			target = &h.ImageURL
		case "max_microversion":
			target = &h.MaxMicroversion
		default:
			return d.Errf("unrecognized subdirective '%s'", d.Val())
		}
		if *target != "" {
			return d.Errf("%s specified more than once", d.Val())
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		*target = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}
