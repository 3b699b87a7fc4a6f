package ecssim

import (
	"net/http"
	"sort"
	"strings"
	"time"
)

// RequestRecord is one entry of the request log served at
// GET /__ecssim/requests: what reached the simulator outside /v3 and
// /__ecssim, so tests can check exactly what a gateway forwarded.
type RequestRecord struct {
	// Seq numbers the records from 1 since the last reset.
	Seq int `json:"seq"`
	// Time is when the request arrived (RFC 3339, UTC).
	Time string `json:"time"`
	// Method is the request method as received.
	Method string `json:"method"`
	// Path is the request target as received: escaped path plus query.
	Path string `json:"path"`
	// Host is the Host header.
	Host string `json:"host"`
	// Proto is the HTTP version, e.g. HTTP/1.1.
	Proto string `json:"proto"`
	// BodySHA256 is the hex SHA-256 of the body bytes read.
	BodySHA256 string `json:"body_sha256"`
	// BodyLength is the number of body bytes read.
	BodyLength int `json:"body_length"`
	// ContentLength is the Content-Length header as received ("" if none).
	ContentLength string `json:"content_length"`
	// TransferEncoding lists the transfer codings (e.g. "chunked").
	TransferEncoding []string `json:"transfer_encoding"`
	// Headers holds every header except credentials (X-Auth-Token,
	// X-Subject-Token, X-Service-Token, Authorization, Proxy-Authorization,
	// X-Security-Token, Cookie), keyed by canonical name, all values kept.
	Headers map[string][]string `json:"headers"`
	// AuthTokenPresent says whether X-Auth-Token was sent (never its value).
	AuthTokenPresent bool `json:"x_auth_token_present"`
	// CredentialHeaders lists the credential headers that were present.
	CredentialHeaders []string `json:"credential_headers"`
	// Traceparent is the W3C traceparent header value.
	Traceparent string `json:"traceparent"`
	// RequestID is the request id the simulator answered with.
	RequestID string `json:"request_id"`
	// Status is the status the simulator answered with.
	Status int `json:"status"`
}

var credentialHeaders = map[string]bool{
	"X-Auth-Token": true, "X-Subject-Token": true, "X-Service-Token": true, "Authorization": true,
	"Proxy-Authorization": true, "X-Security-Token": true, "Cookie": true,
}

func (s *state) logRequest(r *http.Request, body []byte, requestID string) *RequestRecord {
	rec := &RequestRecord{
		Time:              now().UTC().Format(time.RFC3339Nano),
		Method:            r.Method,
		Path:              r.RequestURI,
		Host:              r.Host,
		Proto:             r.Proto,
		BodySHA256:        sha256Hex(body),
		BodyLength:        len(body),
		ContentLength:     strings.Join(r.Header.Values("Content-Length"), ","),
		TransferEncoding:  append([]string{}, r.TransferEncoding...),
		Headers:           map[string][]string{},
		CredentialHeaders: []string{},
		Traceparent:       r.Header.Get("Traceparent"),
		RequestID:         requestID,
	}
	if rec.Path == "" {
		rec.Path = r.URL.RequestURI()
	}
	for k, v := range r.Header {
		if credentialHeaders[http.CanonicalHeaderKey(k)] {
			rec.CredentialHeaders = append(rec.CredentialHeaders, k)
			continue
		}
		rec.Headers[k] = append([]string{}, v...)
	}
	sort.Strings(rec.CredentialHeaders)
	_, rec.AuthTokenPresent = r.Header["X-Auth-Token"]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logSeq++
	rec.Seq = s.logSeq
	s.log = append(s.log, rec)
	if len(s.log) > maxLogEntries {
		s.log = append([]*RequestRecord(nil), s.log[len(s.log)-maxLogEntries:]...)
	}
	return rec
}

func (s *state) finishRecord(rec *RequestRecord, status int) {
	if status == 0 {
		status = http.StatusOK
	}
	s.mu.Lock()
	rec.Status = status
	s.mu.Unlock()
}

// hookServer is the raw state shown by GET /__ecssim/servers[/{id}].
type hookServer struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	ProjectID    string            `json:"project_id"`
	UserID       string            `json:"user_id"`
	Status       string            `json:"status"`
	VMState      string            `json:"vm_state"`
	Locked       bool              `json:"locked"`
	LockedBy     *string           `json:"locked_by"`
	LockedReason *string           `json:"locked_reason"`
	Metadata     map[string]string `json:"metadata"`
}

func hookView(s *server) hookServer {
	v := hookServer{
		ID: s.ID, Name: s.Name, ProjectID: s.ProjectID, UserID: s.UserID,
		Status: vmStatus[s.VMState], VMState: s.VMState, Locked: s.Locked, Metadata: s.Metadata,
	}
	if s.LockedBy != "" {
		lb := s.LockedBy
		v.LockedBy = &lb
	}
	if s.LockedReason != "" {
		lr := s.LockedReason
		v.LockedReason = &lr
	}
	return v
}

// serveHooks answers the unauthenticated test hooks:
//
//	GET    /__ecssim/requests       request log
//	DELETE /__ecssim/requests       clear the request log only
//	POST   /__ecssim/reset          servers, jobs, demo-token revocations and
//	                                log back to the seed (?tokens=1 also
//	                                drops issued tokens)
//	GET    /__ecssim/servers        raw state of every server
//	GET    /__ecssim/servers/{id}   raw state of one server
func (h *Handler) serveHooks(ex *exchange) {
	w, r := ex.w, ex.r
	path := strings.TrimPrefix(r.URL.Path, "/__ecssim")
	st := h.st
	switch {
	case path == "/requests" && r.Method == http.MethodGet:
		st.mu.Lock()
		out := make([]RequestRecord, len(st.log))
		for i, rec := range st.log {
			out[i] = *rec
		}
		st.mu.Unlock()
		writeJSON(w, http.StatusOK, "application/json", out)
	case path == "/requests" && r.Method == http.MethodDelete:
		st.mu.Lock()
		st.log = nil
		st.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case path == "/reset" && r.Method == http.MethodPost:
		q := r.URL.Query().Get("tokens")
		st.mu.Lock()
		st.resetLocked(q == "1" || q == "true")
		st.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case path == "/servers" && r.Method == http.MethodGet:
		st.mu.Lock()
		list := st.sortedServersLocked()
		out := make([]hookServer, 0, len(list))
		for i := len(list) - 1; i >= 0; i-- {
			out = append(out, hookView(list[i].clone()))
		}
		st.mu.Unlock()
		writeJSON(w, http.StatusOK, "application/json", map[string]any{"servers": out})
	case strings.HasPrefix(path, "/servers/") && r.Method == http.MethodGet:
		id := strings.TrimPrefix(path, "/servers/")
		st.mu.Lock()
		srv, ok := st.servers[id]
		var v hookServer
		if ok {
			v = hookView(srv.clone())
		}
		st.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, "application/json", map[string]any{"error": "no such server", "id": id})
			return
		}
		writeJSON(w, http.StatusOK, "application/json", v)
	default:
		writeJSON(w, http.StatusNotFound, "application/json", map[string]any{"error": "no such hook"})
	}
}
