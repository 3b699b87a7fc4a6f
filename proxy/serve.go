package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/google/uuid"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ecsgate/ecsgate/internal/identity"
	"github.com/ecsgate/ecsgate/policy"
	"github.com/ecsgate/ecsgate/proxy/classify"
)

// ServeHTTP classifies, identifies, decides and then forwards or answers.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	decisionID := uuid.NewString()
	w.Header().Set(HeaderDecisionID, decisionID)

	body, fail := h.readBody(r)
	if fail != nil {
		fail.family = h.family(familyOfPath(r.URL.Path))
		h.logRejection(r, decisionID, fail, "body")
		fail.write(w)
		return nil
	}

	op, err := h.classifier.Classify(&classify.Request{
		Method:   r.Method,
		RawPath:  r.URL.EscapedPath(),
		RawQuery: r.URL.RawQuery,
		Header:   r.Header,
		Body:     body,
	})
	if err != nil {
		var rej *classify.Rejection
		if !errors.As(err, &rej) {
			rej = &classify.Rejection{Status: http.StatusBadRequest, Message: "The request could not be classified.", Reason: "unclassified"}
		}
		fail := &failure{status: rej.Status, message: rej.Message, family: h.family(rej.Family)}
		h.logRejection(r, decisionID, fail, rej.Reason)
		fail.write(w)
		return nil
	}

	caller, fail := h.identify(r.Context(), r.Header)
	if fail != nil {
		fail.family = h.family(op.Family)
		fail.microversion = op.Microversion
		h.logRejection(r, decisionID, fail, "identity")
		fail.write(w)
		return nil
	}

	in := h.input(r, decisionID, &op, caller)
	decision, err := h.engine.Decide(r.Context(), in)
	if err != nil {
		h.logger.Error("policy evaluation failed; denying",
			zap.String("decision_id", decisionID), zap.Error(err))
	}
	for k, v := range decision.Headers {
		w.Header().Set(k, v)
	}
	if !decision.Allow {
		fail := &failure{
			status:       decision.Status,
			message:      denialMessage(decision.Reasons),
			family:       h.family(op.Family),
			microversion: op.Microversion,
		}
		if ce := h.logger.Check(zapcore.InfoLevel, "request denied"); ce != nil {
			ce.Write(zap.String("decision_id", decisionID), zap.String("operation", op.Name),
				zap.Strings("server_ids", op.ServerIDs), zap.Strings("reasons", decision.Reasons))
		}
		fail.write(w)
		return nil
	}
	fail, err = h.forward(w, r, next, h.family(op.Family), op.Microversion)
	if fail != nil {
		h.logger.Error("upstream failed before answering",
			zap.String("decision_id", decisionID), zap.Int("status", fail.status), zap.Error(err))
		fail.write(w)
		return nil
	}
	return err
}

// readBody buffers the whole body, up to MaxBody, so the classifier sees
// exactly the bytes the upstream will get, and re-frames the request with an
// explicit Content-Length: a chunked request would let Nova's action
// extraction and its controller read different bodies.
func (h *Handler) readBody(r *http.Request) ([]byte, *failure) {
	tooLarge := &failure{
		status:  http.StatusRequestEntityTooLarge,
		message: fmt.Sprintf("Request is too large. Larger than max_request_body_size (%d).", h.MaxBody),
	}
	if r.ContentLength > h.MaxBody {
		return nil, tooLarge
	}
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, h.MaxBody+1))
		if err != nil {
			var maxErr *http.MaxBytesError
			if errors.As(err, &maxErr) {
				return nil, tooLarge
			}
			return nil, &failure{status: http.StatusBadRequest, message: "The request body could not be read completely."}
		}
		if int64(len(body)) > h.MaxBody {
			return nil, tooLarge
		}
		if r.ContentLength >= 0 && int64(len(body)) != r.ContentLength {
			return nil, &failure{status: http.StatusBadRequest, message: "The request body is shorter than its Content-Length."}
		}
	}
	r.TransferEncoding = nil
	r.Header.Del("Transfer-Encoding")
	r.ContentLength = int64(len(body))
	if len(body) == 0 {
		r.Body = http.NoBody
		r.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return body, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, nil
}

// identify establishes the caller from an X-Auth-Token (validated against
// Keystone) or an AK/SK Authorization header (parsed, never verified here: the
// upstream's API gateway holds the secret key). Identity headers a client
// could forge are stripped before policy or upstream see them.
func (h *Handler) identify(ctx context.Context, hdr http.Header) (*policy.Identity, *failure) {
	token, _, err := identity.TokenFromHeader(hdr)
	if err != nil {
		identity.StripSpoofable(hdr, false)
		return nil, &failure{status: http.StatusBadRequest, message: "Send exactly one X-Auth-Token header."}
	}
	authz := hdr.Get("Authorization")
	if token != "" && authz != "" {
		identity.StripSpoofable(hdr, false)
		return nil, &failure{status: http.StatusBadRequest, message: "Send either X-Auth-Token or an Authorization signature, not both."}
	}
	if authz != "" {
		sig, err := identity.ParseSDKHMAC(authz)
		keepProject := err == nil && sig.Signs("x-project-id")
		identity.StripSpoofable(hdr, keepProject)
		if err != nil {
			return nil, &failure{status: http.StatusBadRequest, message: "Malformed Authorization header: only SDK-HMAC-SHA256 signatures are accepted."}
		}
		id := policyIdentity(identity.AKSKIdentity(sig))
		if keepProject {
			id.Project = &policy.Scope{ID: hdr.Get("X-Project-Id")}
		}
		return id, nil
	}
	identity.StripSpoofable(hdr, false)
	if token == "" || h.keystone == nil {
		return nil, nil
	}
	id, _, err := h.keystone.Validate(ctx, token)
	if err != nil {
		h.logger.Warn("identity service unavailable; denying", zap.Error(err))
		return nil, &failure{status: http.StatusServiceUnavailable, message: "The identity service is temporarily unavailable."}
	}
	return policyIdentity(id), nil
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
	if id.Project.ID != "" {
		out.Project = &policy.Scope{ID: id.Project.ID, Name: id.Project.Name,
			Domain: policy.Ref{ID: id.Project.Domain.ID, Name: id.Project.Domain.Name}}
	}
	return out
}

func (h *Handler) input(r *http.Request, decisionID string, op *classify.Operation, caller *policy.Identity) *policy.Input {
	in := &policy.Input{
		Request: policy.Request{
			ID:       decisionID,
			Method:   r.Method,
			Path:     r.URL.EscapedPath(),
			Query:    r.URL.RawQuery,
			Headers:  policy.Headers(r.Header),
			RemoteIP: clientIP(r),
		},
		API: policy.API{
			Family:       op.Family,
			Version:      op.Version,
			Microversion: op.Microversion,
			Route:        op.Route,
		},
		Operation: op.Name,
		ServerIDs: op.ServerIDs,
		ProjectID: op.ProjectID,
		Identity:  caller,
	}
	if op.Action != nil {
		in.Action = &policy.Action{Name: op.Action.Name, Args: op.Action.Args}
	}
	return in
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

func (h *Handler) logRejection(r *http.Request, decisionID string, f *failure, reason string) {
	if ce := h.logger.Check(zapcore.InfoLevel, "request rejected"); ce != nil {
		ce.Write(zap.String("decision_id", decisionID), zap.String("method", r.Method),
			zap.Int("status", f.status), zap.String("reason", reason), zap.String("message", f.message))
	}
}
