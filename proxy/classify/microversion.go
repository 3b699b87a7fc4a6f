package classify

import (
	"net/http"
	"strings"
)

// apiVersion is a Nova microversion. Components larger than maxComponent are
// clamped: such a version is out of range whatever its exact value.
type apiVersion struct{ major, minor int }

const maxComponent = 1 << 30

var minAPIVersion = apiVersion{2, 1}

func (v apiVersion) less(o apiVersion) bool {
	return v.major < o.major || (v.major == o.major && v.minor < o.minor)
}

// AtMost returns microversion v, or the upstream's maximum when v is above
// it (or malformed): the highest of the two the upstream will accept.
func (c *Classifier) AtMost(v string) string {
	if pv, ok := parseAPIVersion(v); ok && !c.maxVersion.less(pv) {
		return v
	}
	return c.maxVersionStr
}

// parseAPIVersion matches Nova's ^([1-9]\d*)\.([1-9]\d*|0)$ (ASCII digits:
// header values reaching Python are latin-1, which has no other Nd digits).
func parseAPIVersion(s string) (apiVersion, bool) {
	dot := strings.IndexByte(s, '.')
	if dot <= 0 || dot == len(s)-1 {
		return apiVersion{}, false
	}
	major, ok := parseComponent(s[:dot])
	if !ok || s[0] == '0' {
		return apiVersion{}, false
	}
	minor, ok := parseComponent(s[dot+1:])
	if !ok || (s[dot+1] == '0' && len(s)-dot-1 > 1) {
		return apiVersion{}, false
	}
	return apiVersion{major, minor}, true
}

func parseComponent(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxComponent {
			n = n*10 + int(c-'0')
		}
	}
	return min(n, maxComponent), true
}

// microversion computes the requested microversion as Nova does
// (docs/compute-api-facts.md, "Microversions"). Where Nova's reading depends
// on details a fork might not share (two compute entries, two headers that
// disagree), the request is rejected.
func (c *Classifier) microversion(h *headerInfo, version string) (string, *Rejection) {
	if version == "v2" {
		// The legacy /v2 wrapper deletes both headers.
		return "2.1", nil
	}
	std, stdOK := h.get(hdrOSAPIVersion)
	legacy, legacyOK := h.get(hdrNovaAPIVersion)
	if (stdOK && !headerTextOK(std)) || (legacyOK && !headerTextOK(legacy)) {
		// Python's str.strip/split also treat \x1c-\x1f, \x85 and \xa0 as
		// whitespace; rather than mirror that, refuse anything but printable
		// ASCII.
		return "", reject(FamilyNova, http.StatusBadRequest, "bad_microversion", msgBadRequest)
	}

	var (
		requested string
		found     bool
	)
	// microversion_parse: "if header:" skips an empty OpenStack-API-Version.
	if stdOK && std != "" {
		n := 0
		for entry := range strings.SplitSeq(std, ",") {
			service, ver, ok := cutSpace(trimSpaceTab(entry))
			if ok && strings.EqualFold(service, "compute") {
				requested, found = trimSpaceTab(ver), true
				n++
			}
		}
		if n > 1 {
			return "", reject(FamilyNova, http.StatusBadRequest, "microversion_conflict", msgBadRequest)
		}
	}
	if legacyOK {
		if strings.IndexByte(legacy, ',') >= 0 {
			return "", reject(FamilyNova, http.StatusBadRequest, "microversion_conflict", msgBadRequest)
		}
		lv := trimSpaceTab(legacy)
		switch {
		case !found:
			requested, found = lv, true
		case lv != requested:
			return "", reject(FamilyNova, http.StatusBadRequest, "microversion_conflict", msgBadRequest)
		}
	}
	if !found {
		return "2.1", nil
	}
	if requested == "latest" {
		return c.maxVersionStr, nil
	}
	v, ok := parseAPIVersion(requested)
	if !ok {
		return "", reject(FamilyNova, http.StatusBadRequest, "bad_microversion",
			"API Version String "+requested+" is of invalid format. Must be of format MajorNum.MinorNum.")
	}
	if v.less(minAPIVersion) || c.maxVersion.less(v) {
		return "", reject(FamilyNova, http.StatusNotAcceptable, "microversion_out_of_range",
			"Version "+requested+" is not supported by the API. Minimum is 2.1 and maximum is "+c.maxVersionStr+".")
	}
	return requested, nil
}

func headerTextOK(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c > '~' {
			return false
		}
	}
	return true
}

func trimSpaceTab(s string) string {
	return strings.Trim(s, " \t")
}

// cutSpace is Python's s.split(None, 1) on an already trimmed s: it fails
// unless there are two parts.
func cutSpace(s string) (before, after string, ok bool) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return "", "", false
	}
	return s[:i], trimSpaceTab(s[i:]), true
}
