// Command ecsgate is Caddy with its standard modules plus ecsgate's policy
// handler (http.handlers.ecs_policy) and the ECS simulator used by the demo
// and the tests. Every Caddy subcommand (run, validate, adapt, version,
// list-modules, ...) behaves as it does in Caddy; `ecsgate demo` adds a
// self-contained demo.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/ecsgate/ecsgate/internal/ecssim"
	_ "github.com/ecsgate/ecsgate/proxy"
)

func main() {
	caddycmd.Main()
}
