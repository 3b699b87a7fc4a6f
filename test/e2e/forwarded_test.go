//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What the gateway decides on must be what Nova executes. These tests replay
// attacks where the request changes between the decision and nova-api: Caddy's
// reverse_proxy drops every header the client names in Connection, Nova
// picks its token by keystonemiddleware's rules, request trailers arrive
// after the body, a GET can be a mutation, and a protocol switch turns the
// connection into a tunnel no policy sees. Each case either is refused
// before anything reaches Nova (Nova's log and database prove it) or is
// decided for the identity Nova acts as (the decision record proves it).

// ---- sending and checking ----------------------------------------------------

// exchange is one raw request and its response. The connection stays open
// for whatever the caller sends next (through a tunnel, if one opened).
type exchange struct {
	resp rawResponse
	conn net.Conn
	br   *bufio.Reader
}

// roundTrip writes raw to addr and reads exactly one response.
func roundTrip(t *testing.T, addr, raw string) *exchange {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = io.WriteString(conn, raw)
	require.NoError(t, err)
	method, _, _ := strings.Cut(raw, " ")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	require.NoError(t, err, "a response from %s", addr)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return &exchange{resp: rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: body}, conn: conn, br: br}
}

func faultName(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "badRequest"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusBadGateway:
		return "computeFault"
	}
	return ""
}

// outcome is what one attack did: the gateway's answer, the requests
// nova-api logged meanwhile and the server before and after.
type outcome struct {
	addr          string
	resp          rawResponse
	reached       []string
	before, after dbState
}

// attempt sends raw to addr and observes server.
func attempt(t *testing.T, addr, server, raw string) outcome {
	t.Helper()
	o := outcome{addr: addr}
	o.before = novaDBState(t, server)
	mark := nlog.mark(t)
	o.resp = roundTrip(t, addr, raw).resp
	o.reached = nlog.since(t, mark)
	o.after = novaDBState(t, server)
	t.Logf("%d %.300s\n  nova-api logged %q; server %s -> %s", o.resp.Status, o.resp.Body, o.reached, o.before.short(), o.after.short())
	return o
}

// refused checks that the gateway answered status with a Nova fault, that
// nothing reached nova-api and that the server did not change.
func refused(t *testing.T, o outcome, status int) {
	t.Helper()
	assert.Equal(t, o.before, o.after, "the server changed: %s -> %s", o.before.short(), o.after.short())
	assert.Empty(t, o.reached, "nothing may reach nova-api")
	if assert.Equal(t, status, o.resp.Status, "%s", o.resp.Body) {
		novaFault(t, o.resp.Status, o.resp.Header, o.resp.Body, faultName(status))
	}
}

// badRequest checks a refusal with 400 and that the decision record gives
// reason, the refusal's code (docs/forwarded-request.md): a 400 for another
// cause (a malformed body, say) proves nothing about the attack.
func badRequest(t *testing.T, o outcome, reason string) {
	t.Helper()
	refused(t, o, http.StatusBadRequest)
	if o.resp.Status == http.StatusBadRequest {
		assert.Equal(t, reason, decisionFor(t, o.addr, o.resp.Header).Rejected, "the refusal's reason code")
	}
}

func resetAndLock(t *testing.T, user, server string) {
	t.Helper()
	resetServers(t)
	lockAs(t, user, server)
}

// ---- 1. headers named in Connection ------------------------------------------

// TestConnectionNamesEndToEndHeaders: reverse_proxy removes every header the
// Connection header names, after ecs_policy decided on it. Naming the token,
// the signature or the microversion header makes Nova act as another user or
// at another microversion than the one decided for; the gateway must refuse
// any Connection token that is not a hop-by-hop header.
func TestConnectionNamesEndToEndHeaders(t *testing.T) {
	s1, s3 := env["SERVER1"], env["SERVER3"]
	tg := newTarget(t, gwShipped)

	t.Run("X-Auth-Token named: dave decided, eve's X-Storage-Token executes", func(t *testing.T) {
		resetAndLock(t, "eve", s3)
		raw := tg.req("POST", "/v2.1/servers/"+s3+"/action", body("unlock"), authAs(tg.dave),
			hdr("X-Storage-Token: "+token(t, "eve")), connection("close, X-Auth-Token"))
		badRequest(t, attempt(t, gwShipped, s3, raw), "connection_header")
	})

	t.Run("empty X-Auth-Token and Authorization named: access key decided, alice's X-Storage-Token executes", func(t *testing.T) {
		resetAndLock(t, "alice", s1)
		raw := tg.req("POST", "/v2.1/servers/"+s1+"/action", body("unlock"), noAuth(),
			hdr("X-Auth-Token:", "Authorization: "+akAuthorization(), "X-Sdk-Date: 20260101T000000Z", "X-Storage-Token: "+tg.alice),
			connection("close, X-Auth-Token, Authorization"))
		badRequest(t, attempt(t, gwShipped, s1, raw), "connection_header")
	})

	t.Run("OpenStack-API-Version named: 2.73 decided, 2.1 executes", func(t *testing.T) {
		resetServers(t)
		raw := tg.req("POST", "/v2.1/servers/"+s1+"/action", `{"lock": {"locked_reason": "e2e"}}`,
			hdr("OpenStack-API-Version: compute 2.73"), connection("OpenStack-API-Version"))
		badRequest(t, attempt(t, gwShipped, s1, raw), "connection_header")
	})

	t.Run("Upgrade named without an upgrade", func(t *testing.T) {
		resetServers(t)
		raw := tg.req("POST", "/v2.1/servers/"+s1+"/action", body("lock"), connection("close, upgrade"))
		badRequest(t, attempt(t, gwShipped, s1, raw), "upgrade")
	})

	// Hop-by-hop names are what Connection is for: such a request is
	// decided and executed as usual, for the token's user.
	t.Run("control: only hop-by-hop names, dave unlocks", func(t *testing.T) {
		resetAndLock(t, "alice", s1)
		raw := tg.req("POST", "/v2.1/servers/"+s1+"/action", body("unlock"), authAs(tg.dave),
			hdr("TE: trailers", "Keep-Alive: timeout=5"), connection("keep-alive, TE, close, Keep-Alive"))
		o := attempt(t, gwShipped, s1, raw)
		require.Equal(t, http.StatusAccepted, o.resp.Status, "%s", o.resp.Body)
		assert.Equal(t, "unlocked", o.after.short())
		assert.Equal(t, "dave/"+env["DEMO_PROJECT_ID"], decisionFor(t, gwShipped, o.resp.Header).who())
	})
}

// ---- 2. which token Nova uses ------------------------------------------------

// TestTokenHeaders: keystonemiddleware takes X-Auth-Token when present (even
// empty), otherwise X-Storage-Token, and validates an X-Service-Token on its
// own. The gateway decides for that token or refuses what is ambiguous.
func TestTokenHeaders(t *testing.T) {
	s1 := env["SERVER1"]
	tg := newTarget(t, gwShipped)
	action := "/v2.1/servers/" + s1 + "/action"

	t.Run("X-Storage-Token only: decided for its user, the shipped policy applies", func(t *testing.T) {
		resetServers(t)
		o := attempt(t, gwShipped, s1, tg.req("POST", action, body("lock"), noAuth(), hdr("X-Storage-Token: "+tg.alice)))
		require.Equal(t, http.StatusAccepted, o.resp.Status, "a member may lock: %s", o.resp.Body)
		assert.Equal(t, "locked(owner)", o.after.short())
		rec := decisionFor(t, gwShipped, o.resp.Header)
		assert.Equal(t, "alice/"+env["DEMO_PROJECT_ID"], rec.who())

		o = attempt(t, gwShipped, s1, tg.req("POST", action, body("unlock"), noAuth(), hdr("X-Storage-Token: "+tg.alice)))
		refused(t, o, http.StatusForbidden)
		assert.Contains(t, string(o.resp.Body), "requires role ecs_unlocker or admin")
		assert.Equal(t, "alice/"+env["DEMO_PROJECT_ID"], decisionFor(t, gwShipped, o.resp.Header).who())
	})

	t.Run("empty X-Auth-Token plus X-Storage-Token", func(t *testing.T) {
		resetServers(t)
		raw := tg.req("POST", action, body("lock"), noAuth(), hdr("X-Auth-Token:", "X-Storage-Token: "+tg.alice))
		badRequest(t, attempt(t, gwShipped, s1, raw), "ambiguous_credentials")
	})

	t.Run("X-Auth-Token (reader) and X-Storage-Token (member)", func(t *testing.T) {
		resetServers(t)
		raw := tg.req("POST", action, body("lock"), authAs(tg.carol), hdr("X-Storage-Token: "+tg.alice))
		badRequest(t, attempt(t, gwShipped, s1, raw), "ambiguous_credentials")
	})

	t.Run("X-Auth-Token (dave) and X-Storage-Token (alice), unlock", func(t *testing.T) {
		resetAndLock(t, "alice", s1)
		raw := tg.req("POST", action, body("unlock"), authAs(tg.dave), hdr("X-Storage-Token: "+tg.alice))
		badRequest(t, attempt(t, gwShipped, s1, raw), "ambiguous_credentials")
	})

	t.Run("X-Service-Token", func(t *testing.T) {
		resetServers(t)
		raw := tg.req("POST", action, body("lock"), hdr("X-Service-Token: "+token(t, "nova")))
		badRequest(t, attempt(t, gwShipped, s1, raw), "service_token")
	})
}

// ---- 3. request trailers ------------------------------------------------------

// TestRequestTrailers: trailer fields arrive after the body the gateway
// decided on, and reverse_proxy forwards them; the gateway refuses them all.
func TestRequestTrailers(t *testing.T) {
	s1, s3 := env["SERVER1"], env["SERVER3"]
	tg := newTarget(t, gwShipped)
	chunkedTE := "Transfer-Encoding: chunked"

	t.Run("declared X-Auth-Token trailer (eve) after dave's header, eve's server", func(t *testing.T) {
		resetAndLock(t, "eve", s3)
		raw := tg.req("POST", "/v2.1/servers/"+s3+"/action", "", authAs(tg.dave),
			framedBody(chunkedTrailer(body("unlock"), "X-Auth-Token: "+token(t, "eve"))), hdr(chunkedTE, "Trailer: X-Auth-Token"))
		badRequest(t, attempt(t, gwShipped, s3, raw), "trailers")
	})

	// Undeclared, net/http stores the trailers on the server's own Request
	// only (mergeSetHeader replaces its nil map), not on the copies handlers
	// get from WithContext: the gateway cannot see them to refuse them. They
	// are dropped instead: the body is forwarded as the bytes read, with a
	// Content-Length, so Nova acts for the header's caller, who was decided.
	t.Run("undeclared X-Auth-Token trailer (eve) after dave's header, eve's server", func(t *testing.T) {
		resetAndLock(t, "eve", s3)
		raw := tg.req("POST", "/v2.1/servers/"+s3+"/action", "", authAs(tg.dave),
			framedBody(chunkedTrailer(body("unlock"), "X-Auth-Token: "+token(t, "eve"))), hdr(chunkedTE))
		o := attempt(t, gwShipped, s3, raw)
		assert.Equal(t, "dave/"+env["DEMO_PROJECT_ID"], decisionFor(t, gwShipped, o.resp.Header).who(),
			"decided for the header's caller")
		assert.Equal(t, http.StatusNotFound, o.resp.Status, "Nova acted for dave, who cannot see eve's server: %s", o.resp.Body)
		assert.Equal(t, o.before, o.after, "eve's server stays locked")
	})

	t.Run("any trailer: alice's lock with a digest trailer", func(t *testing.T) {
		resetServers(t)
		raw := tg.req("POST", "/v2.1/servers/"+s1+"/action", "",
			framedBody(chunkedTrailer(body("lock"), "X-E2e-Digest: 1")), hdr(chunkedTE, "Trailer: X-E2e-Digest"))
		badRequest(t, attempt(t, gwShipped, s1, raw), "trailers")
	})
}

// ---- 4. mutations on GET ------------------------------------------------------

// TestHostActionsOnGet: Nova's os-hosts reboot, shutdown and startup are GETs
// that act on a compute host. They are no read: a member is denied by the
// shipped policy and by the deny-all-mutations policy, and Nova never sees
// them (with no compute node they could not change anything here, so Nova's
// log is the evidence).
func TestHostActionsOnGet(t *testing.T) {
	s1 := env["SERVER1"]
	for _, site := range []struct{ name, addr string }{{"shipped", gwShipped}, {"deny-all-mutations", gwDeny}} {
		for _, prefix := range []string{"/v2.1", "/v2.1/" + env["DEMO_PROJECT_ID"]} {
			for _, act := range []string{"reboot", "shutdown", "startup"} {
				path := prefix + "/os-hosts/e2e-host/" + act
				t.Run(site.name+" "+path, func(t *testing.T) {
					tg := newTarget(t, site.addr)
					o := attempt(t, site.addr, s1, tg.req("GET", path, ""))
					refused(t, o, http.StatusForbidden)
					rec := decisionFor(t, site.addr, o.resp.Header)
					t.Logf("operation %q, decided for %s: %v", rec.Input.Operation, rec.who(), rec.Result)
					if assert.NotNil(t, rec.Result) {
						assert.False(t, rec.Result.Allow)
					}
					assert.NotEqual(t, "server.read", rec.Input.Operation)
					if site.addr == gwDeny {
						assert.Contains(t, string(o.resp.Body), denyReason, "the deny-all policy denied it as a mutation")
					}
				})
			}
		}
	}
}

// ---- 5. protocol upgrades -----------------------------------------------------

// relay stands in for a WebSocket-capable load balancer in front of
// nova-api: it answers 101 Switching Protocols to a request carrying Upgrade
// (to every request when always is set) and from then on pipes raw bytes to
// nova-api. Other requests it passes on as they are.
type relay struct {
	ln      net.Listener
	always  bool
	tunnels atomic.Int64 // connections switched to raw piping
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
}

func startRelay(always bool) (*relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &relay{ln: ln, always: always, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				r.handle(c)
			}()
		}
	}()
	return r, nil
}

func (r *relay) addr() string { return r.ln.Addr().String() }

// track registers c for close; false once the relay is closing.
func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *relay) handle(c net.Conn) {
	defer c.Close()
	if !r.track(c) {
		return
	}
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	up, err := net.DialTimeout("tcp", novaAddr, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	if !r.track(up) {
		return
	}
	proto := req.Header.Get("Upgrade")
	if proto != "" || r.always {
		if proto == "" {
			proto = "websocket"
		}
		r.tunnels.Add(1)
		if _, err := fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", proto); err != nil {
			return
		}
	} else if err := req.Write(up); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, br)
		// Pass the client's end on. A tunnel nothing was sent through is
		// otherwise a silent connection to nova-api, whose one worker
		// (uwsgi, TCP_DEFER_ACCEPT) accepts it seconds later and then waits
		// out its 4 s socket timeout on it: a stall in some later test.
		if tc, ok := up.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(c, up)
	c.Close()
	<-done
}

// close stops accepting, ends every open connection and waits for the
// relay's goroutines.
func (r *relay) close() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
	r.mu.Unlock()
	r.wg.Wait()
}

// TestUpgradeRefused: a protocol switch would hand the connection to
// whatever the upstream makes of the following bytes, undecided. The gateway
// refuses an Upgrade request before any policy runs.
func TestUpgradeRefused(t *testing.T) {
	s1 := env["SERVER1"]
	resetServers(t)
	cases := []struct{ name, conn string }{
		{"websocket", "Upgrade"},
		{"websocket, lower-case", "upgrade"},
		{"websocket with close", "close, Upgrade"},
		{"Upgrade header, Connection does not name it", "close"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newTarget(t, gwShipped)
			raw := tg.req("GET", "/v2.1/servers/"+s1, "", connection(c.conn),
				hdr("Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: ZTJlLXdlYnNvY2tldC1rZXk="))
			// A reason code in the record means no policy decided.
			badRequest(t, attempt(t, gwShipped, s1, raw), "upgrade")
		})
	}
	t.Run("h2c", func(t *testing.T) {
		tg := newTarget(t, gwShipped)
		raw := tg.req("GET", "/v2.1/servers/"+s1, "", connection("Upgrade, HTTP2-Settings"),
			hdr("Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"))
		badRequest(t, attempt(t, gwShipped, s1, raw), "upgrade")
	})
}

// TestUpgradeTunnel: behind a balancer that switches protocols, a read
// allowed by the policy would open a raw tunnel to nova-api; alice's unlock
// sent through it (the policy denies it: she lacks ecs_unlocker) must not
// happen.
func TestUpgradeTunnel(t *testing.T) {
	s1 := env["SERVER1"]
	resetAndLock(t, "alice", s1)
	before := novaDBState(t, s1)
	tunnels := upgradeRelay.tunnels.Load()
	tg := newTarget(t, gwRelayUpgrade)
	mark := nlog.mark(t)

	x := roundTrip(t, gwRelayUpgrade, tg.req("GET", "/v2.1/servers/"+s1, "", connection("Upgrade"),
		hdr("Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: ZTJlLXdlYnNvY2tldC1rZXk=")))
	t.Logf("upgrade answered %d %.300s", x.resp.Status, x.resp.Body)
	if x.resp.Status == http.StatusSwitchingProtocols {
		smuggled := tg.req("POST", "/v2.1/servers/"+s1+"/action", body("unlock"))
		_, err := io.WriteString(x.conn, smuggled)
		require.NoError(t, err)
		if resp, err := http.ReadResponse(x.br, &http.Request{Method: "POST"}); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("through the tunnel: %d %.300s", resp.StatusCode, b)
		} else {
			t.Logf("through the tunnel: %v", err)
		}
	}
	reached := nlog.since(t, mark)
	after := novaDBState(t, s1)
	t.Logf("nova-api logged %q; server %s -> %s", reached, before.short(), after.short())

	assert.NotEqual(t, http.StatusSwitchingProtocols, x.resp.Status, "a 101 reached the client")
	assert.Equal(t, before, after, "the server changed: %s -> %s", before.short(), after.short())
	assert.Equal(t, tunnels, upgradeRelay.tunnels.Load(), "the relay opened a tunnel")
	assert.Empty(t, reached, "nothing may reach nova-api")
	if assert.Equal(t, http.StatusBadRequest, x.resp.Status, "%s", x.resp.Body) {
		novaFault(t, x.resp.Status, x.resp.Header, x.resp.Body, "badRequest")
	}
}

// TestUpstream101WithoutUpgrade: an upstream that switches protocols on a
// request that asked for no upgrade is broken or hostile. No 101 (and no
// tunnel) may reach the client; the ecs_verified transport, which sees the
// answer before reverse_proxy acts on it, turns it into a 502 fault.
func TestUpstream101WithoutUpgrade(t *testing.T) {
	s1 := env["SERVER1"]
	for _, site := range []struct {
		name     string
		addr     string
		verified bool
	}{{"ecs_verified transport", gwRelay101, true}, {"plain http transport", gwRelay101Plain, false}} {
		t.Run(site.name, func(t *testing.T) {
			resetAndLock(t, "alice", s1)
			before := novaDBState(t, s1)
			tg := newTarget(t, site.addr)
			mark := nlog.mark(t)

			x := roundTrip(t, site.addr, tg.req("GET", "/v2.1/servers/"+s1, "", keepAlive()))
			t.Logf("GET answered %d %q %.300s", x.resp.Status, x.resp.Header, x.resp.Body)
			if x.resp.Status == http.StatusSwitchingProtocols {
				_, err := io.WriteString(x.conn, tg.req("POST", "/v2.1/servers/"+s1+"/action", body("unlock")))
				require.NoError(t, err)
				if resp, err := http.ReadResponse(x.br, &http.Request{Method: "POST"}); err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					t.Logf("through the tunnel: %d %.300s", resp.StatusCode, b)
				}
			}
			reached := nlog.since(t, mark)
			after := novaDBState(t, s1)
			t.Logf("nova-api logged %q; server %s -> %s", reached, before.short(), after.short())

			assert.NotEqual(t, http.StatusSwitchingProtocols, x.resp.Status, "a 101 reached the client")
			assert.Equal(t, before, after, "the server changed: %s -> %s", before.short(), after.short())
			for _, r := range reached {
				assert.NotContains(t, r, "POST", "a request reached nova-api through the switched connection")
			}
			if site.verified && assert.Equal(t, http.StatusBadGateway, x.resp.Status, "%s", x.resp.Body) {
				novaFault(t, x.resp.Status, x.resp.Header, x.resp.Body, "computeFault")
			}
		})
	}
}
