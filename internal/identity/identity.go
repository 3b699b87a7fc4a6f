// Package identity works out who is calling: it validates Keystone/IAM tokens
// (self-validation, cached like keystonemiddleware), parses AK/SK
// SDK-HMAC-SHA256 Authorization headers strictly, and strips the identity
// headers a client could use to impersonate someone (docs/compute-api-facts.md,
// "AK/SK signing" and "Keystone tokens and keystonemiddleware").
//
// The package has no Caddy or OPA dependency. It never stores, logs or puts a
// token into an error: tokens are only ever hashed (SHA-256) and sent to
// Keystone.
package identity

import (
	"errors"
	"time"
)

// Authentication methods reported in [Identity.Method].
const (
	MethodToken = "token"
	MethodAKSK  = "aksk"
)

// Ref names a Keystone object (domain, role, ...).
type Ref struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Scope is a user or project together with its owning domain.
type Scope struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain Ref    `json:"domain"`
}

// Identity is the authenticated caller.
//
// Identities returned by [Keystone.Validate] are shared by every request that
// presents the same token while it is cached: treat them as read-only (do not
// modify Roles or AuthMethods in place).
type Identity struct {
	// Method is MethodToken or MethodAKSK.
	Method string `json:"method"`
	// User is the token's user and the user's domain (empty for AK/SK).
	User Scope `json:"user"`
	// Project is the token's project; empty for domain-, system-scoped and
	// unscoped tokens, and for AK/SK (see [SDKSignature.Signs] for a signed
	// X-Project-Id).
	Project Scope `json:"project"`
	// DomainScope is the domain of a domain-scoped token.
	DomainScope Ref `json:"domain_scope"`
	// System is true for a system-scoped token (`"system": {"all": true}`),
	// what keystonemiddleware reports as `OpenStack-System-Scope: all`.
	System bool `json:"system"`
	// Roles are the role names exactly as Keystone lists them, in its order,
	// implied roles included. Never nil for tokens; nil (unknown) for AK/SK.
	Roles []string `json:"roles"`
	// AuthMethods is the token's "methods" list (password, token, totp,
	// application_credential, ...).
	AuthMethods []string `json:"auth_methods,omitempty"`
	// ExpiresAt is the token's expires_at; zero for AK/SK.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// AccessKey is the AK of an AK/SK request.
	AccessKey string `json:"access_key,omitempty"`
}

// ErrUnavailable means the token could not be checked: IAM unreachable, timed
// out, answered 5xx or another unexpected status, or sent a body that is not a
// usable token. The caller must answer 503 and must never allow the request.
// Errors wrapping it carry detail but never the token.
var ErrUnavailable = errors.New("identity: token validation unavailable")

// Canonical names of the headers keystonemiddleware reads the user token from.
const (
	headerAuthToken    = "X-Auth-Token"
	headerStorageToken = "X-Storage-Token"
)
