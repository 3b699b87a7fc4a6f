package ecssim

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// keystoneTime is Keystone's timestamp format.
const keystoneTime = "2006-01-02T15:04:05.000000Z"

const msgKeystoneBadRequest = " The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error."

// serveKeystone answers the Keystone v3 subset:
//
//	GET                /v3                  version document (no auth)
//	POST               /v3/auth/tokens      issue (password or token method)
//	GET, HEAD          /v3/auth/tokens      validate X-Subject-Token
//	DELETE             /v3/auth/tokens      revoke X-Subject-Token
//	GET                /v3/auth/catalog     the caller's catalog
//	GET                /v3/auth/projects    projects the caller may scope to
func (h *Handler) serveKeystone(ex *exchange) {
	w, r := ex.w, ex.r
	w.Header().Set("X-Openstack-Request-Id", ex.requestID)
	w.Header().Add("Vary", "X-Auth-Token")
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/v3":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.keystoneMethodNotAllowed(w)
			return
		}
		writeJSON(w, http.StatusOK, ctJSON, map[string]any{"version": map[string]any{
			"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
			"links":       []any{map[string]any{"rel": "self", "href": h.identityURL(r) + "/"}},
			"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}},
		}})
	case "/v3/auth/tokens":
		switch r.Method {
		case http.MethodPost:
			h.issueToken(ex)
		case http.MethodGet, http.MethodHead:
			h.validateToken(ex)
		case http.MethodDelete:
			h.revokeToken(ex)
		default:
			h.keystoneMethodNotAllowed(w)
		}
	case "/v3/auth/catalog", "/v3/auth/projects":
		if r.Method != http.MethodGet {
			h.keystoneMethodNotAllowed(w)
			return
		}
		caller := h.keystoneCaller(ex)
		if caller == nil {
			return
		}
		if strings.HasSuffix(r.URL.Path, "/catalog") {
			if caller.ProjectID == "" {
				writeKeystoneError(w, http.StatusForbidden, "Forbidden", "A project-scoped token is required to produce a service catalog.")
				return
			}
			writeJSON(w, http.StatusOK, ctJSON, map[string]any{
				"catalog": h.catalog(r, caller.ProjectID),
				"links":   map[string]any{"self": h.identityURL(r) + "/auth/catalog", "previous": nil, "next": nil},
			})
			return
		}
		p := projectByID(caller.User.HomeProject)
		writeJSON(w, http.StatusOK, ctJSON, map[string]any{
			"projects": []any{h.projectBody(r, p)},
			"links":    map[string]any{"self": h.identityURL(r) + "/auth/projects", "previous": nil, "next": nil},
		})
	default:
		writeKeystoneError(w, http.StatusNotFound, "Not Found", msgNotFound)
	}
}

func (h *Handler) keystoneMethodNotAllowed(w http.ResponseWriter) {
	writeKeystoneError(w, http.StatusMethodNotAllowed, "Method Not Allowed", "The method is not allowed for the requested URL.")
}

func (h *Handler) keystoneUnauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Keystone uri="`+h.identityURL(r)+`"`)
	writeKeystoneError(w, http.StatusUnauthorized, "Unauthorized", msgAuthRequired)
}

func (h *Handler) keystoneBadRequest(w http.ResponseWriter, msg string) {
	writeKeystoneError(w, http.StatusBadRequest, "Bad Request", msg+msgKeystoneBadRequest)
}

// keystoneCaller authenticates X-Auth-Token for a Keystone call, answering
// 401 itself when it is not valid.
func (h *Handler) keystoneCaller(ex *exchange) *identity {
	tok, _ := wsgiHeader(ex.r, "X-Auth-Token")
	caller := h.st.authenticate(tok)
	if caller == nil {
		h.keystoneUnauthorized(ex.w, ex.r)
	}
	return caller
}

func (h *Handler) projectBody(r *http.Request, p *project) map[string]any {
	return map[string]any{
		"id": p.ID, "name": p.Name, "domain_id": domainID, "description": "", "enabled": true,
		"parent_id": domainID, "is_domain": false, "tags": []any{}, "options": map[string]any{},
		"links": map[string]any{"self": h.identityURL(r) + "/projects/" + p.ID},
	}
}

type authRequest struct {
	Auth *struct {
		Identity *struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User *struct {
					ID       string     `json:"id"`
					Name     string     `json:"name"`
					Password *string    `json:"password"`
					Domain   *domainRef `json:"domain"`
				} `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

type domainRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (d *domainRef) isDefault() bool {
	if d == nil {
		return false
	}
	if d.ID != "" {
		return d.ID == domainID
	}
	return d.Name == domainName
}

type scopeRequest struct {
	Project *struct {
		ID     string     `json:"id"`
		Name   string     `json:"name"`
		Domain *domainRef `json:"domain"`
	} `json:"project"`
	Domain *domainRef      `json:"domain"`
	System json.RawMessage `json:"system"`
	Trust  json.RawMessage `json:"OS-TRUST:trust"`
}

// issueToken is POST /v3/auth/tokens.
func (h *Handler) issueToken(ex *exchange) {
	w, r := ex.w, ex.r
	var req authRequest
	if err := json.Unmarshal(ex.body, &req); err != nil {
		h.keystoneBadRequest(w, "Expecting to find valid JSON in request body.")
		return
	}
	if req.Auth == nil {
		h.keystoneBadRequest(w, "Invalid input for field 'auth': 'auth' is a required property.")
		return
	}
	if req.Auth.Identity == nil || len(req.Auth.Identity.Methods) == 0 {
		h.keystoneBadRequest(w, "Invalid input for field 'identity': 'methods' is a required property.")
		return
	}
	id := req.Auth.Identity

	// Identify the user.
	var u *user
	methods := id.Methods
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	for _, m := range methods {
		switch m {
		case "password":
			p := id.Password
			if p == nil || p.User == nil || p.User.Password == nil {
				h.keystoneBadRequest(w, "Expecting to find password in identity.")
				return
			}
			var cand *user
			if p.User.ID != "" {
				cand = userByID(p.User.ID)
			} else if p.User.Name != "" && p.User.Domain.isDefault() {
				cand = userByName(p.User.Name)
			}
			if cand == nil || cand.Password != *p.User.Password || (u != nil && u != cand) {
				h.keystoneUnauthorized(w, r)
				return
			}
			u = cand
		case "token":
			if id.Token == nil || id.Token.ID == "" {
				h.keystoneBadRequest(w, "Expecting to find token in identity.")
				return
			}
			t, why := h.st.lookupTokenLocked(id.Token.ID)
			if why != "" {
				h.keystoneUnauthorized(w, r)
				return
			}
			cand := userByID(t.UserID)
			if cand == nil || (u != nil && u != cand) {
				h.keystoneUnauthorized(w, r)
				return
			}
			u = cand
		default:
			// Keystone: "Attempted to authenticate with an unsupported method."
			h.keystoneUnauthorized(w, r)
			return
		}
	}

	// Scope.
	projectID := ""
	if len(req.Auth.Scope) > 0 && string(req.Auth.Scope) != "null" {
		var unscoped string
		if json.Unmarshal(req.Auth.Scope, &unscoped) == nil {
			if unscoped != "unscoped" {
				h.keystoneBadRequest(w, "Invalid input for field 'scope'.")
				return
			}
		} else {
			var sc scopeRequest
			if err := json.Unmarshal(req.Auth.Scope, &sc); err != nil {
				h.keystoneBadRequest(w, "Invalid input for field 'scope'.")
				return
			}
			switch {
			case sc.Project != nil:
				var p *project
				if sc.Project.ID != "" {
					p = projectByID(sc.Project.ID)
				} else if sc.Project.Name != "" && sc.Project.Domain.isDefault() {
					p = projectByName(sc.Project.Name)
				}
				if p == nil || len(effectiveRoles(u, p.ID)) == 0 {
					h.keystoneUnauthorized(w, r)
					return
				}
				projectID = p.ID
			default:
				// Domain, system and trust scopes: no seeded user has such
				// role assignments.
				h.keystoneUnauthorized(w, r)
				return
			}
		}
	}
	t := h.st.issueTokenLocked(u, projectID, dedupe(methods))
	_, nocatalog := r.URL.Query()["nocatalog"]
	w.Header().Set("X-Subject-Token", t.ID)
	writeJSON(w, http.StatusCreated, ctJSON, h.tokenBody(r, t, !nocatalog))
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// subjectToken resolves X-Subject-Token for validate and revoke, answering
// 401, 403 or 404 itself. The caller must hold h.st.mu.
func (h *Handler) subjectToken(ex *exchange, action string) *token {
	w, r := ex.w, ex.r
	callerTok, _ := wsgiHeader(r, "X-Auth-Token")
	ct, why := h.st.lookupTokenLocked(strings.TrimSpace(callerTok))
	if callerTok == "" || why != "" {
		h.keystoneUnauthorized(w, r)
		return nil
	}
	caller := identityFor(ct)
	subj, _ := wsgiHeader(r, "X-Subject-Token")
	st, why := h.st.lookupTokenLocked(strings.TrimSpace(subj))
	allowExpired := r.URL.Query().Get("allow_expired") == "true" || r.URL.Query().Get("allow_expired") == "1"
	switch {
	case why == "revoked":
		writeKeystoneError(w, http.StatusNotFound, "Not Found", "Failed to validate token")
		return nil
	case why == "expired" && allowExpired && now().Before(st.Expires.Add(48*time.Hour)):
	case why != "":
		writeKeystoneError(w, http.StatusNotFound, "Not Found", "Could not recognize Fernet token")
		return nil
	}
	// identity:validate_token / revoke_token: admin, or the token's subject.
	if !caller.IsAdmin && caller.User.ID != st.UserID {
		writeKeystoneError(w, http.StatusForbidden, "Forbidden",
			"You are not authorized to perform the requested action: identity:"+action+".")
		return nil
	}
	return st
}

// validateToken is GET and HEAD /v3/auth/tokens.
func (h *Handler) validateToken(ex *exchange) {
	w, r := ex.w, ex.r
	h.st.mu.Lock()
	t := h.subjectToken(ex, "validate_token")
	h.st.mu.Unlock()
	if t == nil {
		return
	}
	w.Header().Set("X-Subject-Token", t.ID)
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", ctJSON)
		w.WriteHeader(http.StatusOK)
		return
	}
	_, nocatalog := r.URL.Query()["nocatalog"]
	writeJSON(w, http.StatusOK, ctJSON, h.tokenBody(r, t, !nocatalog))
}

// revokeToken is DELETE /v3/auth/tokens.
func (h *Handler) revokeToken(ex *exchange) {
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	t := h.subjectToken(ex, "revoke_token")
	if t == nil {
		return
	}
	h.st.revokeLocked(t.ID)
	writeEmpty(ex.w, http.StatusNoContent, "")
}

// tokenBody builds the token document (docs/compute-api-facts.md, "Keystone
// tokens and keystonemiddleware").
func (h *Handler) tokenBody(r *http.Request, t *token, withCatalog bool) map[string]any {
	u := userByID(t.UserID)
	dom := map[string]any{"id": domainID, "name": domainName}
	tb := map[string]any{
		"methods":    t.Methods,
		"user":       map[string]any{"id": u.ID, "name": u.Name, "domain": dom, "password_expires_at": nil},
		"audit_ids":  []string{t.AuditID},
		"expires_at": t.Expires.UTC().Format(keystoneTime),
		"issued_at":  t.Issued.UTC().Format(keystoneTime),
	}
	if t.ProjectID != "" {
		p := projectByID(t.ProjectID)
		tb["project"] = map[string]any{"id": p.ID, "name": p.Name, "domain": dom}
		tb["is_domain"] = false
		roles := []any{}
		for _, ro := range effectiveRoles(u, t.ProjectID) {
			roles = append(roles, map[string]any{"id": ro.ID, "name": ro.Name})
		}
		tb["roles"] = roles
		if withCatalog {
			tb["catalog"] = h.catalog(r, t.ProjectID)
		}
	}
	return map[string]any{"token": tb}
}

// catalog is the service catalog of a project-scoped token.
func (h *Handler) catalog(r *http.Request, projectID string) []any {
	expand := func(u string) string {
		for _, tpl := range []string{"$(project_id)s", "$(tenant_id)s", "%(project_id)s", "%(tenant_id)s"} {
			u = strings.ReplaceAll(u, tpl, projectID)
		}
		return u
	}
	svc := func(id, typ, name, u string) map[string]any {
		var eps []any
		for i, iface := range []string{"public", "internal", "admin"} {
			eps = append(eps, map[string]any{
				"id":        id[:30] + "0" + string(rune('1'+i)),
				"interface": iface, "region": regionName, "region_id": regionName, "url": expand(u),
			})
		}
		return map[string]any{"id": id, "type": typ, "name": name, "endpoints": eps}
	}
	return []any{
		svc("5e000000000000000000000000000100", "compute", "nova", h.publicURL(r)),
		svc("5e000000000000000000000000000200", "identity", "keystone", h.identityURL(r)),
		svc("5e000000000000000000000000000300", "image", "glance", h.imageURL(r)),
	}
}
