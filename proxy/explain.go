package proxy

import (
	"context"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/ecsgate/ecsgate/internal/identity"
	"github.com/ecsgate/ecsgate/policy"
	"github.com/ecsgate/ecsgate/proxy/classify"
	"github.com/ecsgate/ecsgate/tracing"
)

// InputOptions configures BuildInput: the parts of an ecs_policy
// configuration that shape the input, and what stands in for the network.
type InputOptions struct {
	// DecisionID becomes input.request.id; RemoteIP input.request.remote_ip.
	DecisionID string
	RemoteIP   string
	// MaxBody and MaxMicroversion are the ecs_policy options of the same
	// names (zero: their defaults).
	MaxBody         int64
	MaxMicroversion string
	// Keystone validates a token credential, as the keystone option does;
	// nil leaves token callers without an identity, as the gateway does.
	Keystone *identity.Keystone
	// ReplaceIdentity puts Identity in the input instead of what the
	// request's credential gives. The credential headers are still judged
	// (an ambiguous one is refused) and stripped as the gateway strips them.
	ReplaceIdentity bool
	Identity        *policy.Identity
	// Logger receives what the gateway would log (an unreachable Keystone);
	// nil discards it.
	Logger *zap.Logger
}

// Refusal is the answer the gateway gives without asking the policy, as its
// decision record states it.
type Refusal struct {
	// Reason is the record's "rejected" code (method_override,
	// connection_header, identity, ...).
	Reason string
	// Decision is the record's result: a denial carrying the status and the
	// message the client gets.
	Decision policy.Decision
}

// BuildInput does what ServeHTTP does before it asks the policy, and nothing
// after: the request is put into the form reverse_proxy would forward,
// refused where the gateway would refuse it, classified and identified, and
// the policy input is returned. Nothing is forwarded or recorded. r is
// changed as ServeHTTP changes it (hop-by-hop headers and spoofable identity
// headers removed, the body read and re-framed).
//
// The steps and their order follow Handler.decide; TestBuildInputMatchesServeHTTP
// holds the two to the same inputs and refusals.
func BuildInput(ctx context.Context, r *http.Request, opts InputOptions) (*policy.Input, *Refusal, error) {
	classifier, err := classify.New(classify.Options{MaxMicroversion: opts.MaxMicroversion})
	if err != nil {
		return nil, nil, fmt.Errorf("max_microversion: %w", err)
	}
	h := &Handler{MaxBody: opts.MaxBody, classifier: classifier, keystone: opts.Keystone, logger: opts.Logger}
	if h.MaxBody <= 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.logger == nil {
		h.logger = zap.NewNop()
	}
	// A scratch record: reject fills in what the decision record would say.
	rec := &tracing.Record{DecisionID: opts.DecisionID, RemoteIP: opts.RemoteIP}
	refused := func(in *policy.Input, f *failure, reason string) (*policy.Input, *Refusal, error) {
		h.reject(rec, in, r.Header, f, reason)
		return in, &Refusal{Reason: rec.Rejected, Decision: *rec.Result}, nil
	}

	path := r.URL.EscapedPath()
	in := &policy.Input{Request: policy.Request{
		ID:       opts.DecisionID,
		Method:   r.Method,
		Path:     path,
		Query:    r.URL.RawQuery,
		RemoteIP: opts.RemoteIP,
	}}
	if fail := toForwardedForm(r); fail != nil {
		return refused(in, fail, fail.reason)
	}
	body, fail := h.readBody(r)
	if fail == nil {
		fail = refuseTrailers(r)
	}
	if fail != nil {
		reason := fail.reason
		if reason == "" {
			reason = "body"
		}
		return refused(in, fail, reason)
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
		return refused(in, &failure{status: rej.Status, message: rej.Message}, rej.Reason)
	}
	in.API = policy.API{Family: op.Family, Version: op.Version, Microversion: op.Microversion, Route: op.Route}
	in.Operation = op.Name
	in.ServerIDs = op.ServerIDs
	in.ProjectID = op.ProjectID
	if op.Action != nil {
		in.Action = &policy.Action{Name: op.Action.Name, Args: op.Action.Args}
	}

	caller, _, _, fail := h.identify(ctx, r.Header)
	in.Identity = caller
	if fail != nil {
		return refused(in, fail, fail.reason)
	}
	if opts.ReplaceIdentity {
		in.Identity = opts.Identity
	}
	in.Request.Headers = policy.Headers(r.Header)
	return in, nil, nil
}
