package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"

	"github.com/ecsgate/ecsgate/internal/identity"
	"github.com/ecsgate/ecsgate/policy"
	"github.com/ecsgate/ecsgate/proxy"
	"github.com/ecsgate/ecsgate/proxy/classify"
	"github.com/ecsgate/ecsgate/tracing"
)

// The property of docs/forwarded-request.md: the decision is about the
// request the upstream executes. For every request a recording upstream
// receives, ecsgate's own classifier and credential selection, run again on
// what was received, must give the decision record's input; every request the
// upstream did not receive must be recorded as denied or rejected and answered
// by the gateway itself. Requests come from a seeded generator, as raw bytes
// (HTTP/1.0, HTTP/1.1) or over h2c, and run through a real Caddy.
//
// ECSGATE_PROPERTY_N sets the number of requests per variant (default
// propertyDefaultN), ECSGATE_PROPERTY_SEED replays a run,
// ECSGATE_PROPERTY_INDEX sends only the request of that index of the seed,
// and ECSGATE_PROPERTY_STRICT=1 fails on the known deviations too
// (knownDeviation). docs/forwarded-request.md, "Testing the promise".
const (
	envPropertyN      = "ECSGATE_PROPERTY_N"
	envPropertySeed   = "ECSGATE_PROPERTY_SEED"
	envPropertyIndex  = "ECSGATE_PROPERTY_INDEX"
	envPropertyStrict = "ECSGATE_PROPERTY_STRICT"
	propertyDefaultN  = 500
	propertyMaxReport = 5
	otherProject      = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	gatewayAddr       = "127.0.0.1:9080"
)

func TestForwardedRequestProperty(t *testing.T) {
	skipShort(t)
	seed, n, only := propertyParams(t)
	for _, v := range []gatewayVariant{{name: "without transport"}, {name: "ecs_verified", transport: true}} {
		t.Run(v.name, func(t *testing.T) {
			res := runProperty(t, v, seed, n, only)
			res.log(t)
			res.failOnViolations(t, seed)
			if only < 0 {
				assert.Positive(t, res.forwarded, "some generated requests must reach the upstream, or nothing is tested")
				assert.Positive(t, res.refused(), "some generated requests must be refused")
			}
		})
	}
}

// TestPropertyHarnessCatchesChangedRequests runs the harness against a
// Caddyfile that changes the request after the decision (request_header in
// the same route): without the transport the upstream executes other callers'
// requests and the harness must say so; with it nothing differing is sent.
func TestPropertyHarnessCatchesChangedRequests(t *testing.T) {
	skipShort(t)
	seed, n, only := propertyParams(t)
	n = max(n/3, 60)

	t.Run("without transport", func(t *testing.T) {
		res := runProperty(t, gatewayVariant{name: "broken", overrideToken: "tok-bob"}, seed, n, only)
		res.log(t)
		if only >= 0 {
			res.failOnViolations(t, seed)
			return
		}
		require.NotEmpty(t, res.violations, "the harness must catch a token replaced after the decision")
		callers := 0
		for _, v := range res.violations {
			if strings.Contains(v.what, "caller") {
				callers++
			}
		}
		assert.Positive(t, callers, "the replaced token shows as another caller")
	})
	t.Run("ecs_verified", func(t *testing.T) {
		res := runProperty(t, gatewayVariant{name: "broken+transport", transport: true, overrideToken: "tok-bob"}, seed, n, only)
		res.log(t)
		res.failOnViolations(t, seed)
		if only >= 0 {
			return
		}
		assert.Positive(t, res.wireRefused, "the transport refuses what request_header changed (500)")
	})
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("property test: starts Caddy")
	}
}

func propertyParams(t *testing.T) (seed uint64, n, only int) {
	t.Helper()
	seed = uint64(time.Now().UnixNano())
	if s := os.Getenv(envPropertySeed); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, envPropertySeed)
		seed = v
	}
	n = propertyDefaultN
	if s := os.Getenv(envPropertyN); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(t, err, envPropertyN)
		require.Positive(t, v, envPropertyN)
		n = v
	}
	only = -1
	if s := os.Getenv(envPropertyIndex); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(t, err, envPropertyIndex)
		only = v
	}
	t.Logf("%s=%d %s=%d", envPropertySeed, seed, envPropertyN, n)
	return seed, n, only
}

// ---------------------------------------------------------------------------
// The run

type gatewayVariant struct {
	name      string
	transport bool
	// overrideToken, when set, puts `request_header X-Auth-Token <token>`
	// between ecs_policy and reverse_proxy: a deliberately broken config.
	overrideToken string
}

// exchange is one generated request and everything seen of it.
type exchange struct {
	req        *genRequest
	status     int
	respHeader http.Header
	respBody   []byte
	err        error // the client could not send it or read an answer
	decisionID string
	received   []receivedRequest
}

type violation struct {
	ex   *exchange
	what string
}

type propertyResult struct {
	test        string // what -run selects to replay
	variant     string
	sent        int
	forwarded   int
	wireRefused int
	netHTTP     int            // never reached ecs_policy (net/http refused it, or the stream failed): no decision
	clientErr   int            // the client library refused to send it
	reasons     map[string]int // gateway refusals by record reason
	elapsed     time.Duration
	violations  []violation
	tolerated   map[string]int // known deviations, by kind
	records     map[string][]loggedRecord
	notes       []string // logged with -v
}

func (r *propertyResult) refused() int {
	n := 0
	for _, c := range r.reasons {
		n += c
	}
	return n
}

func (r *propertyResult) log(t *testing.T) {
	t.Helper()
	keys := make([]string, 0, len(r.reasons))
	for k := range r.reasons {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return r.reasons[keys[i]] > r.reasons[keys[j]] || r.reasons[keys[i]] == r.reasons[keys[j]] && keys[i] < keys[j]
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, r.reasons[k])
	}
	t.Logf("%s: %d requests in %v: %d forwarded, %d refused by the gateway (%s ), %d never reached ecs_policy, %d not sendable by the client; %d violations",
		r.variant, r.sent, r.elapsed.Round(time.Millisecond), r.forwarded, r.refused(), b.String(), r.netHTTP, r.clientErr, len(r.violations))
	kinds := map[string]int{}
	for _, v := range r.violations {
		kinds[violationKind(v.what)]++
	}
	for i, k := range slices.Sorted(maps.Keys(kinds)) {
		if i == 20 {
			t.Logf("%s: ... and %d more kinds", r.variant, len(kinds)-i)
			break
		}
		t.Logf("%s: %d× %s", r.variant, kinds[k], k)
	}
	for _, k := range slices.Sorted(maps.Keys(r.tolerated)) {
		t.Logf("%s: %d× KNOWN DEVIATION, not failing without %s=1: %s", r.variant, r.tolerated[k], envPropertyStrict, k)
	}
	for _, n := range r.notes {
		t.Log(n)
	}
}

// violationKind drops the values from a violation (after " — "), to count
// alike ones.
func violationKind(what string) string {
	kind, _, _ := strings.Cut(what, " — ")
	return kind
}

func (r *propertyResult) failOnViolations(t *testing.T, seed uint64) {
	t.Helper()
	for i, v := range r.violations {
		if i == propertyMaxReport {
			t.Errorf("... and %d more violations", len(r.violations)-i)
			break
		}
		t.Errorf("violation: %s\n%s", v.what, r.describe(v.ex, seed))
	}
}

// describe prints what reproduces a case: the request as sent, what the
// client and the upstream got, and the records.
func (r *propertyResult) describe(ex *exchange, seed uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "reproduce: %s=%d %s=%d go test -count=1 -run '^%s$' ./proxy\n",
		envPropertySeed, seed, envPropertyIndex, ex.req.index, r.test)
	b.WriteString("sent:\n" + ex.req.String() + "\n")
	if ex.err != nil {
		fmt.Fprintf(&b, "client error: %v\n", ex.err)
	} else {
		fmt.Fprintf(&b, "answer: %d %s\n", ex.status, ex.respBody)
	}
	for _, rcv := range ex.received {
		b.WriteString("upstream received:\n" + rcv.String() + "\n")
	}
	for _, rec := range r.records[ex.decisionID] {
		b.WriteString("record: " + string(rec.raw) + "\n")
	}
	return b.String()
}

func runProperty(t *testing.T, v gatewayVariant, seed uint64, n, only int) *propertyResult {
	t.Helper()
	env := startPropertyGateway(t, v)
	res := &propertyResult{test: t.Name(), variant: v.name, reasons: map[string]int{}, tolerated: map[string]int{}}
	var exchanges []*exchange
	start := time.Now()
	for i := range n {
		if only >= 0 && i != only {
			continue
		}
		g := generate(seed, i)
		before := env.upstream.count()
		ex := env.send(g)
		ex.received = env.upstream.since(before)
		exchanges = append(exchanges, ex)
	}
	res.elapsed = time.Since(start)
	res.sent = len(exchanges)

	env.requireOwnGateway(t)
	// Unloading the config flushes the decision log (and stops the gateway).
	env.stop(t)
	var ids []string
	for _, ex := range exchanges {
		if ex.decisionID != "" {
			ids = append(ids, ex.decisionID)
		}
	}
	res.records = readDecisionLog(t, env.decisionLog, ids)

	// The ecs_verified transport turns compression off by default, so the
	// one known deviation cannot occur through it: hold it to strict.
	checker := newPropertyChecker(t, v.transport || os.Getenv(envPropertyStrict) == "1")
	for _, ex := range exchanges {
		for _, what := range checker.check(ex, res) {
			res.violations = append(res.violations, violation{ex: ex, what: what})
		}
	}
	return res
}

// ---------------------------------------------------------------------------
// The gateway, the upstream and Keystone

type propertyEnv struct {
	upstream    *recordingUpstream
	decisionLog string
	h2          *http2.Transport
	stopOnce    sync.Once
}

const propertyPolicy = `package ecsgate.authz

# Everything is allowed but one action, so that a denial is decided by the
# policy too and the harness can see one forwarded against its record.
default decision := {"allow": true}

decision := {"allow": false, "reasons": ["forceDelete is not allowed here"]} if input.action.name == "forceDelete"
`

func startPropertyGateway(t *testing.T, v gatewayVariant) *propertyEnv {
	t.Helper()
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "allow.rego")
	require.NoError(t, os.WriteFile(policyFile, []byte(propertyPolicy), 0o600))
	env := &propertyEnv{
		upstream:    newRecordingUpstream(t),
		decisionLog: filepath.Join(dir, "decisions.log"),
	}
	keystone := newKeystoneStub(t)

	policyBlock := fmt.Sprintf(`ecs_policy {
		keystone %s/v3
		policy %s
		decision_log %s
	}`, keystone.URL, policyFile, env.decisionLog)
	reverseProxy := "reverse_proxy " + env.upstream.Listener.Addr().String()
	if v.transport {
		reverseProxy += " {\n\t\ttransport ecs_verified\n\t}"
	}
	// At the top level the directive order puts ecs_policy first; the broken
	// variant needs a route to run request_header after it.
	site := policyBlock + "\n\t" + reverseProxy
	if v.overrideToken != "" {
		site = "route {\n\t" + policyBlock + "\n\trequest_header X-Auth-Token " + v.overrideToken + "\n\t" + reverseProxy + "\n\t}"
	}
	cfg := fmt.Sprintf(`{
	admin localhost:2999
	http_port 9080
	auto_https off
	skip_install_trust
	grace_period 1ns
	servers {
		protocols h1 h2c
	}
}

# Any Host, so that an HTTP/1.0 request without one reaches ecs_policy too.
http://:9080 {
	bind 127.0.0.1
	%s
}
`, site)
	caddytest.NewTester(t).InitServer(cfg, "caddyfile")
	env.requireOwnGateway(t)
	env.h2 = &http2.Transport{
		AllowHTTP:          true,
		DisableCompression: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(func() { env.stop(t) })
	return env
}

// requireOwnGateway stops the test unless this process serves the config
// just loaded. The ports are fixed: a test process of another checkout on the
// same machine can hold them (caddytest then loads the config into that
// process's Caddy, running that checkout's code) or load its own config into
// ours halfway through a run.
func (e *propertyEnv) requireOwnGateway(t *testing.T) {
	t.Helper()
	app, err := caddy.ActiveContext().AppIfConfigured("http")
	if err == nil {
		for _, srv := range app.(*caddyhttp.App).Servers {
			if routesLogTo(srv.Routes, e.decisionLog) {
				return
			}
		}
	}
	// Whatever runs there is not ours to unload.
	e.stopOnce.Do(func() {})
	t.Fatalf("the Caddy on localhost:2999 does not run this test's config: another test process on this machine uses the fixed ports; rerun when it is done")
}

func routesLogTo(routes caddyhttp.RouteList, decisionLog string) bool {
	for _, r := range routes {
		for _, h := range r.Handlers {
			switch h := h.(type) {
			case *proxy.Handler:
				if h.DecisionLog != nil && h.DecisionLog.Path == decisionLog {
					return true
				}
			case *caddyhttp.Subroute:
				if routesLogTo(h.Routes, decisionLog) {
					return true
				}
			}
		}
	}
	return false
}

// stop replaces the config with an empty one: the gateway's listener closes
// and ecs_policy's cleanup flushes the decision log.
func (e *propertyEnv) stop(t *testing.T) {
	e.stopOnce.Do(func() {
		e.h2.CloseIdleConnections()
		resp, err := http.Post("http://localhost:2999/load", "application/json", strings.NewReader(`{"admin": {"listen": "localhost:2999"}}`))
		if assert.NoError(t, err) {
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		}
	})
}

// receivedRequest is a request exactly as the upstream's net/http read it.
type receivedRequest struct {
	Method, RequestURI, Proto string
	Header, Trailer           http.Header
	TransferEncoding          []string
	ContentLength             int64
	Body                      []byte
}

func (r receivedRequest) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s (content length %d, transfer encoding %v)\n", r.Method, r.RequestURI, r.Proto, r.ContentLength, r.TransferEncoding)
	writeHeader(&b, r.Header)
	fmt.Fprintf(&b, "body %q\n", r.Body)
	if len(r.Trailer) > 0 {
		b.WriteString("trailers:\n")
		writeHeader(&b, r.Trailer)
	}
	return b.String()
}

func writeHeader(b *strings.Builder, h http.Header) {
	for _, k := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[k] {
			fmt.Fprintf(b, "%s: %q\n", k, v)
		}
	}
}

type recordingUpstream struct {
	*httptest.Server
	mu  sync.Mutex
	got []receivedRequest
}

func newRecordingUpstream(t *testing.T) *recordingUpstream {
	u := &recordingUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		rcv := receivedRequest{
			Method: r.Method, RequestURI: r.RequestURI, Proto: r.Proto,
			Header: r.Header.Clone(), Trailer: r.Trailer.Clone(),
			TransferEncoding: r.TransferEncoding, ContentLength: r.ContentLength,
			Body: body,
		}
		if err != nil {
			rcv.Body = append(rcv.Body, "<read error: "+err.Error()+">"...)
		}
		u.mu.Lock()
		u.got = append(u.got, rcv)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"upstream": "recorded"}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *recordingUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.got)
}

// since returns what arrived after the first n requests. The gateway answers
// a client only after the upstream answered, and requests are sent one at a
// time, so these are the requests the last exchange caused.
func (u *recordingUpstream) since(n int) []receivedRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.got[n:])
}

// propertyUser is what the Keystone stub says a token belongs to.
type propertyUser struct {
	id, project string
	domain      bool // domain-scoped
	system      bool // system-scoped
	roles       []string
}

var propertyUsers = map[string]propertyUser{
	"tok-alice": {id: "u-alice", project: demoProject, roles: []string{"member", "reader"}},
	"tok-bob":   {id: "u-bob", project: otherProject, roles: []string{"member", "reader"}},
	"tok-carol": {id: "u-carol", project: demoProject, roles: []string{"reader"}},
	"tok-admin": {id: "u-admin", system: true, roles: []string{"admin", "member", "reader"}},
	"tok-dom":   {id: "u-dom", domain: true, roles: []string{"admin"}},
}

// newKeystoneStub answers GET /v3/auth/tokens like Keystone for the tokens of
// propertyUsers; each token is allowed to validate itself.
func newKeystoneStub(t *testing.T) *httptest.Server {
	ks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("X-Subject-Token")
		u, ok := propertyUsers[tok]
		if !ok || r.Method != http.MethodGet || r.URL.Path != "/v3/auth/tokens" || r.Header.Get("X-Auth-Token") != tok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error": {"code": 404, "title": "Not Found", "message": "Could not recognize Fernet token"}}`)
			return
		}
		roles := make([]map[string]string, len(u.roles))
		for i, name := range u.roles {
			roles[i] = map[string]string{"id": fmt.Sprintf("%032x", i+1), "name": name}
		}
		dflt := map[string]string{"id": "default", "name": "Default"}
		token := map[string]any{
			"methods":    []string{"password"},
			"user":       map[string]any{"id": u.id, "name": strings.TrimPrefix(u.id, "u-"), "domain": dflt},
			"roles":      roles,
			"expires_at": time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000000Z"),
			"issued_at":  time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"),
		}
		switch {
		case u.project != "":
			token["project"] = map[string]any{"id": u.project, "name": "p-" + u.project[:6], "domain": dflt}
		case u.domain:
			token["domain"] = dflt
		case u.system:
			token["system"] = map[string]bool{"all": true}
		}
		body, _ := json.Marshal(map[string]any{"token": token})
		w.Header().Set("X-Subject-Token", tok)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(ks.Close)
	return ks
}

// ---------------------------------------------------------------------------
// Sending

func (e *propertyEnv) send(g *genRequest) *exchange {
	ex := &exchange{req: g}
	var resp *http.Response
	var err error
	if g.proto == protoH2C {
		resp, err = e.sendH2C(g)
	} else {
		resp, err = sendRaw(g)
	}
	if err != nil {
		ex.err = err
		return ex
	}
	defer resp.Body.Close()
	ex.status = resp.StatusCode
	ex.respHeader = resp.Header
	ex.respBody, ex.err = io.ReadAll(resp.Body)
	ex.decisionID = resp.Header.Get("X-Ecsgate-Decision-Id")
	return ex
}

// sendRaw writes the request's bytes on a new connection and reads one
// final answer; the connection is not reused, whatever the headers say.
func sendRaw(g *genRequest) (*http.Response, error) {
	conn, err := net.DialTimeout("tcp", gatewayAddr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(g.raw()); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: g.method})
		if err != nil {
			conn.Close()
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			resp.Body = closeBoth{resp.Body, conn}
			return resp, nil
		}
	}
}

type closeBoth struct {
	io.ReadCloser
	conn net.Conn
}

func (c closeBoth) Close() error {
	_ = c.ReadCloser.Close()
	return c.conn.Close()
}

func (e *propertyEnv) sendH2C(g *genRequest) (*http.Response, error) {
	req, err := g.h2Request()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req = req.WithContext(ctx)
	resp, err := e.h2.RoundTrip(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// ---------------------------------------------------------------------------
// The decision log

type loggedRecord struct {
	DecisionID string          `json:"decision_id"`
	Input      json.RawMessage `json:"input"`
	Result     *struct {
		Allow bool `json:"allow"`
	} `json:"result"`
	Rejected string `json:"rejected"`
	raw      []byte
}

// readDecisionLog returns the records of the file by decision id, waiting
// briefly for ids not written yet (the log is written asynchronously).
func readDecisionLog(t *testing.T, path string, ids []string) map[string][]loggedRecord {
	t.Helper()
	var out map[string][]loggedRecord
	deadline := time.Now().Add(5 * time.Second)
	for {
		out = map[string][]loggedRecord{}
		data, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			require.NoError(t, err)
		}
		for line := range bytes.Lines(data) {
			if !bytes.HasSuffix(line, []byte("\n")) {
				break // being written
			}
			var rec loggedRecord
			require.NoError(t, json.Unmarshal(line, &rec), "%s", line)
			rec.raw = bytes.TrimSpace(line)
			out[rec.DecisionID] = append(out[rec.DecisionID], rec)
		}
		missing := slices.ContainsFunc(ids, func(id string) bool { return len(out[id]) == 0 })
		if !missing || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// The check

// inputView is the part of a decision input the property compares.
type inputView struct {
	Request struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Query   string            `json:"query"`
		Headers map[string]string `json:"headers"`
	} `json:"request"`
	API       policy.API `json:"api"`
	Operation string     `json:"operation"`
	Action    *struct {
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"action"`
	ServerIDs []string `json:"server_ids"`
	ProjectID *string  `json:"project_id"`
	Identity  *struct {
		Method string `json:"method"`
		User   struct {
			ID string `json:"id"`
		} `json:"user"`
		AccessKey *string `json:"access_key"`
	} `json:"identity"`
}

// ignoredHeaders are set after the decision by reverse_proxy (X-Forwarded-*,
// Via) or by ecsgate's trace propagation (docs/forwarded-request.md §1).
var ignoredHeaders = map[string]bool{
	"x-forwarded-for":   true,
	"x-forwarded-proto": true,
	"x-forwarded-host":  true,
	"via":               true,
	"traceparent":       true,
	"tracestate":        true,
	"baggage":           true,
}

func comparableHeaders(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch {
		case ignoredHeaders[k]:
		case k == "content-length" && v == "0":
		case k == "user-agent" && v == "":
		default:
			out[k] = v
		}
	}
	return out
}

type propertyChecker struct {
	classifier *classify.Classifier
	strict     bool
}

func newPropertyChecker(t *testing.T, strict bool) *propertyChecker {
	c, err := classify.New(classify.Options{})
	require.NoError(t, err)
	return &propertyChecker{classifier: c, strict: strict}
}

// knownDeviation names a difference of a plain reverse_proxy (without
// ecs_verified) that the handler cannot prevent, so that variant's short run
// stays usable; every run counts and logs them. Go's http.Transport adds
// "Accept-Encoding: gzip" on the wire to a request without Accept-Encoding or
// Range (not HEAD) unless the transport has "compression off"; ecs_verified
// turns compression off by default, and its variant is always strict.
func knownDeviation(method string, decided, executed map[string]string) string {
	if _, ok := decided["accept-encoding"]; ok || executed["accept-encoding"] != "gzip" {
		return ""
	}
	if _, ok := decided["range"]; ok || method == http.MethodHead {
		return ""
	}
	return "Accept-Encoding: gzip added by Go's http.Transport (reverse_proxy compression on)"
}

// check returns what is wrong with one exchange, and counts it in res.
func (c *propertyChecker) check(ex *exchange, res *propertyResult) []string {
	records := res.records[ex.decisionID]
	if ex.decisionID == "" {
		if len(ex.received) > 0 {
			return []string{"the upstream received a request the client got no decision id for"}
		}
		if ex.err != nil && ex.req.proto == protoH2C && isClientRefusal(ex.err) {
			res.clientErr++
			return nil
		}
		// net/http refused it (a 400, or an h2 stream reset) before any
		// handler: no decision was made, and nothing was sent.
		res.netHTTP++
		if testing.Verbose() && res.netHTTP <= propertyMaxReport {
			res.notes = append(res.notes, fmt.Sprintf("never reached ecs_policy (status %d, error %v): %s", ex.status, ex.err, ex.req))
		}
		return nil
	}
	if len(records) == 0 {
		return []string{"no decision record — decision id " + ex.decisionID}
	}
	switch len(ex.received) {
	case 0:
		return c.checkRefused(ex, records, res)
	case 1:
		res.forwarded++
		return c.checkForwarded(ex, records, res)
	default:
		return []string{fmt.Sprintf("the upstream received %d requests for one decision", len(ex.received))}
	}
}

// isClientRefusal tells the http2 client's own refusals (connection-specific
// headers it will not send) from errors of the exchange.
func isClientRefusal(err error) bool {
	s := err.Error()
	return strings.Contains(s, "http2: invalid") || strings.Contains(s, "invalid header field")
}

func (c *propertyChecker) checkRefused(ex *exchange, records []loggedRecord, res *propertyResult) []string {
	var problems []string
	reason := ""
	for _, r := range records {
		switch {
		case r.Rejected != "":
			reason = r.Rejected
		case r.Result != nil && !r.Result.Allow && reason == "":
			reason = "denied"
		}
	}
	if reason == "" {
		problems = append(problems, "not forwarded, but no record says denied or rejected")
	}
	res.reasons[reason]++
	if strings.HasPrefix(reason, "wire_") {
		res.wireRefused++
	}
	if ex.err != nil {
		return append(problems, "not forwarded, and the client got no answer — "+ex.err.Error())
	}
	if ex.status < 400 {
		problems = append(problems, fmt.Sprintf("not forwarded, but answered %d", ex.status))
	}
	if ex.req.method != http.MethodHead {
		var fault map[string]struct {
			Code    int     `json:"code"`
			Message *string `json:"message"`
		}
		if err := json.Unmarshal(ex.respBody, &fault); err != nil || len(fault) != 1 {
			problems = append(problems, "not forwarded, and the answer is not a Nova fault")
		} else {
			for _, f := range fault {
				if f.Code != ex.status || f.Message == nil {
					problems = append(problems, "not forwarded, and the fault does not match the status")
				}
			}
		}
	}
	return problems
}

func (c *propertyChecker) checkForwarded(ex *exchange, records []loggedRecord, res *propertyResult) []string {
	var problems []string
	for _, r := range records {
		if r.Rejected != "" || r.Result == nil || !r.Result.Allow {
			problems = append(problems, "forwarded, but the record says "+recordVerdict(r))
		}
	}
	var decided inputView
	if err := json.Unmarshal(records[0].Input, &decided); err != nil {
		return append(problems, "record input unreadable — "+err.Error())
	}
	rcv := ex.received[0]
	if len(rcv.Trailer) > 0 {
		problems = append(problems, "the upstream received trailers nothing classified")
	}
	if len(rcv.TransferEncoding) > 0 {
		problems = append(problems, "the upstream received a chunked body")
	}
	executed, err := c.executed(rcv)
	if err != nil {
		return append(problems, "on what the upstream received, ecsgate would refuse — "+err.Error())
	}
	if !c.strict {
		if dev := knownDeviation(rcv.Method, decided.Request.Headers, executed.Request.Headers); dev != "" {
			res.tolerated[dev]++
			delete(executed.Request.Headers, "accept-encoding")
		}
	}
	return append(problems, compareInputs(decided, executed)...)
}

func recordVerdict(r loggedRecord) string {
	switch {
	case r.Rejected != "":
		return "rejected " + r.Rejected
	case r.Result == nil:
		return "no result"
	case !r.Result.Allow:
		return "deny"
	}
	return "allow"
}

// executed runs ecsgate's classifier and credential selection on what the
// upstream received, and renders the result as a decision record would.
func (c *propertyChecker) executed(rcv receivedRequest) (inputView, error) {
	path, query, _ := strings.Cut(rcv.RequestURI, "?")
	header := rcv.Header.Clone()
	op, err := c.classifier.Classify(&classify.Request{
		Method: rcv.Method, RawPath: path, RawQuery: query, Header: header, Body: rcv.Body,
	})
	if err != nil {
		return inputView{}, err
	}
	in := &policy.Input{
		Request:   policy.Request{Method: rcv.Method, Path: path, Query: query, Headers: policy.Headers(header)},
		API:       policy.API{Family: op.Family, Version: op.Version, Microversion: op.Microversion, Route: op.Route},
		Operation: op.Name,
		ServerIDs: op.ServerIDs,
		ProjectID: op.ProjectID,
	}
	if op.Action != nil {
		in.Action = &policy.Action{Name: op.Action.Name, Args: op.Action.Args}
	}
	cred, err := identity.SelectCredential(header)
	if err != nil {
		return inputView{}, err
	}
	switch cred.Kind {
	case identity.CredentialToken:
		if u, ok := propertyUsers[cred.Token]; ok {
			in.Identity = &policy.Identity{Method: identity.MethodToken, User: policy.Scope{ID: u.id}}
		}
	case identity.CredentialAKSK:
		sig, err := identity.ParseSDKHMAC(cred.Authorization)
		if err != nil {
			return inputView{}, err
		}
		in.Identity = &policy.Identity{Method: identity.MethodAKSK, AccessKey: sig.AccessKey}
	}
	// The record's own encoding masks the same arguments and headers.
	raw, err := (&tracing.Record{Input: in}).MarshalJSON()
	if err != nil {
		return inputView{}, err
	}
	var rec struct {
		Input inputView `json:"input"`
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return inputView{}, err
	}
	return rec.Input, nil
}

func compareInputs(decided, executed inputView) []string {
	var problems []string
	diff := func(field string, want, got any) {
		if !reflect.DeepEqual(want, got) {
			problems = append(problems, fmt.Sprintf("%s — decided %v, upstream executes %v", field, show(want), show(got)))
		}
	}
	diff("method", decided.Request.Method, executed.Request.Method)
	diff("path", decided.Request.Path, executed.Request.Path)
	diff("query", decided.Request.Query, executed.Request.Query)
	diff("operation", decided.Operation, executed.Operation)
	diff("api", decided.API, executed.API)
	diff("server_ids", decided.ServerIDs, executed.ServerIDs)
	diff("project_id", decided.ProjectID, executed.ProjectID)
	switch {
	case (decided.Action == nil) != (executed.Action == nil):
		problems = append(problems, fmt.Sprintf("action — decided %s, upstream executes %s", show(decided.Action), show(executed.Action)))
	case decided.Action != nil:
		diff("action name", decided.Action.Name, executed.Action.Name)
		diff("action args", compactJSON(decided.Action.Args), compactJSON(executed.Action.Args))
	}
	caller := func(v inputView) string {
		if v.Identity == nil {
			return "null"
		}
		s := v.Identity.Method + " user " + v.Identity.User.ID
		if v.Identity.AccessKey != nil {
			s += " access key " + *v.Identity.AccessKey
		}
		return s
	}
	diff("caller", caller(decided), caller(executed))
	want, got := comparableHeaders(decided.Request.Headers), comparableHeaders(executed.Request.Headers)
	var names []string
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			names = append(names, k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			names = append(names, k)
		}
	}
	if len(names) > 0 {
		slices.Sort(names)
		details := make([]string, len(names))
		for i, k := range names {
			w, inWant := want[k]
			g, inGot := got[k]
			details[i] = fmt.Sprintf("%s decided %s, upstream %s", k, quoteIf(w, inWant), quoteIf(g, inGot))
		}
		problems = append(problems, "headers differ: "+strings.Join(names, ", ")+" — "+strings.Join(details, "; "))
	}
	return problems
}

func quoteIf(s string, ok bool) string {
	if !ok {
		return "absent"
	}
	return strconv.Quote(s)
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// The generator

const (
	protoHTTP10 = "HTTP/1.0"
	protoHTTP11 = "HTTP/1.1"
	protoH2C    = "h2c"
)

type header struct {
	name, value string
	sep         string // h1 only: what separates name and value
}

// genRequest is one generated request. For HTTP/1.x headers holds every
// line as written, framing included; for h2c the framing is the body's.
type genRequest struct {
	index    int
	proto    string
	method   string
	target   string
	noHost   bool
	headers  []header
	body     []byte
	chunked  bool  // h1: chunked framing; h2c: length unknown to the client
	chunks   []int // h1 chunk sizes
	trailers []header
}

// String shows the request as sent: the raw bytes for HTTP/1.x.
func (g *genRequest) String() string {
	if g.proto != protoH2C {
		return strconv.Quote(string(g.raw()))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "h2c :method %q :path %q\n", g.method, g.target)
	for _, h := range g.headers {
		fmt.Fprintf(&b, "%s: %q\n", h.name, h.value)
	}
	fmt.Fprintf(&b, "body %q (content length %s)\n", g.body, map[bool]string{true: "unknown", false: "known"}[g.chunked])
	for _, h := range g.trailers {
		fmt.Fprintf(&b, "trailer %s: %q\n", h.name, h.value)
	}
	return b.String()
}

func (g *genRequest) raw() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s %s\r\n", g.method, g.target, g.proto)
	if !g.noHost {
		b.WriteString("Host: " + gatewayAddr + "\r\n")
	}
	for _, h := range g.headers {
		b.WriteString(h.name + h.sep + h.value + "\r\n")
	}
	b.WriteString("\r\n")
	if !g.chunked {
		b.Write(g.body)
		return b.Bytes()
	}
	rest := g.body
	for _, n := range g.chunks {
		n = min(n, len(rest))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	if len(rest) > 0 {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(rest), rest)
	}
	b.WriteString("0\r\n")
	for _, h := range g.trailers {
		b.WriteString(h.name + ": " + h.value + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

func (g *genRequest) h2Request() (*http.Request, error) {
	u, err := url.ParseRequestURI(g.target)
	if err != nil {
		return nil, err
	}
	u.Scheme, u.Host = "http", gatewayAddr
	req := &http.Request{Method: g.method, URL: u, Host: gatewayAddr, Header: http.Header{}}
	for _, h := range g.headers {
		req.Header.Add(h.name, h.value)
	}
	if len(g.body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(g.body))
		// After a refused request whose body was still being sent, the h2
		// server may end the connection gracefully; the client then retries
		// the next request on a new one, which needs the body again.
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(g.body)), nil }
		req.ContentLength = int64(len(g.body))
		if g.chunked {
			req.ContentLength = -1
		}
	}
	if len(g.trailers) > 0 {
		req.Trailer = http.Header{}
		for _, h := range g.trailers {
			req.Trailer.Add(h.name, h.value)
		}
	}
	return req, nil
}

// generator draws one request from its own stream, so that a request can be
// regenerated from (seed, index) alone.
type generator struct {
	r     *rand.Rand
	proto string
	hs    []header
}

func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *generator, xs ...T) T { return xs[g.r.IntN(len(xs))] }

func (g *generator) add(name, value string) {
	g.hs = append(g.hs, header{name: name, value: value, sep: ": "})
}

// h1 tells whether connection-specific headers can be sent: the http2
// client refuses them, and the h2 server would reset the stream.
func (g *generator) h1() bool { return g.proto != protoH2C }

// spell varies a header name's case (net/http canonicalises what it reads).
func (g *generator) spell(name string) string {
	switch g.r.IntN(6) {
	case 0:
		return strings.ToLower(name)
	case 1:
		return strings.ToUpper(name)
	}
	return name
}

var actionBodies = []string{
	`{"lock": null}`, `{"unlock": null}`, `{"lock": {"locked_reason": "maintenance"}}`,
	`{"os-start": null}`, `{"os-stop": null}`, `{"reboot": {"type": "SOFT"}}`, `{"reboot": {"type": "HARD"}}`,
	`{"pause": null}`, `{"unpause": null}`, `{"suspend": null}`, `{"resume": null}`,
	`{"shelve": null}`, `{"unshelve": {"availability_zone": "az1"}}`, `{"shelveOffload": null}`,
	`{"resize": {"flavorRef": "2", "OS-DCF:diskConfig": "AUTO"}}`, `{"confirmResize": null}`, `{"revertResize": null}`,
	`{"rebuild": {"imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "adminPass": "s3cret"}}`,
	`{"changePassword": {"adminPass": "n3w-pass"}}`,
	`{"createImage": {"name": "snap", "metadata": {"k": "v"}}}`,
	`{"createBackup": {"name": "b", "backup_type": "daily", "rotation": 1}}`,
	`{"os-migrateLive": {"host": null, "block_migration": "auto"}}`, `{"migrate": {"host": "compute-2"}}`,
	`{"evacuate": {"host": "compute-3", "adminPass": "p"}}`,
	`{"rescue": {"adminPass": "r", "rescue_image_ref": "70a599e0-31e7-49b7-b260-868f441e862b"}}`, `{"unrescue": null}`,
	`{"forceDelete": null}`, `{"restore": null}`, `{"trigger_crash_dump": null}`,
	`{"addSecurityGroup": {"name": "web"}}`, `{"removeSecurityGroup": {"name": "web"}}`,
	`{"os-getConsoleOutput": {"length": 50}}`, `{"os-getVNCConsole": {"type": "novnc"}}`,
	`{"os-resetState": {"state": "active"}}`, `{"injectNetworkInfo": null}`, `{"resetNetwork": null}`,
	`{"addFloatingIp": {"address": "203.0.113.7"}}`, `{"removeFloatingIp": {"address": "203.0.113.7"}}`,
	"{ \"unl\\u006fck\" :\t{\"note\": \"caf\\u00e9 \u2615\"} }",
	"{\n  \"os-stop\" : null\n}\n",
	// refused by the classifier
	`{"nosuch": null}`, `{"lock": null, "unlock": null}`, `{"lock": NaN}`, `{"lock": null`, `[]`, `{}`,
}

var tokenValues = []string{
	"tok-alice", "tok-bob", "tok-carol", "tok-admin", "tok-dom",
	"tok-unknown", "", " tok-alice", "tok-bob\t", "tok-carol\xa0",
}

var connectionItems = []string{
	"close", "keep-alive", "te", "trailer", "upgrade", "X-Auth-Token", "X-Storage-Token", "Authorization",
	"OpenStack-API-Version", "X-OpenStack-Nova-API-Version", "Content-Type", "X-Project-Id", "X-Foo",
	"", "Keep-Alive", "Proxy-Connection", "proxy-authorization", "Transfer-Encoding", "Alt-Svc", "Content-Length",
}

func akskAuthorization(g *generator, signed string) string {
	return fmt.Sprintf("SDK-HMAC-SHA256 Access=%s, SignedHeaders=%s, Signature=%064x",
		pick(g, "AK1", "AK2"), signed, g.r.Uint64())
}

// generate draws request index of seed.
func generate(seed uint64, index int) *genRequest {
	g := &generator{r: rand.New(rand.NewPCG(seed, uint64(index)))}
	req := &genRequest{index: index}
	switch n := g.r.IntN(10); {
	case n < 5:
		g.proto = protoHTTP11
	case n < 7:
		g.proto = protoHTTP10
	default:
		g.proto = protoH2C
	}
	req.proto = g.proto
	req.method, req.target, req.body = g.route()

	g.credentials()
	g.microversion()
	if len(req.body) > 0 || g.chance(0.1) {
		if g.chance(0.85) {
			g.add(g.spell("Content-Type"), pick(g, "application/json", "application/json", "application/json; charset=UTF-8",
				"text/plain", "application/x-www-form-urlencoded", ""))
		}
	}
	g.hopByHop()
	g.forwarding()
	g.harmless()

	// Trailers: declared, sent, or both; only a body can carry them.
	if g.chance(0.08) {
		g.add(g.spell("Trailer"), pick(g, "X-Trail", "X-Auth-Token", "OpenStack-API-Version, X-Trail"))
	}
	chunkable := g.proto == protoHTTP11 || g.proto == protoH2C || g.chance(0.1)
	if chunkable && (len(req.body) > 0 && g.chance(0.25) || len(req.body) == 0 && g.chance(0.05)) {
		req.chunked = true
		if g.chance(0.3) && (g.h1() || len(req.body) > 0) {
			req.trailers = append(req.trailers, header{name: pick(g, "X-Trail", "X-Auth-Token", "Openstack-Api-Version"),
				value: pick(g, "1", "tok-admin", "compute 2.93")})
		}
	}
	g.r.Shuffle(len(g.hs), func(i, j int) { g.hs[i], g.hs[j] = g.hs[j], g.hs[i] })

	if !g.h1() {
		// HTTP/2 carries a value's surrounding blanks; an HTTP/1 parser
		// would have trimmed them.
		for i := range g.hs {
			if g.chance(0.04) {
				g.hs[i].value = pick(g, " ", "\t", "", " \t") + g.hs[i].value + pick(g, " ", "\t", "")
			}
		}
	}
	if g.h1() {
		g.framing(req)
		if g.proto == protoHTTP10 && g.chance(0.2) {
			req.noHost = true
		}
		// Odd spacing between name and value.
		for i := range g.hs {
			if g.chance(0.1) {
				g.hs[i].sep = pick(g, ":", ":   ", ":\t", ": \t ")
			}
		}
		if g.chance(0.02) && len(g.hs) > 0 {
			// An obsolete line folding.
			i := g.r.IntN(len(g.hs))
			g.hs[i].value += "\r\n\tfolded"
		}
	}
	req.headers = g.hs
	return req
}

// route picks a realistic Nova request, sometimes with the wrong method or
// body.
func (g *generator) route() (method, target string, body []byte) {
	prefix := pick(g, "/v2.1/"+demoProject, "/v2.1/"+demoProject, "/v2.1/"+otherProject, "/v2.1", "/v2.1",
		"/v2/"+demoProject, "/v2")
	id := pick(g, server1, server2, server3)
	if g.chance(0.02) {
		id = strings.ToUpper(id)
	}
	servers := prefix + "/servers"
	switch n := g.r.IntN(100); {
	case n < 40:
		method, target, body = http.MethodPost, servers+"/"+id+"/action", []byte(pick(g, actionBodies...))
	case n < 55:
		method = pick(g, http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete)
		target = servers + "/" + id
		if method == http.MethodPut {
			body = []byte(pick(g, `{"server": {"name": "renamed"}}`, `{"server": {"description": "d"}}`))
		}
	case n < 65:
		method = pick(g, http.MethodGet, http.MethodGet, http.MethodHead)
		target = servers + pick(g, "", "/detail") + pick(g, "", "", "?limit=2", "?all_tenants=1&name=web%2A", "?marker="+server1)
	case n < 80:
		key := pick(g, "k1", "role")
		switch m := g.r.IntN(6); m {
		case 0:
			method, target = http.MethodGet, servers+"/"+id+"/metadata"
		case 1:
			method, target, body = http.MethodPost, servers+"/"+id+"/metadata", []byte(`{"metadata": {"k1": "v1"}}`)
		case 2:
			method, target, body = http.MethodPut, servers+"/"+id+"/metadata", []byte(`{"metadata": {}}`)
		case 3:
			method, target = http.MethodGet, servers+"/"+id+"/metadata/"+key
		case 4:
			method, target, body = http.MethodPut, servers+"/"+id+"/metadata/"+key, []byte(`{"meta": {"`+key+`": "x"}}`)
		default:
			method, target = http.MethodDelete, servers+"/"+id+"/metadata/"+key
		}
	case n < 86:
		method, target = http.MethodGet, prefix+"/os-hosts/"+pick(g, "compute-1", "host%201")+"/reboot"
	case n < 93:
		method, target, body = http.MethodPost, servers, []byte(`{"server": {"name": "n", "imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "flavorRef": "1"}}`)
	case n < 96:
		method, target = http.MethodGet, pick(g, "/", "/v2.1", "/v2.1/", "/v2")
	default:
		method, target = http.MethodGet, prefix+pick(g, "/flavors", "/limits", "/os-keypairs", "/images/detail")
	}
	if g.chance(0.08) {
		method = pick(g, http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete)
	}
	if g.chance(0.01) && g.h1() {
		method = strings.ToLower(method)
	}
	switch {
	case len(body) == 0 && g.chance(0.03):
		body = []byte(`{"lock": null}`)
	case len(body) > 0 && g.chance(0.03):
		body = nil
	case len(body) > 0 && g.chance(0.01):
		// Beyond Nova's max_request_body_size.
		body = []byte(`{"lock": {"locked_reason": "` + strings.Repeat("x", 120000) + `"}}`)
	}
	if g.chance(0.05) {
		target = g.escapeOne(target)
	}
	if g.chance(0.05) {
		sep := "?"
		if strings.Contains(target, "?") {
			sep = "&"
		}
		target += sep + pick(g, "a=%7e", "a=b+c", "a=%zz", "a=1;b=2", "x=%2F", "", "a")
	}
	if g.chance(0.02) && g.h1() {
		target = "http://" + gatewayAddr + target
	}
	return method, target, body
}

// escapeOne percent-encodes one byte of the path, in either hex case, or
// writes an escape net/http re-escapes differently (%7E, %2f, %20).
func (g *generator) escapeOne(target string) string {
	path, query, hasQuery := strings.Cut(target, "?")
	i := 1 + g.r.IntN(max(len(path)-1, 1))
	if i >= len(path) {
		return target
	}
	hex := fmt.Sprintf("%%%02X", path[i])
	if g.chance(0.5) {
		hex = strings.ToLower(hex)
	}
	path = path[:i] + pick(g, hex, hex, "%7E", "%2f", "%20") + path[i+1:]
	if hasQuery {
		return path + "?" + query
	}
	return path
}

func (g *generator) credentials() {
	switch n := g.r.IntN(100); {
	case n < 60:
		g.add(g.spell("X-Auth-Token"), pick(g, tokenValues...))
	case n < 66:
		g.add(g.spell("X-Auth-Token"), pick(g, tokenValues...))
		g.add(g.spell("X-Auth-Token"), pick(g, tokenValues...))
	case n < 74:
		g.add(g.spell("X-Storage-Token"), pick(g, tokenValues...))
	case n < 80:
		tok := pick(g, tokenValues...)
		g.add(g.spell("X-Auth-Token"), tok)
		g.add(g.spell("X-Storage-Token"), pick(g, tok, tok, pick(g, tokenValues...)))
	case n < 88:
		if g.chance(0.5) {
			g.add(g.spell("Authorization"), akskAuthorization(g, "x-sdk-date"))
		} else {
			g.add(g.spell("Authorization"), akskAuthorization(g, "x-project-id;x-sdk-date"))
			g.add(g.spell("X-Project-Id"), pick(g, demoProject, otherProject))
		}
		g.add("X-Sdk-Date", "20261204T154112Z")
		if g.chance(0.1) {
			g.add(g.spell("X-Auth-Token"), pick(g, tokenValues...))
		}
	case n < 91:
		g.add(g.spell("Authorization"), pick(g, "Bearer tok-alice", "SDK-HMAC-SHA256 Access=AK1", "Basic YTpi"))
	}
	if g.chance(0.04) {
		g.add(g.spell("X-Service-Token"), pick(g, "tok-admin", ""))
	}
	if g.chance(0.03) {
		g.add(g.spell("Authorization"), akskAuthorization(g, "x-sdk-date"))
	}
	if g.chance(0.02) {
		g.add("X_Auth_Token", "tok-admin")
	}
}

func (g *generator) microversion() {
	if g.chance(0.3) {
		g.add(g.spell("OpenStack-API-Version"), pick(g, "compute 2.1", "compute 2.73", "compute latest", "compute 2.93",
			"volume 3.0", "compute 3.0", "Compute 2.60", "compute 2.60, volume 3.0"))
		if g.chance(0.05) {
			g.add(g.spell("OpenStack-API-Version"), "compute 2.1")
		}
	}
	if g.chance(0.15) {
		g.add(g.spell("X-OpenStack-Nova-API-Version"), pick(g, "2.1", "2.60", "latest", "2.9999"))
	}
}

// hopByHop adds connection-level headers; over h2c only what an h2 client
// may send.
func (g *generator) hopByHop() {
	if g.h1() && g.chance(0.5) {
		lines := 1
		if g.chance(0.1) {
			lines = 2
		}
		for range lines {
			items := make([]string, 1+g.r.IntN(4))
			for i := range items {
				items[i] = g.spell(pick(g, connectionItems...))
			}
			if g.chance(0.5) {
				items[0] = pick(g, "close", "keep-alive", "Keep-Alive", "CLOSE")
				items = items[:1+g.r.IntN(len(items))]
			}
			var b strings.Builder
			for i, it := range items {
				if i > 0 {
					b.WriteString(pick(g, ",", ", ", " ,", ",,", " , ", ",\t"))
				}
				b.WriteString(it)
			}
			g.add(g.spell("Connection"), b.String())
		}
	}
	if g.h1() && g.chance(0.1) {
		g.add(g.spell("Keep-Alive"), "timeout=5, max=100")
	}
	if g.h1() && g.chance(0.08) {
		g.add(g.spell("Proxy-Connection"), "keep-alive")
	}
	if g.chance(0.08) {
		g.add(g.spell("Proxy-Authorization"), "Basic dXNlcjpwYXNz")
	}
	if g.chance(0.12) {
		if g.h1() {
			g.add("TE", pick(g, "trailers", "gzip", "trailers, deflate;q=0.5", "deflate", "Trailers"))
		} else {
			g.add("Te", "trailers")
		}
	}
	if g.h1() && g.chance(0.05) {
		g.add(g.spell("Upgrade"), pick(g, "websocket", "h2c", ""))
	}
}

func (g *generator) forwarding() {
	if g.chance(0.1) {
		g.add("X-Forwarded-For", pick(g, "203.0.113.9", "203.0.113.9, 10.0.0.1"))
	}
	if g.chance(0.05) {
		g.add("X-Forwarded-Proto", "https")
	}
	if g.chance(0.05) {
		g.add("X-Forwarded-Host", "compute.example")
	}
	if g.chance(0.05) {
		g.add("Via", "1.1 lb")
	}
	if g.chance(0.1) {
		g.add("Traceparent", fmt.Sprintf("00-%016x%016x-%016x-01", g.r.Uint64()|1, g.r.Uint64(), g.r.Uint64()|1))
	}
}

func (g *generator) harmless() {
	if g.chance(0.5) {
		g.add(g.spell("Accept"), pick(g, "application/json", "*/*"))
	}
	if g.chance(0.5) {
		g.add("User-Agent", pick(g, "python-novaclient", "gophercloud/2.15.0", "openstacksdk/4.0.0 keystoneauth1/5.8.0", ""))
	}
	if g.chance(0.2) {
		g.add(g.spell("X-Foo"), pick(g, "bar", "", "a, b", " padded "))
	}
	if g.chance(0.1) {
		g.add("X-Openstack-Request-Id", "req-c0ffee00-0000-4000-8000-000000000009")
	}
	if g.chance(0.2) {
		g.add(g.spell("Accept-Encoding"), pick(g, "gzip", "identity", "gzip, deflate"))
	}
	if g.chance(0.05) {
		g.add("Cookie", "session=1")
	}
	if g.chance(0.05) {
		g.add(g.spell("X-Roles"), "admin")
	}
	if g.chance(0.03) {
		g.add(g.spell("X-Project-Id"), otherProject)
	}
	if g.chance(0.03) {
		g.add(g.spell("X-Foo"), "second line")
	}
	if g.chance(0.02) {
		g.add("X-Http-Method-Override", "DELETE")
	}
}

// framing adds the h1 body framing headers.
func (g *generator) framing(req *genRequest) {
	if req.chunked {
		g.add(g.spell("Transfer-Encoding"), pick(g, "chunked", "chunked", "Chunked"))
		if g.chance(0.05) {
			// Both framings: the one net/http does not use must not
			// reach the upstream.
			g.add(g.spell("Content-Length"), strconv.Itoa(g.r.IntN(len(req.body)+2)))
		}
		for range 1 + g.r.IntN(3) {
			req.chunks = append(req.chunks, 1+g.r.IntN(16))
		}
		return
	}
	if len(req.body) > 0 || g.chance(0.2) {
		n := strconv.Itoa(len(req.body))
		if g.chance(0.03) {
			n = "0" + n
		}
		g.add(g.spell("Content-Length"), n)
		if g.chance(0.03) {
			g.add(g.spell("Content-Length"), n)
		}
	}
	if len(req.body) > 0 && g.proto == protoHTTP11 && g.chance(0.03) {
		g.add(g.spell("Expect"), "100-continue")
	}
}
