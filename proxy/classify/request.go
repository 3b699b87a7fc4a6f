package classify

import (
	"net/http"
	"strings"
)

// Header names whose repetition is rejected: Go sees every line, the WSGI
// server folds them into one comma-joined value, so two readers could act on
// different values.
const (
	hdrOther = iota
	hdrAuthToken
	hdrAuthorization
	hdrOSAPIVersion
	hdrNovaAPIVersion
	hdrProjectID
	hdrSdkDate
	hdrSecurityToken
	hdrSdkContentSha256
	hdrServiceToken
	hdrContentType
	hdrContentLength
	hdrContentEncoding
	hdrCount
)

// headerInfo is what the classifier needs from the headers, gathered in one
// pass over the map.
type headerInfo struct {
	count [hdrCount]int
	// first value of each security-relevant header (exactly one when
	// count[i] == 1).
	value [hdrCount]string

	underscore       bool
	methodOverride   bool
	transferEncoding bool
}

// scan walks the header map once. Problems are recorded and decided in a
// fixed order afterwards so that the answer does not depend on map order.
func (h *headerInfo) scan(hdr http.Header, fam string) *Rejection {
	var lower [64]byte
	for name, vals := range hdr {
		if strings.IndexByte(name, '_') >= 0 {
			// eventlet merges "X_Auth_Token" into "X-Auth-Token"; Go does not.
			h.underscore = true
			continue
		}
		if len(name) > len(lower) {
			if containsFoldASCII(name, "method-override") {
				h.methodOverride = true
			}
			continue
		}
		n := copy(lower[:], name)
		for i := 0; i < n; i++ {
			if c := lower[i]; 'A' <= c && c <= 'Z' {
				lower[i] = c + ('a' - 'A')
			}
		}
		var idx int
		switch string(lower[:n]) {
		case "x-http-method-override", "x-http-method", "x-method-override":
			h.methodOverride = true
			continue
		case "transfer-encoding":
			if len(vals) > 0 {
				h.transferEncoding = true
			}
			continue
		case "x-auth-token":
			idx = hdrAuthToken
		case "authorization":
			idx = hdrAuthorization
		case "openstack-api-version":
			idx = hdrOSAPIVersion
		case "x-openstack-nova-api-version":
			idx = hdrNovaAPIVersion
		case "x-project-id":
			idx = hdrProjectID
		case "x-sdk-date":
			idx = hdrSdkDate
		case "x-security-token":
			idx = hdrSecurityToken
		case "x-sdk-content-sha256":
			idx = hdrSdkContentSha256
		case "x-service-token":
			idx = hdrServiceToken
		case "content-type":
			idx = hdrContentType
		case "content-length":
			idx = hdrContentLength
		case "content-encoding":
			idx = hdrContentEncoding
		default:
			if containsFoldASCII(name, "method-override") {
				h.methodOverride = true
			}
			continue
		}
		if len(vals) > 0 && h.count[idx] == 0 {
			h.value[idx] = vals[0]
		}
		h.count[idx] += len(vals)
	}

	switch {
	case h.methodOverride:
		return reject(fam, http.StatusBadRequest, "method_override", "Method override headers are not allowed.")
	case h.underscore:
		return reject(fam, http.StatusBadRequest, "underscore_header", "Header names containing '_' are not allowed.")
	case h.transferEncoding:
		return reject(fam, http.StatusBadRequest, "transfer_encoding", "Transfer-Encoding is not allowed.")
	}
	for i := hdrOther + 1; i < hdrCount; i++ {
		if h.count[i] > 1 {
			return reject(fam, http.StatusBadRequest, "duplicate_header", "Repeated security-relevant header.")
		}
	}
	// Nova never decompresses, but something between us and Nova might: the
	// bytes classified could differ from the bytes executed.
	if h.count[hdrContentEncoding] == 1 && !strings.EqualFold(h.value[hdrContentEncoding], "identity") {
		return reject(fam, http.StatusUnsupportedMediaType, "content_encoding", "Unsupported Content-Encoding")
	}
	return nil
}

func (h *headerInfo) get(idx int) (string, bool) {
	if h.count[idx] == 0 {
		return "", false
	}
	return h.value[idx], true
}

// checkContentLength denies a body that is not the one the client announced
// (a truncated or padded body would be classified on different bytes).
func checkContentLength(h *headerInfo, bodyLen int, fam string) *Rejection {
	v, ok := h.get(hdrContentLength)
	if !ok {
		return nil
	}
	if v == "" || len(v) > 18 {
		return reject(fam, http.StatusBadRequest, "content_length_mismatch", msgBadRequest)
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return reject(fam, http.StatusBadRequest, "content_length_mismatch", msgBadRequest)
		}
		n = n*10 + int(c-'0')
	}
	if n != bodyLen {
		return reject(fam, http.StatusBadRequest, "content_length_mismatch", msgBadRequest)
	}
	return nil
}

// maxQueryDecodes bounds repeated percent-decoding; a query still changing
// after that many rounds is too odd to reason about and is denied.
const maxQueryDecodes = 8

// checkQuery rejects a query-string method override (routes' "_method") in any
// spelling. Python's query parser differs from Go's in separators, decoding
// and repeated keys, so rather than parse the query the raw text and every
// decoded form of it are searched for the name, case-insensitively. A
// harmless query that merely contains "_method" is rejected too: fail closed.
func checkQuery(q, fam string) *Rejection {
	if q == "" {
		return nil
	}
	if containsFoldASCII(q, "_method") {
		return reject(fam, http.StatusBadRequest, "method_override", "Method override is not allowed.")
	}
	if strings.IndexByte(q, '%') < 0 && strings.IndexByte(q, '+') < 0 {
		return nil
	}
	s := q
	for range maxQueryDecodes {
		d := decodeQueryOnce(s)
		if d == s {
			return nil
		}
		s = d
		if containsFoldASCII(s, "_method") {
			return reject(fam, http.StatusBadRequest, "method_override", "Method override is not allowed.")
		}
	}
	if decodeQueryOnce(s) != s {
		return reject(fam, http.StatusBadRequest, "query_decode", "Query string is encoded too many times.")
	}
	return nil
}

// decodeQueryOnce decodes valid %XX escapes and '+' like Python's
// unquote_plus; invalid escapes are kept as they are.
func decodeQueryOnce(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if b == nil {
				b = append(make([]byte, 0, len(s)), s[:i]...)
			}
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			if b == nil {
				b = append(make([]byte, 0, len(s)), s[:i]...)
			}
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			if b != nil {
				b = append(b, c)
			}
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// containsFoldASCII reports whether s contains sub (lower-case ASCII) with
// ASCII case folding. Python compares "_method" exactly, so Unicode folding
// is not needed to be at least as broad.
func containsFoldASCII(s, sub string) bool {
	n := len(sub)
outer:
	for i := 0; i+n <= len(s); i++ {
		for j := 0; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != sub[j] {
				continue outer
			}
		}
		return true
	}
	return false
}

// checkContentType mirrors Nova's 415 set: the media type is the text before
// the first ';', compared exactly. Content-Type never selects the parser; the
// body is parsed as JSON whatever it says, so this only decides what Nova would
// refuse. Native routes are held to application/json, and a native body must
// say so: how Huawei parses anything else is unknown.
func checkContentType(h *headerInfo, fam string, bodyLen int) *Rejection {
	v, ok := h.get(hdrContentType)
	if !ok {
		if fam == FamilyECS && bodyLen > 0 {
			return reject(fam, http.StatusUnsupportedMediaType, "unsupported_content_type", msgUnsupportedCT)
		}
		return nil
	}
	mt := v
	if i := strings.IndexByte(v, ';'); i >= 0 {
		mt = v[:i]
	}
	if fam == FamilyNova {
		switch mt {
		case "", "text/plain", "application/json", "application/vnd.openstack.compute+json":
			return nil
		}
	} else if mt == "application/json" {
		return nil
	}
	reason := "unsupported_content_type"
	l := strings.ToLower(strings.TrimSpace(mt))
	if l == "application/x-www-form-urlencoded" || l == "multipart/form-data" {
		// routes reads a "_method" override from form bodies.
		reason = "form_body"
	}
	return reject(fam, http.StatusUnsupportedMediaType, reason, msgUnsupportedCT)
}
