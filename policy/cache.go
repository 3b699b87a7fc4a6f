package policy

import (
	"slices"
	"strconv"
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
	buf := make([]byte, 1, 512)
	buf[0] = 'a'

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
				// A built-in named as a value (`with f as time.now_ns`)
				// is called all the same.
				if nondeterministic(t) {
					ok = false
					return true
				}
				if !v.HasPrefix(ast.InputRootRef) {
					return false
				}
				path, whole := constantPrefix(v)
				if whole {
					ok = false
					return true
				}
				paths = append(paths, path)
				// The rest of the ref (a variable index) may read input
				// again: walked here, since the ref's terms are not.
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
	if name == ServerBuiltin || readsTheClock[name] {
		return true
	}
	if b, ok := ast.BuiltinMap[name]; ok {
		return b.Nondeterministic
	}
	return false
}

// readsTheClock are built-ins whose answer depends on the current time
// although OPA does not mark them non-deterministic: certificate chains are
// verified against now.
var readsTheClock = map[string]bool{
	"crypto.x509.parse_and_verify_certificates":              true,
	"crypto.x509.parse_and_verify_certificates_with_options": true,
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

// inputKey is key computed from the Go input instead of its OPA value, so
// that a cached decision costs no OPA value. It covers the paths the input
// document has (docs/policy-input.md); for a path into the identity it keys
// on the whole identity's canonical text, fixed when the identity was sealed
// (a coarser key is still exact: equal identities read alike). It reports
// false when it cannot say (an identity that was not sealed): the caller
// then keys on the OPA value. Its keys start with 'g', the OPA value's with
// 'a', so the two never meet.
func (c *decisionCache) inputKey(in *Input) (string, bool) {
	buf := make([]byte, 1, 512)
	buf[0] = 'g'
	for _, p := range c.paths {
		var ok bool
		if buf, ok = appendInputPath(buf, in, p); !ok {
			return "", false
		}
		buf = append(buf, '\n')
	}
	return string(buf), true
}

// Markers of inputKey's components: a value of a kind, or absent (the
// policy would find it undefined).
const (
	keyAbsent = '-'
	keyNull   = '0'
	keyString = 's'
	keyList   = 'l'
	keyMap    = 'm'
	keyRaw    = 'j'
	keyTerm   = 't'
)

func appendLen(buf []byte, kind byte, s string) []byte {
	buf = append(buf, kind)
	buf = strconv.AppendInt(buf, int64(len(s)), 10)
	buf = append(buf, ':')
	return append(buf, s...)
}

func appendList(buf []byte, ss []string) []byte {
	buf = append(buf, keyList)
	buf = strconv.AppendInt(buf, int64(len(ss)), 10)
	for _, s := range ss {
		buf = appendLen(buf, keyString, s)
	}
	return buf
}

func appendMap(buf []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, keyMap)
	buf = strconv.AppendInt(buf, int64(len(keys)), 10)
	for _, k := range keys {
		buf = appendLen(buf, keyString, k)
		buf = appendLen(buf, keyString, m[k])
	}
	return buf
}

// appendLeaf appends a string field read at path[depth:]: a string has no
// fields, so anything deeper is absent.
func appendLeaf(buf []byte, s string, rest ast.Ref) []byte {
	if len(rest) > 0 {
		return append(buf, keyAbsent)
	}
	return appendLen(buf, keyString, s)
}

func appendNullableLeaf(buf []byte, s string, rest ast.Ref) []byte {
	if len(rest) > 0 {
		return append(buf, keyAbsent)
	}
	if s == "" {
		return append(buf, keyNull)
	}
	return appendLen(buf, keyString, s)
}

func segment(r ast.Ref, i int) string {
	return string(r[i].Value.(ast.String))
}

func appendInputPath(buf []byte, in *Input, p ast.Ref) ([]byte, bool) {
	switch segment(p, 0) {
	case "request":
		return appendRequest(buf, &in.Request, p[1:]), true
	case "api":
		return appendAPI(buf, in.API, p[1:]), true
	case "operation":
		return appendLeaf(buf, in.Operation, p[1:]), true
	case "project_id":
		return appendNullableLeaf(buf, in.ProjectID, p[1:]), true
	case "server_ids":
		if len(p) > 1 {
			return append(buf, keyAbsent), true // a list has no named fields
		}
		return appendList(buf, in.ServerIDs), true
	case "action":
		a := in.Action
		if a == nil {
			if len(p) > 1 {
				return append(buf, keyAbsent), true
			}
			return append(buf, keyNull), true
		}
		if len(p) > 1 && segment(p, 1) == "name" {
			return appendLeaf(buf, a.Name, p[2:]), true
		}
		if len(p) > 1 && segment(p, 1) != "args" {
			return append(buf, keyAbsent), true
		}
		// The action whole, its args, or a path inside them: keyed on
		// the name and the args' exact bytes (equal bytes, equal values).
		buf = appendLen(buf, keyString, a.Name)
		return appendLen(buf, keyRaw, string(a.Args)), true
	case "identity":
		id := in.Identity
		if id == nil {
			if len(p) > 1 {
				return append(buf, keyAbsent), true
			}
			return append(buf, keyNull), true
		}
		if id.sealed == nil {
			return buf, false
		}
		return appendLen(buf, keyTerm, id.sealedText), true
	}
	return append(buf, keyAbsent), true // the input has no such field
}

func appendRequest(buf []byte, r *Request, rest ast.Ref) []byte {
	if len(rest) == 0 {
		buf = appendLen(buf, keyString, r.ID)
		buf = appendLen(buf, keyString, r.Method)
		buf = appendLen(buf, keyString, r.Path)
		buf = appendLen(buf, keyString, r.Query)
		buf = appendMap(buf, r.Headers)
		return appendLen(buf, keyString, r.RemoteIP)
	}
	switch segment(rest, 0) {
	case "id":
		return appendLeaf(buf, r.ID, rest[1:])
	case "method":
		return appendLeaf(buf, r.Method, rest[1:])
	case "path":
		return appendLeaf(buf, r.Path, rest[1:])
	case "query":
		return appendLeaf(buf, r.Query, rest[1:])
	case "remote_ip":
		return appendLeaf(buf, r.RemoteIP, rest[1:])
	case "headers":
		if len(rest) == 1 {
			return appendMap(buf, r.Headers)
		}
		v, ok := r.Headers[segment(rest, 1)]
		if !ok {
			return append(buf, keyAbsent)
		}
		return appendLeaf(buf, v, rest[2:])
	}
	return append(buf, keyAbsent)
}

func appendAPI(buf []byte, a API, rest ast.Ref) []byte {
	if len(rest) == 0 {
		buf = appendLen(buf, keyString, a.Family)
		buf = appendLen(buf, keyString, a.Version)
		buf = appendLen(buf, keyString, a.Microversion)
		return appendLen(buf, keyString, a.Route)
	}
	switch segment(rest, 0) {
	case "family":
		return appendLeaf(buf, a.Family, rest[1:])
	case "version":
		return appendLeaf(buf, a.Version, rest[1:])
	case "microversion":
		return appendLeaf(buf, a.Microversion, rest[1:])
	case "route":
		return appendLeaf(buf, a.Route, rest[1:])
	}
	return append(buf, keyAbsent)
}
