package identity

import (
	"net/http"
	"slices"
)

// spoofableHeaders are the canonical names of the identity headers
// keystonemiddleware removes from every request before it sets its own
// (_AuthTokenRequest.remove_auth_headers; docs/compute-api-facts.md,
// "Keystone tokens and keystonemiddleware"), plus OpenStack-System-Scope.
var spoofableHeaders = func() []string {
	names := []string{
		"X-Identity-Status",
		"X-Service-Identity-Status",
		"X-Is-Admin-Project",
		"X-Service-Catalog",
	}
	for _, prefix := range []string{"X-", "X-Service-"} {
		for _, suffix := range []string{
			"Domain-Id", "Domain-Name",
			"Project-Id", "Project-Name", "Project-Domain-Id", "Project-Domain-Name",
			"User-Id", "User-Name", "User-Domain-Id", "User-Domain-Name",
			"Roles",
		} {
			names = append(names, prefix+suffix)
		}
	}
	names = append(names,
		// Deprecated aliases keystonemiddleware still sets.
		"X-Role", "X-User", "X-Tenant-Id", "X-Tenant-Name", "X-Tenant",
		"OpenStack-System-Scope",
	)
	for i, n := range names {
		names[i] = http.CanonicalHeaderKey(n)
	}
	return names
}()

// headerProjectID is the one spoofable header kept when signed (AK/SK).
var headerProjectID = http.CanonicalHeaderKey("X-Project-Id")

// maxSpoofableLen is the length of the longest spoofable name; longer keys
// cannot match.
var maxSpoofableLen = slices.Max(func() []int {
	l := make([]int, len(spoofableHeaders))
	for i, n := range spoofableHeaders {
		l[i] = len(n)
	}
	return l
}())

// spoofableWSGI holds the spoofable names as a WSGI server sees them:
// upper-cased, with '_' and '-' equivalent (both become '_' in the environ
// key HTTP_X_PROJECT_ID). Stored with '-'.
var spoofableWSGI = func() map[string]struct{} {
	m := make(map[string]struct{}, len(spoofableHeaders))
	for _, n := range spoofableHeaders {
		var buf [64]byte
		m[string(wsgiName(buf[:0], n))] = struct{}{}
	}
	return m
}()

// StripSpoofable deletes every client-supplied identity header
// keystonemiddleware would strip, so neither policy nor upstream can be
// fooled by them. X-Project-Id (canonical spelling only) survives when
// keepSignedProjectID is true: the caller sets it for AK/SK requests whose
// signature covers x-project-id.
//
// Names are matched as the WSGI stack would: case-insensitively and with
// '_' equal to '-', so X_Roles or a non-canonical map key is removed too
// (requests with underscore header names should be rejected anyway:
// docs/compute-api-facts.md, "Parser differentials").
func StripSpoofable(h http.Header, keepSignedProjectID bool) {
	var kept []string
	if keepSignedProjectID {
		kept = h[headerProjectID]
	}
	var buf [64]byte
	for k := range h {
		if len(k) > maxSpoofableLen {
			continue
		}
		if _, ok := spoofableWSGI[string(wsgiName(buf[:0], k))]; ok {
			delete(h, k)
		}
	}
	if kept != nil {
		h[headerProjectID] = kept
	}
}

// wsgiName appends name upper-cased with '_' turned into '-'.
func wsgiName(dst []byte, name string) []byte {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case c == '_':
			c = '-'
		}
		dst = append(dst, c)
	}
	return dst
}
