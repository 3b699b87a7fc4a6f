// Package config holds ecsgate's example and default Caddyfiles. The demo
// configuration is embedded so the demo binary (cmd/ecsgate-demo) runs with
// no files around it.
package config

import _ "embed"

// Demo is the configuration `ecsgate-demo` (and `make run`) serves: the
// gateway on 127.0.0.1:8080 in front of the ECS simulator on 127.0.0.1:8780.
//
//go:embed demo.Caddyfile
var Demo []byte
