package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/ecsgate/ecsgate/internal/ecssim"
)

const (
	gateway     = "http://127.0.0.1:9080"
	simulator   = "http://127.0.0.1:9081"
	demoProject = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	server1     = "c0ffee00-0000-4000-8000-000000000001"
	server2     = "c0ffee00-0000-4000-8000-000000000002"
	server3     = "c0ffee00-0000-4000-8000-000000000003"
)

// startGateway runs a real in-process Caddy: the gateway on :9080 in front of
// the simulator on :9081, with an access log written to a file the test reads.
func startGateway(t *testing.T) (accessLog string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	accessLog = filepath.Join(t.TempDir(), "access.log")
	t.Setenv("ECSGATE_TEST_ACCESS_LOG", accessLog)
	cfg, err := os.ReadFile("testdata/integration.caddyfile")
	require.NoError(t, err)
	tester := caddytest.NewTester(t)
	tester.InitServer(string(cfg), "caddyfile")
	// Keep-alive connections to the previous test's servers were closed by
	// the reload; reusing one would fail with EOF.
	http.DefaultClient.CloseIdleConnections()
	simReset(t)
	return accessLog
}

func simReset(t *testing.T) {
	t.Helper()
	resp, err := http.Post(simulator+"/__ecssim/reset", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}

type simRequest struct {
	Headers          map[string][]string `json:"headers"`
	Method           string              `json:"method"`
	Path             string              `json:"path"`
	BodySHA256       string              `json:"body_sha256"`
	BodyLength       int                 `json:"body_length"`
	ContentLength    string              `json:"content_length"`
	TransferEncoding []string            `json:"transfer_encoding"`
}

// upstreamSaw lists the requests that reached the simulator, i.e. what the
// gateway forwarded.
func upstreamSaw(t *testing.T) []simRequest {
	t.Helper()
	resp, err := http.Get(simulator + "/__ecssim/requests")
	require.NoError(t, err)
	defer resp.Body.Close()
	var out []simRequest
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

type simServer struct {
	Locked   bool    `json:"locked"`
	LockedBy *string `json:"locked_by"`
	Status   string  `json:"status"`
}

func serverState(t *testing.T, id string) simServer {
	t.Helper()
	resp, err := http.Get(simulator + "/__ecssim/servers/" + id)
	require.NoError(t, err)
	defer resp.Body.Close()
	var s simServer
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&s))
	return s
}

func computeClient(t *testing.T, user string) *gophercloud.ServiceClient {
	t.Helper()
	provider, err := openstack.AuthenticatedClient(t.Context(), gophercloud.AuthOptions{
		IdentityEndpoint: simulator + "/v3",
		Username:         user,
		Password:         user + "-secret",
		DomainName:       "Default",
		TenantName:       "demo",
	})
	require.NoError(t, err)
	client, err := openstack.NewComputeV2(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(client.Endpoint, gateway), "the catalog points clients at the gateway: %s", client.Endpoint)
	return client
}

func TestGophercloudThroughGateway(t *testing.T) {
	startGateway(t)
	alice := computeClient(t, "alice")
	dave := computeClient(t, "dave")
	carol := computeClient(t, "carol")

	// Reads pass for every role.
	pages, err := servers.List(carol, nil).AllPages(t.Context())
	require.NoError(t, err)
	list, err := servers.ExtractServers(pages)
	require.NoError(t, err)
	assert.Len(t, list, 2)
	got, err := servers.Get(t.Context(), carol, server1).Extract()
	require.NoError(t, err)
	assert.Equal(t, "web-1", got.Name)

	// A member may lock; only ecs_unlocker (or admin) may unlock.
	require.NoError(t, servers.Lock(t.Context(), alice, server1).ExtractErr())
	assert.True(t, serverState(t, server1).Locked)

	before := len(upstreamSaw(t))
	err = servers.Unlock(t.Context(), alice, server1).ExtractErr()
	require.Error(t, err)
	assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusForbidden), err)
	assert.Contains(t, err.Error(), "requires role ecs_unlocker or admin")
	assert.Len(t, upstreamSaw(t), before, "the denied unlock never reached the upstream")
	assert.True(t, serverState(t, server1).Locked)

	require.NoError(t, servers.Unlock(t.Context(), dave, server1).ExtractErr())
	assert.False(t, serverState(t, server1).Locked)

	// A reader may not stop a server; the state does not change.
	err = servers.Stop(t.Context(), carol, server2).ExtractErr()
	assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusForbidden), err)
	assert.Equal(t, "ACTIVE", serverState(t, server2).Status)

	// Upstream errors pass through unchanged: eve's server is not visible.
	err = servers.Lock(t.Context(), alice, server3).ExtractErr()
	assert.True(t, gophercloud.ResponseCodeIs(err, http.StatusNotFound), err)
}

func TestForwardedBodyIsByteIdentical(t *testing.T) {
	startGateway(t)
	body := "{ \"lock\"\t:\n{\"locked_reason\": \"caf\\u00e9 \u2615 maintenance\"}  }"
	req, err := http.NewRequest(http.MethodPost, gateway+"/v2.1/"+demoProject+"/servers/"+server1+"/action", io.NopCloser(strings.NewReader(body)))
	require.NoError(t, err)
	req.ContentLength = -1 // sent chunked: the gateway must re-frame it
	req.Header.Set("X-Auth-Token", "demo-alice")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("OpenStack-API-Version", "compute 2.73")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusAccepted, resp.StatusCode)

	saw := upstreamSaw(t)
	require.Len(t, saw, 1)
	sum := sha256.Sum256([]byte(body))
	assert.Equal(t, hex.EncodeToString(sum[:]), saw[0].BodySHA256)
	assert.Equal(t, len(body), saw[0].BodyLength)
	assert.Equal(t, strconv.Itoa(len(body)), saw[0].ContentLength)
	assert.Empty(t, saw[0].TransferEncoding)
	assert.True(t, serverState(t, server1).Locked)
}

// rawRequest sends bytes exactly as written: Go's client would normalise
// methods, paths and headers that the classifier must see as sent.
func rawRequest(t *testing.T, raw string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:9080", 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = io.WriteString(conn, raw)
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func post(path, body string, headers ...string) string {
	var b bytes.Buffer
	b.WriteString("POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:9080\r\nConnection: close\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if !strings.Contains(strings.ToLower(strings.Join(headers, "\n")), "transfer-encoding") {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

// TestParserDifferentialClassesNeverReachUpstream sends one request per parser
// differential (docs/compute-api-facts.md, "Parser differentials"), each of
// which the upstream (the simulator reproduces Nova's quirks) would execute
// as a mutation. The gateway must reject or deny
// every one, and nothing may reach the upstream.
func TestParserDifferentialClassesNeverReachUpstream(t *testing.T) {
	startGateway(t)
	action := "/v2.1/servers/" + server1 + "/action"
	carol := "X-Auth-Token: demo-carol"
	alice := "X-Auth-Token: demo-alice"
	json := "Content-Type: application/json"
	cases := map[string]string{
		"query method override":        "GET /v2.1/servers/" + server1 + "?_method=DELETE HTTP/1.1\r\nHost: 127.0.0.1:9080\r\nConnection: close\r\n" + alice + "\r\n\r\n",
		"encoded method override":      "GET /v2.1/servers/" + server1 + "?%5F%6Dethod=DELETE HTTP/1.1\r\nHost: 127.0.0.1:9080\r\nConnection: close\r\n" + alice + "\r\n\r\n",
		"semicolon method override":    "GET /v2.1/servers/" + server1 + "?a=1;_METHOD=DELETE HTTP/1.1\r\nHost: 127.0.0.1:9080\r\nConnection: close\r\n" + alice + "\r\n\r\n",
		"override header":              post(action, `{"os-start": null}`, alice, json, "X-HTTP-Method-Override: DELETE"),
		"alias unlock by member":       post("/v2.1/os-volumes_boot/"+server1+"/action", `{"unlock": null}`, alice, json),
		"slash run":                    post("/v2.1//servers/"+server1+"/action", `{"unlock": null}`, alice, json),
		"trailing slash":               post(action+"/", `{"unlock": null}`, alice, json),
		"dot segment":                  post("/v2.1/servers/./"+server1+"/action", `{"unlock": null}`, alice, json),
		"encoded letter":               post("/v2.1/servers/"+server1+"/%61ction", `{"unlock": null}`, alice, json),
		"encoded slash":                post("/v2.1/servers%2F"+server1+"/action", `{"unlock": null}`, alice, json),
		"trailing newline":             post(action+"%0A", `{"unlock": null}`, alice, json),
		"upper-case uuid":              post("/v2.1/servers/"+strings.ToUpper(server1)+"/action", `{"unlock": null}`, alice, json),
		"uuid without hyphens":         post("/v2.1/servers/"+strings.ReplaceAll(server1, "-", "")+"/action", `{"unlock": null}`, alice, json),
		"underscore header":            post(action, `{"unlock": null}`, alice, json, "X_Roles: admin"),
		"repeated token":               post(action, `{"unlock": null}`, "X-Auth-Token: demo-dave", alice, json),
		"lower-case method":            strings.Replace(post(action, `{"unlock": null}`, alice, json), "POST", "post", 1),
		"duplicate keys":               post(action, `{"lock": null, "unlock": null, "unlock": null}`, alice, json),
		"escaped key":                  post(action, `{"unl\u006fck": null}`, alice, json),
		"NaN argument":                 post(action, `{"unlock": NaN}`, alice, json),
		"invalid utf-8":                post(action, "{\"unlock\": \"\xff\"}", alice, json),
		"byte-order mark":              post(action, "\ufeff{\"unlock\": null}", alice, json),
		"form body":                    post(action, `{"unlock": null}`, alice, "Content-Type: application/x-www-form-urlencoded"),
		"text/plain still parsed":      post(action, `{"unlock": null}`, alice, "Content-Type: text/plain"),
		"no content type still parsed": post(action, `{"unlock": null}`, alice),
		"gzip body":                    post(action, `{"unlock": null}`, alice, json, "Content-Encoding: gzip"),
		"chunked body":                 "POST " + action + " HTTP/1.1\r\nHost: 127.0.0.1:9080\r\nConnection: close\r\n" + alice + "\r\n" + json + "\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"unlock\": null}\r\n0\r\n\r\n",
		"conflicting microversions":    post(action, `{"unlock": null}`, alice, json, "OpenStack-API-Version: compute 2.1, compute 2.73"),
		"legacy v2 prefix":             post("/v2/"+demoProject+"/servers/"+server1+"/action", `{"unlock": null}`, alice, json),
		"project-less path":            post(action, `{"unlock": null}`, alice, json),
		"other project in path":        post("/v2.1/a1b2c3d4e5f60718293a4b5c6d7e8f90/servers/"+server1+"/action", `{"lock": null}`, alice, json),
		"native batch stop by reader":  post("/v1/"+demoProject+"/cloudservers/action", `{"os-stop": {"servers": [{"id": "`+server2+`"}, {"id": "`+server1+`"}]}}`, carol, json),
		"native shared v2 prefix":      post("/v2/"+demoProject+"/cloudservers/"+server1+"/reinstallos", `{"os-reinstall": {}}`, carol, json),
		"spoofed roles":                post(action, `{"unlock": null}`, alice, json, "X-Roles: admin,ecs_unlocker"),
		"malformed aksk":               post(action, `{"unlock": null}`, "Authorization: SDK-HMAC-SHA256 Access=A, Access=B, SignedHeaders=x-sdk-date, Signature=00", json),
		"token plus aksk":              post(action, `{"unlock": null}`, alice, "Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=x-sdk-date, Signature="+strings.Repeat("0", 64), json),
		"unauthenticated":              post(action, `{"lock": null}`, json),
		"delete by reader":             "DELETE /v2.1/servers/" + server1 + " HTTP/1.1\r\nHost: 127.0.0.1:9080\r\nConnection: close\r\n" + carol + "\r\n\r\n",
		"body on delete":               "DELETE /v2.1/servers/" + server1 + " HTTP/1.1\r\nHost: 127.0.0.1:9080\r\nConnection: close\r\n" + alice + "\r\nContent-Length: 2\r\n\r\n{}",
		"oversized body":               post(action, `{"unlock": {"pad": "`+strings.Repeat("x", 120000)+`"}}`, alice, json),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			simReset(t)
			status := rawRequest(t, raw)
			assert.GreaterOrEqual(t, status, 400, "status %d", status)
			assert.Less(t, status, 500, "status %d", status)
			assert.NotEqual(t, http.StatusUnauthorized, status)
			assert.Empty(t, upstreamSaw(t), "nothing may reach the upstream")
			assert.False(t, serverState(t, server1).Locked)
		})
	}
}

// TestRawControlIsForwarded proves the raw client and the assertions above can
// see a forwarded request: the canonical form of the same call goes through.
func TestRawControlIsForwarded(t *testing.T) {
	startGateway(t)
	status := rawRequest(t, post("/v2.1/"+demoProject+"/servers/"+server1+"/action", `{"lock": null}`,
		"X-Auth-Token: demo-alice", "Content-Type: application/json"))
	assert.Equal(t, http.StatusAccepted, status)
	assert.Len(t, upstreamSaw(t), 1)
	assert.True(t, serverState(t, server1).Locked)
}

func TestAccessLogHasNoTokens(t *testing.T) {
	accessLog := startGateway(t)
	req, err := http.NewRequest(http.MethodGet, gateway+"/v2.1/servers/"+server1, nil)
	require.NoError(t, err)
	req.Header.Set("X-Auth-Token", "demo-carol")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("X-Ecsgate-Decision-Id"))

	var logged []byte
	require.Eventually(t, func() bool {
		logged, _ = os.ReadFile(accessLog)
		return bytes.Contains(logged, []byte(server1))
	}, 5*time.Second, 20*time.Millisecond)
	assert.NotContains(t, string(logged), "demo-carol")
	assert.Contains(t, string(logged), "[REDACTED]")
}
