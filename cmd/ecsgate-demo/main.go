// Command ecsgate-demo is the self-contained demo behind `make run`: the
// production ecsgate (Caddy, its standard modules and ecsgate's) plus the
// ECS simulator (internal/ecssim: a fake Nova, Keystone and Glance with
// fixed demo tokens and unauthenticated test hooks). Run without arguments
// it serves the embedded config/demo.Caddyfile, like `ecsgate-demo demo`;
// every Caddy subcommand works as in ecsgate.
//
// The simulator is for demos and tests only: cmd/ecsgate, the binary the
// Dockerfile ships, does not include it (cmd/ecsgate's tests check that).
package main

import (
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/ecsgate/ecsgate/internal/ecssim"
	_ "github.com/ecsgate/ecsgate/proxy"
)

func main() {
	if len(os.Args) == 1 {
		os.Args = append(os.Args, "demo")
	}
	caddycmd.Main()
}
