package policy

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
)

// Value builds the input as an OPA value directly, sparing the evaluator a
// round trip through map[string]any.
//
// It is on every request's path, so it allocates as little as it can
// (bench/README.md): object keys and recurring values (methods, API
// families, common header names) are terms made once; and the other string
// terms of one input share a single allocation. OPA never
// modifies a value it evaluates, so a term may sit in any number of inputs
// evaluated at once.
func (in *Input) Value() (ast.Value, error) {
	action, err := in.Action.term()
	if err != nil {
		return nil, err
	}
	// Strings this input needs terms for: request (5), operation, project
	// id, the headers' names and values, and the server ids.
	b := termBatch{terms: make([]ast.Term, 0, 7+2*len(in.Request.Headers)+len(in.ServerIDs))}
	return ast.NewObject(
		ast.Item(keyRequest, in.Request.term(&b)),
		ast.Item(keyAPI, apiTerms.get(in.API, in.API.term)),
		ast.Item(keyOperation, b.constant(in.Operation)),
		ast.Item(keyAction, action),
		ast.Item(keyServerIDs, b.strings(in.ServerIDs)),
		ast.Item(keyProjectID, b.nullable(in.ProjectID)),
		ast.Item(keyIdentity, in.Identity.term()),
	), nil
}

func (a API) term() *ast.Term {
	return ast.ObjectTerm(
		ast.Item(keyFamily, constantOr(a.Family)),
		ast.Item(keyVersion, constantOr(a.Version)),
		ast.Item(keyMicroversion, constantOr(a.Microversion)),
		ast.Item(keyRoute, constantOr(a.Route)),
	)
}

func (a *Action) term() (*ast.Term, error) {
	if a == nil {
		return nullTerm, nil
	}
	args, err := jsonTerm(a.Args)
	if err != nil {
		return nil, err
	}
	if args == nullTerm {
		// Most actions take null (lock, unlock, os-start...).
		name := a.Name
		return nullArgActions.get(name, func() *ast.Term {
			return ast.ObjectTerm(ast.Item(keyName, constantOr(name)), ast.Item(keyArgs, nullTerm))
		}), nil
	}
	return ast.ObjectTerm(ast.Item(keyName, constantOr(a.Name)), ast.Item(keyArgs, args)), nil
}

func (r *Request) term(b *termBatch) *ast.Term {
	headers := make([][2]*ast.Term, 0, len(r.Headers))
	for k, v := range r.Headers {
		headers = append(headers, ast.Item(b.constant(k), b.constant(v)))
	}
	return ast.ObjectTerm(
		ast.Item(keyID, b.string(r.ID)),
		ast.Item(keyMethod, b.constant(r.Method)),
		ast.Item(keyPath, b.string(r.Path)),
		ast.Item(keyQuery, b.constant(r.Query)),
		ast.Item(keyHeaders, ast.ObjectTerm(headers...)),
		ast.Item(keyRemoteIP, b.string(r.RemoteIP)),
	)
}

// term builds the identity's value.
func (id *Identity) term() *ast.Term {
	if id == nil {
		return nullTerm
	}
	if id.sealed != nil {
		return id.sealed
	}
	b := termBatch{terms: make([]ast.Term, 0, 18+len(id.Roles)+len(id.AuthMethods))}
	project := nullTerm
	if id.Project != nil {
		project = id.Project.term(&b)
	}
	scope := nullTerm
	if id.Scope != nil {
		scope = id.Scope.term(&b)
	}
	expires := nullTerm
	if !id.ExpiresAt.IsZero() {
		expires = b.string(id.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return ast.ObjectTerm(
		ast.Item(keyMethod, b.constant(id.Method)),
		ast.Item(keyUser, id.User.term(&b)),
		ast.Item(keyProject, project),
		ast.Item(keyScope, scope),
		ast.Item(keyRoles, b.strings(id.Roles)),
		ast.Item(keyAuthMethods, b.strings(id.AuthMethods)),
		ast.Item(keyExpiresAt, expires),
		ast.Item(keyAccessKey, b.nullable(id.AccessKey)),
	)
}

func (s *IdentityScope) term(b *termBatch) *ast.Term {
	project, domain := nullTerm, nullTerm
	if s.Project != nil {
		project = s.Project.term(b)
	}
	if s.Domain != nil {
		domain = ast.ObjectTerm(
			ast.Item(keyID, b.constant(s.Domain.ID)),
			ast.Item(keyName, b.constant(s.Domain.Name)),
		)
	}
	return ast.ObjectTerm(
		ast.Item(keyType, b.constant(s.Type)),
		ast.Item(keyProject, project),
		ast.Item(keyDomain, domain),
		ast.Item(keySystem, b.nullable(s.System)),
	)
}

func (s *Scope) term(b *termBatch) *ast.Term {
	return ast.ObjectTerm(
		ast.Item(keyID, b.string(s.ID)),
		ast.Item(keyName, b.string(s.Name)),
		ast.Item(keyDomain, ast.ObjectTerm(
			ast.Item(keyID, b.constant(s.Domain.ID)),
			ast.Item(keyName, b.constant(s.Domain.Name)),
		)),
	)
}

// termBatch hands out string terms from one slice: one allocation for all
// the *ast.Term of an input instead of one each.
type termBatch struct {
	terms []ast.Term
}

func (b *termBatch) string(s string) *ast.Term {
	if s == "" {
		return emptyStringTerm
	}
	if len(b.terms) == cap(b.terms) {
		return ast.StringTerm(s)
	}
	b.terms = append(b.terms, ast.Term{Value: ast.String(s)})
	return &b.terms[len(b.terms)-1]
}

// constant is string for values that often repeat (methods, families,
// header names...): those come from a fixed table.
func (b *termBatch) constant(s string) *ast.Term {
	if t, ok := constantTerms[s]; ok {
		return t
	}
	return b.string(s)
}

func (b *termBatch) nullable(s string) *ast.Term {
	if s == "" {
		return nullTerm
	}
	return b.string(s)
}

func (b *termBatch) strings(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = b.constant(s)
	}
	return ast.ArrayTerm(terms...)
}

// constantOr returns the table's term for s or a new one.
func constantOr(s string) *ast.Term {
	if t, ok := constantTerms[s]; ok {
		return t
	}
	return ast.StringTerm(s)
}

// jsonTerm converts the raw action value. `null` is by far the most common
// argument (lock, unlock, os-start...), so it skips the decoder.
func jsonTerm(raw json.RawMessage) (*ast.Term, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nullTerm, nil
	}
	var v any
	if err := util.UnmarshalJSON(raw, &v); err != nil {
		return nil, err
	}
	val, err := ast.InterfaceToValue(v)
	if err != nil {
		return nil, err
	}
	return ast.NewTerm(val), nil
}

// Terms shared by every input.
var (
	nullTerm        = ast.NullTerm()
	emptyStringTerm = ast.StringTerm("")

	keyRequest      = ast.StringTerm("request")
	keyAPI          = ast.StringTerm("api")
	keyOperation    = ast.StringTerm("operation")
	keyAction       = ast.StringTerm("action")
	keyServerIDs    = ast.StringTerm("server_ids")
	keyProjectID    = ast.StringTerm("project_id")
	keyIdentity     = ast.StringTerm("identity")
	keyID           = ast.StringTerm("id")
	keyMethod       = ast.StringTerm("method")
	keyPath         = ast.StringTerm("path")
	keyQuery        = ast.StringTerm("query")
	keyHeaders      = ast.StringTerm("headers")
	keyRemoteIP     = ast.StringTerm("remote_ip")
	keyFamily       = ast.StringTerm("family")
	keyVersion      = ast.StringTerm("version")
	keyMicroversion = ast.StringTerm("microversion")
	keyRoute        = ast.StringTerm("route")
	keyName         = ast.StringTerm("name")
	keyArgs         = ast.StringTerm("args")
	keyUser         = ast.StringTerm("user")
	keyProject      = ast.StringTerm("project")
	keyRoles        = ast.StringTerm("roles")
	keyExpiresAt    = ast.StringTerm("expires_at")
	keyAccessKey    = ast.StringTerm("access_key")
	keyDomain       = ast.StringTerm("domain")
	keyScope        = ast.StringTerm("scope")
	keyAuthMethods  = ast.StringTerm("auth_methods")
	keyType         = ast.StringTerm("type")
	keySystem       = ast.StringTerm("system")
)

// The api object and the object of an action without arguments come from
// small sets (the classifier's routes and actions); each is built once.
// The caps only guard against a classifier that would one day pass
// arbitrary strings through: past them, terms are built per request.
var (
	apiTerms       = newSmallCache[API](1024)
	nullArgActions = newSmallCache[string](1024)
)

// smallCache memoises terms that are a pure function of a small comparable
// key, up to max entries.
type smallCache[K comparable] struct {
	m   sync.Map // K -> *ast.Term
	n   atomic.Int64
	max int64
}

func newSmallCache[K comparable](max int64) *smallCache[K] {
	return &smallCache[K]{max: max}
}

func (c *smallCache[K]) get(k K, build func() *ast.Term) *ast.Term {
	if t, ok := c.m.Load(k); ok {
		return t.(*ast.Term)
	}
	t := build()
	if c.n.Load() < c.max {
		if _, loaded := c.m.LoadOrStore(k, t); !loaded {
			c.n.Add(1)
		}
	}
	return t
}

// constantTerms holds the terms of values drawn from small fixed sets.
var constantTerms = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, s := range []string{
		"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
		"nova", "ecs", "v1", "v1.1", "v2", "v2.1", "token", "aksk",
		ScopeProject, ScopeDomain, ScopeSystem, ScopeUnscoped, "all", "password",
		"member", "reader", "admin", "default", "Default", "*/*", "application/json",
		Redacted,
	} {
		m[s] = ast.StringTerm(s)
	}
	for _, s := range commonHeaders {
		m[s] = ast.StringTerm(s)
	}
	return m
}()
