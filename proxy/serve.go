package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ecsgate/ecsgate/internal/identity"
	"github.com/ecsgate/ecsgate/policy"
	"github.com/ecsgate/ecsgate/proxy/classify"
	"github.com/ecsgate/ecsgate/tracing"
)

// ServeHTTP classifies, identifies, decides, records and then forwards or
// answers. Every request gets a decision id, a span and a record, whether it
// is allowed, denied or rejected as malformed.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	decisionID := uuid.NewString()
	w.Header().Set(HeaderDecisionID, decisionID)

	ctx, span := tracing.StartDecision(incomingTraceContext(r), h.tracerProvider)
	rec := &tracing.Record{
		DecisionID: decisionID,
		Path:       h.engine.DecisionPath(),
		Revision:   h.engine.Revision(),
		RemoteIP:   clientIP(r),
		Timestamp:  start,
	}
	op, body, fail := h.decide(ctx, r, rec)
	if fail != nil {
		rec.Status = fail.status
	}
	rec.TotalDuration = time.Since(start)
	tracing.EndDecision(span, rec)

	// The record is handed over before anything is forwarded: a request
	// that cannot be recorded is not forwarded (fail closed).
	if err := h.recorder.Record(rec); err != nil {
		h.logger.Error("decision record refused; failing closed",
			zap.String("decision_id", decisionID), zap.Error(err))
		if fail == nil {
			fail = &failure{status: http.StatusServiceUnavailable, message: "The decision could not be recorded; try again later.",
				family: h.family(op.Family), microversion: op.Microversion}
		}
	}
	if fail != nil {
		fail.write(w)
		return nil
	}

	if !signsTraceContext(r.Header) {
		tracing.Inject(ctx, r.Header)
	}
	decided := newDecidedRequest(r, body, rec.Input, rec.Revision, h)
	fail, err := h.forward(w, withDecided(r, decided), next, h.family(op.Family), op.Microversion)
	if fail != nil {
		h.logger.Error("upstream failed before answering",
			zap.String("decision_id", decisionID), zap.Int("status", fail.status), zap.Error(err))
		fail.write(w)
		return nil
	}
	if !decided.verified.Load() {
		h.warnUnverified()
	}
	return err
}

// warnUnverified says, once per configuration, that requests leave without
// the wire check: nothing then stops a handler after ecs_policy from changing
// what was decided.
func (h *Handler) warnUnverified() {
	if h.warnedUnverified.Swap(true) {
		return
	}
	h.logger.Warn("a request was forwarded without the ecs_verified transport checking it against its decision; " +
		"use `transport ecs_verified` in reverse_proxy (see README, \"Verified at the wire\")")
}

// recordWireRefusal records a request the ecs_verified transport did not
// send: a second record under the same decision id says why.
func (h *Handler) recordWireRefusal(d *decidedRequest, reason, detail string) {
	status := http.StatusInternalServerError
	if reason == "switching_protocols" {
		status = http.StatusBadGateway
	}
	rec := &tracing.Record{
		DecisionID: d.decisionID,
		Path:       h.engine.DecisionPath(),
		Revision:   d.revision,
		Input:      d.input,
		RemoteIP:   d.input.Request.RemoteIP,
		Result:     &policy.Decision{Allow: false, Reasons: []string{detail}, Status: status},
		Status:     status,
		Rejected:   "wire_" + reason,
		Err:        detail,
		ErrKind:    "wire",
	}
	if err := h.recorder.Record(rec); err != nil {
		h.logger.Error("wire refusal could not be recorded", zap.String("decision_id", d.decisionID), zap.Error(err))
	}
	h.logger.Error("request not sent: it differs from what the policy decided",
		zap.String("decision_id", d.decisionID), zap.String("reason", reason), zap.String("detail", detail))
}

// decide runs the four steps and fills rec. A non-nil failure is the answer
// to send instead of forwarding.
func (h *Handler) decide(ctx context.Context, r *http.Request, rec *tracing.Record) (classify.Operation, []byte, *failure) {
	in, op, body, token, fail := h.buildInput(ctx, r, rec)
	if fail != nil {
		return op, nil, fail
	}
	caller := in.Identity

	evalCtx := ctx
	if h.servers != nil {
		project := op.ProjectID
		if caller != nil && caller.Project != nil {
			project = caller.Project.ID
		}
		if c := callerFor(token, &op, project); c != nil {
			evalCtx = withCaller(ctx, c)
		}
	}
	evalStart := time.Now()
	decision, err := h.engine.Decide(evalCtx, in)
	rec.EvalDuration = time.Since(evalStart)
	rec.Result = &decision
	rec.DecisionCached = decision.Cached
	rec.Revision = h.engine.Revision()
	if errors.Is(err, policy.ErrNotReady) {
		// A bundle not yet downloaded: unavailable, never an allow.
		rec.Err, rec.ErrKind = err.Error(), "not_ready"
		return op, nil, &failure{status: http.StatusServiceUnavailable, reason: "policy_not_ready",
			message: "The gateway's policy is not loaded yet; try again later.",
			family:  h.family(op.Family), microversion: op.Microversion}
	}
	if err != nil {
		rec.Err, rec.ErrKind = err.Error(), evaluationErrorKind(err)
		h.logger.Error("policy evaluation failed; denying",
			zap.String("decision_id", rec.DecisionID), zap.Error(err))
	}
	if h.dryRun(&op) {
		// Shadow mode: the decision is kept as made (and says so in the
		// record, span and metric); the request goes on.
		rec.DryRun = true
		return op, body, nil
	}
	if decision.Allow {
		return op, body, nil
	}
	if ce := h.logger.Check(zapcore.InfoLevel, "request denied"); ce != nil {
		ce.Write(zap.String("decision_id", rec.DecisionID), zap.String("operation", op.Name),
			zap.Strings("server_ids", op.ServerIDs), zap.Strings("reasons", decision.Reasons))
	}
	return op, nil, &failure{
		status:       decision.Status,
		message:      denialMessage(decision.Reasons),
		family:       h.family(op.Family),
		microversion: op.Microversion,
		headers:      decision.Headers,
	}
}

// buildInput runs the steps before the policy, in order: the forwarded form,
// the body, classification, identity. It fills rec (the input, a refusal's
// reason, identity timings) and returns the failure to answer instead when
// the request is refused. ecsgate explain (BuildInput) runs the same steps.
func (h *Handler) buildInput(ctx context.Context, r *http.Request, rec *tracing.Record) (*policy.Input, classify.Operation, []byte, string, *failure) {
	// The escaped path is what reverse_proxy forwards, so it is what is
	// classified and what the policy sees.
	path := r.URL.EscapedPath()
	in := &policy.Input{Request: policy.Request{
		ID:       rec.DecisionID,
		Method:   r.Method,
		Path:     path,
		Query:    r.URL.RawQuery,
		RemoteIP: rec.RemoteIP,
	}}
	rec.Input = in

	// Decide on the request as reverse_proxy will send it: the input below
	// and the forwarded request are the same object.
	if fail := toForwardedForm(r); fail != nil {
		fail.family = h.family(familyOfPath(r.URL.Path))
		h.reject(rec, in, r.Header, fail, fail.reason)
		return nil, classify.Operation{}, nil, "", fail
	}
	body, fail := h.readBody(r)
	if fail == nil {
		fail = refuseTrailers(r)
	}
	if fail != nil {
		fail.family = h.family(familyOfPath(r.URL.Path))
		reason := fail.reason
		if reason == "" {
			reason = "body"
		}
		h.reject(rec, in, r.Header, fail, reason)
		return nil, classify.Operation{}, nil, "", fail
	}

	op, err := h.classifier.Classify(&classify.Request{
		Method:   r.Method,
		RawPath:  path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header,
		Body:     body,
	})
	if err != nil {
		rej, ok := err.(*classify.Rejection)
		if !ok {
			rej = &classify.Rejection{Status: http.StatusBadRequest, Message: "The request could not be classified.", Reason: "unclassified"}
		}
		fail := &failure{status: rej.Status, message: rej.Message, family: h.family(rej.Family)}
		h.reject(rec, in, r.Header, fail, rej.Reason)
		return nil, op, nil, "", fail
	}
	in.API = policy.API{Family: op.Family, Version: op.Version, Microversion: op.Microversion, Route: op.Route}
	in.Operation = op.Name
	in.ServerIDs = op.ServerIDs
	in.ProjectID = op.ProjectID
	if op.Action != nil {
		in.Action = &policy.Action{Name: op.Action.Name, Args: op.Action.Args}
	}

	identityStart := time.Now()
	caller, token, cacheHit, fail := h.identify(ctx, r.Header)
	rec.IdentityDuration = time.Since(identityStart)
	rec.IdentityCacheHit = cacheHit
	in.Identity = caller
	if fail != nil {
		fail.family = h.family(op.Family)
		fail.microversion = op.Microversion
		if fail.status >= 500 {
			rec.Err, rec.ErrKind = fail.message, "identity"
		}
		h.reject(rec, in, r.Header, fail, fail.reason)
		return nil, op, nil, "", fail
	}
	in.Request.Headers = policy.Headers(r.Header)
	return in, op, body, token, nil
}

// reject records a request answered before the policy could decide.
func (h *Handler) reject(rec *tracing.Record, in *policy.Input, hdr http.Header, f *failure, reason string) {
	if in.Request.Headers == nil {
		in.Request.Headers = policy.Headers(hdr)
	}
	rec.Rejected = reason
	rec.Result = &policy.Decision{Allow: false, Reasons: []string{f.message}, Status: f.status}
	if ce := h.logger.Check(zapcore.InfoLevel, "request rejected"); ce != nil {
		ce.Write(zap.String("decision_id", rec.DecisionID), zap.String("method", in.Request.Method),
			zap.Int("status", f.status), zap.String("reason", reason), zap.String("message", f.message))
	}
}

func evaluationErrorKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, policy.ErrInvalidDecision):
		return "invalid_decision"
	default:
		return "evaluation"
	}
}

// incomingTraceContext continues the caller's trace when Caddy's tracing
// handler has not already done so: the decision span (or, with tracing off,
// the record) then carries the caller's trace id.
func incomingTraceContext(r *http.Request) context.Context {
	ctx := r.Context()
	if _, ok := r.Header["Traceparent"]; !ok || trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return tracing.Propagator().Extract(ctx, propagation.HeaderCarrier(r.Header))
}

// signsTraceContext reports whether an AK/SK signature covers the trace
// headers: re-injecting them would break the signature upstream.
func signsTraceContext(h http.Header) bool {
	authz := h.Get("Authorization")
	return authz != "" && (strings.Contains(authz, "traceparent") || strings.Contains(authz, "tracestate") || strings.Contains(authz, "baggage"))
}

// readBody buffers the whole body, up to MaxBody, so the classifier sees
// exactly the bytes the upstream will get, and re-frames the request with an
// explicit Content-Length: a chunked request would let Nova's action
// extraction and its controller read different bodies.
func (h *Handler) readBody(r *http.Request) ([]byte, *failure) {
	if r.ContentLength > h.MaxBody {
		return nil, h.tooLarge()
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		if r.ContentLength >= 0 && r.ContentLength <= exactReadMax {
			// Server actions are tens of bytes: one buffer of the declared
			// size instead of io.ReadAll's 512 bytes and growth.
			body, err = readExactly(r.Body, r.ContentLength)
		} else {
			body, err = io.ReadAll(io.LimitReader(r.Body, h.MaxBody+1))
		}
		if err != nil {
			var maxErr *http.MaxBytesError
			switch {
			case errors.As(err, &maxErr):
				return nil, h.tooLarge()
			case errors.Is(err, errLengthMismatch):
				return nil, &failure{status: http.StatusBadRequest, message: "The request body is shorter than its Content-Length."}
			}
			return nil, &failure{status: http.StatusBadRequest, message: "The request body could not be read completely."}
		}
		if int64(len(body)) > h.MaxBody {
			return nil, h.tooLarge()
		}
		if r.ContentLength >= 0 && int64(len(body)) != r.ContentLength {
			return nil, &failure{status: http.StatusBadRequest, message: "The request body is shorter than its Content-Length."}
		}
	}
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	r.ContentLength = int64(len(body))
	// The header says what the wire will: net/http writes Content-Length
	// from r.ContentLength, whatever the header map holds.
	if len(body) > 0 {
		r.Header["Content-Length"] = []string{strconv.Itoa(len(body))}
	} else {
		delete(r.Header, "Content-Length")
	}
	if len(body) == 0 {
		r.Body = http.NoBody
		r.GetBody = noBody
		return body, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, nil
}

// exactReadMax bounds the buffer allocated up front from a declared
// Content-Length; larger bodies grow as their bytes arrive, so a client
// cannot make the gateway reserve max_body by declaring it and sending nothing.
const exactReadMax = 4096

var errLengthMismatch = errors.New("body length differs from Content-Length")

// readExactly reads a body of exactly n bytes.
func readExactly(r io.Reader, n int64) ([]byte, error) {
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, errLengthMismatch
		}
		return nil, err
	}
	var probe [1]byte
	if m, _ := r.Read(probe[:]); m > 0 {
		return nil, errLengthMismatch
	}
	return body, nil
}

func noBody() (io.ReadCloser, error) { return http.NoBody, nil }

// tooLarge is the 413 answer, built only when needed.
func (h *Handler) tooLarge() *failure {
	return &failure{
		status:  http.StatusRequestEntityTooLarge,
		message: fmt.Sprintf("Request is too large. Larger than max_request_body_size (%d).", h.MaxBody),
	}
}

// identify establishes the caller from the one credential the upstream would
// use (identity.SelectCredential): a token validated against Keystone, or an
// AK/SK Authorization header (parsed, never verified here: the upstream's API
// gateway holds the secret key). Identity headers a client could forge are
// stripped before policy or upstream see them.
// It returns the validated token too, for lookups made as the caller.
func (h *Handler) identify(ctx context.Context, hdr http.Header) (*policy.Identity, string, bool, *failure) {
	cred, err := identity.SelectCredential(hdr)
	if err != nil {
		identity.StripSpoofable(hdr, false)
		fail := &failure{status: http.StatusBadRequest, message: "The request's credentials are ambiguous.", reason: "credentials"}
		var ce *identity.CredentialError
		if errors.As(err, &ce) {
			fail.message, fail.reason = ce.Message, ce.Reason
		}
		return nil, "", false, fail
	}
	switch cred.Kind {
	case identity.CredentialAKSK:
		sig, err := identity.ParseSDKHMAC(cred.Authorization)
		keepProject := err == nil && sig.Signs("x-project-id")
		identity.StripSpoofable(hdr, keepProject)
		if err != nil {
			return nil, "", false, &failure{status: http.StatusBadRequest, reason: "authorization",
				message: "Malformed Authorization header: only SDK-HMAC-SHA256 signatures are accepted."}
		}
		id := policyIdentity(identity.AKSKIdentity(sig))
		if keepProject {
			id.Project = &policy.Scope{ID: hdr.Get("X-Project-Id")}
			id.Scope = &policy.IdentityScope{Type: policy.ScopeProject, Project: id.Project}
		}
		return id.Seal(), "", false, nil
	case identity.CredentialToken:
		identity.StripSpoofable(hdr, false)
		if h.keystone == nil {
			return nil, "", false, nil
		}
		id, cacheHit, err := h.keystone.Validate(ctx, cred.Token)
		if err != nil {
			h.logger.Warn("identity service unavailable; denying", zap.Error(err))
			return nil, "", false, &failure{status: http.StatusServiceUnavailable, reason: "identity",
				message: "The identity service is temporarily unavailable."}
		}
		if id == nil {
			return nil, "", cacheHit, nil
		}
		return h.tokenIdentity(id), cred.Token, cacheHit, nil
	}
	identity.StripSpoofable(hdr, false)
	return nil, "", false, nil
}

func policyIdentity(id *identity.Identity) *policy.Identity {
	if id == nil {
		return nil
	}
	out := &policy.Identity{
		Method: id.Method,
		User: policy.Scope{ID: id.User.ID, Name: id.User.Name,
			Domain: policy.Ref{ID: id.User.Domain.ID, Name: id.User.Domain.Name}},
		Roles:     id.Roles,
		ExpiresAt: id.ExpiresAt,
		AccessKey: id.AccessKey,
	}
	out.AuthMethods = id.AuthMethods
	switch {
	case id.Project.ID != "":
		out.Project = &policy.Scope{ID: id.Project.ID, Name: id.Project.Name,
			Domain: policy.Ref{ID: id.Project.Domain.ID, Name: id.Project.Domain.Name}}
		out.Scope = &policy.IdentityScope{Type: policy.ScopeProject, Project: out.Project}
	case id.DomainScope.ID != "":
		out.Scope = &policy.IdentityScope{Type: policy.ScopeDomain,
			Domain: &policy.Ref{ID: id.DomainScope.ID, Name: id.DomainScope.Name}}
	case id.System:
		out.Scope = &policy.IdentityScope{Type: policy.ScopeSystem, System: "all"}
	default:
		out.Scope = &policy.IdentityScope{Type: policy.ScopeUnscoped}
	}
	return out
}

func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// family chooses the error body: the configured format, or the route's own
// when error_format is auto.
func (h *Handler) family(routeFamily string) string {
	if h.ErrorFormat == FormatNova || h.ErrorFormat == FormatECS {
		return h.ErrorFormat
	}
	if routeFamily == FormatECS {
		return FormatECS
	}
	return FormatNova
}

// familyOfPath guesses the route family before classification (for body
// errors): Huawei native routes all live under .../cloudservers.
func familyOfPath(path string) string {
	if strings.HasPrefix(path, "/v1/") || strings.HasPrefix(path, "/v1.1/") || strings.Contains(path, "/cloudservers") {
		return FormatECS
	}
	return FormatNova
}
