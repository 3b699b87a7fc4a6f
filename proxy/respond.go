package proxy

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// HeaderDecisionID carries the decision id on every response, allowed or
// not, so a caller can quote it to the compliance team.
const HeaderDecisionID = "X-Ecsgate-Decision-Id"

// failure is one answer ecsgate gives itself instead of the upstream.
type failure struct {
	status  int
	message string
	family  string // "nova" or "ecs": which error body to write
	// microversion, when known, is echoed as Nova does on its faults.
	microversion string
	headers      map[string]string
	// reason is a stable code for records and metrics when the request is
	// refused before the policy runs.
	reason string
}

// novaFaultNames maps statuses to Nova's fault names (nova/api/openstack/wsgi.py).
var novaFaultNames = map[int]string{
	400: "badRequest",
	401: "unauthorized",
	403: "forbidden",
	404: "itemNotFound",
	405: "badMethod",
	409: "conflictingRequest",
	413: "overLimit",
	415: "badMediaType",
	429: "overLimit",
	501: "notImplemented",
	503: "serviceUnavailable",
}

func novaFaultName(status int) string {
	if name, ok := novaFaultNames[status]; ok {
		return name
	}
	return "computeFault"
}

// ecsErrorCode picks the Huawei native error code. Only Ecs.0000 (bad
// request) and Ecs.0003 (permission) are documented for these situations;
// the 5xx code follows the same pattern and is unverified.
func ecsErrorCode(status int) string {
	switch {
	case status == http.StatusForbidden:
		return "Ecs.0003"
	case status >= 500:
		return "Ecs.0500"
	default:
		return "Ecs.0000"
	}
}

func newRequestID() string { return "req-" + uuid.NewString() }

// write answers in the upstream's format with the request-id headers its
// clients read: novaclient x-compute-request-id, openstacksdk
// x-openstack-request-id, the Huawei SDK X-Request-Id.
func (f *failure) write(w http.ResponseWriter) {
	hdr := w.Header()
	for k, v := range f.headers {
		hdr.Set(k, v)
	}
	reqID := newRequestID()
	var body []byte
	if f.family == FormatECS {
		hdr.Set("X-Request-Id", reqID)
		body, _ = json.Marshal(map[string]any{"error": map[string]any{
			"code":    ecsErrorCode(f.status),
			"message": f.message,
		}})
	} else {
		hdr.Set("X-Openstack-Request-Id", reqID)
		hdr.Set("X-Compute-Request-Id", reqID)
		if f.microversion != "" {
			hdr.Set("Openstack-Api-Version", "compute "+f.microversion)
			hdr.Set("X-Openstack-Nova-Api-Version", f.microversion)
			hdr.Add("Vary", "OpenStack-API-Version")
			hdr.Add("Vary", "X-OpenStack-Nova-API-Version")
		}
		body, _ = json.Marshal(map[string]any{novaFaultName(f.status): map[string]any{
			"code":    f.status,
			"message": f.message,
		}})
	}
	hdr.Set("Content-Type", "application/json; charset=UTF-8")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(f.status)
	_, _ = w.Write(body)
}

// denialMessage turns policy reasons into the one line clients print, e.g.
// openstackclient's "<message> (HTTP 403) (Request-ID: req-...)".
func denialMessage(reasons []string) string {
	if len(reasons) == 0 {
		return "Denied by ecsgate policy."
	}
	return "Denied by ecsgate policy: " + strings.Join(reasons, "; ")
}
