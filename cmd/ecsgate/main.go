// Command ecsgate is Caddy with its standard modules plus ecsgate's policy
// handler (http.handlers.ecs_policy). Every Caddy subcommand (run, validate,
// adapt, version, list-modules, ...) behaves as it does in Caddy; `ecsgate
// explain` (explain.go) shows how the policy decides one request without
// sending it. The ECS simulator and the demo are in cmd/ecsgate-demo, never
// in this binary.
package main

import (
	"os"
	"runtime/debug"

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
	tuneGC(os.Getenv)
	caddycmd.Main()
}

// gatewayGCPercent is ecsgate's default GOGC. The gateway's heap is small
// (10-20 MiB under load), so at Go's default of 100 the collector runs many
// times a second, and each run halves the stacks of idle connection
// goroutines, which the next policy evaluation (a deep recursion in OPA)
// grows again: 6.5 % of the CPU under wrk went to runtime.copystack. 200
// halves the collections: make bench (inventory policy, 4 rounds) 0.55x ->
// 0.62x of plain reverse_proxy, -28 us CPU per request, +13 MiB RSS
// (docs/performance.md).
const gatewayGCPercent = 200

// tuneGC applies gatewayGCPercent unless the operator set GOGC; it returns
// the percentage it set, or -1.
func tuneGC(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return -1
	}
	debug.SetGCPercent(gatewayGCPercent)
	return gatewayGCPercent
}
