package rego_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/types"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite capabilities.json for this OPA version")

// ecsServer declares the ecs.server built-in the gateway provides, so that
// `opa check` and `opa test` accept policies calling it (tests mock it with
// `with ecs.server as ...`). It must say what the Go implementation says.
var ecsServer = &ast.Builtin{
	Name: "ecs.server",
	Description: "Returns the server as the Nova API shows it ({id, name, status, locked, locked_reason, " +
		"locked_by, metadata, tags, flavor, tenant_id, ...}); undefined when the lookup fails.",
	Decl: types.NewFunction(
		types.Args(types.Named("server_id", types.S).Description("the server's id")),
		types.Named("server", types.NewObject(nil, types.NewDynamicProperty(types.A, types.A))).Description("the server"),
	),
	Nondeterministic: true,
}

// capabilitiesJSON is what rego/capabilities.json must hold: this OPA
// version's capabilities (`opa capabilities --current`) and ecs.server.
func capabilitiesJSON(t *testing.T) []byte {
	caps := ast.CapabilitiesForThisVersion()
	caps.Builtins = append(caps.Builtins, ecsServer)
	b, err := json.MarshalIndent(caps, "", "  ")
	require.NoError(t, err)
	return append(b, '\n')
}

// TestCapabilitiesFile keeps capabilities.json in step with the OPA version
// in go.mod: after an upgrade, regenerate it with
// `go test ./rego -run TestCapabilitiesFile -update`.
func TestCapabilitiesFile(t *testing.T) {
	want := capabilitiesJSON(t)
	if *update {
		require.NoError(t, os.WriteFile("capabilities.json", want, 0o644))
	}
	got, err := os.ReadFile("capabilities.json")
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got),
		"capabilities.json is not this OPA version's capabilities plus ecs.server: run go test ./rego -run TestCapabilitiesFile -update")
}
