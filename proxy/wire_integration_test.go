package proxy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is an upstream that keeps every request it receives.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
	// switchProtocols makes it answer 101, as a WebSocket-capable load
	// balancer in front of Nova would.
	switchProtocols bool
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		rec.mu.Lock()
		rec.seen = append(rec.seen, r)
		switching := rec.switchProtocols
		rec.mu.Unlock()
		if switching {
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "websocket")
			w.WriteHeader(http.StatusSwitchingProtocols)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) requests() []*http.Request {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]*http.Request(nil), rec.seen...)
}

// wireSite is one operator configuration of the gateway site; %[1]s is the
// ecs_policy block, %[2]s the upstream, %[3]s a transport block.
type wireSite struct {
	site string
	// path the client requests (the site may strip a prefix).
	path string
	// forwarded: the request reaches the upstream exactly as decided;
	// otherwise the transport stops it and nothing arrives.
	forwarded bool
	// token the upstream must see when forwarded.
	upstreamToken string
	// refusedStatus when stopped: 500 from ecs_policy; a proxy no ecs_policy
	// wraps answers with reverse_proxy's own 502.
	refusedStatus int
}

const wirePolicy = `ecs_policy {
		keystone %s/v3
		decision_log %s
	}`

func TestOperatorConfigsForwardWhatWasDecidedOrNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	fk := newFakeKeystone(t)
	up := newRecorder(t)
	unlock := "/v2.1/" + demoProject + "/servers/" + server1 + "/action"
	const verified = "transport ecs_verified"

	for name, tc := range map[string]wireSite{
		"plain": {site: `%[1]s
	reverse_proxy %[2]s {
		%[3]s
	}`, path: unlock, forwarded: true, upstreamToken: "tok-dave"},
		"request_header before ecs_policy is decided on": {site: `request_header X-Auth-Token tok-admin
	%[1]s
	reverse_proxy %[2]s {
		%[3]s
	}`, path: unlock, forwarded: true, upstreamToken: "tok-admin"},
		"request_header inside a route after the decision": {site: `route {
		%[1]s
		request_header X-Auth-Token tok-alice
		reverse_proxy %[2]s {
			%[3]s
		}
	}`, path: unlock},
		"header_up replaces the token": {site: `%[1]s
	reverse_proxy %[2]s {
		header_up X-Auth-Token tok-alice
		%[3]s
	}`, path: unlock},
		"header_up adds a microversion": {site: `%[1]s
	reverse_proxy %[2]s {
		header_up OpenStack-API-Version "compute 2.1"
		%[3]s
	}`, path: unlock},
		"header_up adds an upgrade": {site: `%[1]s
	reverse_proxy %[2]s {
		header_up Upgrade websocket
		header_up Connection Upgrade
		%[3]s
	}`, path: unlock},
		"reverse_proxy rewrite": {site: `%[1]s
	reverse_proxy %[2]s {
		rewrite /v2.1/` + demoProject + `/servers/` + server2 + `/action
		%[3]s
	}`, path: unlock},
		"uri inside a route after the decision": {site: `route {
		%[1]s
		uri replace ` + server1 + ` ` + server2 + `
		reverse_proxy %[2]s {
			%[3]s
		}
	}`, path: unlock},
		"handle_path strips the prefix before the decision": {site: `handle_path /compute/* {
		%[1]s
		reverse_proxy %[2]s {
			%[3]s
		}
	}`, path: "/compute" + unlock, forwarded: true, upstreamToken: "tok-dave"},
		"a proxy no decision guards": {site: `handle /unguarded/* {
		reverse_proxy %[2]s {
			%[3]s
		}
	}
	handle {
		%[1]s
		reverse_proxy %[2]s {
			%[3]s
		}
	}`, path: "/unguarded" + unlock, refusedStatus: http.StatusBadGateway},
	} {
		t.Run(name, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "decisions.log")
			policyBlock := fmt.Sprintf(wirePolicy, fk.URL, logPath)
			site := fmt.Sprintf(tc.site, policyBlock, up.URL, verified)
			startWireGateway(t, site)
			before := len(up.requests())

			status, decisionID := postUnlock(t, tc.path, "tok-dave")
			got := up.requests()[before:]
			if tc.forwarded {
				require.Equal(t, http.StatusAccepted, status)
				require.Len(t, got, 1)
				assert.Equal(t, []string{tc.upstreamToken}, got[0].Header["X-Auth-Token"])
				assert.Equal(t, unlock, got[0].URL.Path)
				return
			}
			assert.Empty(t, got, "nothing reaches the upstream")
			if tc.refusedStatus == 0 {
				tc.refusedStatus = http.StatusInternalServerError
			}
			assert.Equal(t, tc.refusedStatus, status)
			if decisionID != "" {
				rec := waitRecord(t, logPath, decisionID, func(r map[string]any) bool {
					rej, _ := r["rejected"].(string)
					return strings.HasPrefix(rej, "wire_")
				})
				assert.Equal(t, false, rec["result"].(map[string]any)["allow"])
			}

			// Without the transport the same configuration forwards what
			// was not decided (or, for the unguarded proxy, anything): the
			// check at the wire is what stops it.
			startWireGateway(t, fmt.Sprintf(tc.site, policyBlock, up.URL, ""))
			before = len(up.requests())
			postUnlock(t, tc.path, "tok-dave")
			assert.Len(t, up.requests()[before:], 1, "control: without ecs_verified the changed request goes out")
		})
	}
}

func TestUpstreamSwitchingProtocolsIsNeverPassedOn(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	fk := newFakeKeystone(t)
	up := newRecorder(t)
	up.switchProtocols = true
	logPath := filepath.Join(t.TempDir(), "decisions.log")
	startWireGateway(t, fmt.Sprintf(`%s
	reverse_proxy %s {
		transport ecs_verified
	}`, fmt.Sprintf(wirePolicy, fk.URL, logPath), up.URL))

	conn, err := net.DialTimeout("tcp", "127.0.0.1:9080", 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = fmt.Fprintf(conn, "GET /v2.1/%s/servers/%s HTTP/1.1\r\nHost: 127.0.0.1:9080\r\nX-Auth-Token: tok-alice\r\n\r\n", demoProject, server1)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, string(body))
	assert.Contains(t, string(body), "computeFault")
	assert.Len(t, up.requests(), 1, "the upstream saw the decided read, and answered 101")
	rec := waitRecord(t, logPath, resp.Header.Get(HeaderDecisionID), func(r map[string]any) bool {
		return r["rejected"] == "wire_switching_protocols"
	})
	assert.Equal(t, 502.0, rec["status"])

	// The connection is still HTTP: a second request is decided afresh
	// (and refused by the policy), never tunnelled.
	_, err = fmt.Fprintf(conn, "POST /v2.1/%s/servers/%s/action HTTP/1.1\r\nHost: 127.0.0.1:9080\r\nX-Auth-Token: tok-alice\r\nContent-Length: 16\r\n\r\n{\"unlock\": null}", demoProject, server1)
	if err == nil {
		if resp, err := http.ReadResponse(br, nil); err == nil {
			assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		}
	}
	assert.Len(t, up.requests(), 1, "nothing else reached the upstream")
}

func startWireGateway(t *testing.T, site string) {
	t.Helper()
	cfg := `{
	admin localhost:2999
	http_port 9080
	auto_https off
	skip_install_trust
	grace_period 1ns
}

http://127.0.0.1:9080 {
	bind 127.0.0.1
	` + site + `
}
`
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	http.DefaultClient.CloseIdleConnections()
}

func postUnlock(t *testing.T, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:9080"+path, strings.NewReader(`{"unlock": null}`))
	require.NoError(t, err)
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get(HeaderDecisionID)
}

// waitRecord returns the decision record with id that satisfies match,
// waiting for the asynchronous writer.
func waitRecord(t *testing.T, path, id string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		for line := range strings.SplitSeq(string(b), "\n") {
			var r map[string]any
			if json.Unmarshal([]byte(line), &r) == nil && r["decision_id"] == id && match(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching record for %s in %s:\n%s", id, path, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
