package policy

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func valueInputs() map[string]*Input {
	full := func() *Input {
		return &Input{
			Request: Request{ID: "d-1", Method: "POST", Path: "/v2.1/p/servers/s/action", Query: "a=b",
				Headers: map[string]string{"x-auth-token": Redacted, "content-type": "application/json",
					"user-agent": "gophercloud/2", "x-custom": "v"}, RemoteIP: "192.0.2.1"},
			API:       API{Family: "nova", Version: "v2.1", Microversion: "2.60", Route: "/servers/{server_id}/action"},
			Operation: "server.action",
			Action:    &Action{Name: "os-migrateLive", Args: json.RawMessage(`{"host": "cmp-1", "block_migration": "auto"}`)},
			ServerIDs: []string{"a", "b"},
			ProjectID: "p",
			Identity: &Identity{Method: "token", User: Scope{ID: "u", Name: "alice", Domain: Ref{ID: "default", Name: "Default"}},
				Project:     &Scope{ID: "p", Name: "demo", Domain: Ref{ID: "d2", Name: "Other"}},
				Scope:       &IdentityScope{Type: ScopeProject, Project: &Scope{ID: "p", Name: "demo", Domain: Ref{ID: "d2", Name: "Other"}}},
				Roles:       []string{"member", "reader"},
				AuthMethods: []string{"password", "totp"},
				ExpiresAt:   time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))},
		}
	}
	cases := map[string]*Input{"full": full(), "empty": {}}
	in := full()
	in.Identity = nil
	in.Action = nil
	in.ProjectID = ""
	in.ServerIDs = nil
	cases["anonymous read"] = in
	in = full()
	in.Identity = &Identity{Method: "aksk", AccessKey: "AK", Project: &Scope{ID: "p"}}
	in.Action = &Action{Name: "unlock", Args: json.RawMessage("null")}
	cases["aksk"] = in
	in = full()
	in.Identity.Project = nil
	in.Identity.Roles = nil
	in.Action = &Action{Name: "lock"}
	in.Request.Headers = nil
	in.Identity.Scope = &IdentityScope{Type: ScopeDomain, Domain: &Ref{ID: "d9", Name: "Ops"}}
	cases["domain scoped"] = in
	in = full()
	in.Identity.Project = nil
	in.Identity.Scope = &IdentityScope{Type: ScopeSystem, System: "all"}
	in.Identity.AuthMethods = nil
	cases["system scoped"] = in
	return cases
}

// TestValueMatchesReference checks Value against the contract's JSON form,
// with the identity built per input and sealed.
func TestValueMatchesReference(t *testing.T) {
	for name, in := range valueInputs() {
		t.Run(name, func(t *testing.T) {
			want, err := referenceValue(in)
			require.NoError(t, err)
			for i := range 3 { // then from the caches, then sealed
				if i == 2 && in.Identity != nil {
					in.Identity.Seal()
				}
				got, err := in.Value()
				require.NoError(t, err)
				assert.Zero(t, got.Compare(want), "got %v\nwant %v", got, want)
				assert.Equal(t, want.Hash(), got.Hash())
			}
		})
	}
}

func TestValueRejectsBadArgs(t *testing.T) {
	in := valueInputs()["full"]
	in.Action.Args = json.RawMessage(`{"host": `)
	_, err := in.Value()
	require.Error(t, err)
}

// TestValueConcurrent shares cached terms between inputs evaluated at once
// (run with -race).
func TestValueConcurrent(t *testing.T) {
	e, err := New(t.Context(), Options{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				in := valueInputs()["full"]
				in.Action = &Action{Name: "unlock", Args: json.RawMessage("null")}
				in.Identity.Roles = []string{"member", []string{"ecs_unlocker", "reader"}[(g+i)%2]}
				d, err := e.Decide(t.Context(), in)
				assert.NoError(t, err)
				assert.Equal(t, (g+i)%2 == 0, d.Allow, d.Reasons)
			}
		})
	}
	wg.Wait()
}

// TestFlatCacheMatchesOPA replays random operations on flatCache and on
// OPA's own virtual cache and compares every answer.
func TestFlatCacheMatchesOPA(t *testing.T) {
	refs := []ast.Ref{
		ast.MustParseRef("data.a.b"), ast.MustParseRef("data.a.b.c"), ast.MustParseRef("data.a"),
		ast.MustParseRef(`data.f["x"]`), ast.MustParseRef(`data.f[{"y", "x"}]`), ast.MustParseRef(`data.f[{"x", "y"}]`),
	}
	// Enough distinct keys to push a frame past flatCacheMax, so the
	// hand-over to OPA's cache is compared too.
	for i := range 3 * flatCacheMax {
		refs = append(refs, ast.MustParseRef(fmt.Sprintf(`data.g["k%d"]`, i)))
	}
	values := []*ast.Term{nil, ast.StringTerm("v1"), ast.BooleanTerm(true)}
	rng := rand.New(rand.NewPCG(1, 2))
	spilled := 0
	for run := range 200 {
		ours, theirs := newFlatCache(), topdown.NewVirtualCache()
		depth := 0
		var trace []string
		for op := range 300 {
			ref := refs[rng.IntN(len(refs))].Copy()
			switch rng.IntN(6) {
			case 0:
				trace = append(trace, "push")
				ours.Push()
				theirs.Push()
				depth++
			case 1:
				if depth > 0 {
					trace = append(trace, "pop")
					ours.Pop()
					theirs.Pop()
					depth--
				}
			case 2, 3:
				v := values[rng.IntN(len(values))]
				trace = append(trace, fmt.Sprintf("put %v %v", ref, v))
				ours.Put(ref, v)
				theirs.Put(ref, v)
			default:
				v1, u1 := ours.Get(ref)
				v2, u2 := theirs.Get(ref)
				where := fmt.Sprintf("run %d op %d get %v after %v", run, op, ref, trace)
				require.Equal(t, u2, u1, where)
				require.Equal(t, v2, v1, where)
			}
			assert.ElementsMatch(t, refStrings(theirs.Keys()), refStrings(ours.Keys()))
		}
		if ours.big != nil {
			spilled++
		}
	}
	assert.Positive(t, spilled, "some runs exceed flatCacheMax")
}

func refStrings(refs []ast.Ref) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.String()
	}
	return out
}

// TestFlatCacheCopiesKeys: OPA passes slices of buffers it reuses.
func TestFlatCacheCopiesKeys(t *testing.T) {
	c := newFlatCache()
	ref := ast.MustParseRef("data.a.b")
	c.Put(ref, ast.StringTerm("v"))
	ref[2] = ast.StringTerm("c")
	v, _ := c.Get(ast.MustParseRef("data.a.b"))
	assert.NotNil(t, v)
}

func BenchmarkIdentityTermMiss(b *testing.B) {
	id := valueInputs()["full"].Identity
	b.ReportAllocs()
	for b.Loop() {
		_ = id.term()
	}
}

// referenceValue is the input contract's one definition, its JSON form
// (Input.MarshalJSON), as OPA would convert it: what Value must build.
func referenceValue(in *Input) (ast.Value, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	var v any
	if err := util.UnmarshalJSON(b, &v); err != nil {
		return nil, err
	}
	return ast.InterfaceToValue(v)
}
