package policy

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"
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
	Method    string    `json:"method"`
	User      Scope     `json:"user"`
	Project   *Scope    `json:"project"`
	Roles     []string  `json:"roles"`
	ExpiresAt time.Time `json:"expires_at"`
	AccessKey string    `json:"access_key"`
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

// IsSecretHeader reports whether a header (any case) carries a credential.
func IsSecretHeader(name string) bool {
	return secretHeaders[strings.ToLower(name)]
}

// Headers flattens h into lower-case names with comma-joined values and
// credentials redacted. The classifier has already refused repeated
// security-relevant headers, so joining cannot hide a second value from policy.
func Headers(h http.Header) map[string]string {
	out := make(map[string]string, len(h))
	for name, values := range h {
		lower := strings.ToLower(name)
		if secretHeaders[lower] {
			out[lower] = Redacted
			continue
		}
		out[lower] = strings.Join(values, ", ")
	}
	return out
}

// Value builds the input as an OPA value directly, sparing the evaluator a
// round trip through map[string]any.
func (in *Input) Value() (ast.Value, error) {
	action := ast.NullTerm()
	if in.Action != nil {
		args, err := jsonTerm(in.Action.Args)
		if err != nil {
			return nil, err
		}
		action = ast.ObjectTerm(
			ast.Item(ast.InternedTerm("name"), ast.StringTerm(in.Action.Name)),
			ast.Item(ast.InternedTerm("args"), args),
		)
	}
	return ast.NewObject(
		ast.Item(ast.InternedTerm("request"), in.Request.term()),
		ast.Item(ast.InternedTerm("api"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("family"), ast.StringTerm(in.API.Family)),
			ast.Item(ast.InternedTerm("version"), ast.StringTerm(in.API.Version)),
			ast.Item(ast.InternedTerm("microversion"), ast.StringTerm(in.API.Microversion)),
			ast.Item(ast.InternedTerm("route"), ast.StringTerm(in.API.Route)),
		)),
		ast.Item(ast.InternedTerm("operation"), ast.StringTerm(in.Operation)),
		ast.Item(ast.InternedTerm("action"), action),
		ast.Item(ast.InternedTerm("server_ids"), stringsTerm(in.ServerIDs)),
		ast.Item(ast.InternedTerm("project_id"), nullableString(in.ProjectID)),
		ast.Item(ast.InternedTerm("identity"), in.Identity.term()),
	), nil
}

func (r *Request) term() *ast.Term {
	headers := make([][2]*ast.Term, 0, len(r.Headers))
	for k, v := range r.Headers {
		headers = append(headers, ast.Item(ast.StringTerm(k), ast.StringTerm(v)))
	}
	return ast.ObjectTerm(
		ast.Item(ast.InternedTerm("id"), ast.StringTerm(r.ID)),
		ast.Item(ast.InternedTerm("method"), ast.StringTerm(r.Method)),
		ast.Item(ast.InternedTerm("path"), ast.StringTerm(r.Path)),
		ast.Item(ast.InternedTerm("query"), ast.StringTerm(r.Query)),
		ast.Item(ast.InternedTerm("headers"), ast.ObjectTerm(headers...)),
		ast.Item(ast.InternedTerm("remote_ip"), ast.StringTerm(r.RemoteIP)),
	)
}

func (id *Identity) term() *ast.Term {
	if id == nil {
		return ast.NullTerm()
	}
	project := ast.NullTerm()
	if id.Project != nil {
		project = id.Project.term()
	}
	expires := ast.NullTerm()
	if !id.ExpiresAt.IsZero() {
		expires = ast.StringTerm(id.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return ast.ObjectTerm(
		ast.Item(ast.InternedTerm("method"), ast.StringTerm(id.Method)),
		ast.Item(ast.InternedTerm("user"), id.User.term()),
		ast.Item(ast.InternedTerm("project"), project),
		ast.Item(ast.InternedTerm("roles"), stringsTerm(id.Roles)),
		ast.Item(ast.InternedTerm("expires_at"), expires),
		ast.Item(ast.InternedTerm("access_key"), nullableString(id.AccessKey)),
	)
}

func (s *Scope) term() *ast.Term {
	return ast.ObjectTerm(
		ast.Item(ast.InternedTerm("id"), ast.StringTerm(s.ID)),
		ast.Item(ast.InternedTerm("name"), ast.StringTerm(s.Name)),
		ast.Item(ast.InternedTerm("domain"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("id"), ast.StringTerm(s.Domain.ID)),
			ast.Item(ast.InternedTerm("name"), ast.StringTerm(s.Domain.Name)),
		)),
	)
}

func stringsTerm(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.StringTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

func nullableString(s string) *ast.Term {
	if s == "" {
		return ast.NullTerm()
	}
	return ast.StringTerm(s)
}

// jsonTerm converts the raw action value. `null` is by far the most common
// argument (lock, unlock, os-start...), so it skips the decoder.
func jsonTerm(raw json.RawMessage) (*ast.Term, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return ast.NullTerm(), nil
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
