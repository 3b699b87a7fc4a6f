// Package tracing gives every ecs_policy decision an OpenTelemetry span, a
// decision record and metrics, and loses none of the records it accepts.
//
// # Spans
//
// StartDecision starts the span "ecs_policy.decide". When the request context
// carries the span of Caddy's tracing handler, the decision span is its child
// and is recorded by that span's provider (Caddy installs no global provider,
// so otel.Tracer would not record). Otherwise the handler's own provider
// (NewProvider, built from the OTEL_* environment with autoexport) records it
// standalone. EndDecision sets the attributes (semconv user.*, http.* and
// error.type where they apply, ecsgate.* otherwise: see the Attr constants),
// sets status Error only for identity or evaluation failures (a denial or a
// rejection is an outcome), and copies the trace and span ids into the record.
// On a span that is not recording, no attribute is built. Action arguments,
// tokens and signatures never become attributes. Inject writes the trace
// context into the upstream request's headers with autoprop's propagator.
//
// # Records
//
// A Record marshals (Record.MarshalJSON) to an event in OPA's decision-log
// format: decision_id, labels {id, version, app}, path
// ("ecsgate/authz/decision"), input, result, requested_by (the caller's IP),
// timestamp (RFC 3339, nanoseconds, UTC), metrics (timer_rego_query_eval_ns,
// timer_ecsgate_identity_ns, timer_ecsgate_total_ns), trace_id, span_id,
// bundles {"ecsgate": {"revision"}}, masked, and ecsgate's own status (the
// HTTP status returned), rejected (the classifier's reason code; the input is
// then partial) and error (the identity or evaluation error).
//
// The input is the document the policy saw, headers already redacted by the
// classifier. Marshalling also masks, at any depth of the action arguments,
// the values of adminPass / adminpass / admin_pass, user_data, personality
// file contents and every key containing "password" (and any header whose
// name contains "password"), replacing them with "[REDACTED]" and listing
// their JSON pointers in "masked", as OPA's mask policy does. Arguments that
// cannot be parsed are masked whole.
//
// A record is marshalled on the sink's writer goroutine, not on the request:
// the caller hands the Record, its Input and everything they point to over to
// the sinks and must not modify or reuse them afterwards.
//
// # Sinks and backpressure
//
// A Recorder counts each decision in the Metrics and enqueues its record on
// every Sink:
//
//   - FileSink writes JSON lines to a file rotated by size with lumberjack
//     (max size in MB, backups, age). Enqueue is a channel send to a bounded
//     queue; one goroutine marshals into a bufio.Writer, flushed when the
//     queue drains and at least every second under continuous load, and every
//     write holds whole lines, so rotation never splits a record. Sinks of the
//     same file share one rotating logger (a caddy.UsagePool keyed by the
//     path), across Caddy reloads too: the rotation options of the latest one
//     apply, and the last one to close closes the file.
//   - OPASink (optional) hands records to OPA's decision_logs plugin, which
//     uploads them to a remote decision-log service with their trace ids.
//     Delivery there is as reliable as OPA's buffer and retries: the file is
//     the record of truth.
//
// No record is dropped silently. When a queue is full, Enqueue blocks the
// request for up to max_wait (default 2s; counted in records_blocked_total);
// if the queue is still full it returns an error (counted in
// records_failed_total) and the handler fails closed: it answers 503 instead
// of forwarding the request. After a write error the sink reports the lost
// records (OnError, records_failed_total) and refuses records for a second,
// so the gateway fails closed while the disk does. Close (the handler's
// Cleanup) stops accepting records, writes and flushes every accepted one.
//
// # Metrics
//
// NewMetrics registers on Caddy's per-config registry, namespace caddy,
// subsystem ecsgate: decisions_total{operation, action, result},
// policy_eval_duration_seconds, identity_lookup_duration_seconds{cache},
// identity_lookups_total{cache} and records_{written,blocked,failed}_total
// {sink}. Labels are bounded: actions outside a fixed list count as "other";
// no server, project or user id is ever a label.
package tracing
