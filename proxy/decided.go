package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/ecsgate/ecsgate/policy"
)

// decidedRequest is the request exactly as ecs_policy decided on it, carried
// in the request's context to the ecs_verified transport. Handlers after
// ecs_policy (request_header, a rewrite inside route or handle, header_up,
// reverse_proxy's own rewrite) can change a request after the decision; the
// transport compares what is about to be sent with this and sends nothing
// that differs. Nothing here changes after it is put in the context.
type decidedRequest struct {
	decisionID string
	// revision is the policy revision that decided.
	revision string
	method   string
	// requestURI is the request target as written on the wire
	// (url.URL.RequestURI: escaped path and raw query).
	requestURI string
	header     http.Header
	body       []byte
	input      *policy.Input
	handler    *Handler
	// verified is set by the transport: a forwarded request it never saw
	// went through a transport that does not check.
	verified atomic.Bool
}

type decidedKey struct{}

// withDecided returns r carrying its decision for the transport.
func withDecided(r *http.Request, d *decidedRequest) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), decidedKey{}, d))
}

func decidedFrom(ctx context.Context) *decidedRequest {
	d, _ := ctx.Value(decidedKey{}).(*decidedRequest)
	return d
}

// newDecidedRequest snapshots r as it is handed to the next handler.
func newDecidedRequest(r *http.Request, body []byte, in *policy.Input, revision string, h *Handler) *decidedRequest {
	return &decidedRequest{
		decisionID: in.Request.ID,
		revision:   revision,
		method:     r.Method,
		requestURI: r.URL.RequestURI(),
		header:     r.Header.Clone(),
		body:       body,
		input:      in,
		handler:    h,
	}
}

// addedByReverseProxy are the headers reverse_proxy itself sets on every
// request after the handlers (X-Forwarded-*, Via). The compute API does not
// execute anything differently because of them; the policy sees the client's
// values and should use input.request.remote_ip.
var addedByReverseProxy = map[string]bool{
	"X-Forwarded-For":   true,
	"X-Forwarded-Proto": true,
	"X-Forwarded-Host":  true,
	"Via":               true,
}

// mismatch says what part of an outgoing request differs from its decision.
// It names headers but never carries their values.
type mismatch struct {
	reason string // metric label: method, target, header, body, framing
	detail string
}

func (m *mismatch) Error() string {
	return "ecs_verified: request changed after the policy decided (" + m.detail + ")"
}

// verify compares the outgoing request with the decision. On success the
// body is buffered again for the transport to send.
func (d *decidedRequest) verify(req *http.Request) *mismatch {
	if req.Method != d.method {
		return &mismatch{reason: "method", detail: fmt.Sprintf("method %s, decided %s", req.Method, d.method)}
	}
	if got := req.URL.RequestURI(); got != d.requestURI {
		return &mismatch{reason: "target", detail: "the path or query differs from the decided one"}
	}
	if len(req.TransferEncoding) > 0 || len(req.Trailer) > 0 {
		return &mismatch{reason: "framing", detail: "chunked framing or trailers were added"}
	}
	if name, ok := sameHeaders(d.header, req.Header); !ok {
		return &mismatch{reason: "header", detail: "header " + name + " differs from the decided one"}
	}
	return d.verifyBody(req)
}

// sameHeaders compares two header maps, ignoring what reverse_proxy adds;
// it returns the first differing name (in sorted order, for stable logs).
func sameHeaders(want, got http.Header) (string, bool) {
	var diff []string
	for name, v := range want {
		if addedByReverseProxy[name] {
			continue
		}
		if !slices.Equal(v, got[name]) {
			diff = append(diff, name)
		}
	}
	for name, v := range got {
		if addedByReverseProxy[name] {
			continue
		}
		if _, ok := want[name]; ok {
			continue
		}
		// reverse_proxy sets an empty User-Agent so that Go's transport
		// sends none, as the client did.
		if name == "User-Agent" && len(v) == 1 && v[0] == "" {
			continue
		}
		diff = append(diff, name)
	}
	if len(diff) == 0 {
		return "", true
	}
	slices.Sort(diff)
	return diff[0], false
}

func (d *decidedRequest) verifyBody(req *http.Request) *mismatch {
	if req.ContentLength != int64(len(d.body)) {
		return &mismatch{reason: "body", detail: "the body length differs from the decided one"}
	}
	if req.Body == nil || req.Body == http.NoBody {
		if len(d.body) != 0 {
			return &mismatch{reason: "body", detail: "the body was dropped"}
		}
		return nil
	}
	got, err := io.ReadAll(io.LimitReader(req.Body, int64(len(d.body))+1))
	_ = req.Body.Close()
	if err != nil || !bytes.Equal(got, d.body) {
		return &mismatch{reason: "body", detail: "the body differs from the decided one"}
	}
	if len(got) == 0 {
		req.Body, req.GetBody = http.NoBody, noBody
		return nil
	}
	req.Body = io.NopCloser(bytes.NewReader(got))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(got)), nil }
	return nil
}
