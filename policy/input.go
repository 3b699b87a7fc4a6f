package policy

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
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
