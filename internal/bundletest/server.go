// Package bundletest serves real OPA bundles (tar.gz, optionally signed) on
// 127.0.0.1 for tests of bundle activation, updates and failures.
package bundletest

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
)

// Path is where the server serves its bundle.
const Path = "/bundles/ecsgate.tar.gz"

// Server serves one bundle at Path; Set replaces it.
type Server struct {
	*httptest.Server
	mu     sync.Mutex
	body   []byte
	etag   string
	status int // non-zero: answer this instead
	// Requests counts bundle downloads (including 304s and failures).
	Requests atomic.Int64
}

// New starts a server with no bundle (404 until Set).
func New(t testing.TB) *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		s.mu.Lock()
		body, etag, status := s.body, s.etag, s.status
		s.mu.Unlock()
		switch {
		case r.URL.Path != Path:
			http.NotFound(w, r)
		case status != 0:
			w.WriteHeader(status)
		case body == nil:
			http.NotFound(w, r)
		case r.Header.Get("If-None-Match") == etag:
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("ETag", etag)
			w.Header().Set("Content-Type", "application/gzip")
			_, _ = w.Write(body)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// URL of the bundle.
func (s *Server) BundleURL() string { return s.URL + Path }

// Fail makes every download answer status (0 serves the bundle again).
func (s *Server) Fail(status int) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
}

// SetRaw serves arbitrary bytes as the bundle.
func (s *Server) SetRaw(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = b
	s.etag = fmt.Sprintf(`"%d-%d"`, len(b), s.Requests.Load())
}

// Set serves a bundle of modules (path → Rego source) and data at revision,
// signed with key when key is non-nil.
func (s *Server) Set(t testing.TB, revision string, modules map[string]string, data map[string]any, key *Key) {
	t.Helper()
	b, err := Build(revision, modules, data, key)
	if err != nil {
		t.Fatal(err)
	}
	s.SetRaw(b)
}

// Build writes a bundle.
func Build(revision string, modules map[string]string, data map[string]any, key *Key) ([]byte, error) {
	if data == nil {
		data = map[string]any{}
	}
	b := bundle.Bundle{Manifest: bundle.Manifest{Revision: revision}, Data: data}
	b.Manifest.Init()
	for path, src := range modules {
		m, err := ast.ParseModuleWithOpts(path, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, err
		}
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: path, Path: path, Raw: []byte(src), Parsed: m})
	}
	if key != nil {
		if err := b.GenerateSignature(bundle.NewSigningConfig(key.PrivatePEM, "RS256", ""), key.ID, false); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).Write(b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Key is an RSA signing key pair in PEM.
type Key struct {
	ID         string
	PrivatePEM string
	PublicPEM  string
}

// NewKey makes a 2048-bit RSA key named id.
func NewKey(t testing.TB, id string) *Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{
		ID:         id,
		PrivatePEM: string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})),
		PublicPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
	}
}
