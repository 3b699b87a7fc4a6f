package tracing

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ecsgate/ecsgate/policy"
)

// App is the "app" label of every record.
const App = "ecsgate"

// BundleName is the key under "bundles" that carries the policy revision.
const BundleName = "ecsgate"

// maxErrLen bounds the "error" field: error texts are for humans and must not
// turn a record into a dump of whatever the failing component returned.
const maxErrLen = 1024

// Record is one decision as it goes to the decision log. Its JSON form
// (MarshalJSON) follows OPA's decision-log event format, plus ecsgate's own
// status, rejected and error fields.
//
// Ownership: a Record handed to Recorder.Record or Sink.Enqueue belongs to
// the sinks from then on. It is marshalled later, on a writer goroutine, so
// neither the Record nor anything it points to (Input, its headers map, the
// action's Args bytes, Result, Labels) may be modified or reused afterwards;
// in particular Args must not alias a pooled body buffer. Sinks only read it,
// so several sinks may share one Record.
type Record struct {
	// DecisionID identifies the decision (also the span's ecsgate.decision.id).
	DecisionID string
	// Path is the decision rule, as a reference (data.ecsgate.authz.decision)
	// or already in OPA's slash form (ecsgate/authz/decision).
	Path string
	// Revision identifies the policy and data that decided (policy.Engine.Revision).
	Revision string
	// Input is the policy input, headers already redacted. Partial or nil
	// when the request was rejected before it could be classified fully.
	// Secret action arguments are masked when the record is marshalled.
	Input *policy.Input
	// Result is the decision; nil when none was made (rejected).
	Result *policy.Decision
	// Status is the HTTP status the gateway returned (or 0 when forwarded
	// before the upstream answered).
	Status int
	// Rejected is the classifier's reason code when it refused the request.
	Rejected string
	// Err is the evaluation or identity error text. It must carry no secret.
	Err string
	// ErrKind is a low-cardinality class of Err ("identity", "evaluation",
	// "timeout"...), the span's error.type; "_OTHER" when empty.
	ErrKind string
	// RemoteIP is the caller's address (requested_by).
	RemoteIP string
	// Timestamp is when the decision was made; Recorder.Record fills it in
	// when zero. Marshalled in UTC.
	Timestamp time.Time
	// EvalDuration, IdentityDuration and TotalDuration are the policy
	// evaluation, the identity lookup and the whole decision.
	EvalDuration, IdentityDuration, TotalDuration time.Duration
	// IdentityCacheHit tells whether the identity came from the cache.
	IdentityCacheHit bool
	// TraceID and SpanID link the record to the decision span; EndDecision
	// fills them in.
	TraceID, SpanID string
	// Labels are OPA's {id, version, app}; Recorder.Record fills them in from
	// its own labels when nil.
	Labels map[string]string
	// DecisionCached tells that the policy's decision came from the
	// revision's decision cache (span attribute and metric only).
	DecisionCached bool
	// DryRun marks a shadow decision: computed and recorded, but the
	// request was forwarded whatever Result says.
	DryRun bool
}

// MarshalJSON renders the record as an OPA decision-log event. Secret action
// arguments are masked and listed in "masked". It never modifies r.
func (r *Record) MarshalJSON() ([]byte, error) {
	return r.appendJSON(make([]byte, 0, 1024))
}

// appendJSON is MarshalJSON appending to buf, so a writer can reuse one buffer.
// It writes by hand what encoding/json would find by reflection.
func (r *Record) appendJSON(buf []byte) ([]byte, error) {
	var masked []string
	buf = append(buf, `{"decision_id":`...)
	buf = appendString(buf, r.DecisionID)
	buf = append(buf, `,"labels":`...)
	buf = appendStringMap(buf, r.Labels)
	if r.Path != "" {
		buf = append(buf, `,"path":`...)
		buf = appendString(buf, LogPath(r.Path))
	}
	if r.Input != nil {
		buf = append(buf, `,"input":`...)
		buf, masked = appendInput(buf, r.Input)
	}
	if r.Result != nil {
		buf = append(buf, `,"result":`...)
		buf = appendDecision(buf, r.Result)
	}
	if r.RemoteIP != "" {
		buf = append(buf, `,"requested_by":`...)
		buf = appendString(buf, r.RemoteIP)
	}
	buf = append(buf, `,"timestamp":"`...)
	buf = r.Timestamp.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","metrics":{"timer_rego_query_eval_ns":`...)
	buf = strconv.AppendInt(buf, r.EvalDuration.Nanoseconds(), 10)
	buf = append(buf, `,"timer_ecsgate_identity_ns":`...)
	buf = strconv.AppendInt(buf, r.IdentityDuration.Nanoseconds(), 10)
	buf = append(buf, `,"timer_ecsgate_total_ns":`...)
	buf = strconv.AppendInt(buf, r.TotalDuration.Nanoseconds(), 10)
	buf = append(buf, '}')
	if r.TraceID != "" {
		buf = append(buf, `,"trace_id":`...)
		buf = appendString(buf, r.TraceID)
	}
	if r.SpanID != "" {
		buf = append(buf, `,"span_id":`...)
		buf = appendString(buf, r.SpanID)
	}
	if r.Revision != "" {
		buf = append(buf, `,"bundles":{"`+BundleName+`":{"revision":`...)
		buf = appendString(buf, r.Revision)
		buf = append(buf, "}}"...)
	}
	if len(masked) > 0 {
		buf = append(buf, `,"masked":`...)
		buf = appendStrings(buf, masked)
	}
	if r.Status != 0 {
		buf = append(buf, `,"status":`...)
		buf = strconv.AppendInt(buf, int64(r.Status), 10)
	}
	if r.DryRun {
		buf = append(buf, `,"dry_run":true`...)
	}
	if r.Rejected != "" {
		buf = append(buf, `,"rejected":`...)
		buf = appendString(buf, r.Rejected)
	}
	if r.Err != "" {
		buf = append(buf, `,"error":`...)
		buf = appendString(buf, truncate(r.Err, maxErrLen))
	}
	return append(buf, '}'), nil
}

// LogPath turns a rule reference (data.ecsgate.authz.decision) into the path
// of OPA's decision logs (ecsgate/authz/decision). Other strings are kept.
func LogPath(ref string) string {
	p, ok := strings.CutPrefix(ref, "data.")
	if !ok || strings.ContainsAny(p, `["/`) {
		return ref
	}
	return strings.ReplaceAll(p, ".", "/")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the JSON stays valid UTF-8.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// appendInput renders the input with policy.Input's own JSON encoding (the
// one definition of the contract, the document the policy saw), after
// masking: a header whose name says it carries a password, and every secret
// action argument. It returns the JSON pointers of the values it masked.
func appendInput(buf []byte, in *policy.Input) ([]byte, []string) {
	var masked []string
	view := *in
	cloned := false
	for k, v := range in.Request.Headers {
		// Credential headers are redacted in the input already.
		if v == policy.Redacted || !secretKey(k) {
			continue
		}
		if !cloned {
			view.Request.Headers, cloned = maps.Clone(in.Request.Headers), true
		}
		view.Request.Headers[k] = policy.Redacted
		masked = append(masked, "/input/request/headers/"+escapePointer(k))
	}
	slices.Sort(masked)
	if in.Action != nil {
		args, m := appendMaskedJSON(nil, in.Action.Args, "/input/action/args")
		view.Action = &policy.Action{Name: in.Action.Name, Args: args}
		masked = append(masked, m...)
	}
	b, err := json.Marshal(view)
	if err != nil {
		// Only an unencodable argument could cause this, and those are
		// masked whole above; never write a record that cannot be parsed.
		view.Action = &policy.Action{Name: in.Action.Name, Args: json.RawMessage(`"` + policy.Redacted + `"`)}
		b, _ = json.Marshal(view)
		masked = append(masked, "/input/action/args")
	}
	return append(buf, b...), masked
}

// appendDecision mirrors policy.Decision's JSON tags.
func appendDecision(buf []byte, d *policy.Decision) []byte {
	buf = append(buf, `{"allow":`...)
	buf = strconv.AppendBool(buf, d.Allow)
	if len(d.Reasons) > 0 {
		buf = append(buf, `,"reasons":`...)
		buf = appendStrings(buf, d.Reasons)
	}
	if d.Status != 0 {
		buf = append(buf, `,"status":`...)
		buf = strconv.AppendInt(buf, int64(d.Status), 10)
	}
	if len(d.Headers) > 0 {
		buf = append(buf, `,"headers":`...)
		buf = appendStringMap(buf, d.Headers)
	}
	return append(buf, '}')
}

func appendStrings(buf []byte, ss []string) []byte {
	buf = append(buf, '[')
	for i, s := range ss {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, s)
	}
	return append(buf, ']')
}

// appendStringMap writes m with sorted keys; nil is {} (OPA's labels are
// never null).
func appendStringMap(buf []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, k)
		buf = append(buf, ':')
		buf = appendString(buf, m[k])
	}
	return append(buf, '}')
}

// appendMaskedJSON appends raw (arbitrary JSON from the request body),
// compacted onto one line, with every secret value replaced by
// policy.Redacted; it returns the JSON pointers (prefixed with at) it masked.
// Values that cannot be parsed are masked whole: a record never carries bytes
// it could not inspect.
func appendMaskedJSON(buf []byte, raw json.RawMessage, at string) ([]byte, []string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return append(buf, "null"...), nil
	}
	if !mayHoldSecret(raw) && utf8.Valid(raw) {
		b := bytes.NewBuffer(buf)
		if err := json.Compact(b, raw); err == nil {
			return b.Bytes(), nil
		}
		// On error buf[:len(buf)] is intact; what Compact wrote is dropped.
		return appendString(buf, policy.Redacted), []string{at}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return appendString(buf, policy.Redacted), []string{at}
	}
	if _, err := dec.Token(); err != io.EOF {
		return appendString(buf, policy.Redacted), []string{at}
	}
	var masked []string
	v = maskValue(v, at, false, &masked)
	out, err := json.Marshal(v)
	if err != nil {
		return appendString(buf, policy.Redacted), []string{at}
	}
	return append(buf, out...), masked
}
