package policy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/bench/mix"
	"github.com/ecsgate/ecsgate/internal/fixtures/inventory"
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

// BenchmarkDecideInventory is Engine.Decide on the data-heavy inventory
// policy (internal/fixtures/inventory, 1,000 servers, or
// ECSGATE_BENCH_INVENTORY_SERVERS) with the request mix of `make bench`
// (bench/mix): each iteration decides the next input of the cycle, so the
// evaluation meets different servers, callers, actions and outcomes as the
// inventory site does under wrk. The clock is noon UTC, inside the
// maintenance window, as the bench's open window is. allowed/op is the share
// of allowed inputs in what was decided. The log says when the policy is
// served unspecialised (its load-time specialisation ran out of budget).
//
//	mix        the whole cycle
//	allowed    its allowed inputs only
//	denied     its denied inputs only (reasons formatted and sorted)
//	anonymous  the whole cycle without identity, as without keystone
//	           (the bench's inventory-noauth site): every input denied
func BenchmarkDecideInventory(b *testing.B) {
	servers := 1000
	if s := os.Getenv("ECSGATE_BENCH_INVENTORY_SERVERS"); s != "" {
		var err error
		servers, err = strconv.Atoi(s)
		require.NoError(b, err)
	}
	policyFile, dataFile, err := inventory.WriteFiles(b.TempDir(), servers, 1)
	require.NoError(b, err)
	noon := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// Whether the engine could specialise the policy against its data
	// within its load-time budget decides what is measured: say which.
	var loadErr error
	e, err := policy.New(context.Background(), policy.Options{
		Policies: []string{policyFile}, Data: []string{dataFile}, Decision: inventory.Decision,
		Now:     func() time.Time { return noon },
		OnError: func(err error) { loadErr = err },
	})
	require.NoError(b, err)
	ctx := context.Background()

	var all, allowed, denied, anonymous []*policy.Input
	for _, r := range mix.Requests(servers, 1) {
		in := mixInput(r)
		d, err := e.Decide(ctx, in)
		require.NoError(b, err)
		all = append(all, in)
		if d.Allow {
			allowed = append(allowed, in)
		} else {
			denied = append(denied, in)
		}
		anon := *in
		anon.Identity = nil
		anonymous = append(anonymous, &anon)
	}
	require.NotEmpty(b, allowed)
	require.NotEmpty(b, denied)

	for _, c := range []struct {
		name   string
		inputs []*policy.Input
	}{{"mix", all}, {"allowed", allowed}, {"denied", denied}, {"anonymous", anonymous}} {
		b.Run(c.name, func(b *testing.B) {
			if loadErr != nil {
				b.Logf("%d servers: %v", servers, loadErr)
			}
			b.ReportAllocs()
			i, allows := 0, 0
			for b.Loop() {
				d, err := e.Decide(ctx, c.inputs[i])
				if err != nil {
					b.Fatal(err)
				}
				if d.Allow {
					allows++
				}
				if i++; i == len(c.inputs) {
					i = 0
				}
			}
			b.ReportMetric(float64(allows)/float64(b.N), "allowed/op")
		})
	}
}

// mixInput is the input the gateway builds for a request of the mix, its
// caller's token validated as the bench's Keystone stub describes it.
func mixInput(r mix.Request) *policy.Input {
	u := mix.UserN(r.User)
	headers := map[string]string{
		"x-auth-token": policy.Redacted, "accept": "*/*", "user-agent": "wrk", "host": "127.0.0.1:19084",
	}
	in := &policy.Input{
		Request: policy.Request{ID: "req-1", Method: r.Method(), Path: r.Path(), Headers: headers, RemoteIP: "127.0.0.1"},
		API:     policy.API{Family: "nova", Version: "v2.1", Microversion: "2.1", Route: "/servers/{server_id}"},
		// The gateway's classification of the two routes of the mix.
		Operation: "server.read",
		ServerIDs: []string{r.Server},
	}
	if r.WithProject {
		in.ProjectID = u.Project
	}
	if r.Action != "" {
		headers["content-type"] = "application/json"
		headers["content-length"] = strconv.Itoa(len(r.Body()))
		in.API.Route = "/servers/{server_id}/action"
		in.Operation = "server.action"
		in.Action = &policy.Action{Name: r.Action, Args: json.RawMessage(r.Args())}
	}
	domain := policy.Ref{ID: "default", Name: "Default"}
	project := &policy.Scope{ID: u.Project, Name: "project-" + u.Project[len(u.Project)-2:], Domain: domain}
	in.Identity = &policy.Identity{
		Method:      "token",
		User:        policy.Scope{ID: u.ID, Name: u.Name, Domain: domain},
		Project:     project,
		Scope:       &policy.IdentityScope{Type: policy.ScopeProject, Project: project},
		Roles:       u.Roles,
		AuthMethods: []string{"password"},
		ExpiresAt:   time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	return in
}
