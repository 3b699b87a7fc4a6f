package policy

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"

	"github.com/open-policy-agent/opa/v1/ast"
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
	// Cached is true when the decision came from the revision's decision
	// cache rather than a new evaluation (not part of the result document).
	Cached bool `json:"-"`
}

// ErrInvalidDecision means the policy produced something that is neither a
// boolean nor an object with a boolean "allow". The request is denied.
var ErrInvalidDecision = errors.New("policy decision is neither a boolean nor an object with a boolean allow")

// Undefined is the decision when the policy's rule is not defined for an
// input: fail closed, with a reason the caller can act on.
func Undefined() Decision {
	return Decision{Allow: false, Reasons: []string{"policy decision is undefined (denied by default)"}, Status: http.StatusForbidden}
}

// Keys of a decision object.
var (
	decisionAllow   = ast.StringTerm("allow")
	decisionReasons = ast.StringTerm("reasons")
	decisionStatus  = ast.StringTerm("status")
	decisionHeaders = ast.StringTerm("headers")
)

// decisionFromValue reads the decision straight from OPA's value. The shapes
// policies return (a boolean; an object whose reasons are an array of
// strings, a string or null, whose status is a number and whose headers map
// strings to strings) are read in place; anything else is converted to Go
// values and judged by decisionFromResult, so both paths agree by
// construction.
func decisionFromValue(v ast.Value) (Decision, error) {
	switch r := v.(type) {
	case ast.Boolean:
		return Decision{Allow: bool(r), Status: denyStatus(bool(r), 0)}, nil
	case ast.Object:
		if d, ok := simpleDecision(r); ok {
			return d, nil
		}
	}
	x, err := ast.JSON(v)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrInvalidDecision, err)
	}
	return decisionFromResult(x)
}

// simpleDecision reads the common object shapes; ok is false when the
// object needs the general path (including every invalid one).
func simpleDecision(obj ast.Object) (d Decision, ok bool) {
	allow, ok := termValue(obj, decisionAllow).(ast.Boolean)
	if !ok {
		return Decision{}, false
	}
	d.Allow = bool(allow)
	switch reasons := termValue(obj, decisionReasons).(type) {
	case nil, ast.Null:
	case ast.String:
		d.Reasons = []string{string(reasons)}
	case *ast.Array:
		if reasons.Len() > 0 {
			d.Reasons = make([]string, reasons.Len())
			for i := range reasons.Len() {
				s, ok := reasons.Elem(i).Value.(ast.String)
				if !ok {
					return Decision{}, false
				}
				d.Reasons[i] = string(s)
			}
		} else {
			// decisionFromResult keeps an empty, non-nil slice.
			d.Reasons = []string{}
		}
	default:
		return Decision{}, false
	}
	status := 0
	switch s := termValue(obj, decisionStatus).(type) {
	case nil, ast.Null:
	case ast.Number:
		n, ok := s.Int64()
		if !ok {
			return Decision{}, false
		}
		status = int(n)
	default:
		return Decision{}, false
	}
	d.Status = denyStatus(d.Allow, status)
	switch h := termValue(obj, decisionHeaders).(type) {
	case nil, ast.Null:
	case ast.Object:
		d.Headers = make(map[string]string, h.Len())
		simple := true
		h.Foreach(func(k, v *ast.Term) {
			name, ok1 := k.Value.(ast.String)
			value, ok2 := v.Value.(ast.String)
			if !ok1 || !ok2 || !validHeader(string(name), string(value)) {
				simple = false
				return
			}
			d.Headers[textproto.CanonicalMIMEHeaderKey(string(name))] = string(value)
		})
		if !simple {
			return Decision{}, false
		}
	default:
		return Decision{}, false
	}
	return d, true
}

func termValue(obj ast.Object, key *ast.Term) ast.Value {
	if t := obj.Get(key); t != nil {
		return t.Value
	}
	return nil
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
