package ecssim

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("ecs_simulator", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("ecs_simulator", httpcaddyfile.Before, "respond")
}

// defaultMaxMicroversion is the maximum compute microversion of Nova 26
// (OpenStack Zed), the release the simulator follows.
const defaultMaxMicroversion = "2.93"

// maxLogBody caps how much of a request body the simulator reads; bodies are
// hashed for the request log and Nova's own limit is far lower.
const maxLogBody = 16 << 20

// maxLogEntries caps the request log (oldest entries are dropped).
const maxLogEntries = 10000

// Handler is an in-memory simulator of the OpenStack Nova compute API
// (as served by Huawei Cloud ECS), Keystone v3, a Glance stand-in and a
// subset of Huawei's native ECS API. It answers every path it owns and
// passes all other requests to the next handler.
type Handler struct {
	// PublicURL is the compute endpoint clients should use (normally the
	// gateway in front of the simulator), e.g. http://127.0.0.1:8080/v2.1.
	// It is published as the "compute" endpoint of the Keystone catalog and
	// used for links in compute responses. Default: the request's scheme and
	// host followed by /v2.1.
	PublicURL string `json:"public_url,omitempty"`

	// IdentityURL is the Keystone v3 URL published in the catalog and in
	// WWW-Authenticate headers, e.g. http://127.0.0.1:9000/v3. Default: the
	// request's scheme and host followed by /v3.
	IdentityURL string `json:"identity_url,omitempty"`

	// ImageURL is the Glance endpoint published in the catalog (the
	// simulator serves a stand-in under /image). Default: the request's
	// scheme and host followed by /image.
	ImageURL string `json:"image_url,omitempty"`

	// MaxMicroversion is the highest compute microversion accepted, as
	// "2.N". Default: 2.93 (Nova 26, OpenStack Zed). Huawei documents 2.60.
	MaxMicroversion string `json:"max_microversion,omitempty"`

	maxMV  apiVersion
	st     *state
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.ecs_simulator",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision sets defaults, resolves {env.*} placeholders and seeds the
// in-memory world. State is per handler instance: a config reload starts
// from the seed again.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	return h.setup()
}

// setup is Provision without a Caddy context (used by tests).
func (h *Handler) setup() error {
	if h.logger == nil {
		h.logger = zap.NewNop()
	}
	repl := caddy.NewReplacer()
	h.PublicURL = strings.TrimRight(repl.ReplaceKnown(h.PublicURL, ""), "/")
	h.IdentityURL = strings.TrimRight(repl.ReplaceKnown(h.IdentityURL, ""), "/")
	h.ImageURL = strings.TrimRight(repl.ReplaceKnown(h.ImageURL, ""), "/")
	if h.MaxMicroversion == "" {
		h.MaxMicroversion = defaultMaxMicroversion
	}
	v, ok := parseAPIVersion(h.MaxMicroversion)
	if !ok || v.major != 2 || v.less(minVersion) {
		return fmt.Errorf("max_microversion %q: want 2.N with N >= 1", h.MaxMicroversion)
	}
	h.maxMV = v
	h.st = newState()
	return nil
}

// Validate checks the configured URLs.
func (h *Handler) Validate() error {
	for name, u := range map[string]string{"public_url": h.PublicURL, "identity_url": h.IdentityURL, "image_url": h.ImageURL} {
		if u == "" {
			continue
		}
		p, err := url.Parse(u)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%s %q: want an absolute http(s) URL", name, u)
		}
	}
	return nil
}

// area is the part of the simulator a path belongs to.
type area int

const (
	areaNone     area = iota
	areaRoot          // "/" and unversioned compute paths: Nova version discovery
	areaNova          // /v2.1, /v2
	areaKeystone      // /v3
	areaImage         // /image
	areaNative        // /v1/{project_id}/cloudservers, /v1/{project_id}/jobs
	areaHooks         // /__ecssim
)

func classify(path string) area {
	switch {
	case path == "/__ecssim" || strings.HasPrefix(path, "/__ecssim/"):
		return areaHooks
	case path == "/v3" || strings.HasPrefix(path, "/v3/"):
		return areaKeystone
	case path == "/image" || strings.HasPrefix(path, "/image/"):
		return areaImage
	case strings.HasPrefix(path, "/v1/"):
		parts := strings.Split(path, "/")
		if len(parts) >= 4 && (parts[3] == "cloudservers" || parts[3] == "jobs") {
			return areaNative
		}
		return areaNone
	}
	// Nova's URL map sees the path with slash runs collapsed.
	p := collapseSlashes(path)
	switch {
	case p == "/v2.1" || strings.HasPrefix(p, "/v2.1/") || p == "/v2" || strings.HasPrefix(p, "/v2/"):
		return areaNova
	case p == "/":
		return areaRoot
	}
	for _, pre := range []string{"/servers", "/flavors", "/os-volumes_boot", "/limits"} {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return areaRoot
		}
	}
	return areaNone
}

func collapseSlashes(p string) string {
	if !strings.Contains(p, "//") {
		return p
	}
	var b strings.Builder
	prev := byte(0)
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && prev == '/' {
			continue
		}
		prev = p[i]
		b.WriteByte(p[i])
	}
	return b.String()
}

// exchange is one request being served.
type exchange struct {
	w         *statusWriter
	r         *http.Request
	body      []byte
	requestID string
	rec       *RequestRecord
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// ServeHTTP answers requests for paths the simulator owns and passes the
// others to next.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	a := classify(r.URL.Path)
	if a == areaNone {
		return next.ServeHTTP(w, r)
	}
	ex := &exchange{w: &statusWriter{ResponseWriter: w}, r: r, requestID: newRequestID()}
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxLogBody+1))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return caddyhttp.Error(http.StatusRequestEntityTooLarge, err)
			}
			return caddyhttp.Error(http.StatusBadRequest, fmt.Errorf("reading request body: %w", err))
		}
		ex.body = b
	}
	if a != areaHooks && a != areaKeystone {
		ex.rec = h.st.logRequest(r, ex.body, ex.requestID)
	}
	switch a {
	case areaHooks:
		h.serveHooks(ex)
	case areaKeystone:
		h.serveKeystone(ex)
	case areaImage:
		h.serveImage(ex)
	case areaNative:
		h.serveNative(ex)
	case areaNova:
		h.serveNova(ex)
	case areaRoot:
		h.serveRoot(ex)
	}
	if ex.rec != nil {
		h.st.finishRecord(ex.rec, ex.w.status)
	}
	return nil
}

// requestBase is scheme://host of the request as the client saw it.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	return scheme + "://" + r.Host
}

func (h *Handler) identityURL(r *http.Request) string {
	if h.IdentityURL != "" {
		return h.IdentityURL
	}
	return requestBase(r) + "/v3"
}

func (h *Handler) publicURL(r *http.Request) string {
	if h.PublicURL != "" {
		return h.PublicURL
	}
	return requestBase(r) + "/v2.1"
}

func (h *Handler) imageURL(r *http.Request) string {
	if h.ImageURL != "" {
		return h.ImageURL
	}
	return requestBase(r) + "/image"
}

// computeBase is the compute endpoint without its version segment: the
// prefix Nova puts in front of /v2.1 in links (like compute_link_prefix).
func (h *Handler) computeBase(r *http.Request) string {
	if h.PublicURL == "" {
		return requestBase(r)
	}
	u := h.PublicURL
	for _, v := range []string{"/v2.1/", "/v2/"} {
		if i := strings.Index(u+"/", v); i >= 0 {
			return u[:i]
		}
	}
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Scheme + "://" + p.Host
	}
	return requestBase(r)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
