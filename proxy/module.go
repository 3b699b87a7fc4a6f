// Package proxy is the Caddy glue of ecsgate: the http.handlers.ecs_policy
// module classifies each request, establishes who sends it, asks the policy
// and either hands the request to the next handler (reverse_proxy) with its
// exact bytes or answers the denial itself in the upstream's error format.
package proxy

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/ecsgate/ecsgate/internal/identity"
	"github.com/ecsgate/ecsgate/internal/serverinfo"
	"github.com/ecsgate/ecsgate/policy"
	"github.com/ecsgate/ecsgate/proxy/classify"
	shipped "github.com/ecsgate/ecsgate/rego"
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

	// Watch is how often the policy and data files are checked for changes
	// (default 1s); a saved change is live within that time, and a change
	// that does not compile leaves the last good policy serving. A negative
	// value turns watching off.
	Watch caddy.Duration `json:"watch,omitempty"`

	// Bundle loads the policy and data from an OPA bundle server instead of
	// files. Until the first bundle activates, requests are answered 503.
	Bundle *Bundle `json:"bundle,omitempty"`

	// ServerAPI is the compute API the ecs.server built-in asks, with the
	// caller's own token (normally the reverse_proxy upstream).
	ServerAPI *ServerAPI `json:"server_api,omitempty"`

	// DecisionCache bounds how many decisions of a policy revision are
	// remembered (default 8192); negative turns the cache off. Only
	// revisions that are a function of the input alone are cached
	// (docs/performance.md).
	DecisionCache int `json:"decision_cache,omitempty"`

	// DryRun lists the operations (server.delete) or action names (unlock)
	// decided in shadow mode: the decision is computed, traced and recorded
	// (dry_run: true) but the request is forwarded whatever it says. "*"
	// means every request.
	DryRun []string `json:"dry_run,omitempty"`

	engine         *policy.Engine
	servers        *serverinfo.Client
	metrics        *tracing.Metrics
	classifier     *classify.Classifier
	keystone       *identity.Keystone
	recorder       *tracing.Recorder
	tracerProvider trace.TracerProvider
	shutdownTracer func(context.Context) error
	logger         *zap.Logger
	// identities memoises the policy form of token identities
	// (tokenIdentity); pointers, for the same reason as warnedUnverified.
	identities    *sync.Map
	identityCount *atomic.Int64
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

// Bundle configures an OPA bundle source.
type Bundle struct {
	// URL of the bundle (tar.gz, OPA's bundle format).
	URL string `json:"url,omitempty"`
	// PollingMin and PollingMax bound the wait between downloads (default
	// 60s and 120s, OPA's).
	PollingMin caddy.Duration `json:"polling_min,omitempty"`
	PollingMax caddy.Duration `json:"polling_max,omitempty"`
	// PublicKey is a PEM file: only bundles signed with its private key
	// are activated.
	PublicKey string `json:"public_key,omitempty"`
	// KeyID is the key id the bundle's signature names (default ecsgate).
	KeyID string `json:"key_id,omitempty"`
}

// ServerAPI configures the ecs.server built-in's lookups.
type ServerAPI struct {
	// URL of the compute API, e.g. http://127.0.0.1:8774.
	URL string `json:"url,omitempty"`
	// TTL of a cached answer, per caller and server (default 5s).
	TTL caddy.Duration `json:"ttl,omitempty"`
	// Timeout of one lookup (default 2s).
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// MaxEntries bounds the cache (default 4096).
	MaxEntries int `json:"max_entries,omitempty"`
}

// DefaultWatch is how often policy files are checked for changes.
const DefaultWatch = caddy.Duration(time.Second)

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
	h.identities, h.identityCount = new(sync.Map), new(atomic.Int64)
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

	if h.Watch == 0 {
		h.Watch = DefaultWatch
	}

	var err error
	h.classifier, err = classify.New(classify.Options{MaxMicroversion: h.MaxMicroversion})
	if err != nil {
		return fmt.Errorf("max_microversion: %w", err)
	}
	if h.Keystone != "" {
		h.keystone, err = identity.NewKeystone(identity.KeystoneOptions{BaseURL: h.Keystone})
		if err != nil {
			return fmt.Errorf("keystone: %w", err)
		}
	}
	if err := h.provisionServerAPI(repl); err != nil {
		return err
	}
	if err := h.provisionTelemetry(ctx); err != nil {
		return err
	}
	if err := h.provisionEngine(ctx, repl); err != nil {
		return err
	}
	h.warnUnverifiedSites(ctx)
	h.logger.Info("policy loaded",
		zap.String("decision", h.engine.DecisionPath()),
		zap.String("revision", h.engine.Revision()),
		zap.Bool("token_identity", h.keystone != nil))
	return nil
}

// provisionEngine compiles the policy (or prepares the bundle download) and
// starts keeping it current for as long as this configuration is loaded.
func (h *Handler) provisionEngine(ctx caddy.Context, repl *caddy.Replacer) error {
	decisionPath := h.Decision
	if decisionPath == "" {
		decisionPath = shipped.DefaultDecision
	}
	opts := policy.Options{
		Policies:      h.Policy,
		Data:          h.Data,
		Decision:      h.Decision,
		Timeout:       time.Duration(h.EvalTimeout),
		DecisionCache: h.DecisionCache,
		OnActivate: func(rev string) {
			h.metrics.PolicyActivated(decisionPath, rev)
			h.logger.Info("policy revision active", zap.String("revision", rev))
		},
		OnError: func(err error) {
			h.metrics.PolicyActivationFailed()
			h.logger.Error("policy revision not activated; the last good one keeps serving", zap.Error(err))
		},
	}
	if h.servers != nil {
		opts.ServerLookup = h.lookupServer
	}
	if b := h.Bundle; b != nil {
		opts.Bundle = &policy.BundleOptions{
			URL:       repl.ReplaceKnown(b.URL, ""),
			MinDelay:  time.Duration(b.PollingMin),
			MaxDelay:  time.Duration(b.PollingMax),
			PublicKey: repl.ReplaceKnown(b.PublicKey, ""),
			KeyID:     b.KeyID,
		}
	}
	engine, err := policy.New(ctx, opts)
	if err != nil {
		return err
	}
	h.engine = engine
	watch := time.Duration(h.Watch)
	if watch < 0 {
		watch = 0
	}
	// Downloads and watching run in the background until this configuration
	// is unloaded (ctx ends); `ecsgate validate` ends it at once.
	return engine.Start(ctx, watch)
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
	for _, t := range h.DryRun {
		if !validDryRunTarget(t) {
			return fmt.Errorf("dry_run %q: name an operation (server.delete), an action (unlock) or *", t)
		}
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
