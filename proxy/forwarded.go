package proxy

import (
	"net/http"
	"net/textproto"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// The policy must judge the request the upstream executes. Caddy's
// reverse_proxy changes a request after every handler has run: it removes
// the hop-by-hop headers and every header the Connection header names, it
// re-chunks a body to carry trailers, and it turns an Upgrade into a raw
// tunnel. toForwardedForm applies the same changes before classification, so
// that what is classified, identified, decided and recorded is the request
// reverse_proxy sends; where a change would alter the meaning of the request,
// the request is refused instead. docs/forwarded-request.md states the rules.

// hopByHopHeaders is reverse_proxy's list (modules/caddyhttp/reverseproxy's
// hopHeaders), in canonical form.
var hopByHopHeaders = []string{
	"Alt-Svc",
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// connectionOptions are the only names a Connection header may carry:
// connection options and the hop-by-hop headers, which are removed anyway.
// "upgrade" is not here: an upgrade is refused on its own. Any other name
// would make reverse_proxy drop an end-to-end header after the decision.
var connectionOptions = map[string]bool{
	"close":               true,
	"keep-alive":          true,
	"te":                  true,
	"trailer":             true,
	"proxy-connection":    true,
	"transfer-encoding":   true,
	"proxy-authorization": true,
	"proxy-authenticate":  true,
	"alt-svc":             true,
}

// toForwardedForm refuses what cannot be forwarded as decided and removes
// what reverse_proxy would remove. It runs before the body is read; trailers,
// which arrive after the body, are checked by refuseTrailers (net/http
// shows a handler only the trailers the client declared).
func toForwardedForm(r *http.Request) *failure {
	// A compute API has no upgrade routes; a 101 from anything in front of
	// Nova would turn the connection into a tunnel no decision covers. h2
	// extended CONNECT (RFC 8441) is the same thing over HTTP/2.
	if r.Method == http.MethodConnect {
		return &failure{status: http.StatusBadRequest, reason: "upgrade",
			message: "Tunnels (CONNECT) are not supported by the compute API."}
	}
	if _, ok := r.Header["Upgrade"]; ok || httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade") {
		return &failure{status: http.StatusBadRequest, reason: "upgrade",
			message: "Protocol upgrades are not supported by the compute API."}
	}
	for name := range r.Header {
		// net/http canonicalises every name it parses; another spelling
		// can only come from a handler, and would be a second header line
		// next to the canonical one.
		if textproto.CanonicalMIMEHeaderKey(name) != name {
			return &failure{status: http.StatusBadRequest, reason: "header_name",
				message: "Header names must be sent in one spelling."}
		}
	}
	for _, v := range r.Header["Connection"] {
		for opt := range strings.SplitSeq(v, ",") {
			opt = textproto.TrimString(opt)
			if opt == "" || connectionOptions[strings.ToLower(opt)] {
				continue
			}
			return &failure{status: http.StatusBadRequest, reason: "connection_header",
				message: "The Connection header may name only close, keep-alive and hop-by-hop headers."}
		}
	}
	if len(r.Trailer) > 0 {
		return trailersRefused()
	}
	stripHopByHop(r.Header)
	// reverse_proxy marks a request received in TLS early data (RFC 8470).
	if r.TLS != nil && !r.TLS.HandshakeComplete {
		r.Header["Early-Data"] = []string{"1"}
	}
	return nil
}

// stripHopByHop removes what reverse_proxy's prepareRequest removes, the way
// it does: the headers Connection names (all hop-by-hop here, see above),
// then the hop-by-hop list, keeping "Te: trailers" only.
func stripHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for opt := range strings.SplitSeq(v, ",") {
			if opt = textproto.TrimString(opt); opt != "" {
				h.Del(opt)
			}
		}
	}
	for _, name := range hopByHopHeaders {
		if name == "Te" && httpguts.HeaderValuesContainsToken(h["Te"], "trailers") {
			h["Te"] = []string{"trailers"}
			continue
		}
		delete(h, name)
	}
}

// refuseTrailers checks the trailers of a body read to its end: nothing
// classified them, and reverse_proxy would forward them (re-chunking the
// body to do so).
func refuseTrailers(r *http.Request) *failure {
	if len(r.Trailer) > 0 {
		return trailersRefused()
	}
	r.Trailer = nil
	return nil
}

func trailersRefused() *failure {
	return &failure{status: http.StatusBadRequest, reason: "trailers",
		message: "Request trailers are not accepted."}
}
