package policy

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Input is the document a policy sees as `input`. Its shape is a public
// contract (docs/policy-input.md): fields are only ever added.
type Input struct {
	Request   Request   `json:"request"`
	API       API       `json:"api"`
	Operation string    `json:"operation"`
	Action    *Action   `json:"action"`
	ServerIDs []string  `json:"server_ids"`
	ProjectID string    `json:"project_id"` // "" is rendered as null
	Identity  *Identity `json:"identity"`
}

// Request describes the HTTP request as received, with secrets redacted.
type Request struct {
	ID       string            `json:"id"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Query    string            `json:"query"`
	Headers  map[string]string `json:"headers"`
	RemoteIP string            `json:"remote_ip"`
}

// API tells which upstream API the request addresses.
type API struct {
	Family       string `json:"family"`
	Version      string `json:"version"`
	Microversion string `json:"microversion"`
	Route        string `json:"route"`
}

// Action is the server action named by the body's single top-level key and
// the exact JSON value of that key.
type Action struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// Identity is the caller as the gateway established it. It never holds the
// token or signature it was established from.
type Identity struct {
	Method  string `json:"method"`
	User    Scope  `json:"user"`
	Project *Scope `json:"project"`
	// Scope is what the credential is scoped to; nil only for identities
	// built before scopes were known (tests).
	Scope *IdentityScope `json:"scope"`
	Roles []string       `json:"roles"`
	// AuthMethods is the token's "methods" (password, token, totp,
	// application_credential, ...); empty for AK/SK.
	AuthMethods []string  `json:"auth_methods"`
	ExpiresAt   time.Time `json:"expires_at"`
	AccessKey   string    `json:"access_key"`

	// sealed is the identity's OPA value, built once by Seal, and
	// sealedText its canonical text (the decision cache's key for it).
	sealed     *ast.Term
	sealedText string
}

// Seal builds the identity's OPA value once, for every input it will be
// part of: a token's identity is the same for every request the token makes
// while it is cached, and its value is most of an input's allocations. The
// identity must not be modified afterwards.
func (id *Identity) Seal() *Identity {
	id.sealed = nil
	term := id.term()
	id.sealed, id.sealedText = term, term.String()
	return id
}

// Scope types of IdentityScope.Type.
const (
	ScopeProject  = "project"
	ScopeDomain   = "domain"
	ScopeSystem   = "system"
	ScopeUnscoped = "unscoped"
)

// IdentityScope tells a project admin from a domain or system admin: a
// role means something different in each scope.
type IdentityScope struct {
	// Type is ScopeProject, ScopeDomain, ScopeSystem or ScopeUnscoped.
	Type string `json:"type"`
	// Project is the scope of a project-scoped credential.
	Project *Scope `json:"project"`
	// Domain is the scope of a domain-scoped token.
	Domain *Ref `json:"domain"`
	// System is "all" for a system-scoped token, "" (null) otherwise.
	System string `json:"system"`
}

// Scope names a Keystone user or project and its domain.
type Scope struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain Ref    `json:"domain"`
}

// Ref is a Keystone id/name pair.
type Ref struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Redacted replaces the value of every header that carries a credential.
const Redacted = "[REDACTED]"

// secretHeaders are redacted wherever the input goes: policy, spans and
// decision records all read the same document.
var secretHeaders = map[string]bool{
	"x-auth-token":        true,
	"x-storage-token":     true,
	"x-subject-token":     true,
	"x-service-token":     true,
	"x-security-token":    true,
	"authorization":       true,
	"proxy-authorization": true,
	"cookie":              true,
}

// Headers flattens h into lower-case names with comma-joined values and
// credentials redacted. The classifier has already refused repeated
// security-relevant headers, so joining cannot hide a second value from policy.
func Headers(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for name, values := range h {
		lower, ok := lowerHeaderNames[name]
		if !ok {
			lower = strings.ToLower(name)
		}
		if secretHeaders[lower] {
			out[lower] = Redacted
			continue
		}
		out[lower] = strings.Join(values, ", ")
	}
	return out
}

// commonHeaders are headers most requests carry. Their lower-case names and
// their OPA terms are made once instead of per request.
var commonHeaders = []string{
	"accept", "accept-encoding", "authorization", "connection", "content-length",
	"content-type", "cookie", "host", "openstack-api-version", "traceparent",
	"tracestate", "user-agent", "x-auth-token", "x-forwarded-for", "x-forwarded-host",
	"x-forwarded-proto", "x-openstack-nova-api-version", "x-openstack-request-id",
	"x-project-id", "x-sdk-content-sha256", "x-sdk-date",
}

// lowerHeaderNames maps net/http's canonical form of the common headers to
// their lower-case names.
var lowerHeaderNames = func() map[string]string {
	m := make(map[string]string, len(commonHeaders))
	for _, name := range commonHeaders {
		m[http.CanonicalHeaderKey(name)] = name
	}
	return m
}()

// MarshalJSON renders the input exactly as the policy sees it (Value builds
// the same document as an OPA value; a test keeps the two equal): lists are
// never null, an empty project id, expiry, access key or system scope is
// null, and an action without arguments has "args": null.
func (in Input) MarshalJSON() ([]byte, error) {
	type plain Input // no methods: no recursion
	return json.Marshal(struct {
		plain
		ServerIDs []string `json:"server_ids"`
		ProjectID *string  `json:"project_id"`
	}{plain(in), nonNil(in.ServerIDs), nullable(in.ProjectID)})
}

// MarshalJSON: see Input.MarshalJSON.
func (r Request) MarshalJSON() ([]byte, error) {
	type plain Request
	headers := r.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	return json.Marshal(struct {
		plain
		Headers map[string]string `json:"headers"`
	}{plain(r), headers})
}

// MarshalJSON: see Input.MarshalJSON.
func (a Action) MarshalJSON() ([]byte, error) {
	args := a.Args
	if len(args) == 0 {
		args = json.RawMessage("null")
	}
	return json.Marshal(struct {
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	}{a.Name, args})
}

// MarshalJSON: see Input.MarshalJSON.
func (id Identity) MarshalJSON() ([]byte, error) {
	type plain Identity
	var expires *string
	if !id.ExpiresAt.IsZero() {
		s := id.ExpiresAt.UTC().Format(time.RFC3339)
		expires = &s
	}
	return json.Marshal(struct {
		plain
		Roles       []string `json:"roles"`
		AuthMethods []string `json:"auth_methods"`
		ExpiresAt   *string  `json:"expires_at"`
		AccessKey   *string  `json:"access_key"`
	}{plain(id), nonNil(id.Roles), nonNil(id.AuthMethods), expires, nullable(id.AccessKey)})
}

// MarshalJSON: see Input.MarshalJSON.
func (s IdentityScope) MarshalJSON() ([]byte, error) {
	type plain IdentityScope
	return json.Marshal(struct {
		plain
		System *string `json:"system"`
	}{plain(s), nullable(s.System)})
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
