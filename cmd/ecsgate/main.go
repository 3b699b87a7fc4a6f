// Command ecsgate is Caddy with its standard modules plus ecsgate's policy
// handler (http.handlers.ecs_policy). Every Caddy subcommand (run, validate,
// adapt, version, list-modules, ...) behaves as it does in Caddy; `ecsgate
// explain` (explain.go) shows how the policy decides one request without
// sending it. The ECS simulator and the demo are in cmd/ecsgate-demo, never
// in this binary.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/google/uuid"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/ecsgate/ecsgate/proxy"
)

func main() {
	// Every request gets a version-4 decision id and request id: read
	// crypto/rand in batches rather than once per id. A process-wide
	// setting, so it belongs to this binary, not to the ecs_policy module
	// that other Caddy builds include.
	uuid.EnableRandPool()
	caddycmd.Main()
}
