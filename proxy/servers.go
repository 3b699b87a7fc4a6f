package proxy

import (
	"context"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/ecsgate/ecsgate/internal/identity"
	"github.com/ecsgate/ecsgate/internal/serverinfo"
	"github.com/ecsgate/ecsgate/policy"
	"github.com/ecsgate/ecsgate/proxy/classify"
)

// provisionServerAPI builds the client behind the ecs.server built-in.
func (h *Handler) provisionServerAPI(repl *caddy.Replacer) error {
	if h.ServerAPI == nil {
		return nil
	}
	c, err := serverinfo.New(serverinfo.Options{
		BaseURL:      repl.ReplaceKnown(h.ServerAPI.URL, ""),
		TTL:          time.Duration(h.ServerAPI.TTL),
		Timeout:      time.Duration(h.ServerAPI.Timeout),
		MaxEntries:   h.ServerAPI.MaxEntries,
		Microversion: h.classifier.AtMost(serverinfo.DefaultMicroversion),
	})
	if err != nil {
		return err
	}
	h.servers = c
	return nil
}

type callerKey struct{}

// withCaller lets the ecs.server built-in ask the compute API as the
// caller of the request being decided.
func withCaller(ctx context.Context, c *serverinfo.Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// lookupServer is the policy engine's ServerLookup.
func (h *Handler) lookupServer(ctx context.Context, id string) (map[string]any, error) {
	caller, _ := ctx.Value(callerKey{}).(*serverinfo.Caller)
	if caller == nil {
		return nil, serverinfo.ErrNoCredential
	}
	s, err := h.servers.Server(ctx, *caller, id)
	if err != nil {
		h.logger.Warn("ecs.server lookup failed; the rule that needs it fails", zap.String("server_id", id), zap.Error(err))
	}
	return s, err
}

// callerFor describes the caller for server lookups: only a token caller can
// be looked up for (the gateway cannot sign an AK/SK request of its own).
func callerFor(token string, op *classify.Operation, projectID string) *serverinfo.Caller {
	if token == "" {
		return nil
	}
	return &serverinfo.Caller{Token: token, ProjectID: projectID, Native: op.Family == classify.FamilyECS}
}

// dryRun reports whether the decision for op is a shadow decision.
func (h *Handler) dryRun(op *classify.Operation) bool {
	for _, s := range h.DryRun {
		if s == "*" || s == op.Name || (op.Action != nil && s == op.Action.Name) {
			return true
		}
	}
	return false
}

// dryRunTarget is what a dry_run argument may name.
func validDryRunTarget(s string) bool {
	return s == "*" || strings.TrimSpace(s) == s && s != ""
}

// tokenIdentity converts a validated token's identity for the policy, once
// per identity: the Keystone cache hands out the same *identity.Identity for
// every request a token makes while it is cached, so its policy form (and
// that form's OPA value, see policy.Identity.Seal) is built once too. The
// memo is cleared when it outgrows maxIdentityMemo, which bounds what
// identities the Keystone cache has already dropped can hold on to.
func (h *Handler) tokenIdentity(id *identity.Identity) *policy.Identity {
	if id == nil {
		return nil
	}
	if h.identities == nil { // a Handler used without Provision (explain)
		return policyIdentity(id)
	}
	if v, ok := h.identities.Load(id); ok {
		return v.(*policy.Identity)
	}
	p := policyIdentity(id).Seal()
	if h.identityCount.Add(1) > maxIdentityMemo {
		h.identities.Clear()
		h.identityCount.Store(1)
	}
	h.identities.Store(id, p)
	return p
}

const maxIdentityMemo = 8192
