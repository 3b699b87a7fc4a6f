package ecssim

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// novaMaxBody is oslo.middleware's default max_request_body_size.
const novaMaxBody = 114688

// projectSegRE is Nova's {project_id} placeholder pattern.
var projectSegRE = regexp.MustCompile(`^[0-9a-f-]+$`)

// novaHandler serves one routed Nova request.
type novaHandler func(c *novaCtx)

// novaCtx carries one routed Nova request through the controller.
type novaCtx struct {
	h      *Handler
	ex     *exchange
	w      http.ResponseWriter
	r      *http.Request
	who    *identity
	ver    apiVersion
	legacy bool   // /v2: microversion headers ignored and not sent
	prefix string // "/v2.1" or "/v2"
	// projectInURL is the {project_id} segment ("" when absent).
	projectInURL string
	params       []string
	// body is the controller's decoded body; hasBody is false when Nova
	// hands the controller no body (not POST/PUT, or Content-Length 0 or
	// absent).
	body    any
	hasBody bool
	action  string
}

// route is one entry of the Nova route table.
type route struct {
	methods map[string]novaHandler
	params  []string
	// isAction marks POST /servers/{id}/action (action extraction applies).
	isAction bool
}

// matchNovaRoute resolves the path below the version prefix (segments
// without the optional project id) for the routing method.
func matchNovaRoute(segs []string) *route {
	n := len(segs)
	if n == 0 {
		return nil
	}
	switch segs[0] {
	case "servers", "os-volumes_boot": // os-volumes_boot is a legacy alias
		switch {
		case n == 1:
			return &route{methods: map[string]novaHandler{"GET": serversIndex, "POST": serversCreate}}
		case n == 2 && segs[1] == "detail":
			// /servers/detail precedes /servers/{id}, but only for GET.
			return &route{methods: map[string]novaHandler{"GET": serversDetail, "PUT": serverUpdate, "DELETE": serverDelete}, params: segs[1:2]}
		case n == 2:
			return &route{methods: map[string]novaHandler{"GET": serverShow, "PUT": serverUpdate, "DELETE": serverDelete}, params: segs[1:2]}
		case n == 3 && segs[2] == "action":
			return &route{methods: map[string]novaHandler{"POST": serverAction}, params: segs[1:2], isAction: true}
		case n == 3 && segs[2] == "metadata":
			return &route{methods: map[string]novaHandler{"GET": metadataIndex, "POST": metadataCreate, "PUT": metadataUpdateAll}, params: segs[1:2]}
		case n == 4 && segs[2] == "metadata":
			return &route{methods: map[string]novaHandler{"GET": metadataShow, "PUT": metadataUpdate, "DELETE": metadataDelete}, params: []string{segs[1], segs[3]}}
		case n == 3 && segs[2] == "ips":
			return &route{methods: map[string]novaHandler{"GET": serverIPs}, params: segs[1:2]}
		}
	case "flavors":
		switch {
		case n == 1:
			return &route{methods: map[string]novaHandler{"GET": flavorsIndex}}
		case n == 2 && segs[1] == "detail":
			return &route{methods: map[string]novaHandler{"GET": flavorsDetail}}
		case n == 2:
			return &route{methods: map[string]novaHandler{"GET": flavorShow}, params: segs[1:2]}
		}
	case "limits":
		if n == 1 {
			return &route{methods: map[string]novaHandler{"GET": limitsShow}}
		}
	}
	return nil
}

// resolveNova finds the handler for method and the path below the version
// prefix, trying the plain route and the /{project_id} form.
func resolveNova(method, rest string) (novaHandler, *route, string) {
	segs := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	if rt := matchNovaRoute(segs); rt != nil {
		if fn, ok := rt.methods[method]; ok {
			return fn, rt, ""
		}
	}
	if len(segs) >= 1 && projectSegRE.MatchString(segs[0]) {
		if len(segs) == 2 && segs[1] == "" {
			// '/{project_id}/': the API root, showing the version.
			if method == http.MethodGet {
				return versionShowAuthed, &route{}, segs[0]
			}
			return nil, nil, ""
		}
		if rt := matchNovaRoute(segs[1:]); rt != nil {
			if fn, ok := rt.methods[method]; ok {
				return fn, rt, segs[0]
			}
		}
	}
	return nil, nil, ""
}

// webobQueryGet reads a query parameter like webob's req.GET.get: pairs
// split on '&' and ';', '+' is a space, the last value wins.
func webobQueryGet(raw, key string) (string, bool) {
	var val string
	found := false
	for _, s1 := range strings.Split(raw, "&") {
		for _, pair := range strings.Split(s1, ";") {
			if pair == "" {
				continue
			}
			pair = strings.ReplaceAll(pair, "+", " ")
			k, v, _ := strings.Cut(pair, "=")
			k, _ = pctUnquote(k)
			v, _ = pctUnquote(v)
			if k == key {
				val, found = v, true
			}
		}
	}
	return val, found
}

// pctUnquote decodes %XX escapes, leaving malformed ones as they are (like
// Python's urllib.parse.unquote).
func pctUnquote(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if v, ok := hexByte(s[i+1], s[i+2]); ok {
				b = append(b, v)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b), nil
}

func hexByte(a, b byte) (byte, bool) {
	h := func(c byte) (byte, bool) {
		switch {
		case c >= '0' && c <= '9':
			return c - '0', true
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10, true
		case c >= 'A' && c <= 'F':
			return c - 'A' + 10, true
		}
		return 0, false
	}
	x, ok1 := h(a)
	y, ok2 := h(b)
	return x<<4 | y, ok1 && ok2
}

// serveNova runs Nova's processing order (docs/compute-api-facts.md,
// "Routing").
func (h *Handler) serveNova(ex *exchange) {
	w, r := ex.w, ex.r
	w.Header().Set("X-Openstack-Request-Id", ex.requestID)
	w.Header().Set("X-Compute-Request-Id", ex.requestID)

	path := collapseSlashes(r.URL.Path)
	prefix, legacy := "/v2.1", false
	if path == "/v2" || strings.HasPrefix(path, "/v2/") {
		prefix, legacy = "/v2", true
	}
	rest := path[len(prefix):]
	if rest == "" || rest == "/" {
		h.serveVersionDoc(ex, legacy)
		return
	}

	// 1. Body size limit, before authentication.
	if r.ContentLength > novaMaxBody || len(ex.body) > novaMaxBody {
		writeWebob(w, r, http.StatusRequestEntityTooLarge, "Request Entity Too Large",
			"Request is too large. Larger than max_request_body_size (114688).")
		return
	}

	// 2. keystonemiddleware.
	tok, _ := wsgiHeader(r, "X-Auth-Token")
	who := h.st.authenticate(tok)
	if who == nil {
		w.Header().Set("WWW-Authenticate", `Keystone uri="`+h.identityURL(r)+`"`)
		writeJSON(w, http.StatusUnauthorized, ctJSON, map[string]any{"error": map[string]any{
			"code": 401, "title": "Unauthorized", "message": msgAuthRequired,
		}})
		return
	}

	// 3. Routing, with the query-string method override of the routes
	// middleware (the handler still runs under the real method) and the
	// tolerance of Python's '$' for one trailing newline.
	method := r.Method
	if strings.Contains(r.URL.RawQuery, "_method") {
		if m, ok := webobQueryGet(r.URL.RawQuery, "_method"); ok && m != "" {
			method = strings.ToUpper(m)
		}
	}
	rest = strings.TrimSuffix(rest, "\n")
	fn, rt, projectInURL := resolveNova(method, rest)
	if fn == nil {
		writeWebob(w, r, http.StatusNotFound, "Not Found", msgNotFound)
		return
	}

	c := &novaCtx{h: h, ex: ex, w: w, r: r, who: who, legacy: legacy, prefix: prefix,
		projectInURL: projectInURL, params: rt.params}

	// 4a. Microversion.
	if legacy {
		c.ver = minVersion
	} else {
		v, status, msg := h.negotiate(r)
		if status != 0 {
			writeFault(w, status, msg)
			return
		}
		c.ver = v
	}

	// 4b. Content-Type (never selects the parser).
	if cts, ok := r.Header["Content-Type"]; ok && len(cts) > 0 {
		mt, _, _ := strings.Cut(cts[0], ";")
		switch mt {
		case "", "text/plain", "application/json", "application/vnd.openstack.compute+json":
		default:
			c.fault(http.StatusUnsupportedMediaType, "Unsupported Content-Type")
			return
		}
	}

	// 4c. Action extraction.
	if rt.isAction {
		name, status, msg := peekAction(ex.body)
		if status != 0 {
			c.fault(status, msg)
			return
		}
		if _, ok := actionTable[name]; !ok {
			c.fault(http.StatusBadRequest, "There is no such action: "+name)
			return
		}
		c.action = name
	}

	// 4d. The controller's body: only for POST and PUT with a length.
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if r.ContentLength > 0 {
			v, err := pyDecode(ex.body)
			if err != nil {
				if errors.Is(err, errPyRecursion) {
					c.fault(http.StatusInternalServerError, msgUnexpectedError+"<class 'RecursionError'>")
				} else {
					c.fault(http.StatusBadRequest, msgMalformed)
				}
				return
			}
			c.body, c.hasBody = v, true
		}
	}

	// 4e. URL project versus token project.
	if projectInURL != "" && projectInURL != who.ProjectID {
		c.fault(http.StatusBadRequest, "Malformed request URL: URL's project_id '"+projectInURL+
			"' doesn't match Context's project_id '"+who.projectOrNone()+"'")
		return
	}

	fn(c)
}

// peekAction is Nova's action_peek plus the error mapping of
// Resource._process_stack (docs/compute-api-facts.md, "Action extraction").
func peekAction(body []byte) (string, int, string) {
	v, err := pyDecode(body)
	if err != nil {
		if errors.Is(err, errPyRecursion) {
			return "", http.StatusInternalServerError, msgUnexpectedError + "<class 'RecursionError'>"
		}
		return "", http.StatusBadRequest, msgMalformed
	}
	switch t := v.(type) {
	case *pyObject:
		if t.len() != 1 {
			return "", http.StatusBadRequest, msgMalformed
		}
		return t.keys[0], 0, ""
	case []any:
		if len(t) == 1 { // len() is 1, then .keys() fails: AttributeError
			return "", http.StatusNotFound, msgNotFound
		}
		return "", http.StatusBadRequest, msgMalformed
	case string:
		if pyLen(t) == 1 {
			return "", http.StatusNotFound, msgNotFound
		}
		return "", http.StatusBadRequest, msgMalformed
	default: // None, bool, number: len() raises TypeError
		return "", http.StatusNotFound, msgNotFound
	}
}

// mvHeaders adds the microversion response headers (not on /v2).
func (c *novaCtx) mvHeaders() {
	if c.legacy {
		return
	}
	hd := c.w.Header()
	hd.Set("OpenStack-API-Version", "compute "+c.ver.String())
	hd.Set("X-OpenStack-Nova-API-Version", c.ver.String())
	hd.Add("Vary", "OpenStack-API-Version")
	hd.Add("Vary", "X-OpenStack-Nova-API-Version")
}

func (c *novaCtx) fault(status int, msg string) {
	c.mvHeaders()
	writeFault(c.w, status, msg)
}

func (c *novaCtx) json(status int, v any) {
	c.mvHeaders()
	writeJSON(c.w, status, ctJSON, v)
}

func (c *novaCtx) empty(status int) {
	c.mvHeaders()
	writeEmpty(c.w, status, ctJSON)
}

// linkBase is the prefix of self links: compute base, version prefix and
// the project id when the request URL carried one.
func (c *novaCtx) linkBase() string {
	b := c.h.computeBase(c.r) + c.prefix
	if c.projectInURL != "" {
		b += "/" + c.projectInURL
	}
	return b
}

// bookmarkBase is the prefix of bookmark links (no version).
func (c *novaCtx) bookmarkBase() string {
	b := c.h.computeBase(c.r)
	if c.projectInURL != "" {
		b += "/" + c.projectInURL
	}
	return b
}

// Policy defaults of Nova 26 with enforce_new_defaults = true.
type policyKind int

const (
	projectMemberOrAdmin policyKind = iota
	projectReaderOrAdmin
	adminOnly
)

// allowed evaluates a default rule against a target project.
func (c *novaCtx) allowed(kind policyKind, targetProject string) bool {
	if c.who.IsAdmin {
		return true
	}
	switch kind {
	case projectMemberOrAdmin:
		return c.who.hasRole("member") && c.who.ProjectID == targetProject
	case projectReaderOrAdmin:
		return c.who.hasRole("reader") && c.who.ProjectID == targetProject
	}
	return false
}

// authorize answers 403 and returns false when rule is not allowed.
func (c *novaCtx) authorize(rule string, kind policyKind, targetProject string) bool {
	if c.allowed(kind, targetProject) {
		return true
	}
	c.fault(http.StatusForbidden, policyMsg(rule))
	return false
}

// instance is common.get_instance: 404 for unknown servers and for other
// projects' servers unless the caller is admin. The caller holds st.mu.
func (c *novaCtx) instance(id string) *server {
	srv := c.h.st.visibleServerLocked(id, c.who)
	if srv == nil {
		c.fault(http.StatusNotFound, "Instance "+id+" could not be found.")
	}
	return srv
}

// serveVersionDoc answers GET /v2.1 and /v2 (no authentication).
func (h *Handler) serveVersionDoc(ex *exchange, legacy bool) {
	w, r := ex.w, ex.r
	if r.Method != http.MethodGet {
		h.writeChoices(ex)
		return
	}
	writeJSON(w, http.StatusOK, ctJSON, map[string]any{"version": h.versionEntry(r, legacy, true)})
}

// versionShowAuthed is the API root route '/{project_id}/'.
func versionShowAuthed(c *novaCtx) {
	c.json(http.StatusOK, map[string]any{"version": c.h.versionEntry(c.r, c.legacy, true)})
}

func (h *Handler) versionEntry(r *http.Request, legacy, full bool) map[string]any {
	base := h.computeBase(r)
	var e map[string]any
	if legacy {
		e = map[string]any{"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
			"updated": "2011-01-21T11:33:21Z", "links": []any{map[string]any{"rel": "self", "href": base + "/v2/"}}}
	} else {
		e = map[string]any{"id": "v2.1", "status": "CURRENT", "version": h.maxMV.String(), "min_version": minVersion.String(),
			"updated": "2013-07-23T11:33:21Z", "links": []any{map[string]any{"rel": "self", "href": base + "/v2.1/"}}}
	}
	if full {
		e["links"] = append(e["links"].([]any), map[string]any{"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"})
		mt := "application/vnd.openstack.compute+json;version=2.1"
		if legacy {
			mt = "application/vnd.openstack.compute+json;version=2"
		}
		e["media-types"] = []any{map[string]any{"base": "application/json", "type": mt}}
	}
	return e
}

// serveRoot is Nova's version discovery app: GET / lists the versions,
// anything else (e.g. an unversioned /servers/...) answers 300.
func (h *Handler) serveRoot(ex *exchange) {
	w, r := ex.w, ex.r
	w.Header().Set("X-Openstack-Request-Id", ex.requestID)
	w.Header().Set("X-Compute-Request-Id", ex.requestID)
	if collapseSlashes(r.URL.Path) == "/" && r.Method == http.MethodGet {
		writeJSON(w, http.StatusOK, ctJSON, map[string]any{"versions": []any{
			h.versionEntry(r, true, false), h.versionEntry(r, false, false),
		}})
		return
	}
	h.writeChoices(ex)
}

// writeChoices answers 300 Multiple Choices with one entry per version.
func (h *Handler) writeChoices(ex *exchange) {
	r := ex.r
	base := h.computeBase(r)
	p := collapseSlashes(r.URL.Path)
	for _, pre := range []string{"/v2.1", "/v2"} {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			p = strings.TrimPrefix(p, pre)
			break
		}
	}
	mk := func(id, status, ver string) map[string]any {
		return map[string]any{"id": id, "status": status,
			"links":       []any{map[string]any{"rel": "self", "href": base + ver + (&url.URL{Path: p}).EscapedPath()}},
			"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=" + strings.TrimPrefix(ver, "/v")}}}
	}
	writeJSON(ex.w, http.StatusMultipleChoices, ctJSON, map[string]any{"choices": []any{
		mk("v2.0", "SUPPORTED", "/v2"), mk("v2.1", "CURRENT", "/v2.1"),
	}})
}
