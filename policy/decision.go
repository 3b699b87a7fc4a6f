package policy

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
)

// Decision is what the policy said about one request.
type Decision struct {
	// Allow is true only when the policy explicitly allowed the request.
	Allow bool `json:"allow"`
	// Reasons explain a denial; they are shown to the caller.
	Reasons []string `json:"reasons,omitempty"`
	// Status is the HTTP status for a denial (403 unless the policy chose
	// another 4xx; never 401, which makes clients re-authenticate and retry).
	Status int `json:"status,omitempty"`
	// Headers are added to the response the caller receives.
	Headers map[string]string `json:"headers,omitempty"`
}

// ErrInvalidDecision means the policy produced something that is neither a
// boolean nor an object with a boolean "allow". The request is denied.
var ErrInvalidDecision = errors.New("policy decision is neither a boolean nor an object with a boolean allow")

// Undefined is the decision when the policy's rule is not defined for an
// input: fail closed, with a reason the caller can act on.
func Undefined() Decision {
	return Decision{Allow: false, Reasons: []string{"policy decision is undefined (denied by default)"}, Status: http.StatusForbidden}
}

// decisionFromResult interprets a boolean or an opa-envoy-plugin style object
// {allow, reasons, status, headers}. Anything malformed denies.
func decisionFromResult(v any) (Decision, error) {
	switch r := v.(type) {
	case bool:
		return Decision{Allow: r, Status: denyStatus(r, 0)}, nil
	case map[string]any:
		allow, ok := r["allow"].(bool)
		if !ok {
			return Decision{}, ErrInvalidDecision
		}
		d := Decision{Allow: allow}
		if err := d.readReasons(r["reasons"]); err != nil {
			return Decision{}, err
		}
		status, err := readStatus(r["status"])
		if err != nil {
			return Decision{}, err
		}
		d.Status = denyStatus(allow, status)
		if d.Headers, err = readHeaders(r["headers"]); err != nil {
			return Decision{}, err
		}
		return d, nil
	default:
		return Decision{}, ErrInvalidDecision
	}
}

func (d *Decision) readReasons(v any) error {
	switch r := v.(type) {
	case nil:
		return nil
	case string:
		d.Reasons = []string{r}
		return nil
	case []any:
		d.Reasons = make([]string, 0, len(r))
		for _, x := range r {
			s, ok := x.(string)
			if !ok {
				return fmt.Errorf("%w: reasons must be strings", ErrInvalidDecision)
			}
			d.Reasons = append(d.Reasons, s)
		}
		return nil
	default:
		return fmt.Errorf("%w: reasons must be a string or an array of strings", ErrInvalidDecision)
	}
}

func readStatus(v any) (int, error) {
	if v == nil {
		return 0, nil
	}
	n, ok := v.(interface{ Int64() (int64, error) })
	if !ok {
		return 0, fmt.Errorf("%w: status must be a number", ErrInvalidDecision)
	}
	i, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("%w: status must be an integer", ErrInvalidDecision)
	}
	return int(i), nil
}

// denyStatus keeps a policy's chosen status only when it is a 4xx other than
// 401: gophercloud and keystoneauth answer 401 by re-authenticating and
// retrying, which would turn one denial into two.
func denyStatus(allow bool, status int) int {
	if allow {
		return 0
	}
	if status >= 400 && status < 500 && status != http.StatusUnauthorized {
		return status
	}
	return http.StatusForbidden
}

func readHeaders(v any) (map[string]string, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: headers must be an object", ErrInvalidDecision)
	}
	out := make(map[string]string, len(m))
	for k, x := range m {
		s, ok := x.(string)
		if !ok || !validHeader(k, s) {
			return nil, fmt.Errorf("%w: header %q must be a valid name with a string value", ErrInvalidDecision, k)
		}
		out[textproto.CanonicalMIMEHeaderKey(k)] = s
	}
	return out, nil
}

func validHeader(name, value string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	for i := 0; i < len(value); i++ {
		if value[i] < 0x20 && value[i] != '\t' || value[i] == 0x7f {
			return false
		}
	}
	return true
}
