package main

import (
	"flag"
	"fmt"
	"log"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/ecsgate/ecsgate/config"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "demo",
		Short: "Runs the gateway in front of the built-in ECS simulator (no cloud account needed)",
		Long: `
Serves the embedded config/demo.Caddyfile: ecsgate on http://127.0.0.1:8080
enforcing the shipped policy, in front of the ECS simulator (Nova, Keystone
and Glance stand-ins) on http://127.0.0.1:8780. It is what ecsgate-demo runs
when given no command. Stop it with Ctrl-C.`,
		Flags: flag.NewFlagSet("demo", flag.ExitOnError),
		Func:  cmdDemo,
	})
}

func cmdDemo(caddycmd.Flags) (int, error) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	cfg, warnings, err := adapter.Adapt(config.Demo, map[string]any{"filename": "demo.Caddyfile"})
	if err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("adapting the demo config: %w", err)
	}
	for _, w := range warnings {
		log.Printf("[WARNING] demo.Caddyfile:%d: %s", w.Line, w.Message)
	}
	caddy.TrapSignals()
	if err := caddy.Load(cfg, true); err != nil {
		return caddy.ExitCodeFailedStartup, fmt.Errorf("loading the demo config: %w", err)
	}
	log.Printf("ecsgate-demo: gateway on http://127.0.0.1:8080, simulator on http://127.0.0.1:8780 (see README)")
	select {}
}
