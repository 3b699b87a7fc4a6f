package policy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/policy"
)

// A decision defined twice with different values is an evaluation error in
// OPA (conflicting outputs); stopping at the first result must not hide it.
func TestConflictingDecisionDenies(t *testing.T) {
	dir := writePolicy(t, `package t

decision := true if input.operation == "server.action"

decision := false if input.project_id != null
`)
	e, err := policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.t.decision"})
	require.NoError(t, err)
	d, err := e.Decide(t.Context(), unlockInput("member"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "conflicting values")
	assert.False(t, d.Allow)
}
