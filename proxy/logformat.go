package proxy

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/logging"
	"go.uber.org/zap/zapcore"

	"github.com/ecsgate/ecsgate/policy"
)

func init() {
	caddy.RegisterModule(RedactEncoder{})
}

// CredentialHeaders carry a credential in front of Nova / ECS: Keystone and
// IAM tokens (X-Auth-Token, the legacy X-Storage-Token that keystonemiddleware
// still accepts, X-Subject-Token on validation calls and token responses,
// X-Service-Token for service-to-service calls), Huawei's temporary AK/SK
// security token, an AK/SK signature in Authorization, and cookies. Caddy
// itself hides only Authorization, Proxy-Authorization, Cookie and
// Set-Cookie, and not when log_credentials is on. Names are canonical
// (net/http's form), which is how Caddy's access log keys them.
var CredentialHeaders = []string{
	"X-Auth-Token",
	"X-Storage-Token",
	"X-Subject-Token",
	"X-Service-Token",
	"X-Security-Token",
	"Authorization",
	"Proxy-Authorization",
	"Cookie",
	"Set-Cookie",
}

// RedactedLogFields are the log fields ecsgate_redact replaces: every
// credential header wherever Caddy logs headers. The access log has
// request>headers and resp_headers; reverse_proxy's debug "upstream
// roundtrip" entry has request>headers (as sent upstream) and headers (the
// upstream's response), so the format also makes the default log safe with
// `debug` on. A response carries X-Subject-Token (Keystone, IAM) or
// Set-Cookie; the other names are redacted there too so that no upstream
// echoing a token can leak it, and so the list has one source.
func RedactedLogFields() []string {
	prefixes := []string{"request>headers>", "resp_headers>", "headers>"}
	fields := make([]string, 0, len(prefixes)*len(CredentialHeaders))
	for _, prefix := range prefixes {
		for _, name := range CredentialHeaders {
			fields = append(fields, prefix+name)
		}
	}
	return fields
}

// RedactEncoder is Caddy's filter encoder with every credential header
// already set to be replaced by [REDACTED]. Operators get a complete list by
// naming one format instead of copying one that goes stale; `wrap` and
// further `fields` work as in `filter`.
//
// A `filter` may not wrap it (Provision refuses): the filter encoder hands
// nested objects to the encoder it wraps without their path, so
// request>headers>... would never match and every token would be logged.
type RedactEncoder struct {
	logging.FilterEncoder
}

// CaddyModule returns the Caddy module information.
func (RedactEncoder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.logging.encoders.ecsgate_redact",
		New: func() caddy.Module { return new(RedactEncoder) },
	}
}

// Provision sets up the wrapped encoder and the operator's fields, then the
// credential fields, last, so that nothing configured can replace them.
func (e *RedactEncoder) Provision(ctx caddy.Context) error {
	mods := ctx.Modules() // the last one is this encoder
	for _, ancestor := range mods[:max(len(mods)-1, 0)] {
		switch ancestor.(type) {
		case *logging.FilterEncoder, *RedactEncoder:
			return fmt.Errorf("ecsgate_redact is wrapped by %s, which would hide the field paths it matches and log every credential; make ecsgate_redact the outer format and give it the other fields",
				ancestor.CaddyModule().ID.Name())
		}
	}
	if err := checkExtraFields(e.FieldsRaw); err != nil {
		return err
	}
	if err := e.FilterEncoder.Provision(ctx); err != nil {
		return err
	}
	redact := &logging.ReplaceFilter{Value: policy.Redacted}
	for _, field := range RedactedLogFields() {
		e.Fields[field] = redact
	}
	return nil
}

// checkExtraFields refuses an operator's filter on a credential field: it
// would be overridden, and a config that says `hash` while the log says
// [REDACTED] misleads whoever reads it. Field keys are matched exactly by
// the filter encoder, so a different case would silently never match.
func checkExtraFields[V any](fields map[string]V) error {
	for field := range fields {
		for _, redacted := range RedactedLogFields() {
			if strings.EqualFold(field, redacted) {
				return fmt.Errorf("ecsgate_redact: field %s is always replaced with %s; remove it", field, policy.Redacted)
			}
		}
	}
	return nil
}

// UnmarshalCaddyfile sets up the encoder from Caddyfile tokens. Syntax:
//
//	ecsgate_redact {
//	    wrap <another encoder>
//	    fields {
//	        <field> <filter> ...
//	    }
//	    <field> <filter> ...
//	}
func (e *RedactEncoder) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the format name
	if d.NextArg() {
		return d.ArgErr()
	}
	d.Reset()
	if err := e.FilterEncoder.UnmarshalCaddyfile(d); err != nil {
		return err
	}
	if err := checkExtraFields(e.FieldsRaw); err != nil {
		// Point at the offending field rather than the block's end.
		for d.Reset(); d.Next(); {
			if checkExtraFields(map[string]bool{d.Val(): true}) != nil {
				break
			}
		}
		return d.Err(err.Error())
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner                = (*RedactEncoder)(nil)
	_ caddyfile.Unmarshaler            = (*RedactEncoder)(nil)
	_ zapcore.Encoder                  = (*RedactEncoder)(nil)
	_ caddy.ConfiguresFormatterDefault = (*RedactEncoder)(nil)
)
