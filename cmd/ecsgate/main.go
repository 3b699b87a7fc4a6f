// Command ecsgate is Caddy with its standard modules plus the ecsgate
// policy handler and the ECS simulator used by the demo and the tests.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
