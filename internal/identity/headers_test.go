package identity

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

// keystonemiddlewareStripped is keystonemiddleware's list, spelled as in
// docs/compute-api-facts.md, "Keystone tokens and keystonemiddleware".
var keystonemiddlewareStripped = []string{
	"X-Identity-Status", "X-Service-Identity-Status", "X-Is-Admin-Project", "X-Service-Catalog",
	"X-Domain-Id", "X-Domain-Name", "X-Project-Id", "X-Project-Name", "X-Project-Domain-Id", "X-Project-Domain-Name",
	"X-User-Id", "X-User-Name", "X-User-Domain-Id", "X-User-Domain-Name", "X-Roles",
	"X-Service-Domain-Id", "X-Service-Domain-Name", "X-Service-Project-Id", "X-Service-Project-Name",
	"X-Service-Project-Domain-Id", "X-Service-Project-Domain-Name", "X-Service-User-Id", "X-Service-User-Name",
	"X-Service-User-Domain-Id", "X-Service-User-Domain-Name", "X-Service-Roles",
	"X-Role", "X-User", "X-Tenant-Id", "X-Tenant-Name", "X-Tenant",
	"OpenStack-System-Scope",
}

func TestSpoofableHeadersList(t *testing.T) {
	want := make([]string, len(keystonemiddlewareStripped))
	for i, n := range keystonemiddlewareStripped {
		want[i] = http.CanonicalHeaderKey(n)
	}
	assert.ElementsMatch(t, want, spoofableHeaders)
	for _, n := range spoofableHeaders {
		assert.Equal(t, http.CanonicalHeaderKey(n), n, "precomputed names are canonical")
	}
}

func spoofedRequestHeader() http.Header {
	h := http.Header{}
	for _, n := range keystonemiddlewareStripped {
		h.Set(n, "spoofed")
	}
	h.Set("X-Auth-Token", "tok")
	h.Set("Authorization", "SDK-HMAC-SHA256 ...")
	h.Set("X-Sdk-Date", "20261128T042854Z")
	h.Set("X-Openstack-Nova-Api-Version", "2.60")
	h.Set("X-Project-Id-Extra", "kept") // only exact names match
	h.Set("X-Service-Token", "kept")
	// Spellings a WSGI server maps onto the same environ keys.
	h["X_Roles"] = []string{"admin"}
	h["x-user-id"] = []string{"spoofed"}
	h["X_PROJECT_ID"] = []string{"spoofed"}
	h["openstack_system_scope"] = []string{"all"}
	return h
}

func TestStripSpoofable(t *testing.T) {
	h := spoofedRequestHeader()
	StripSpoofable(h, false)
	assert.Equal(t, http.Header{
		"X-Auth-Token":                 {"tok"},
		"Authorization":                {"SDK-HMAC-SHA256 ..."},
		"X-Sdk-Date":                   {"20261128T042854Z"},
		"X-Openstack-Nova-Api-Version": {"2.60"},
		"X-Project-Id-Extra":           {"kept"},
		"X-Service-Token":              {"kept"},
	}, h)
}

func TestStripSpoofableKeepSignedProjectID(t *testing.T) {
	h := spoofedRequestHeader()
	h.Set("X-Project-Id", "0123456789abcdef0123456789abcdef")
	StripSpoofable(h, true)
	assert.Equal(t, []string{"0123456789abcdef0123456789abcdef"}, h.Values("X-Project-Id"))
	for _, n := range keystonemiddlewareStripped {
		if n != "X-Project-Id" {
			assert.Empty(t, h.Values(n), n)
		}
	}
	assert.NotContains(t, h, "X_PROJECT_ID", "only the canonical, signable spelling is kept")
	assert.NotContains(t, h, "X-Tenant-Id", "the deprecated alias is not the signed header")

	// Keeping does not invent a header that was not sent.
	h = http.Header{"X-Roles": {"admin"}}
	StripSpoofable(h, true)
	assert.Empty(t, h)
}

func TestStripSpoofableNoAllocs(t *testing.T) {
	h := http.Header{
		"X-Auth-Token":           {"tok"},
		"Accept":                 {"application/json"},
		"Content-Type":           {"application/json"},
		"User-Agent":             {"gophercloud/v2"},
		"X-Openstack-Request-Id": {"req-x"},
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { StripSpoofable(h, true) }))
	assert.Len(t, h, 5)
}
