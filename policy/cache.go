package policy

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
)

// DefaultDecisionCache is how many decisions a revision remembers.
const DefaultDecisionCache = 8192

// decisionCache remembers the decisions of one policy revision, keyed by
// exactly the parts of the input the policy can read: a deterministic
// policy over fixed data is a function of those parts, so an equal key has
// an equal decision. It exists only for revisions where that holds
// (cachePlan), and dies with its revision. It is not a speed trick in the
// policy text: it works the same for any policy a user writes.
//
// Two generations of maps give a cheap approximation of "least recently
// used": a hit in the old generation is copied to the new one; when the new
// one is full, the old one is dropped.
type decisionCache struct {
	paths []ast.Ref
	max   int

	mu       sync.RWMutex
	cur, old map[string]Decision

	hits, misses atomic.Int64
}

func newDecisionCache(paths []ast.Ref, max int) *decisionCache {
	return &decisionCache{paths: paths, max: max, cur: make(map[string]Decision), old: map[string]Decision{}}
}

// key renders the parts of input the policy can read. Each part is OPA's
// canonical text of the value (object keys sorted, strings quoted, numbers
// as written), so two keys are equal exactly when every part is: no hash
// collision can mix up two inputs.
func (c *decisionCache) key(input ast.Value) (string, bool) {
	buf := make([]byte, 0, 512)
	for _, p := range c.paths {
		v, err := input.Find(p)
		if err != nil {
			buf = append(buf, '-', '\n')
			continue
		}
		buf = append(buf, '+')
		var ok bool
		if buf, ok = appendValue(buf, v); !ok {
			return "", false
		}
		buf = append(buf, '\n')
	}
	return string(buf), true
}

func appendValue(buf []byte, v ast.Value) (out []byte, ok bool) {
	defer func() {
		// A value OPA cannot render: do not cache rather than guess.
		if recover() != nil {
			out, ok = buf, false
		}
	}()
	a, isAppender := v.(interface{ AppendText([]byte) ([]byte, error) })
	if !isAppender {
		return buf, false
	}
	b, err := a.AppendText(buf)
	if err != nil {
		return buf, false
	}
	return b, true
}

func (c *decisionCache) get(key string) (Decision, bool) {
	c.mu.RLock()
	d, ok := c.cur[key]
	if !ok {
		d, ok = c.old[key]
	}
	c.mu.RUnlock()
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return d, ok
}

func (c *decisionCache) put(key string, d Decision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cur) >= c.max/2 {
		c.old, c.cur = c.cur, make(map[string]Decision, c.max/2)
	}
	c.cur[key] = d
}

// cachePlan decides whether a revision's decisions may be cached and on
// which input paths. It reads the modules as written (the compiler would
// move `input` into local variables, hiding what is read), every one of them
// (a superset of what the decision reaches):
//
//   - any call of a non-deterministic built-in (time.now_ns, http.send,
//     rand.intn, ecs.server, ...) rules caching out: the same input can get
//     another decision later;
//   - every reference into input is cut at its first segment that is not a
//     constant string (input.request.headers[h] reads all headers); a
//     reference to input as a whole (walk(input), object.get(input, ...))
//     rules caching out, since the input holds the request's unique id.
//
// The paths are then reduced to the shortest prefixes.
func cachePlan(modules map[string]*ast.Module) ([]ast.Ref, bool) {
	var paths []ast.Ref
	ok := true
	for _, m := range modules {
		for _, imp := range m.Imports {
			ref, isRef := imp.Path.Value.(ast.Ref)
			if !isRef || !ref.HasPrefix(ast.InputRootRef) {
				continue
			}
			path, whole := constantPrefix(ref)
			if whole {
				return nil, false
			}
			paths = append(paths, path)
		}
		// object.get(input.x, ["a", "b"], default) reads input.x.a.b only:
		// the common way to read an optional field, so it is understood
		// rather than taken as a read of input.x whole.
		handled := map[*ast.Term]bool{}
		objectGet := func(args []*ast.Term) {
			if len(args) < 2 {
				return
			}
			var base ast.Ref
			switch v := args[0].Value.(type) {
			case ast.Var:
				if !v.Equal(ast.InputRootDocument.Value) {
					return
				}
				base = ast.InputRootRef
			case ast.Ref:
				if !v.HasPrefix(ast.InputRootRef) || !v.IsGround() {
					return
				}
				base = v
			default:
				return
			}
			var path ast.Ref
			for _, seg := range base[1:] {
				if _, isString := seg.Value.(ast.String); !isString {
					return
				}
				path = append(path, seg)
			}
			switch p := args[1].Value.(type) {
			case ast.String:
				path = append(path, ast.NewTerm(p))
			case *ast.Array:
				for i := range p.Len() {
					s, isString := p.Elem(i).Value.(ast.String)
					if !isString {
						return
					}
					path = append(path, ast.NewTerm(s))
				}
			default:
				return
			}
			if len(path) == 0 {
				return
			}
			paths = append(paths, path)
			handled[args[0]] = true
		}
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if e.IsCall() && e.Operator().Equal(objectGetRef) {
				objectGet(e.Operands())
			}
			return false
		})
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if c, isCall := t.Value.(ast.Call); isCall && c[0].Value.Compare(objectGetRef) == 0 {
				objectGet(c[1:])
			}
			return false
		})
		ast.WalkTerms(m, func(t *ast.Term) bool {
			if !ok {
				return true
			}
			if handled[t] {
				return true
			}
			switch v := t.Value.(type) {
			case ast.Var:
				if v.Equal(ast.InputRootDocument.Value) {
					ok = false // input as a whole
				}
			case ast.Ref:
				if !v.HasPrefix(ast.InputRootRef) {
					return false
				}
				path, whole := constantPrefix(v)
				if whole {
					ok = false
					return true
				}
				paths = append(paths, path)
				// The rest of the ref (a variable index) is a term of its
				// own, visited below, and may read input again.
				for _, seg := range v[1+len(path):] {
					ast.WalkTerms(seg, func(t *ast.Term) bool {
						if r, isRef := t.Value.(ast.Ref); isRef && r.HasPrefix(ast.InputRootRef) {
							if p, whole := constantPrefix(r); whole {
								ok = false
							} else {
								paths = append(paths, p)
							}
						}
						return false
					})
				}
				return true
			case ast.Call:
				if nondeterministic(v[0]) {
					ok = false
					return true
				}
			}
			return false
		})
		ast.WalkExprs(m, func(e *ast.Expr) bool {
			if ok && e.IsCall() && nondeterministic(e.OperatorTerm()) {
				ok = false
			}
			return !ok
		})
		if !ok {
			return nil, false
		}
	}
	return minimalPaths(paths), true
}

var objectGetRef = ast.MustParseRef("object.get")

// constantPrefix cuts an input reference at its first segment that is not a
// constant string; whole is true when nothing is left (input itself).
func constantPrefix(ref ast.Ref) (path ast.Ref, whole bool) {
	for _, seg := range ref[1:] {
		s, isString := seg.Value.(ast.String)
		if !isString {
			break
		}
		path = append(path, ast.NewTerm(s))
	}
	return path, len(path) == 0
}

// nondeterministic reports whether op names a built-in whose result can
// change for the same arguments. ecs.server is ecsgate's; an operator that
// is no known built-in is a user function, whose body is walked on its own.
func nondeterministic(op *ast.Term) bool {
	ref, ok := op.Value.(ast.Ref)
	if !ok {
		return true
	}
	name := ref.String()
	if name == ServerBuiltin {
		return true
	}
	if b, ok := ast.BuiltinMap[name]; ok {
		return b.Nondeterministic
	}
	return false
}

// minimalPaths sorts and dedups paths and drops any path another one is a
// prefix of: reading input.identity covers input.identity.roles.
func minimalPaths(paths []ast.Ref) []ast.Ref {
	slices.SortFunc(paths, func(a, b ast.Ref) int { return a.Compare(b) })
	var out []ast.Ref
	for _, p := range paths {
		if len(out) > 0 && p.HasPrefix(out[len(out)-1]) {
			continue
		}
		out = append(out, p)
	}
	return out
}
