package main

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTuneGCLeavesTheOperatorsGOGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)

	assert.Equal(t, -1, tuneGC(func(string) string { return "50" }))
	assert.Equal(t, 100, debug.SetGCPercent(100), "an operator's GOGC is left alone")

	assert.Equal(t, gatewayGCPercent, tuneGC(func(string) string { return "" }))
	assert.Equal(t, gatewayGCPercent, debug.SetGCPercent(100))
}
