package classify

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	testProject = "0123456789abcdef0123456789abcdef"
	testServer  = "d7e3c1a2-5b4f-4c8e-9a1d-2f3e4d5c6b7a"
	testServer2 = "0e1d2c3b-4a59-4867-8a9b-0c1d2e3f4a5b"
)

func newTestClassifier(tb testing.TB) *Classifier {
	tb.Helper()
	c, err := New(Options{})
	require.NoError(tb, err)
	return c
}

// mkReq builds a Request; hdr is a flat list of name, value pairs added with
// Header.Add (so names are canonicalised like Go's server does).
func mkReq(method, path, body string, hdr ...string) *Request {
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Add(hdr[i], hdr[i+1])
	}
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	return &Request{Method: method, RawPath: path, Header: h, Body: b}
}

// classifyOK classifies and fails the test on a rejection.
func classifyOK(t *testing.T, c *Classifier, r *Request) Operation {
	t.Helper()
	op, err := c.Classify(r)
	require.NoError(t, err, "%s %s %q", r.Method, r.RawPath, r.Body)
	return op
}

// classifyRejected classifies and returns the rejection, failing on success.
func classifyRejected(t *testing.T, c *Classifier, r *Request) *Rejection {
	t.Helper()
	op, err := c.Classify(r)
	require.Error(t, err, "%s %s %q accepted as %+v", r.Method, r.RawPath, r.Body, op)
	var rej *Rejection
	require.ErrorAs(t, err, &rej)
	return rej
}
