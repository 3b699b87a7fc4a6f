package classify

import (
	"net/http"
	"strings"
)

// maxSegments is above the deepest route either API has
// (/v2.1/{p}/servers/{id}/migrations/{mid}/action is 7); deeper paths match
// nothing.
const maxSegments = 12

type segments struct {
	s [maxSegments]string
	n int
}

func (s *segments) list() []string { return s.s[:s.n] }

// split checks the raw path and cuts it into segments without copying.
// Nothing is normalised: Nova routes on a percent-decoded, slash-collapsed
// path, so anything that decoding or collapsing could change is refused.
func (s *segments) split(p, fam string) *Rejection {
	if p == "" || p[0] != '/' {
		return reject(fam, http.StatusBadRequest, "bad_path", msgBadRequest)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			// No ECS path needs an escape; decoded separators, letters or
			// control characters would take effect upstream.
			return reject(fam, http.StatusBadRequest, "encoded_path", msgBadRequest)
		}
		if c <= ' ' || c >= 0x7f {
			// Route placeholders accept whitespace and control bytes, and the
			// route regexp tolerates a trailing newline.
			return reject(fam, http.StatusBadRequest, "path_char", msgBadRequest)
		}
	}
	s.n = 0
	if p == "/" {
		return nil
	}
	rest := p[1:]
	for {
		i := strings.IndexByte(rest, '/')
		seg := rest
		if i >= 0 {
			seg = rest[:i]
		}
		switch {
		case seg == "" && i < 0:
			return reject(fam, http.StatusNotFound, "trailing_slash", msgNotFound)
		case seg == "":
			return reject(fam, http.StatusNotFound, "empty_segment", msgNotFound)
		case seg == "." || seg == "..":
			return reject(fam, http.StatusNotFound, "dot_segment", msgNotFound)
		}
		if s.n == maxSegments {
			return reject(fam, http.StatusNotFound, "no_route", msgNotFound)
		}
		s.s[s.n] = seg
		s.n++
		if i < 0 {
			return nil
		}
		rest = rest[i+1:]
	}
}

// guessFamily picks the error format before the path is validated, from the
// prefix alone. /v2/{p}/cloudservers is native although /v2 is also Nova's
// legacy prefix.
func guessFamily(p string) string {
	switch {
	case strings.HasPrefix(p, "/v1/"), strings.HasPrefix(p, "/v1.1/"), p == "/v1", p == "/v1.1":
		return FamilyECS
	case strings.HasPrefix(p, "/v2/"):
		rest := p[len("/v2/"):]
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[i+1:]
			if rest == "cloudservers" || strings.HasPrefix(rest, "cloudservers/") {
				return FamilyECS
			}
		}
	}
	return FamilyNova
}

// bodyKind says how the body of a routed request is checked.
type bodyKind uint8

const (
	// bodyJSON: any non-empty body must be strict JSON (Nova deserialises
	// every POST/PUT body, and policy may read it).
	bodyJSON bodyKind = iota
	// bodyNovaAction: Nova action extraction with the server action table.
	bodyNovaAction
	// bodyNovaMigrationAction: Nova action extraction with force_complete.
	bodyNovaMigrationAction
	// bodyNativeBatchAction: one key of {os-start, os-stop, reboot}, ids
	// from its servers[].
	bodyNativeBatchAction
	// bodyNativeBatchIDs: ids from every servers[] of the body.
	bodyNativeBatchIDs
	// bodyNativeArgs: strict JSON, the whole body becomes Action.Args.
	bodyNativeArgs
)

type routed struct {
	op   Operation
	body bodyKind
}

func noRoute(fam string) (routed, *Rejection) {
	return routed{}, reject(fam, http.StatusNotFound, "no_route", msgNotFound)
}

// isProjectID mirrors Nova's project_id requirement: [0-9a-f-]+.
func isProjectID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLowerHex(c) && c != '-' {
			return false
		}
	}
	return true
}

// isCanonicalUUID accepts only the lowercase 8-4-4-4-12 spelling: Nova
// normalises other spellings and may find the same server through a
// case-insensitive lookup, behind a policy keyed on the canonical id.
func isCanonicalUUID[T string | []byte](s T) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isLowerHex(c) {
				return false
			}
		}
	}
	return true
}

func isLowerHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f')
}

func isDigits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// route dispatches on the version prefix.
func route(method string, segs *segments) (routed, *Rejection) {
	seg := segs.list()
	if len(seg) == 0 {
		// Version discovery at the root executes nothing. Any other
		// unversioned path is refused: Nova answers it with a version
		// document, but a fork that routes it differently must not see an
		// unclassified request.
		if isRead(method) {
			return routed{op: Operation{Family: FamilyNova, Name: OpOther, Route: "/"}}, nil
		}
		return noRoute(FamilyNova)
	}
	switch seg[0] {
	case "v2.1":
		return routeNova(method, "v2.1", seg[1:])
	case "v2":
		if len(seg) >= 3 && seg[2] == "cloudservers" {
			return routeNative(method, "v2", seg[1:])
		}
		return routeNova(method, "v2", seg[1:])
	case "v1", "v1.1":
		return routeNative(method, seg[0], seg[1:])
	}
	return noRoute(FamilyNova)
}
