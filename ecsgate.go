// Package ecsgate is what `xcaddy build --with github.com/ecsgate/ecsgate`
// imports: it registers the http.handlers.ecs_policy module (and its
// Caddyfile directive) in a stock Caddy build. The code lives in proxy/,
// policy/, rego/ and tracing/; see README.md.
package ecsgate

import (
	_ "github.com/ecsgate/ecsgate/proxy"
)
