//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// novaFault checks a Nova-style fault body {"<name>": {"code": N, "message":
// "..."}} and the request-id headers, and returns the message.
func novaFault(t *testing.T, status int, hdr http.Header, body []byte, wantName string) string {
	t.Helper()
	var doc map[string]struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	require.NoError(t, json.Unmarshal(body, &doc), "a Nova fault body: %s", body)
	require.Len(t, doc, 1, "one top-level key: %s", body)
	f, ok := doc[wantName]
	require.True(t, ok, "fault name %q in %s", wantName, body)
	assert.Equal(t, status, f.Code, "code in the body")
	assert.NotEmpty(t, f.Message)
	assert.True(t, strings.HasPrefix(hdr.Get("Content-Type"), "application/json"), hdr.Get("Content-Type"))
	reqID := `^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`
	assert.Regexp(t, reqID, hdr.Get("X-Compute-Request-Id"))
	assert.Regexp(t, reqID, hdr.Get("X-Openstack-Request-Id"))
	return f.Message
}

// lockThrough sends alice's canonical lock of SERVER1 to a gateway site and
// checks that Nova saw nothing and the server did not change.
func lockThrough(t *testing.T, addr string) (int, http.Header, []byte, time.Duration) {
	t.Helper()
	s1 := env["SERVER1"]
	resetServers(t)
	before := novaState(t, s1)
	mark := nlog.mark(t)
	start := time.Now()
	status, hdr, body := httpDo(t, addr, "alice", http.MethodPost, "/v2.1/"+env["DEMO_PROJECT_ID"]+"/servers/"+s1+"/action", `{"lock": null}`)
	elapsed := time.Since(start)
	assert.Empty(t, nlog.since(t, mark), "nothing may reach nova-api")
	assert.Equal(t, before, novaState(t, s1), "the server did not change")
	t.Logf("%d in %s: %s", status, elapsed.Round(time.Millisecond), body)
	return status, hdr, body, elapsed
}

func TestFaultKeystoneDown(t *testing.T) {
	status, hdr, body, _ := lockThrough(t, gwKeystoneDown)
	require.Equal(t, http.StatusServiceUnavailable, status, "%s", body)
	novaFault(t, status, hdr, body, "serviceUnavailable")
}

func TestFaultKeystoneSlow(t *testing.T) {
	calls := slowCalls.Load()
	status, hdr, body, elapsed := lockThrough(t, gwKeystoneSlow)
	require.Equal(t, http.StatusServiceUnavailable, status, "%s", body)
	novaFault(t, status, hdr, body, "serviceUnavailable")
	assert.Greater(t, slowCalls.Load(), calls, "the gateway asked the slow Keystone")
	// The identity client's timeout is 5 s by default (not configurable from
	// the Caddyfile): the answer comes after it, and not much later.
	assert.GreaterOrEqual(t, elapsed, 4*time.Second, "answered before the identity timeout?")
	assert.Less(t, elapsed, 15*time.Second, "the identity timeout did not bound the wait")
}

func TestFaultKeystoneGarbage(t *testing.T) {
	calls := garbageCalls.Load()
	status, hdr, body, _ := lockThrough(t, gwKeystoneGarbage)
	require.Equal(t, http.StatusServiceUnavailable, status, "%s", body)
	novaFault(t, status, hdr, body, "serviceUnavailable")
	assert.Greater(t, garbageCalls.Load(), calls, "the gateway asked the garbage Keystone")
}

func TestFaultUpstreamDown(t *testing.T) {
	s1 := env["SERVER1"]
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, "/v2.1/servers/" + s1, ""},
		{http.MethodPost, "/v2.1/servers/" + s1 + "/action", `{"lock": null}`},
	} {
		t.Run(c.method, func(t *testing.T) {
			status, hdr, body := httpDo(t, gwUpstreamDown, "alice", c.method, c.path, c.body)
			t.Logf("%d %v %s", status, hdr, body)
			if status != http.StatusBadGateway || !json.Valid(body) {
				t.Fatalf("upstream down: want 502 with a Nova fault JSON body (e.g. {\"computeFault\": {\"code\": 502, ...}}) "+
					"and request-id headers; got %d %q (is the upstream-error mapping in the binary?)", status, body)
			}
			novaFault(t, status, hdr, body, "computeFault")
		})
	}
	assert.False(t, novaState(t, s1).Locked)
}

// TestFaultClientDisconnectMidBody: a client that announces 100 bytes and
// sends 20 then goes away must not get anything to Nova.
func TestFaultClientDisconnectMidBody(t *testing.T) {
	s1 := env["SERVER1"]
	// A valid 100-byte lock body: only its first 20 bytes are sent.
	full := `{"lock": null}` + strings.Repeat(" ", 100-len(`{"lock": null}`))
	require.Len(t, full, 100)
	head := func(extra string) string {
		return "POST /v2.1/" + env["DEMO_PROJECT_ID"] + "/servers/" + s1 + "/action HTTP/1.1\r\n" +
			"Host: " + gwShipped + "\r\nX-Auth-Token: " + token(t, "alice") + "\r\nContent-Type: application/json\r\n" + extra + "\r\n"
	}
	cases := []struct {
		name      string
		raw       string
		halfClose bool // shut down the write side and wait for an answer
	}{
		{"Content-Length 100, 20 bytes, close", head("Content-Length: 100\r\n") + full[:20], false},
		{"Content-Length 100, 20 bytes, half-close", head("Content-Length: 100\r\n") + full[:20], true},
		{"chunked, first chunk only, close", head("Transfer-Encoding: chunked\r\n") + fmt.Sprintf("%x\r\n%s\r\n", 20, full[:20]), false},
		{"chunked, whole body but no last chunk, half-close", head("Transfer-Encoding: chunked\r\n") + fmt.Sprintf("%x\r\n%s\r\n", 100, full), true},
	}
	// Warm the gateway's token cache so the body is what it waits for.
	status, _, _ := httpDo(t, gwShipped, "alice", http.MethodGet, "/v2.1/servers/"+s1, "")
	require.Equal(t, http.StatusOK, status)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resetServers(t)
			before := novaState(t, s1)
			mark := nlog.mark(t)
			conn, err := net.DialTimeout("tcp", gwShipped, 5*time.Second)
			require.NoError(t, err)
			require.NoError(t, conn.SetDeadline(time.Now().Add(15*time.Second)))
			_, err = io.WriteString(conn, c.raw)
			require.NoError(t, err)
			answer := "(closed without reading)"
			if c.halfClose {
				require.NoError(t, conn.(*net.TCPConn).CloseWrite())
				data, _ := io.ReadAll(conn)
				answer = string(data)
				if i := strings.IndexByte(answer, '\n'); i > 0 {
					answer = strings.TrimSpace(answer[:i])
				}
				if answer != "" {
					code, _ := strconv.Atoi(strings.Fields(answer + " x x")[1])
					assert.True(t, code >= 400 && code < 500, "a truncated body gets a 4xx: %s", answer)
				}
			}
			conn.Close()
			// Give a misbehaving gateway the time to forward what it has.
			time.Sleep(500 * time.Millisecond)
			assert.Empty(t, nlog.since(t, mark), "nothing may reach nova-api")
			assert.Equal(t, before, novaState(t, s1), "the server did not change")
			t.Logf("answer: %s", answer)
		})
	}
}
