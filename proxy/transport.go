package proxy

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/ecsgate/ecsgate/tracing"
)

func init() {
	caddy.RegisterModule(VerifiedTransport{})
}

// VerifiedTransport is reverse_proxy's http transport with one check added:
// every outgoing request is compared with the decision ecs_policy made for
// it, and a request without a decision, or one that differs from what was
// decided (method, path, query, any header but X-Forwarded-* and Via,
// framing, body), is not sent. An upstream's 101 Switching Protocols is never
// passed on: it would turn the connection into a tunnel no decision covers.
//
// It takes every option of the http transport:
//
//	reverse_proxy <upstream> {
//		transport ecs_verified {
//			<http transport options>
//		}
//	}
type VerifiedTransport struct {
	reverseproxy.HTTPTransport

	metrics *tracing.Metrics
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (VerifiedTransport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.ecs_verified",
		New: func() caddy.Module { return new(VerifiedTransport) },
	}
}

// Provision sets up the wrapped http transport and the refusal metric.
//
// Compression is off unless configured: with it, Go's transport adds
// "Accept-Encoding: gzip" at the wire to a request that has none, a header
// nobody decided on (and the upstream's compressed answer would be
// decompressed before the client sees it).
func (t *VerifiedTransport) Provision(ctx caddy.Context) error {
	t.logger = ctx.Logger()
	if t.Compression == nil {
		off := false
		t.Compression = &off
	}
	var err error
	if t.metrics, err = tracing.NewMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return t.HTTPTransport.Provision(ctx)
}

// UnmarshalCaddyfile reads the http transport's options.
func (t *VerifiedTransport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return t.HTTPTransport.UnmarshalCaddyfile(d)
}

// errSwitchingProtocols answers an upstream that tried to open a tunnel.
var errSwitchingProtocols = errors.New("ecs_verified: the upstream answered 101 Switching Protocols; the compute API has no upgrade routes")

// RoundTrip sends req only if it is the request that was decided.
func (t *VerifiedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	d := decidedFrom(req.Context())
	if d == nil {
		if internalRequest(req) {
			return t.roundTrip(req, nil)
		}
		t.metrics.WireRefused("no_decision")
		t.logger.Error("request reached the upstream transport without an ecs_policy decision; not sent",
			zap.String("method", req.Method), zap.String("path", req.URL.Path))
		return nil, &mismatch{reason: "no_decision", detail: "no ecs_policy decision covers this request"}
	}
	d.verified.Store(true)
	if m := d.verify(req); m != nil {
		t.metrics.WireRefused(m.reason)
		d.handler.recordWireRefusal(d, m.reason, m.detail)
		return nil, m
	}
	return t.roundTrip(req, d)
}

func (t *VerifiedTransport) roundTrip(req *http.Request, d *decidedRequest) (*http.Response, error) {
	resp, err := t.HTTPTransport.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		return resp, err
	}
	// Closing a protocol-switch body closes the connection under it.
	_ = resp.Body.Close()
	t.metrics.WireRefused("switching_protocols")
	if d != nil {
		d.handler.recordWireRefusal(d, "switching_protocols", errSwitchingProtocols.Error())
	}
	return nil, errSwitchingProtocols
}

// internalRequest tells Caddy's own requests through the transport (active
// health checks) from client requests: only the latter pass through a
// server and carry its context. A health check is a bodyless GET or HEAD.
func internalRequest(req *http.Request) bool {
	if req.Context().Value(caddyhttp.ServerCtxKey) != nil {
		return false
	}
	return (req.Method == http.MethodGet || req.Method == http.MethodHead) &&
		(req.Body == nil || req.Body == http.NoBody)
}

// Interface guards
var (
	_ http.RoundTripper                                = (*VerifiedTransport)(nil)
	_ caddy.Provisioner                                = (*VerifiedTransport)(nil)
	_ caddy.CleanerUpper                               = (*VerifiedTransport)(nil)
	_ caddyfile.Unmarshaler                            = (*VerifiedTransport)(nil)
	_ reverseproxy.TLSTransport                        = (*VerifiedTransport)(nil)
	_ reverseproxy.H2CTransport                        = (*VerifiedTransport)(nil)
	_ reverseproxy.ProxyProtocolTransport              = (*VerifiedTransport)(nil)
	_ reverseproxy.HealthCheckSchemeOverriderTransport = (*VerifiedTransport)(nil)
	_ reverseproxy.RequestHeaderOpsTransport           = (*VerifiedTransport)(nil)
)
