// Package rego carries the policy ecsgate ships: the Rego modules under
// ecsgate/ are embedded in the binary and evaluated when a Caddyfile's
// ecs_policy block names no policy of its own.
package rego

import "embed"

// FS holds the shipped policy modules and their tests (the loader skips
// *_test.rego when it builds the query). The rule library (lib/) stays out:
// a team turns its rules on in data and loads them from a policy directory
// (README.md), and some of them call ecs.server, which would keep the
// embedded policy from compiling in a build that does not register it.
//
//go:embed ecsgate/*.rego
var FS embed.FS

// DefaultDecision is the rule the shipped policy answers with.
const DefaultDecision = "data.ecsgate.authz.decision"
