package identity

import (
	"net/http"
)

// Credential kinds returned by [SelectCredential].
const (
	// CredentialNone: no usable credential. Nova answers such a request 401;
	// the policy sees identity null.
	CredentialNone = ""
	// CredentialToken: a Keystone / IAM token, in Credential.Token.
	CredentialToken = MethodToken
	// CredentialAKSK: an SDK-HMAC-SHA256 Authorization header, in
	// Credential.Authorization.
	CredentialAKSK = MethodAKSK
)

// Credential is the one credential a request authenticates with, chosen the
// way the upstream chooses it.
type Credential struct {
	// Kind is CredentialNone, CredentialToken or CredentialAKSK.
	Kind string
	// Token is the user token, trimmed as keystonemiddleware trims it.
	Token string
	// Header names the header the token came from (X-Auth-Token or
	// X-Storage-Token).
	Header string
	// Authorization is the raw Authorization value of an AK/SK request.
	Authorization string
}

// CredentialError is a request whose credential headers do not name exactly
// one caller: the gateway and the upstream could pick different ones, so it
// is refused (400) rather than decided. Message is safe to show the client
// and never holds a credential.
type CredentialError struct {
	Reason  string
	Message string
}

func (e *CredentialError) Error() string { return "identity: " + e.Reason + ": " + e.Message }

// Canonical names of the credential headers.
const (
	headerServiceToken  = "X-Service-Token"
	headerAuthorization = "Authorization"
)

// SelectCredential picks the caller's credential exactly as keystonemiddleware
// does for Nova (auth_token's AuthTokenRequest.user_token), and refuses every
// combination where another reader could pick another one
// (docs/forwarded-request.md, "Credentials"):
//
//   - keystonemiddleware reads X-Auth-Token when the header is present, even
//     empty, and only otherwise X-Storage-Token; it validates the value
//     stripped of Python whitespace, and treats an empty value as no token
//     (401). So an empty X-Auth-Token hides an X-Storage-Token.
//   - Two token headers with different values, an empty token header next to
//     another credential, or a token next to an Authorization header (which
//     Huawei's API gateway reads, keystonemiddleware ignores) name two callers:
//     refused.
//   - X-Service-Token adds a service's roles to the request and lets an
//     expired user token pass; the gateway cannot judge a service identity,
//     so it is refused.
//   - A repeated credential header is refused: the WSGI server joins the
//     lines into one value no reader here would see.
//
// Header names with '_' (which WSGI also maps onto these) must be refused by
// the caller before this runs.
func SelectCredential(h http.Header) (Credential, error) {
	auth, hasAuth := h[headerAuthToken]
	storage, hasStorage := h[headerStorageToken]
	authz, hasAuthz := h[headerAuthorization]
	for _, v := range [...][]string{auth, storage, authz, h[headerServiceToken]} {
		if len(v) > 1 {
			return Credential{}, &CredentialError{Reason: "repeated_credential",
				Message: "Send each credential header once."}
		}
	}
	if _, ok := h[headerServiceToken]; ok {
		return Credential{}, &CredentialError{Reason: "service_token",
			Message: "X-Service-Token is not accepted through the gateway."}
	}
	var authTok, storageTok string
	if hasAuth {
		authTok = trimPySpace(auth[0])
	}
	if hasStorage {
		storageTok = trimPySpace(storage[0])
	}
	hasToken := hasAuth || hasStorage
	switch {
	case hasToken && hasAuthz:
		return Credential{}, &CredentialError{Reason: "ambiguous_credentials",
			Message: "Send either a token or an Authorization signature, not both."}
	case hasAuth && hasStorage && (authTok == "" || authTok != storageTok):
		return Credential{}, &CredentialError{Reason: "ambiguous_credentials",
			Message: "X-Auth-Token and X-Storage-Token name different tokens; send one."}
	case hasAuth:
		if authTok == "" {
			return Credential{}, nil
		}
		return Credential{Kind: CredentialToken, Token: authTok, Header: headerAuthToken}, nil
	case hasStorage:
		if storageTok == "" {
			return Credential{}, nil
		}
		return Credential{Kind: CredentialToken, Token: storageTok, Header: headerStorageToken}, nil
	case hasAuthz:
		return Credential{Kind: CredentialAKSK, Authorization: authz[0]}, nil
	}
	return Credential{}, nil
}
