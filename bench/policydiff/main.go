// Command policydiff checks that two versions of the shipped policy make the
// same decisions, reasons included, over a large generated input space. It
// guards refactorings done for speed (bench/README.md): a faster policy that
// decides differently is a bug, not an optimisation.
//
//	git show <rev>:rego/ecsgate/authz.rego > /tmp/old.rego
//	go run ./bench/policydiff -old /tmp/old.rego -new rego/ecsgate/authz.rego -n 200000
//
// Every input is evaluated with and without a data document mapping access
// keys; undefined and erroring evaluations are compared as such.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

const (
	demo    = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	other   = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	serverA = "c0ffee00-0000-4000-8000-000000000001"
	serverB = "c0ffee00-0000-4000-8000-000000000002"
)

func main() {
	oldPath := flag.String("old", "", "reference policy file (.rego)")
	newPath := flag.String("new", "rego/ecsgate/authz.rego", "candidate policy file (.rego)")
	query := flag.String("query", "data.ecsgate.authz.decision", "rule to compare")
	n := flag.Int("n", 100000, "random inputs (each evaluated without and with data)")
	seed := flag.Uint64("seed", 1, "random seed")
	show := flag.Int("show", 5, "mismatches to print")
	flag.Parse()
	if *oldPath == "" {
		fmt.Fprintln(os.Stderr, "policydiff: -old is required")
		os.Exit(2)
	}
	ctx := context.Background()
	var engines [2][2]rego.PreparedEvalQuery // [old,new][no data, data]
	for i, path := range []string{*oldPath, *newPath} {
		src, err := os.ReadFile(path)
		check(err)
		for j, data := range []map[string]any{{}, accessKeys()} {
			pq, err := rego.New(rego.Query(*query), rego.Module(path, string(src)),
				rego.Store(inmem.NewFromObject(data))).PrepareForEval(ctx)
			check(err)
			engines[i][j] = pq
		}
	}
	rng := rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15))
	var compared, mismatches int
	allowed := map[bool]int{}
	for range *n {
		in := randomInput(rng)
		val, err := ast.InterfaceToValue(in)
		check(err)
		for j := range 2 {
			a := eval(ctx, engines[0][j], val)
			b := eval(ctx, engines[1][j], val)
			compared++
			if m, ok := a.(map[string]any); ok {
				allowed[m["allow"] == true]++
			}
			if reflect.DeepEqual(a, b) {
				continue
			}
			mismatches++
			if mismatches <= *show {
				js, _ := json.Marshal(in)
				fmt.Printf("MISMATCH (data=%v)\n input: %s\n old:   %v\n new:   %v\n", j == 1, js, a, b)
			}
		}
	}
	fmt.Printf("policydiff: %d evaluations, %d allowed, %d denied, %d mismatches\n",
		compared, allowed[true], allowed[false], mismatches)
	if mismatches > 0 {
		os.Exit(1)
	}
}

func eval(ctx context.Context, pq rego.PreparedEvalQuery, in ast.Value) any {
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(in))
	if err != nil {
		return "error: " + err.Error()
	}
	if len(rs) == 0 {
		return "undefined"
	}
	return rs[0].Expressions[0].Value
}

func accessKeys() map[string]any {
	return map[string]any{"ecsgate": map[string]any{"access_keys": map[string]any{
		"AKEXAMPLE": map[string]any{"project_id": demo, "roles": []any{"member"}},
		"AKUNLOCK":  map[string]any{"project_id": demo, "roles": []any{"member", "ecs_unlocker"}},
		"AKNOPROJ":  map[string]any{"roles": []any{"admin"}},
		"AKEMPTY":   map[string]any{"project_id": "", "roles": []any{}},
		"AKOTHER":   map[string]any{"project_id": other, "roles": []any{"reader"}},
	}}}
}

func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

var (
	roleNames   = []string{"admin", "member", "reader", "ecs_unlocker", "Member", "manager"}
	actionNames = []string{
		"unlock", "lock", "os-start", "os-stop", "reboot", "os-resetState", "evacuate", "migrate",
		"os-migrateLive", "unshelve", "shelveOffload", "injectNetworkInfo", "shelve", "createImage",
		"resize", "confirmResize", "addSecurityGroup", "os-getConsoleOutput", "trigger_crash_dump",
		"shutdown", "startup",
	}
	operations = []string{
		"server.read", "server.action", "server.create", "server.delete", "server.update",
		"server.metadata", "server.tags.delete", "other", "mystery", "server", "", "Server.read",
		"host.action",
	}
	methods = []string{"GET", "GET", "HEAD", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "get"}
	routes  = []string{
		"/servers/{server_id}/action", "/servers/{server_id}", "/servers", "/os-keypairs",
		"/os-keypairs/...", "/os-aggregates", "/os-server-external-events", "/flavors", "",
		"/os-hosts/{host_name}/reboot",
	}
)

func randomInput(rng *rand.Rand) map[string]any {
	in := map[string]any{
		"request": map[string]any{
			"id": "req-1", "method": pick(rng, methods...), "path": "/v2.1/servers", "query": "",
			"headers":   randomHeaders(rng),
			"remote_ip": "127.0.0.1",
		},
		"api": map[string]any{
			"family": pick(rng, "nova", "ecs"), "version": "v2.1", "microversion": "2.1",
			"route": pick(rng, routes...),
		},
		"operation":  pick(rng, operations...),
		"action":     randomAction(rng),
		"server_ids": pick(rng, []any{}, []any{serverA}, []any{serverA, serverB}),
		"project_id": pick[any](rng, nil, nil, demo, demo, demo, other, ""),
		"identity":   randomIdentity(rng),
	}
	// Shapes the gateway never sends but a policy test or `explain` might.
	switch rng.IntN(40) {
	case 0:
		delete(in, "identity")
	case 1:
		delete(in, "project_id")
	case 2:
		delete(in, "action")
	case 3:
		delete(in, "server_ids")
	case 4:
		delete(in, "operation")
	}
	return in
}

func randomHeaders(rng *rand.Rand) map[string]any {
	h := map[string]any{"content-type": "application/json", "x-auth-token": "[REDACTED]"}
	switch rng.IntN(5) {
	case 0:
		h["x-sdk-content-sha256"] = "UNSIGNED-PAYLOAD"
	case 1:
		h["x-sdk-content-sha256"] = "unsigned-payload"
	case 2:
		h["x-sdk-content-sha256"] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	}
	return h
}

func randomAction(rng *rand.Rand) any {
	if rng.IntN(3) == 0 {
		return nil
	}
	args := pick[any](rng, nil, nil, map[string]any{}, map[string]any{"host": "cmp-1"},
		map[string]any{"host": nil}, map[string]any{"type": "HARD"}, "text", []any{1.0}, true)
	return map[string]any{"name": pick(rng, actionNames...), "args": args}
}

func randomRoles(rng *rand.Rand) []any {
	var roles []any
	for _, r := range roleNames {
		// member and ecs_unlocker often, to exercise the allowing paths.
		if rng.IntN(3) == 0 || (r == "member" || r == "ecs_unlocker") && rng.IntN(2) == 0 {
			roles = append(roles, r)
		}
	}
	if roles == nil {
		roles = []any{}
	}
	return roles
}

func scope(id any) map[string]any {
	return map[string]any{"id": id, "name": "demo", "domain": map[string]any{"id": "default", "name": "Default"}}
}

func randomIdentity(rng *rand.Rand) any {
	switch rng.IntN(10) {
	case 0:
		return nil
	case 1, 2:
		id := map[string]any{
			"method": "aksk", "user": scope(""), "roles": []any{},
			"access_key": pick(rng, "AKEXAMPLE", "AKUNLOCK", "AKNOPROJ", "AKEMPTY", "AKOTHER", "AKUNKNOWN"),
			"project":    pick[any](rng, nil, nil, scope(demo), scope(other)),
			"expires_at": nil,
		}
		if rng.IntN(8) == 0 {
			id["roles"] = randomRoles(rng)
		}
		return id
	default:
		id := map[string]any{
			"method": "token", "user": scope("u1"), "roles": randomRoles(rng),
			"project":    pick[any](rng, scope(demo), scope(demo), scope(demo), scope(other), nil, scope(""), scope(nil)),
			"expires_at": "2030-01-01T00:00:00Z", "access_key": nil,
		}
		switch rng.IntN(30) {
		case 0:
			// Never sent by the gateway, but data may give such a key
			// roles the token lacks (ecs_unlocker, admin).
			id["access_key"] = pick(rng, "AKEXAMPLE", "AKUNLOCK", "AKNOPROJ")
		case 1:
			delete(id, "project")
		case 2:
			delete(id, "roles")
		}
		return id
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "policydiff:", err)
		os.Exit(2)
	}
}
