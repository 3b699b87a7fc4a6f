package proxy

import (
	"errors"
	"io"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// upstreamWriter notes whether the next handler started a response, so that a
// failure before it did (upstream down, dial timeout) can still be answered in
// the upstream's own format instead of Caddy's empty error page.
type upstreamWriter struct {
	caddyhttp.ResponseWriterWrapper
	started bool
}

var upstreamWriters = sync.Pool{New: func() any { return new(upstreamWriter) }}

func (w *upstreamWriter) WriteHeader(status int) {
	if status >= 200 || status == http.StatusSwitchingProtocols {
		w.started = true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *upstreamWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

func (w *upstreamWriter) ReadFrom(r io.Reader) (int64, error) {
	w.started = true
	return w.ResponseWriterWrapper.ReadFrom(r)
}

// forward hands the request to the next handler (reverse_proxy). An error it
// returns before answering becomes a fault in the route's format: Nova
// clients parse a computeFault, not Caddy's bare 502.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler, family, microversion string) (*failure, error) {
	uw := upstreamWriters.Get().(*upstreamWriter)
	uw.ResponseWriter, uw.started = w, false
	err := next.ServeHTTP(uw, r)
	started := uw.started
	uw.ResponseWriter = nil
	upstreamWriters.Put(uw)
	if err == nil || started {
		return nil, err
	}
	status := http.StatusBadGateway
	var herr caddyhttp.HandlerError
	if errors.As(err, &herr) && herr.StatusCode >= 400 {
		status = herr.StatusCode
	}
	message := "The compute service could not be reached through the gateway."
	var m *mismatch
	switch {
	case errors.As(err, &m):
		// The gateway's own configuration changed the request after the
		// decision: a server-side fault, and nothing was sent.
		status, message = http.StatusInternalServerError,
			"The gateway changed the request after the policy decided on it; it was not sent."
	case errors.Is(err, errSwitchingProtocols):
		status, message = http.StatusBadGateway,
			"The compute service tried to switch protocols; the gateway does not open tunnels."
	}
	return &failure{
		status:       status,
		message:      message,
		family:       family,
		microversion: microversion,
	}, err
}
