//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ecsgate/ecsgate/internal/bundletest"
)

// Gateway sites (all bound to 127.0.0.1) and fixed upstream addresses.
const (
	gwShipped         = "127.0.0.1:18080"
	gwDeny            = "127.0.0.1:18081"
	gwKeystoneDown    = "127.0.0.1:18082"
	gwKeystoneSlow    = "127.0.0.1:18083"
	gwKeystoneGarbage = "127.0.0.1:18084"
	gwUpstreamDown    = "127.0.0.1:18085"
	gwRelayUpgrade    = "127.0.0.1:18086"
	gwRelay101        = "127.0.0.1:18087"
	gwRelay101Plain   = "127.0.0.1:18088"
	gwProtected       = "127.0.0.1:18089"
	gwDryRun          = "127.0.0.1:18090"
	gwWatched         = "127.0.0.1:18091"
	gwBundle          = "127.0.0.1:18092"
	gwAdmin           = "localhost:2399"
	novaAddr          = "127.0.0.1:8774"

	// denyDecision is the decision path of the deny-all-mutations policy.
	denyDecision = "data.e2e.denymutations.decision"
	denyReason   = "e2e: this gateway denies every mutation"

	// accessKey is mapped in the shipped site's data to the roles that may
	// unlock in demo, so that a decision made for it is an allow.
	accessKey = "AKE2EUNLOCKER"
)

var (
	env       map[string]string // test/openstack's env.sh
	stateDir  string            // the stack's state dir
	workDir   string            // temp dir: Caddyfile, policy, gateway log
	gatewayLg string            // the gateway's stdout+stderr

	// Fault injection: how often the fake Keystones were called.
	slowCalls, garbageCalls atomic.Int64
	closedPort              string // "127.0.0.1:<port>" nothing listens on

	// Relays in front of nova-api that switch protocols (forwarded_test.go).
	upgradeRelay, always101Relay *relay

	// The policy directory the watched site reloads (lifecycle_test.go).
	watchedDir string
	// The bundle server the bundle site polls; empty until a test sets a
	// bundle (lifecycle_test.go).
	bundleSrv *bundletest.Server
)

// sites are every gateway site TestMain starts and waits for.
var sites = []string{gwShipped, gwDeny, gwKeystoneDown, gwKeystoneSlow, gwKeystoneGarbage, gwUpstreamDown,
	gwRelayUpgrade, gwRelay101, gwRelay101Plain, gwProtected, gwDryRun, gwWatched, gwBundle}

// accessKeysData maps accessKey for the shipped site (policy data, the
// format of config/huawei.Caddyfile's access_keys.yaml).
func accessKeysData() string {
	return `{"ecsgate": {"access_keys": {"` + accessKey + `": {"project_id": "` + env["DEMO_PROJECT_ID"] +
		`", "roles": ["member", "ecs_unlocker"]}}}}`
}

// decisionLogs are the decision-record files of the sites that keep one.
var decisionLogs = map[string]string{}

// denyPolicy lets reads through and denies everything else, with a custom
// decision path: the reference for the differential test, where any state
// change through this gateway is a bypass.
const denyPolicy = `package e2e.denymutations

default decision := {"allow": false, "reasons": ["` + denyReason + `"]}

decision := {"allow": true, "reasons": []} if input.operation == "server.read"

decision := {"allow": true, "reasons": []} if {
	input.operation == "other"
	input.request.method in {"GET", "HEAD"}
}
`

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	t0 := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "e2e [%6.2fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
	}
	stateDir = os.Getenv("ECSGATE_OS_STATE")
	if stateDir == "" {
		stateDir = "/tmp/ecsgate-openstack"
	}
	var err error
	env, err = loadEnv(filepath.Join(stateDir, "env.sh"))
	if err != nil {
		logf("%v: bring the stack up first (bash test/openstack/up.sh, as root)", err)
		return 2
	}
	for _, k := range []string{"KEYSTONE_URL", "NOVA_URL", "DEMO_PROJECT_ID", "OTHER_PROJECT_ID", "SERVER1", "SERVER2", "SERVER3", "ECSGATE_OS_RESET_SERVERS"} {
		if env[k] == "" {
			logf("env.sh lacks %s", k)
			return 2
		}
	}
	if err := waitHTTP(env["KEYSTONE_URL"], 10*time.Second); err != nil {
		logf("Keystone is not answering: %v", err)
		return 2
	}
	if err := waitHTTP("http://"+novaAddr+"/", 10*time.Second); err != nil {
		logf("nova-api is not answering: %v", err)
		return 2
	}

	bin := os.Getenv("ECSGATE_BIN")
	if bin == "" {
		bin = "../../bin/ecsgate"
	}
	if bin, err = filepath.Abs(bin); err != nil {
		logf("ECSGATE_BIN: %v", err)
		return 2
	}
	if _, err := os.Stat(bin); err != nil {
		logf("no gateway binary at %s (go build -o bin/ecsgate ./cmd/ecsgate): %v", bin, err)
		return 2
	}
	for _, addr := range slices.Concat(sites, []string{"127.0.0.1:2399"}) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			logf("%s is already in use (a gateway left over from an earlier run?); refusing to start", addr)
			return 2
		}
	}

	workDir, err = os.MkdirTemp("", "ecsgate-e2e-")
	if err != nil {
		logf("temp dir: %v", err)
		return 2
	}
	keep := os.Getenv("E2E_KEEP") == "1"
	defer func() {
		if keep {
			logf("kept %s", workDir)
			return
		}
		os.RemoveAll(workDir)
	}()

	// A Keystone that takes longer than the gateway's identity timeout (5 s),
	// and one that answers 200 with a body that is not JSON.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slowCalls.Add(1)
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
		http.Error(w, "too late", http.StatusGatewayTimeout)
	}))
	defer func() { slow.CloseClientConnections(); slow.Close() }()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		garbageCalls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Subject-Token", r.Header.Get("X-Subject-Token"))
		_, _ = w.Write([]byte("not json"))
	}))
	defer garbage.Close()
	if closedPort, err = freePort(); err != nil {
		logf("closed port: %v", err)
		return 2
	}

	if upgradeRelay, err = startRelay(false); err != nil {
		logf("relay: %v", err)
		return 2
	}
	defer upgradeRelay.close()
	if always101Relay, err = startRelay(true); err != nil {
		logf("relay: %v", err)
		return 2
	}
	defer always101Relay.close()

	policyFile := filepath.Join(workDir, "deny-mutations.rego")
	if err := os.WriteFile(policyFile, []byte(denyPolicy), 0o644); err != nil {
		logf("%v", err)
		return 2
	}
	dataFile := filepath.Join(workDir, "access-keys.json")
	if err := os.WriteFile(dataFile, []byte(accessKeysData()), 0o644); err != nil {
		logf("%v", err)
		return 2
	}
	lc, err := lifecycleSetup()
	if err != nil {
		logf("%v", err)
		return 2
	}
	// The bundle site needs its server's URL before the gateway starts, so
	// the server lives as long as the run; TestBundle sets its bundles.
	var mt mainTB
	defer mt.cleanup()
	bundleSrv = bundletest.New(&mt)
	lc.bundleURL = bundleSrv.BundleURL()

	caddyfile := filepath.Join(workDir, "Caddyfile")
	cfg := renderCaddyfile(env["KEYSTONE_URL"], policyFile, dataFile, slow.URL+"/v3", garbage.URL+"/v3", closedPort, lc)
	if err := os.WriteFile(caddyfile, []byte(cfg), 0o644); err != nil {
		logf("%v", err)
		return 2
	}

	gatewayLg = filepath.Join(workDir, "gateway.log")
	gw, err := startGateway(bin, caddyfile, workDir, gatewayLg)
	if err != nil {
		logf("starting %s: %v\n%s", bin, err, tail(gatewayLg, 40))
		return 2
	}
	defer func() {
		if err := gw.stop(10 * time.Second); err != nil {
			logf("stopping the gateway: %v", err)
		}
	}()
	for _, addr := range sites {
		if err := gw.waitReady(addr, 30*time.Second); err != nil {
			logf("gateway site %s: %v\n%s", addr, err, tail(gatewayLg, 40))
			return 2
		}
	}
	logf("gateway pid %d ready (%s, log %s)", gw.cmd.Process.Pid, bin, gatewayLg)

	code := m.Run()
	if code != 0 {
		logf("gateway log tail:\n%s", tail(gatewayLg, 30))
		keep = true
	}
	// Leave the stack as we found it.
	if out, err := exec.Command("bash", env["ECSGATE_OS_RESET_SERVERS"]).CombinedOutput(); err != nil {
		logf("final reset-servers.sh: %v\n%s", err, out)
	}
	logf("done")
	return code
}

func renderCaddyfile(keystone, denyPolicyFile, dataFile, slowKeystone, garbageKeystone, closed string, lc lifecycleFiles) string {
	// The sites the tests ask "for whom was this decided?" keep a decision
	// log (one per site: two sinks must not share a file).
	logged := func(addr string) string {
		_, port, _ := strings.Cut(addr, ":")
		decisionLogs[addr] = filepath.Join(workDir, "decisions-"+port+".log")
		return "\n\t\tdecision_log " + decisionLogs[addr]
	}
	siteVia := func(transport, addr, keystone, extra, upstream string) string {
		return fmt.Sprintf(`
http://%s {
	bind 127.0.0.1
	ecs_policy {
		keystone %s%s
	}
	reverse_proxy %s {
		transport %s
	}
}
`, addr, keystone, extra, upstream, transport)
	}
	site := func(addr, keystone, extra, upstream string) string {
		return siteVia("ecs_verified", addr, keystone, extra, upstream)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Generated by ecsgate test/e2e (TestMain).
{
	admin %s
	auto_https off
	persist_config off
	grace_period 1s
	storage file_system %s
}
`, gwAdmin, filepath.Join(workDir, "caddy-storage"))
	b.WriteString(site(gwShipped, keystone, "\n\t\tdata "+dataFile+logged(gwShipped), novaAddr))
	b.WriteString(site(gwDeny, keystone, "\n\t\tpolicy "+denyPolicyFile+"\n\t\tdecision "+denyDecision+logged(gwDeny), novaAddr))
	b.WriteString(site(gwKeystoneDown, "http://"+closed+"/v3", "", novaAddr))
	b.WriteString(site(gwKeystoneSlow, slowKeystone, "", novaAddr))
	b.WriteString(site(gwKeystoneGarbage, garbageKeystone, "", novaAddr))
	b.WriteString(site(gwUpstreamDown, keystone, "", closed))
	b.WriteString(site(gwRelayUpgrade, keystone, logged(gwRelayUpgrade), upgradeRelay.addr()))
	// Only the ecs_verified transport sees the upstream's answer before
	// reverse_proxy acts on it; the plain site shows what happens without.
	b.WriteString(site(gwRelay101, keystone, logged(gwRelay101), always101Relay.addr()))
	b.WriteString(siteVia("http", gwRelay101Plain, keystone, logged(gwRelay101Plain), always101Relay.addr()))

	// lifecycle_test.go. ttl 1ns: every decision sees Nova's metadata as
	// it is now, not as the 5 s cache remembers it.
	b.WriteString(site(gwProtected, keystone, "\n\t\tpolicy "+lc.shippedDir+" "+lc.libDir+"\n\t\tdata "+lc.protectedData+
		"\n\t\tserver_api http://"+novaAddr+" {\n\t\t\tttl 1ns\n\t\t}"+logged(gwProtected), novaAddr))
	b.WriteString(site(gwDryRun, keystone, "\n\t\tdry_run unlock"+logged(gwDryRun), novaAddr))
	b.WriteString(site(gwWatched, keystone, "\n\t\tpolicy "+watchedDir+"\n\t\tdecision "+watchedDecision+
		"\n\t\twatch "+watchInterval.String()+logged(gwWatched), novaAddr))
	b.WriteString(site(gwBundle, keystone, "\n\t\tbundle "+lc.bundleURL+" {\n\t\t\tpolling 1s 1s\n\t\t}\n\t\tdecision "+bundleDecision+
		logged(gwBundle), novaAddr))
	return b.String()
}

type gateway struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startGateway(bin, caddyfile, dir, logPath string) (*gateway, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", caddyfile, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	home := filepath.Join(dir, "home")
	cmd.Env = append(os.Environ(),
		"HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, "config"), "XDG_DATA_HOME="+filepath.Join(home, "data"),
		"OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	// If this test process dies, so does the gateway.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	g := &gateway{cmd: cmd, done: make(chan struct{})}
	go func() {
		g.err = cmd.Wait()
		logFile.Close()
		close(g.done)
	}()
	return g, nil
}

// waitReady polls addr until the gateway answers HTTP there.
func (g *gateway) waitReady(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-g.done:
			return fmt.Errorf("the gateway exited: %v", g.err)
		default:
		}
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends exactly the process this test started: SIGTERM, then SIGKILL
// after the timeout.
func (g *gateway) stop(timeout time.Duration) error {
	select {
	case <-g.done:
		return nil
	default:
	}
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-g.done:
		return nil
	case <-time.After(timeout):
		_ = g.cmd.Process.Kill()
		<-g.done
		return fmt.Errorf("did not stop within %s: killed", timeout)
	}
}

func loadEnv(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out, sc.Err()
}

func waitHTTP(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freePort returns a loopback address nothing listens on (it was free a
// moment ago and is not in the gateway's range).
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
