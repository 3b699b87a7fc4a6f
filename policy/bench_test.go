package policy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/policy"
)

// Per-request policy work with the shipped policy. bench/README.md has the
// figures and how to compare runs (benchstat):
//
//	go test -run '^$' -bench . -benchmem -count 10 ./policy/ > new.txt
//
// ECSGATE_BENCH_POLICY=<file.rego> benchmarks another version of the
// shipped policy (same package and decision rule), e.g. a refactoring.

type benchCase struct {
	name  string
	input func() *policy.Input
	allow bool
}

var benchCases = []benchCase{
	// The request `make bench` sends: POST {"unlock": null} by a member
	// holding ecs_unlocker, project in the URL.
	{"unlock", func() *policy.Input { return unlockInput("member", "reader", "ecs_unlocker") }, true},
	// The same without ecs_unlocker: denied with a reason (the full rules).
	{"unlock-denied", func() *policy.Input { return unlockInput("member", "reader") }, false},
	// The same without a token: what unauthenticated traffic costs.
	{"unlock-anonymous", func() *policy.Input {
		in := unlockInput()
		in.Identity = nil
		return in
	}, false},
	// GET /servers/{id} by a reader.
	{"read", func() *policy.Input {
		in := unlockInput("reader")
		in.Request.Method = "GET"
		in.Request.Path = "/v2.1/" + demoProject + "/servers/" + serverID
		in.API.Route = "/servers/{server_id}"
		in.Operation = "server.read"
		in.Action = nil
		return in
	}, true},
	// POST {"os-stop": null} by a member, no project in the URL.
	{"stop-no-project", func() *policy.Input {
		in := unlockInput("member", "reader")
		in.Request.Path = "/v2.1/servers/" + serverID + "/action"
		in.Action.Name = "os-stop"
		in.ProjectID = ""
		return in
	}, true},
}

func benchEngine(b *testing.B) *policy.Engine {
	b.Helper()
	opts := policy.Options{}
	if path := os.Getenv("ECSGATE_BENCH_POLICY"); path != "" {
		abs, err := filepath.Abs(path)
		require.NoError(b, err)
		opts.Policies = []string{abs}
	}
	e, err := policy.New(context.Background(), opts)
	require.NoError(b, err)
	return e
}

// benchHeaders are what wrk's requests carry, as the gateway passes them.
var benchHeaders = map[string]string{
	"x-auth-token": policy.Redacted, "content-type": "application/json", "accept": "*/*",
	"user-agent": "wrk", "content-length": "16", "host": "127.0.0.1:18081",
}

// BenchmarkDecide is Engine.Decide: building the input and evaluating it.
func BenchmarkDecide(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			in := bc.input()
			in.Request.Headers = benchHeaders
			d, err := e.Decide(ctx, in)
			require.NoError(b, err)
			require.Equal(b, bc.allow, d.Allow, d.Reasons)
			b.ReportAllocs()
			for b.Loop() {
				if d, err := e.Decide(ctx, in); err != nil || d.Allow != bc.allow {
					b.Fatal(err, d)
				}
			}
		})
	}
}

// BenchmarkEval is the evaluation alone, the input already built.
func BenchmarkEval(b *testing.B) {
	e := benchEngine(b)
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			in := bc.input()
			in.Request.Headers = benchHeaders
			val, err := in.Value()
			require.NoError(b, err)
			b.ReportAllocs()
			for b.Loop() {
				if d, err := e.DecideValue(ctx, val); err != nil || d.Allow != bc.allow {
					b.Fatal(err, d)
				}
			}
		})
	}
}

// BenchmarkEvalFloor evaluates `decision := true`: what any evaluation
// costs in OPA, whatever the policy.
func BenchmarkEvalFloor(b *testing.B) {
	dir := b.TempDir()
	require.NoError(b, os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package t\n\ndecision := true\n"), 0o600))
	e, err := policy.New(context.Background(), policy.Options{Policies: []string{dir}, Decision: "data.t.decision"})
	require.NoError(b, err)
	val, err := unlockInput("member").Value()
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d, err := e.DecideValue(ctx, val); err != nil || !d.Allow {
			b.Fatal(err, d)
		}
	}
}

// BenchmarkDecideParallel is the allowed unlock on every CPU, as under wrk.
func BenchmarkDecideParallel(b *testing.B) {
	e := benchEngine(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		in := benchCases[0].input()
		in.Request.Headers = benchHeaders
		for pb.Next() {
			if d, err := e.Decide(ctx, in); err != nil || !d.Allow {
				panic(fmt.Sprint("expected allow: ", d, err))
			}
		}
	})
}

// BenchmarkInputValue is Input.Value for the unlock request; the identity
// part comes from its cache after the first call (see
// BenchmarkIdentityTermMiss for a miss).
func BenchmarkInputValue(b *testing.B) {
	in := benchCases[0].input()
	in.Request.Headers = benchHeaders
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.Value(); err != nil {
			b.Fatal(err)
		}
	}
}
