// Package proxy is the Caddy glue of ecsgate: the http.handlers.ecs_policy
// module classifies each request, establishes who sends it, asks the policy
// and either hands the request to the next handler (reverse_proxy) with its
// exact bytes or answers the denial itself in the upstream's error format.
package proxy

import (
	"context"
	"fmt"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/ecsgate/ecsgate/internal/identity"
	"github.com/ecsgate/ecsgate/policy"
	"github.com/ecsgate/ecsgate/proxy/classify"
	"github.com/ecsgate/ecsgate/tracing"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// DefaultMaxBody is Nova's default max_request_body_size.
const DefaultMaxBody = 114688

// Error formats for the error_format option.
const (
	FormatAuto = "auto"
	FormatNova = "nova"
	FormatECS  = "ecs"
)

// Handler enforces Rego policy on requests to an ECS / Nova compute API.
type Handler struct {
	// Policy lists .rego files or directories. Empty means the policy
	// shipped in the binary (rego/ecsgate/authz.rego).
	Policy []string `json:"policy,omitempty"`

	// Data lists JSON or YAML documents loaded under `data`.
	Data []string `json:"data,omitempty"`

	// Decision is the rule evaluated for each request. Default:
	// data.ecsgate.authz.decision. It may be a boolean or an object
	// {allow, reasons, status, headers}.
	Decision string `json:"decision,omitempty"`

	// MaxBody caps the request body in bytes (413 beyond). Default 114688,
	// Nova's own limit.
	MaxBody int64 `json:"max_body,omitempty"`

	// Keystone is the Keystone / IAM v3 base URL (e.g.
	// http://127.0.0.1:5000/v3). When set, X-Auth-Token is validated
	// against it; when empty, token callers have no identity.
	Keystone string `json:"keystone,omitempty"`

	// ErrorFormat selects the error body: "nova" (Nova faults), "ecs"
	// (Huawei {"error": {"code": "Ecs.xxxx"}}) or "auto" (default: by route).
	ErrorFormat string `json:"error_format,omitempty"`

	// EvalTimeout bounds one policy evaluation (default 100ms); past it the
	// request is denied.
	EvalTimeout caddy.Duration `json:"eval_timeout,omitempty"`

	// MaxMicroversion is what "latest" resolves to (default 2.93, Nova Zed;
	// Huawei documents 2.60).
	MaxMicroversion string `json:"max_microversion,omitempty"`

	// Tracing exports decision spans with a provider built from the standard
	// OTEL_* environment when Caddy's own tracing handler is not in the
	// route. With Caddy's tracing, its provider records the spans anyway.
	Tracing bool `json:"tracing,omitempty"`

	// DecisionLog writes one record per decision, in OPA's decision-log
	// format, to a local JSON-lines file rotated by size.
	DecisionLog *DecisionLog `json:"decision_log,omitempty"`

	// DecisionLogService sends the records to a remote OPA decision-log
	// service (OPA's decision_logs plugin) at this URL.
	DecisionLogService string `json:"decision_log_service,omitempty"`

	engine         *policy.Engine
	classifier     *classify.Classifier
	keystone       *identity.Keystone
	recorder       *tracing.Recorder
	tracerProvider trace.TracerProvider
	shutdownTracer func(context.Context) error
	logger         *zap.Logger
	// warnedUnverified is a pointer: Handler is copied by value as a
	// module value (CaddyModule), which must not copy a lock.
	warnedUnverified *atomic.Bool
}

// DecisionLog configures the local decision-record file.
type DecisionLog struct {
	// Path of the JSON-lines file.
	Path string `json:"path,omitempty"`
	// RollSizeMB rotates the file past this size (default 100).
	RollSizeMB int `json:"roll_size_mb,omitempty"`
	// RollKeep is how many rotated files to keep (default: all).
	RollKeep int `json:"roll_keep,omitempty"`
	// RollKeepDays deletes rotated files older than this (default: never).
	RollKeepDays int `json:"roll_keep_days,omitempty"`
	// QueueSize bounds the records waiting for the writer (default 4096).
	QueueSize int `json:"queue_size,omitempty"`
	// MaxWait is how long a request waits for room in a full queue before
	// it is answered 503 rather than forwarded unrecorded (default 2s).
	MaxWait caddy.Duration `json:"max_wait,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.ecs_policy",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision compiles the policy and builds the classifier and identity
// client. It does no network I/O, so `ecsgate validate` stays offline.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.warnedUnverified = new(atomic.Bool)
	repl := caddy.NewReplacer()
	for i := range h.Policy {
		h.Policy[i] = repl.ReplaceKnown(h.Policy[i], "")
	}
	for i := range h.Data {
		h.Data[i] = repl.ReplaceKnown(h.Data[i], "")
	}
	h.Keystone = repl.ReplaceKnown(h.Keystone, "")
	if h.MaxBody == 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.ErrorFormat == "" {
		h.ErrorFormat = FormatAuto
	}

	var err error
	h.classifier, err = classify.New(classify.Options{MaxMicroversion: h.MaxMicroversion})
	if err != nil {
		return fmt.Errorf("max_microversion: %w", err)
	}
	h.engine, err = policy.New(ctx, policy.Options{
		Policies: h.Policy,
		Data:     h.Data,
		Decision: h.Decision,
		Timeout:  time.Duration(h.EvalTimeout),
	})
	if err != nil {
		return err
	}
	if h.Keystone != "" {
		h.keystone, err = identity.NewKeystone(identity.KeystoneOptions{BaseURL: h.Keystone})
		if err != nil {
			return fmt.Errorf("keystone: %w", err)
		}
	}
	if err := h.provisionTelemetry(ctx); err != nil {
		return err
	}
	h.warnUnverifiedSites(ctx)
	h.logger.Info("policy loaded",
		zap.String("decision", h.engine.DecisionPath()),
		zap.String("revision", h.engine.Revision()),
		zap.Bool("token_identity", h.keystone != nil))
	return nil
}

// Validate checks the configuration after provisioning.
func (h *Handler) Validate() error {
	switch h.ErrorFormat {
	case FormatAuto, FormatNova, FormatECS:
	default:
		return fmt.Errorf("error_format %q: must be auto, nova or ecs", h.ErrorFormat)
	}
	if h.MaxBody < 0 {
		return fmt.Errorf("max_body %d: must be positive", h.MaxBody)
	}
	if h.EvalTimeout < 0 {
		return fmt.Errorf("eval_timeout %s: must be positive", time.Duration(h.EvalTimeout))
	}
	if h.DecisionLog != nil && h.DecisionLog.Path == "" {
		return fmt.Errorf("decision_log: a file path is required")
	}
	if h.Keystone != "" {
		u, err := url.Parse(h.Keystone)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("keystone %q: must be an http(s) URL such as http://127.0.0.1:5000/v3", h.Keystone)
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
