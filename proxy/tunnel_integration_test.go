package proxy_test

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

// tunnelRelay stands in for a WebSocket-capable load balancer in front of
// the compute API: to a request carrying Upgrade (to every request when
// always is set) it answers 101 Switching Protocols and from then on pipes
// raw bytes to the simulator. Other requests it passes on as they are.
type tunnelRelay struct {
	ln      net.Listener
	always  bool
	tunnels atomic.Int64
	wg      sync.WaitGroup
}

func newTunnelRelay(t *testing.T, always bool) *tunnelRelay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &tunnelRelay{ln: ln, always: always}
	r.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Go(func() { r.serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *tunnelRelay) serve(client net.Conn) {
	defer client.Close()
	_ = client.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(client)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	up, err := net.Dial("tcp", strings.TrimPrefix(simulator, "http://"))
	if err != nil {
		return
	}
	defer up.Close()
	if req.Header.Get("Upgrade") == "" && !r.always {
		// An ordinary request: forward it and its answer, then close.
		req.Header.Set("Connection", "close")
		_ = req.Write(up)
		_, _ = io.Copy(client, up)
		return
	}
	r.tunnels.Add(1)
	_, _ = io.WriteString(client, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, up); done <- struct{}{} }()
	<-done
}

func (r *tunnelRelay) addr() string { return r.ln.Addr().String() }

func tunnelGateway(t *testing.T, proxyBlock string) {
	t.Helper()
	simulatorGateway(t, `ecs_policy {
		keystone http://127.0.0.1:9081/v3
	}
	`+proxyBlock)
}

// tryTunnel sends an upgrade read and, if the answer is 101, an unlock
// straight through the opened connection. It returns the first status.
func tryTunnel(t *testing.T, extra string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:9080", 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	fmt.Fprintf(conn, "GET /v2.1/%s/servers/%s HTTP/1.1\r\nHost: 127.0.0.1:9080\r\nX-Auth-Token: demo-alice\r\n%s\r\n", demoProject, server1, extra)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	// Through the tunnel, no decision: alice (no ecs_unlocker) unlocks.
	fmt.Fprintf(conn, "POST /v2.1/%s/servers/%s/action HTTP/1.1\r\nHost: 127.0.0.1:9081\r\nX-Auth-Token: demo-alice\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"unlock\": null}", demoProject, server1)
	if r2, err := http.ReadResponse(br, nil); err == nil {
		_, _ = io.Copy(io.Discard, r2.Body)
	}
	return resp.StatusCode
}

func TestNoTunnelThroughTheGateway(t *testing.T) {
	relay := newTunnelRelay(t, false)
	// Locked at the simulator itself: some of the configurations below
	// change every request, the lock included.
	lockedByAlice := func() {
		require.Equal(t, http.StatusAccepted, call(t, simulator, "POST", serverPath+server1+"/action", "demo-alice", `{"lock": null}`).status)
	}

	t.Run("an upgrade request is refused before the policy", func(t *testing.T) {
		tunnelGateway(t, "reverse_proxy "+relay.addr()+" {\n\t\ttransport ecs_verified\n\t}")
		lockedByAlice()
		assert.Equal(t, http.StatusBadRequest, tryTunnel(t, "Connection: Upgrade\r\nUpgrade: websocket\r\n"))
		assert.True(t, serverState(t, server1).Locked)
		assert.Zero(t, relay.tunnels.Load())
	})

	t.Run("an upgrade added after the decision is stopped at the wire", func(t *testing.T) {
		tunnelGateway(t, "reverse_proxy "+relay.addr()+" {\n\t\theader_up Connection Upgrade\n\t\theader_up Upgrade websocket\n\t\ttransport ecs_verified\n\t}")
		lockedByAlice()
		assert.Equal(t, http.StatusInternalServerError, tryTunnel(t, ""))
		assert.True(t, serverState(t, server1).Locked)
		assert.Zero(t, relay.tunnels.Load())
	})

	t.Run("control: without the transport the same config opens a tunnel", func(t *testing.T) {
		tunnelGateway(t, "reverse_proxy "+relay.addr()+" {\n\t\theader_up Connection Upgrade\n\t\theader_up Upgrade websocket\n\t}")
		lockedByAlice()
		assert.Equal(t, http.StatusSwitchingProtocols, tryTunnel(t, ""))
		assert.False(t, serverState(t, server1).Locked, "the unlock no decision covered went through")
		assert.Positive(t, relay.tunnels.Load())
	})
}

func TestUnaskedSwitchingProtocolsIsABadGateway(t *testing.T) {
	relay := newTunnelRelay(t, true)
	tunnelGateway(t, "reverse_proxy "+relay.addr()+" {\n\t\ttransport ecs_verified\n\t}")
	// Locked at the simulator itself: through this relay nothing gets an
	// ordinary answer.
	require.Equal(t, http.StatusAccepted, call(t, simulator, "POST", serverPath+server1+"/action", "demo-alice", `{"lock": null}`).status)
	assert.Equal(t, http.StatusBadGateway, tryTunnel(t, ""))
	assert.True(t, serverState(t, server1).Locked)
}
