package policy

import (
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The reserved frame must really grow the stack: a goroutine that only
// calls reserveStack ends up with a stack of evalStackReserve or more (64
// KiB here). The bound is half that: a GC during the measurement halves the
// stacks of the parked goroutines, which must not fail the test.
func TestReserveStackGrowsTheStack(t *testing.T) {
	perGoroutine := func(f func()) uint64 {
		const n = 200
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var started sync.WaitGroup
		release := make(chan struct{})
		started.Add(n)
		for range n {
			go func() { f(); started.Done(); <-release }()
		}
		started.Wait()
		runtime.ReadMemStats(&after)
		close(release)
		return (after.StackInuse - before.StackInuse) / n
	}
	idle := perGoroutine(func() {})
	reserved := perGoroutine(reserveStack)
	t.Logf("stack per goroutine: idle %d B, after reserveStack %d B", idle, reserved)
	require.GreaterOrEqual(t, reserved, uint64(evalStackReserve)/2)
	require.Less(t, idle, uint64(evalStackReserve)/4)
}
