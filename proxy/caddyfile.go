package proxy

import (
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("ecs_policy", parseCaddyfile)
	// The last slot before the routing directives: every handler that can
	// change the request at the same nesting level (rewrite, uri,
	// forward_auth, request_header, ...) has run, and handle, handle_path,
	// route, respond and reverse_proxy have not. A handle or route block
	// after it may still change the request; the ecs_verified transport
	// catches that (docs/forwarded-request.md).
	httpcaddyfile.RegisterDirectiveOrder("ecs_policy", httpcaddyfile.After, "templates")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler Handler
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return &handler, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	ecs_policy {
//	    policy           <file-or-dir> ...
//	    data             <file> ...
//	    decision         <ref>
//	    max_body         <size>
//	    keystone         <url>
//	    error_format     auto|nova|ecs
//	    eval_timeout     <duration>
//	    max_microversion <version>
//	    tracing
//	    decision_log <path> {
//	        roll_size      <megabytes>
//	        roll_keep      <count>
//	        roll_keep_days <days>
//	        queue_size     <records>
//	        max_wait       <duration>
//	    }
//	    decision_log_service <url>
//	    watch            <interval>|off
//	    bundle <url> {
//	        polling    <min> <max>
//	        public_key <file>
//	        key_id     <id>
//	    }
//	    server_api <url> {
//	        ttl         <duration>
//	        timeout     <duration>
//	        max_entries <count>
//	    }
//	    decision_cache   <entries>|off
//	    dry_run          [<operation-or-action> ...]
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "policy":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Policy = append(h.Policy, args...)
		case "data":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Data = append(h.Data, args...)
		case "decision":
			if !d.AllArgs(&h.Decision) {
				return d.ArgErr()
			}
		case "max_body":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(s)
			if err != nil || n == 0 {
				return d.Errf("max_body %q: must be a positive size such as 112KiB", s)
			}
			h.MaxBody = int64(n)
		case "keystone":
			if !d.AllArgs(&h.Keystone) {
				return d.ArgErr()
			}
		case "error_format":
			if !d.AllArgs(&h.ErrorFormat) {
				return d.ArgErr()
			}
			switch h.ErrorFormat {
			case FormatAuto, FormatNova, FormatECS:
			default:
				return d.Errf("error_format %q: must be auto, nova or ecs", h.ErrorFormat)
			}
		case "eval_timeout":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return d.Errf("eval_timeout %q: must be a positive duration", s)
			}
			h.EvalTimeout = caddy.Duration(dur)
		case "max_microversion":
			if !d.AllArgs(&h.MaxMicroversion) {
				return d.ArgErr()
			}
		case "tracing":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Tracing = true
		case "decision_log":
			if err := h.unmarshalDecisionLog(d); err != nil {
				return err
			}
		case "decision_log_service":
			if !d.AllArgs(&h.DecisionLogService) {
				return d.ArgErr()
			}
		case "watch":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			if s == "off" {
				h.Watch = -1
				break
			}
			dur, err := caddy.ParseDuration(s)
			if err != nil || dur <= 0 {
				return d.Errf("watch %q: must be a positive duration or off", s)
			}
			h.Watch = caddy.Duration(dur)
		case "bundle":
			if err := h.unmarshalBundle(d); err != nil {
				return err
			}
		case "server_api":
			if err := h.unmarshalServerAPI(d); err != nil {
				return err
			}
		case "decision_cache":
			var arg string
			if !d.AllArgs(&arg) {
				return d.ArgErr()
			}
			if arg == "off" {
				h.DecisionCache = -1
				break
			}
			n, err := positiveInt(arg)
			if err != nil {
				return d.Errf("decision_cache %q: %v, or off", arg, err)
			}
			h.DecisionCache = n
		case "dry_run":
			args := d.RemainingArgs()
			if len(args) == 0 {
				args = []string{"*"}
			}
			h.DryRun = append(h.DryRun, args...)
		default:
			return d.Errf("unrecognized ecs_policy subdirective %q", d.Val())
		}
	}
	return nil
}

func (h *Handler) unmarshalDecisionLog(d *caddyfile.Dispenser) error {
	dl := &DecisionLog{}
	if !d.NextArg() {
		return d.ArgErr()
	}
	dl.Path = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		var arg string
		if !d.AllArgs(&arg) {
			return d.ArgErr()
		}
		var err error
		switch name {
		case "roll_size":
			dl.RollSizeMB, err = positiveInt(arg)
		case "roll_keep":
			dl.RollKeep, err = positiveInt(arg)
		case "roll_keep_days":
			dl.RollKeepDays, err = positiveInt(arg)
		case "queue_size":
			dl.QueueSize, err = positiveInt(arg)
		case "max_wait":
			var dur time.Duration
			dur, err = caddy.ParseDuration(arg)
			if err == nil && dur <= 0 {
				err = fmt.Errorf("must be positive")
			}
			dl.MaxWait = caddy.Duration(dur)
		default:
			return d.Errf("unrecognized decision_log option %q", name)
		}
		if err != nil {
			return d.Errf("decision_log %s %q: %v", name, arg, err)
		}
	}
	h.DecisionLog = dl
	return nil
}

func (h *Handler) unmarshalBundle(d *caddyfile.Dispenser) error {
	b := &Bundle{}
	if !d.AllArgs(&b.URL) {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch name := d.Val(); name {
		case "polling":
			var minS, maxS string
			if !d.AllArgs(&minS, &maxS) {
				return d.ArgErr()
			}
			minD, err1 := caddy.ParseDuration(minS)
			maxD, err2 := caddy.ParseDuration(maxS)
			if err1 != nil || err2 != nil || minD <= 0 || maxD < minD {
				return d.Errf("bundle polling %s %s: need two durations, 0 < min <= max", minS, maxS)
			}
			b.PollingMin, b.PollingMax = caddy.Duration(minD), caddy.Duration(maxD)
		case "public_key":
			if !d.AllArgs(&b.PublicKey) {
				return d.ArgErr()
			}
		case "key_id":
			if !d.AllArgs(&b.KeyID) {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized bundle option %q", name)
		}
	}
	h.Bundle = b
	return nil
}

func (h *Handler) unmarshalServerAPI(d *caddyfile.Dispenser) error {
	sa := &ServerAPI{}
	if !d.AllArgs(&sa.URL) {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		name := d.Val()
		var arg string
		if !d.AllArgs(&arg) {
			return d.ArgErr()
		}
		switch name {
		case "ttl", "timeout":
			dur, err := caddy.ParseDuration(arg)
			if err != nil || dur <= 0 {
				return d.Errf("server_api %s %q: must be a positive duration", name, arg)
			}
			if name == "ttl" {
				sa.TTL = caddy.Duration(dur)
			} else {
				sa.Timeout = caddy.Duration(dur)
			}
		case "max_entries":
			n, err := positiveInt(arg)
			if err != nil {
				return d.Errf("server_api max_entries %q: %v", arg, err)
			}
			sa.MaxEntries = n
		default:
			return d.Errf("unrecognized server_api option %q", name)
		}
	}
	h.ServerAPI = sa
	return nil
}

func positiveInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("must be a positive integer")
	}
	return n, nil
}
