package ecssim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/stretchr/testify/require"
)

const (
	web1 = serverWeb1ID
	db1  = serverDB1ID
	eve1 = serverEve1ID
)

// sim is a simulator behind an httptest server.
type sim struct {
	t   *testing.T
	h   *Handler
	srv *httptest.Server
}

// newSim provisions h (a zero Handler if nil) and serves it. Requests for
// paths the simulator does not own get 418 from the next handler.
func newSim(t *testing.T, h *Handler) *sim {
	t.Helper()
	if h == nil {
		h = &Handler{}
	}
	require.NoError(t, h.setup())
	require.NoError(t, h.Validate())
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, &caddyhttp.Server{})
		if err := h.ServeHTTP(w, r, next); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return &sim{t: t, h: h, srv: srv}
}

// resp is a read response.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r *resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), string(r.Body))
	return m
}

// req is a request description for do.
type req struct {
	method, path, token, body string
	header                    map[string]string
	chunked                   bool
}

func (s *sim) do(q req) *resp {
	s.t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	r, err := http.NewRequest(q.method, s.srv.URL+q.path, body)
	require.NoError(s.t, err)
	if q.token != "" {
		r.Header.Set("X-Auth-Token", q.token)
	}
	if q.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range q.header {
		if v == "" {
			r.Header.Del(k)
			continue
		}
		r.Header.Set(k, v)
	}
	if q.chunked {
		r.ContentLength = -1
		r.Body = io.NopCloser(strings.NewReader(q.body)) // hide the length
	}
	res, err := s.srv.Client().Do(r)
	require.NoError(s.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(s.t, err)
	return &resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

func (s *sim) get(path, token string) *resp {
	return s.do(req{method: http.MethodGet, path: path, token: token})
}

func (s *sim) action(token, id, body string, hdr ...string) *resp {
	q := req{method: http.MethodPost, path: "/v2.1/servers/" + id + "/action", token: token, body: body, header: map[string]string{}}
	for i := 0; i+1 < len(hdr); i += 2 {
		q.header[hdr[i]] = hdr[i+1]
	}
	return s.do(q)
}

// login issues a project-scoped token by password.
func (s *sim) login(userName, projectName string) string {
	s.t.Helper()
	body := `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "` + userName +
		`", "domain": {"name": "Default"}, "password": "` + userName + `-secret"}}}, "scope": {"project": {"name": "` +
		projectName + `", "domain": {"id": "default"}}}}}`
	r := s.do(req{method: http.MethodPost, path: "/v3/auth/tokens", body: body})
	require.Equal(s.t, http.StatusCreated, r.Status, string(r.Body))
	tok := r.Header.Get("X-Subject-Token")
	require.GreaterOrEqual(s.t, len(tok), 40)
	return tok
}

// state returns the raw hook state of a server.
func (s *sim) state(id string) map[string]any {
	s.t.Helper()
	r := s.get("/__ecssim/servers/"+id, "")
	require.Equal(s.t, http.StatusOK, r.Status, string(r.Body))
	return r.json(s.t)
}

// faultMsg extracts {"<name>": {"message"}} and checks the fault name.
func faultMsg(t *testing.T, r *resp, name string) string {
	t.Helper()
	m := r.json(t)
	f, ok := m[name].(map[string]any)
	require.True(t, ok, "want fault %s, got %s", name, r.Body)
	require.EqualValues(t, r.Status, f["code"])
	return f["message"].(string)
}
