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
// It runs Handler.buildInput, the steps ServeHTTP runs before the policy;
// TestBuildInputMatchesServeHTTP holds the two to the same inputs and
// refusals.
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
	// A scratch record: buildInput fills in what the decision record would
	// say.
	rec := &tracing.Record{DecisionID: opts.DecisionID, RemoteIP: opts.RemoteIP}
	in, _, _, _, fail := h.buildInput(ctx, r, rec)
	if fail != nil {
		return rec.Input, &Refusal{Reason: rec.Rejected, Decision: *rec.Result}, nil
	}
	if opts.ReplaceIdentity {
		in.Identity = opts.Identity
	}
	return in, nil, nil
}
