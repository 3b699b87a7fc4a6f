package proxy_test

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/internal/bundletest"
)

// lifecycleGateway runs the gateway (:9080) with the given ecs_policy body
// in front of the simulator (:9081).
func lifecycleGateway(t *testing.T, policyBlock string) {
	t.Helper()
	simulatorGateway(t, `ecs_policy {
		keystone http://127.0.0.1:9081/v3
		`+policyBlock+`
	}
	reverse_proxy 127.0.0.1:9081 {
		transport ecs_verified
	}`)
}

// simulatorGateway runs a real Caddy: the gateway site on :9080 with the
// given directives, and the simulator on :9081.
func simulatorGateway(t *testing.T, gatewaySite string) {
	t.Helper()
	withSimulator(t, `
http://127.0.0.1:9080 {
	bind 127.0.0.1
	`+gatewaySite+`
}
`)
}

// withSimulator runs a real Caddy with the given sites and the simulator on
// :9081.
func withSimulator(t *testing.T, sites string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	cfg := `{
	admin localhost:2999
	http_port 9080
	auto_https off
	skip_install_trust
	grace_period 1ns
}
` + sites + `
http://127.0.0.1:9081 {
	bind 127.0.0.1
	ecs_simulator {
		public_url http://127.0.0.1:9080/v2.1
		identity_url http://127.0.0.1:9081/v3
		image_url http://127.0.0.1:9081/image
	}
}
`
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	http.DefaultClient.CloseIdleConnections()
	simReset(t)
}

type answer struct {
	status     int
	decisionID string
	body       string
}

func call(t *testing.T, base, method, path, token, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	require.NoError(t, err)
	req.Header.Set("X-Auth-Token", token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("X-Ecsgate-Decision-Id"), string(b)}
}

const serverPath = "/v2.1/" + demoProject + "/servers/"

// waitRecord finds the decision record of id in a decision-log file.
func waitRecord(t *testing.T, path, id string) map[string]any {
	t.Helper()
	var found map[string]any
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(path)
		for line := range strings.SplitSeq(string(b), "\n") {
			var r map[string]any
			if json.Unmarshal([]byte(line), &r) == nil && r["decision_id"] == id {
				found = r
				return true
			}
		}
		return false
	}, 5*time.Second, 20*time.Millisecond, "record %s", id)
	return found
}

// A rule on live server metadata, through the ecs.server built-in: the
// lookup is made with the caller's own token, only when a rule needs it.
func TestMetadataRuleDecidesOnLiveServerState(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "protect.rego"), []byte(`package ecsgate.protect

decision := {"allow": false, "reasons": [sprintf("server %s is protected (metadata protected=true)", [input.server_ids[0]])]} if {
	input.action.name == "unlock"
	ecs.server(input.server_ids[0]).metadata.protected == "true"
} else := data.ecsgate.authz.decision
`), 0o600))
	shippedPolicy, err := filepath.Abs("../rego/ecsgate/authz.rego")
	require.NoError(t, err)
	lifecycleGateway(t, fmt.Sprintf(`policy %s %s
		decision data.ecsgate.protect.decision
		server_api http://127.0.0.1:9081 {
			ttl 1ns
		}`, shippedPolicy, dir))

	lookups := func() int {
		n := 0
		for _, r := range upstreamSaw(t) {
			if r.Method == http.MethodGet && r.Path == "/v2.1/"+demoProject+"/servers/"+server1 && r.Headers["Openstack-Api-Version"] != nil {
				n++
			}
		}
		return n
	}

	// Not protected: dave (ecs_unlocker) unlocks; the rule asked once.
	require.Equal(t, http.StatusAccepted, call(t, gateway, "POST", serverPath+server1+"/action", "demo-alice", `{"lock": null}`).status)
	assert.Zero(t, lookups(), "a lock needs no server lookup")
	require.Equal(t, http.StatusAccepted, call(t, gateway, "POST", serverPath+server1+"/action", "demo-dave", `{"unlock": null}`).status)
	assert.Equal(t, 1, lookups())

	// Protected on the live server: the same unlock is denied.
	require.Equal(t, http.StatusOK, call(t, simulator, "PUT", serverPath+server1+"/metadata/protected", "demo-alice", `{"meta": {"protected": "true"}}`).status)
	require.Equal(t, http.StatusAccepted, call(t, gateway, "POST", serverPath+server1+"/action", "demo-alice", `{"lock": null}`).status)
	denied := call(t, gateway, "POST", serverPath+server1+"/action", "demo-dave", `{"unlock": null}`)
	assert.Equal(t, http.StatusForbidden, denied.status)
	assert.Contains(t, denied.body, "is protected")
	assert.True(t, serverState(t, server1).Locked)

	// Reads never look the server up.
	before := lookups()
	require.Equal(t, http.StatusOK, call(t, gateway, "GET", serverPath+server1, "demo-carol", "").status)
	assert.Equal(t, before, lookups())
}

func TestDryRunForwardsAndRecords(t *testing.T) {
	log := filepath.Join(t.TempDir(), "decisions.log")
	lifecycleGateway(t, "dry_run unlock\n\t\tdecision_log "+log)

	require.Equal(t, http.StatusAccepted, call(t, gateway, "POST", serverPath+server1+"/action", "demo-alice", `{"lock": null}`).status)
	a := call(t, gateway, "POST", serverPath+server1+"/action", "demo-alice", `{"unlock": null}`)
	assert.Equal(t, http.StatusAccepted, a.status, "shadow mode: the denied unlock is forwarded")
	assert.False(t, serverState(t, server1).Locked)
	rec := waitRecord(t, log, a.decisionID)
	assert.Equal(t, true, rec["dry_run"])
	assert.Equal(t, false, rec["result"].(map[string]any)["allow"], "the record keeps the would-be result")

	// Not named in dry_run: enforced.
	lock := call(t, gateway, "POST", serverPath+server1+"/action", "demo-carol", `{"lock": null}`)
	assert.Equal(t, http.StatusForbidden, lock.status)
	assert.NotContains(t, waitRecord(t, log, lock.decisionID), "dry_run")
}

// A watched policy edited while requests flow: no request fails, each is
// decided by one revision, and a broken edit keeps the last good one.
func TestWatchedPolicyEditedUnderLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.rego")
	version := func(unlockAllowed bool) string {
		return fmt.Sprintf(`package gw

default decision := {"allow": false, "reasons": ["unlocking is frozen"]}

decision := {"allow": true, "reasons": []} if input.request.method == "GET"

decision := {"allow": true, "reasons": []} if {
	input.action.name == "unlock"
	%v
}
`, unlockAllowed)
	}
	require.NoError(t, os.WriteFile(file, []byte(version(false)), 0o600))
	lifecycleGateway(t, "policy "+dir+"\n\t\tdecision data.gw.decision\n\t\twatch 50ms")

	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				req, _ := http.NewRequest(http.MethodGet, gateway+"/v2.1/servers/"+server2, nil)
				req.Header.Set("X-Auth-Token", "demo-carol")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					mu.Lock()
					statuses[-1]++
					mu.Unlock()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	unlock := func() int {
		return call(t, gateway, "POST", "/v2.1/servers/"+server1+"/action", "demo-alice", `{"unlock": null}`).status
	}
	require.Equal(t, http.StatusForbidden, unlock())

	require.NoError(t, os.WriteFile(file, []byte(version(true)), 0o600))
	require.Eventually(t, func() bool { return unlock() == http.StatusAccepted }, 10*time.Second, 50*time.Millisecond)

	require.NoError(t, os.WriteFile(file, []byte("package gw\n\ndecision := {\n"), 0o600))
	time.Sleep(300 * time.Millisecond) // several polls
	assert.Equal(t, http.StatusAccepted, unlock(), "the broken edit left the last good revision serving")

	require.NoError(t, os.WriteFile(file, []byte(version(false)), 0o600))
	require.Eventually(t, func() bool { return unlock() == http.StatusForbidden }, 10*time.Second, 50*time.Millisecond)

	stop.Store(true)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	assert.Positive(t, statuses[http.StatusOK])
	assert.Equal(t, map[int]int{http.StatusOK: statuses[http.StatusOK]}, statuses, "every read succeeded throughout")
}

// decisionLogService collects what OPA's decision_logs plugin uploads.
type decisionLogService struct {
	mu     sync.Mutex
	events []map[string]any
}

func (s *decisionLogService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	gz, err := gzip.NewReader(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var batch []map[string]any
	if err := json.NewDecoder(gz).Decode(&batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, batch...)
	s.mu.Unlock()
}

func (s *decisionLogService) revisionOf(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.events {
		if ev["decision_id"] == id {
			rev, _ := ev["bundles"].(map[string]any)["ecsgate"].(map[string]any)["revision"].(string)
			return rev, true
		}
	}
	return "", false
}

// Many replicas: two gateways on one bundle server, one decision-log
// service. Both answer 503 until the bundle arrives, both switch revision
// when it changes, and both export their records to the shared service.
func TestTwoGatewaysOnOneBundle(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	bundles := bundletest.New(t)
	logs := &decisionLogService{}
	logSrv := httptest.NewServer(logs)
	t.Cleanup(logSrv.Close)
	site := func(addr string) string {
		return `
http://` + addr + ` {
	bind 127.0.0.1
	ecs_policy {
		keystone http://127.0.0.1:9081/v3
		decision data.replica.decision
		bundle ` + bundles.BundleURL() + ` {
			polling 1s 1s
		}
		decision_log_service ` + logSrv.URL + `
	}
	reverse_proxy 127.0.0.1:9081 {
		transport ecs_verified
	}
}
`
	}
	withSimulator(t, site("127.0.0.1:9080")+site("127.0.0.1:9082"))
	gateways := []string{"http://127.0.0.1:9080", "http://127.0.0.1:9082"}
	read := func(gw string) answer { return call(t, gw, "GET", serverPath+server1, "demo-carol", "") }

	for _, gw := range gateways {
		a := read(gw)
		assert.Equal(t, http.StatusServiceUnavailable, a.status, "%s before the first bundle: %s", gw, a.body)
		assert.Contains(t, a.body, "serviceUnavailable")
	}

	bundles.Set(t, "rev-1", map[string]string{"replica/p.rego": `package replica
decision := {"allow": true, "reasons": []}`}, nil, nil)
	var ids []string
	for _, gw := range gateways {
		require.Eventually(t, func() bool { return read(gw).status == http.StatusOK }, 15*time.Second, 100*time.Millisecond, gw)
		ids = append(ids, read(gw).decisionID)
	}

	bundles.Set(t, "rev-2", map[string]string{"replica/p.rego": `package replica
decision := {"allow": false, "reasons": ["rev-2 freezes everything"]}`}, nil, nil)
	for _, gw := range gateways {
		require.Eventually(t, func() bool { return read(gw).status == http.StatusForbidden }, 15*time.Second, 100*time.Millisecond, gw)
		ids = append(ids, read(gw).decisionID)
	}

	// Unloading the configuration flushes both sinks.
	load, err := http.Post("http://localhost:2999/load", "application/json", strings.NewReader(`{"admin": {"listen": "localhost:2999"}}`))
	require.NoError(t, err)
	load.Body.Close()
	want := []string{"rev-1", "rev-1", "rev-2", "rev-2"}
	for i, id := range ids {
		require.Eventually(t, func() bool { _, ok := logs.revisionOf(id); return ok }, 10*time.Second, 50*time.Millisecond,
			"record %s of gateway %s reached the shared service", id, gateways[i%2])
		rev, _ := logs.revisionOf(id)
		assert.Equal(t, want[i], rev)
	}
}
