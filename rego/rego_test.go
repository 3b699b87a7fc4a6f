package rego_test

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// policyPaths are the modules `make policy-test` tests: the shipped policy
// and the rule library. testdata holds modules that only Go tests load.
var policyPaths = []string{"ecsgate", "lib"}

// capabilities are OPA's plus the gateway's built-ins (capabilities.json):
// the Rego tests mock ecs.server rather than call it.
func capabilities(t *testing.T) *ast.Capabilities {
	caps, err := ast.LoadCapabilitiesFile("capabilities.json")
	require.NoError(t, err)
	return caps
}

// TestShippedPolicy runs the *_test.rego files from go test, so `make test`
// covers them.
func TestShippedPolicy(t *testing.T) {
	modules, store, err := tester.Load(policyPaths, func(_ string, info fs.FileInfo, _ int) bool {
		return !info.IsDir() && !strings.HasSuffix(info.Name(), ".rego")
	})
	require.NoError(t, err)
	compiler := ast.NewCompiler().WithCapabilities(capabilities(t)).WithEnablePrintStatements(true)
	ch, err := tester.NewRunner().SetCompiler(compiler).SetStore(store).Run(t.Context(), modules)
	require.NoError(t, err)
	n := 0
	for r := range ch {
		n++
		assert.True(t, r.Pass(), "%s: %v %s", r.Name, r.Error, r.Output)
	}
	require.NotZero(t, n, "no Rego tests found")
}
