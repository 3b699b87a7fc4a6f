package ecssim

import (
	"context"
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// computeClient authenticates like a real gophercloud user: password auth
// against /v3, compute endpoint taken from the catalog.
func computeClient(t *testing.T, s *sim, userName, projectName, microversion string) *gophercloud.ServiceClient {
	t.Helper()
	ctx := context.Background()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: s.srv.URL + "/v3",
		Username:         userName,
		Password:         userName + "-secret",
		DomainName:       "Default",
		Scope:            &gophercloud.AuthScope{ProjectName: projectName, DomainName: "Default"},
		AllowReauth:      true,
	})
	require.NoError(t, err)
	client, err := openstack.NewComputeV2(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	require.NoError(t, err)
	client.Microversion = microversion
	return client
}

func TestGophercloud(t *testing.T) {
	s := newSim(t, nil)
	ctx := context.Background()
	alice := computeClient(t, s, "alice", "demo", "2.73")
	bob := computeClient(t, s, "bob", "demo", "")
	carol := computeClient(t, s, "carol", "demo", "")
	eve := computeClient(t, s, "eve", "other", "")
	admin := computeClient(t, s, "admin", "admin", "2.9")
	assert.Equal(t, s.srv.URL+"/v2.1/", alice.ResourceBaseURL())

	// List (paged through servers_links) and Get.
	pages, err := servers.List(alice, servers.ListOpts{}).AllPages(ctx)
	require.NoError(t, err)
	all, err := servers.ExtractServers(pages)
	require.NoError(t, err)
	require.Len(t, all, 2)
	names := []string{all[0].Name, all[1].Name}
	assert.ElementsMatch(t, []string{"web-1", "db-1"}, names)

	srv, err := servers.Get(ctx, alice, web1).Extract()
	require.NoError(t, err)
	assert.Equal(t, "web-1", srv.Name)
	assert.Equal(t, "ACTIVE", srv.Status)
	assert.Equal(t, projectDemoID, srv.TenantID)
	require.NotNil(t, srv.Locked)
	assert.False(t, *srv.Locked)
	assert.False(t, srv.LaunchedAt.IsZero())

	// Lock / Unlock through the matrix of docs/compute-api-facts.md, "Lock
	// and unlock".
	require.NoError(t, servers.Lock(ctx, alice, web1).ExtractErr())
	srv, err = servers.Get(ctx, alice, web1).Extract()
	require.NoError(t, err)
	assert.True(t, *srv.Locked)
	require.NoError(t, servers.Unlock(ctx, bob, web1).ExtractErr())

	err = servers.Lock(ctx, carol, web1).ExtractErr()
	require.Error(t, err)
	assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusForbidden), err)
	assert.Contains(t, err.Error(), "os-lock-server:lock")

	err = servers.Lock(ctx, eve, web1).ExtractErr()
	assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusNotFound), err)
	_, err = servers.Get(ctx, eve, web1).Extract()
	assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusNotFound), err)

	require.NoError(t, servers.Lock(ctx, admin, web1).ExtractErr())
	err = servers.Unlock(ctx, bob, web1).ExtractErr()
	assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusForbidden), err)
	assert.Contains(t, err.Error(), "unlock_override")

	// A locked server refuses a member's stop.
	err = servers.Stop(ctx, bob, web1).ExtractErr()
	assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusConflict), err)
	require.NoError(t, servers.Unlock(ctx, admin, web1).ExtractErr())
	require.NoError(t, servers.Stop(ctx, bob, web1).ExtractErr())
	srv, err = servers.Get(ctx, admin, web1).Extract()
	require.NoError(t, err)
	assert.Equal(t, "SHUTOFF", srv.Status)
	assert.Equal(t, "ecssim-compute-1", srv.Host) // admin-only attribute

	// Admin listing across projects.
	pages, err = servers.List(admin, servers.ListOpts{AllTenants: true}).AllPages(ctx)
	require.NoError(t, err)
	all, err = servers.ExtractServers(pages)
	require.NoError(t, err)
	assert.Len(t, all, 3)

	// Re-authentication on 401: revoke bob's token and call again.
	tok := bob.TokenID
	r := s.do(req{method: http.MethodDelete, path: "/v3/auth/tokens", token: tok, header: map[string]string{"X-Subject-Token": tok}})
	require.Equal(t, http.StatusNoContent, r.Status)
	require.NoError(t, servers.Start(ctx, bob, web1).ExtractErr())
	assert.NotEqual(t, tok, bob.TokenID)
}
