package ecssim

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// apiVersion is a compute microversion.
type apiVersion struct{ major, minor int }

var minVersion = apiVersion{2, 1}

func (v apiVersion) String() string { return strconv.Itoa(v.major) + "." + strconv.Itoa(v.minor) }

func (v apiVersion) less(o apiVersion) bool {
	return v.major < o.major || (v.major == o.major && v.minor < o.minor)
}

// atLeast reports v >= 2.minor.
func (v apiVersion) atLeast(minor int) bool { return !v.less(apiVersion{2, minor}) }

var versionRE = regexp.MustCompile(`^([1-9]\d*)\.([1-9]\d*|0)$`)

func parseAPIVersion(s string) (apiVersion, bool) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return apiVersion{}, false
	}
	maj, err1 := strconv.Atoi(m[1])
	min, err2 := strconv.Atoi(m[2])
	if err1 != nil || err2 != nil {
		return apiVersion{}, false
	}
	return apiVersion{maj, min}, true
}

// requestedVersion extracts the requested compute microversion as
// microversion_parse does (docs/compute-api-facts.md, "Microversions"): the
// last compute entry of OpenStack-API-Version, else the last entry of
// X-OpenStack-Nova-API-Version, else "" (none).
func requestedVersion(r *http.Request) string {
	if v, ok := wsgiHeader(r, "OpenStack-API-Version"); ok {
		entries := strings.Split(v, ",")
		for i := len(entries) - 1; i >= 0; i-- {
			f := strings.Fields(entries[i])
			if len(f) != 2 {
				continue
			}
			if strings.EqualFold(f[0], "compute") {
				return f[1]
			}
		}
	}
	if v, ok := wsgiHeader(r, "X-OpenStack-Nova-API-Version"); ok {
		entries := strings.Split(v, ",")
		return strings.TrimSpace(entries[len(entries)-1])
	}
	return ""
}

// negotiate turns the requested version into the effective one. On error
// it returns the status and message of the Fault to send.
func (h *Handler) negotiate(r *http.Request) (apiVersion, int, string) {
	req := requestedVersion(r)
	switch req {
	case "":
		return minVersion, 0, ""
	case "latest":
		return h.maxMV, 0, ""
	}
	v, ok := parseAPIVersion(req)
	if !ok {
		return apiVersion{}, http.StatusBadRequest,
			"API Version String " + req + " is of invalid format. Must be of format MajorNum.MinorNum."
	}
	if v.less(minVersion) || h.maxMV.less(v) {
		return apiVersion{}, http.StatusNotAcceptable,
			"Version " + req + " is not supported by the API. Minimum is " + minVersion.String() +
				" and maximum is " + h.maxMV.String() + "."
	}
	return v, 0, ""
}
