package rego_test

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShippedPolicy runs the *_test.rego files from go test, so `make test`
// covers them and so do any custom built-ins registered by imported packages.
func TestShippedPolicy(t *testing.T) {
	results, err := tester.Run(t.Context(), "ecsgate")
	require.NoError(t, err)
	require.NotEmpty(t, results)
	for _, r := range results {
		assert.True(t, r.Pass(), "%s: %v %s", r.Name, r.Error, r.Output)
	}
}
