package tracing

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName is the instrumentation scope of ecsgate's spans.
const ScopeName = "github.com/ecsgate/ecsgate/tracing"

// SpanName is the name of the decision span.
const SpanName = "ecs_policy.decide"

// Attributes of the decision span beyond the semantic conventions (user.id,
// user.name, user.roles, http.request.method, http.route,
// http.response.status_code, error.type). Action arguments are never
// recorded on spans.
const (
	AttrDecisionID       = attribute.Key("ecsgate.decision.id")
	AttrAllow            = attribute.Key("ecsgate.decision.allow")
	AttrResult           = attribute.Key("ecsgate.decision.result") // allow, deny, reject or error
	AttrReasons          = attribute.Key("ecsgate.decision.reasons")
	AttrOperation        = attribute.Key("ecsgate.operation")
	AttrActionName       = attribute.Key("ecsgate.action.name")
	AttrServerIDs        = attribute.Key("ecsgate.server.ids") // at most MaxSpanServerIDs
	AttrServerCount      = attribute.Key("ecsgate.server.count")
	AttrProjectID        = attribute.Key("ecsgate.project.id")          // the project the request addresses
	AttrIdentityProject  = attribute.Key("ecsgate.identity.project.id") // the project the caller is scoped to
	AttrIdentityMethod   = attribute.Key("ecsgate.identity.method")
	AttrIdentityCacheHit = attribute.Key("ecsgate.identity.cache_hit")
	AttrIdentityDuration = attribute.Key("ecsgate.identity.duration") // seconds
	AttrPolicyPath       = attribute.Key("ecsgate.policy.path")
	AttrPolicyRevision   = attribute.Key("ecsgate.policy.revision")
	AttrEvalDuration     = attribute.Key("ecsgate.policy.evaluation.duration") // seconds
	AttrRejected         = attribute.Key("ecsgate.rejected")
	// AttrDryRun marks a shadow decision (the request was forwarded).
	AttrDryRun = attribute.Key("ecsgate.dry_run")
	// AttrDecisionCached marks a decision taken from the decision cache.
	AttrDecisionCached = attribute.Key("ecsgate.decision.cached")
	AttrRequestID      = attribute.Key("ecsgate.request.id")
	AttrAPIFamily      = attribute.Key("ecsgate.api.family")
)

// MaxSpanServerIDs caps ecsgate.server.ids: a batch may name a thousand
// servers, a span should not carry them all (the record does).
const MaxSpanServerIDs = 64

// StartDecision starts the decision span. Its parent is the span in ctx and
// its provider that span's provider, when ctx carries a valid local span (the
// span of Caddy's tracing handler); otherwise fallback (the handler's own
// provider, parenting on a remote span context if ctx has one). With neither,
// the span is a no-op and costs nothing.
func StartDecision(ctx context.Context, fallback trace.TracerProvider) (context.Context, trace.Span) {
	tp := fallback
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() && !sc.IsRemote() {
		tp = trace.SpanFromContext(ctx).TracerProvider()
	} else if tp == nil {
		if !sc.IsValid() {
			// Nothing to parent on, nothing to record: no allocation.
			return ctx, trace.SpanFromContext(ctx)
		}
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)).
		Start(ctx, SpanName, trace.WithSpanKind(trace.SpanKindInternal))
}

// EndDecision records rec on span and ends it. It fills rec.TraceID and
// rec.SpanID when the span context is valid. The status is Error only when
// rec.Err is set (an identity or evaluation failure); a denial or a
// rejection is an outcome, not an error. On a span that is not recording no
// attribute is built.
func EndDecision(span trace.Span, rec *Record) {
	if rec == nil {
		span.End()
		return
	}
	if sc := span.SpanContext(); sc.IsValid() {
		rec.TraceID = sc.TraceID().String()
		rec.SpanID = sc.SpanID().String()
	}
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(decisionAttributes(rec)...)
	if rec.Err != "" {
		span.RecordError(errors.New(truncate(rec.Err, maxErrLen)))
		span.SetStatus(codes.Error, truncate(rec.Err, maxErrLen))
	}
	span.End()
}

func decisionAttributes(rec *Record) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 28)
	add := func(k attribute.Key, v string) {
		if v != "" {
			attrs = append(attrs, k.String(v))
		}
	}
	add(AttrDecisionID, rec.DecisionID)
	result := Result(rec)
	attrs = append(attrs, AttrResult.String(result))
	if r := rec.Result; r != nil {
		attrs = append(attrs, AttrAllow.Bool(r.Allow))
		if len(r.Reasons) > 0 {
			attrs = append(attrs, AttrReasons.StringSlice(r.Reasons))
		}
	}
	if rec.DryRun {
		attrs = append(attrs, AttrDryRun.Bool(true))
	}
	if rec.DecisionCached {
		attrs = append(attrs, AttrDecisionCached.Bool(true))
	}
	add(AttrPolicyPath, rec.Path)
	add(AttrPolicyRevision, rec.Revision)
	add(AttrRejected, rec.Rejected)
	if rec.Status != 0 {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(rec.Status))
	}
	if rec.EvalDuration > 0 {
		attrs = append(attrs, AttrEvalDuration.Float64(rec.EvalDuration.Seconds()))
	}
	if rec.IdentityDuration > 0 || rec.IdentityCacheHit {
		attrs = append(attrs,
			AttrIdentityCacheHit.Bool(rec.IdentityCacheHit),
			AttrIdentityDuration.Float64(rec.IdentityDuration.Seconds()))
	}
	if rec.Err != "" {
		if rec.ErrKind != "" {
			attrs = append(attrs, semconv.ErrorTypeKey.String(rec.ErrKind))
		} else {
			attrs = append(attrs, semconv.ErrorTypeOther)
		}
	}
	in := rec.Input
	if in == nil {
		return attrs
	}
	add(AttrRequestID, in.Request.ID)
	add(semconv.HTTPRequestMethodKey, in.Request.Method)
	add(semconv.HTTPRouteKey, in.API.Route)
	add(AttrAPIFamily, in.API.Family)
	add(AttrOperation, in.Operation)
	if in.Action != nil {
		add(AttrActionName, in.Action.Name)
	}
	if n := len(in.ServerIDs); n > 0 {
		ids := in.ServerIDs
		if n > MaxSpanServerIDs {
			ids = ids[:MaxSpanServerIDs]
		}
		attrs = append(attrs, AttrServerIDs.StringSlice(ids), AttrServerCount.Int(n))
	}
	add(AttrProjectID, in.ProjectID)
	if id := in.Identity; id != nil {
		add(AttrIdentityMethod, id.Method)
		add(semconv.UserIDKey, id.User.ID)
		add(semconv.UserNameKey, id.User.Name)
		if len(id.Roles) > 0 {
			attrs = append(attrs, semconv.UserRolesKey.StringSlice(id.Roles))
		}
		if id.Project != nil {
			add(AttrIdentityProject, id.Project.ID)
		}
	}
	return attrs
}
