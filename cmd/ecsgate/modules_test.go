package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestSimulatorOnlyInDemoBinary builds both binaries and asks each for its
// modules: the ECS simulator (fixed demo tokens, unauthenticated test hooks)
// must never be in the production ecsgate, and the demo binary must have it
// (which also shows that this test would notice it).
func TestSimulatorOnlyInDemoBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two binaries")
	}
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	if _, err := exec.LookPath(goCmd); err != nil {
		t.Skipf("no go command to build with: %v", err)
	}
	dir := t.TempDir()
	modules := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, name := range []string{"ecsgate", "ecsgate-demo"} {
		wg.Go(func() {
			bin := filepath.Join(dir, name)
			build := exec.Command(goCmd, "build", "-o", bin, "../"+name)
			if out, err := build.CombinedOutput(); err != nil {
				t.Errorf("go build ../%s: %v\n%s", name, err, out)
				return
			}
			out, err := exec.Command(bin, "list-modules").CombinedOutput()
			if err != nil {
				t.Errorf("%s list-modules: %v\n%s", name, err, out)
				return
			}
			mu.Lock()
			modules[name] = string(out)
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	has := func(bin, module string) bool {
		for line := range strings.Lines(modules[bin]) {
			if strings.TrimSpace(line) == module {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		bin, module string
		want        bool
	}{
		{"ecsgate", "http.handlers.ecs_policy", true},
		{"ecsgate", "http.handlers.ecs_simulator", false},
		{"ecsgate-demo", "http.handlers.ecs_policy", true},
		{"ecsgate-demo", "http.handlers.ecs_simulator", true},
	} {
		if got := has(c.bin, c.module); got != c.want {
			t.Errorf("%s list-modules lists %s: %v, want %v", c.bin, c.module, got, c.want)
		}
	}
}
