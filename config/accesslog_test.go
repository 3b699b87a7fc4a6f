package config_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/proxy"
)

// TestShippedAccessLogsRedactCredentials fails when any shipped config sends
// a server's access log to a log whose format does not hide every credential
// header: Caddy itself hides only four, so a plain json log, or a filter
// list that misses one name, writes tokens to disk.
func TestShippedAccessLogsRedactCredentials(t *testing.T) {
	forEachShipped(t, func(t *testing.T, cfgJSON []byte) {
		for _, leak := range accessLogLeaks(t, cfgJSON) {
			t.Error(leak)
		}
	})
}

// TestAccessLogCheckCatchesLeaks keeps the check above honest: each config
// here writes some credential to an access log.
func TestAccessLogCheckCatchesLeaks(t *testing.T) {
	withoutOne := slices.DeleteFunc(proxy.RedactedLogFields(), func(f string) bool { return f == "request>headers>X-Storage-Token" })
	var handWritten strings.Builder
	for _, f := range withoutOne {
		fmt.Fprintf(&handWritten, "\t\t\t\t%s replace [REDACTED]\n", f)
	}
	for name, c := range map[string]struct{ caddyfile, leak string }{
		"plain json": {
			caddyfile: "http://:8080 {\n\tlog\n\trespond ok\n}\n",
			leak:      "request>headers>X-Auth-Token",
		},
		"filter missing one header": {
			caddyfile: "http://:8080 {\n\tlog {\n\t\tformat filter {\n\t\t\tfields {\n" + handWritten.String() + "\t\t\t}\n\t\t}\n\t}\n\trespond ok\n}\n",
			leak:      "request>headers>X-Storage-Token",
		},
		"filter hashing a token": {
			caddyfile: "http://:8080 {\n\tlog {\n\t\tformat filter {\n\t\t\tfields {\n" +
				strings.Replace(handWritten.String(), "X-Auth-Token replace [REDACTED]", "X-Auth-Token hash", 1) +
				"\t\t\t\trequest>headers>X-Storage-Token delete\n\t\t\t}\n\t\t}\n\t}\n\trespond ok\n}\n",
			leak: "request>headers>X-Auth-Token",
		},
		"filter around ecsgate_redact": {
			caddyfile: "http://:8080 {\n\tlog {\n\t\tformat filter {\n\t\t\twrap ecsgate_redact\n\t\t}\n\t}\n\trespond ok\n}\n",
			leak:      "request>headers>X-Auth-Token",
		},
		"site with a host name, default log plain": {
			caddyfile: "http://127.0.0.1:8080 {\n\tlog {\n\t\tformat ecsgate_redact\n\t}\n\trespond ok\n}\n",
			leak:      `http.log.access goes to log "default"`,
		},
		"one site of two": {
			caddyfile: "http://:8080 {\n\tlog {\n\t\tformat ecsgate_redact\n\t}\n\trespond ok\n}\n\nhttp://:8081 {\n\tlog\n\trespond ok\n}\n",
			leak:      "srv1",
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(c.caddyfile), nil)
			require.NoError(t, err)
			leaks := accessLogLeaks(t, cfgJSON)
			require.NotEmpty(t, leaks)
			assert.Contains(t, strings.Join(leaks, "\n"), c.leak)
		})
	}
	// Without the exclude the Caddyfile adapter adds, Caddy's default log,
	// plain json, receives every access log as well: an easy slip in JSON.
	t.Run("default log not excluded", func(t *testing.T) {
		cfgJSON := []byte(`{
			"logging": {"logs": {"log0": {"encoder": {"format": "ecsgate_redact"}, "include": ["http.log.access.log0"]}}},
			"apps": {"http": {"servers": {"srv0": {"listen": [":8080"], "logs": {"default_logger_name": "log0"}}}}}
		}`)
		leaks := accessLogLeaks(t, cfgJSON)
		require.NotEmpty(t, leaks)
		assert.Contains(t, strings.Join(leaks, "\n"), `log "default"`)
		assert.NotContains(t, strings.Join(leaks, "\n"), `log "log0"`)
	})
	t.Run("discarded", func(t *testing.T) {
		cfgJSON, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte("http://:8080 {\n\tlog {\n\t\toutput discard\n\t}\n\trespond ok\n}\n"), nil)
		require.NoError(t, err)
		assert.Empty(t, accessLogLeaks(t, cfgJSON))
	})
}

// accessLogLeaks lists, for each server that logs requests, every log that
// receives its access log without hiding every credential field.
func accessLogLeaks(t *testing.T, cfgJSON []byte) []string {
	t.Helper()
	var cfg caddy.Config
	require.NoError(t, json.Unmarshal(cfgJSON, &cfg))
	var app caddyhttp.App
	if raw, ok := cfg.AppsRaw["http"]; ok {
		require.NoError(t, json.Unmarshal(raw, &app))
	}
	logs := map[string]*caddy.CustomLog{}
	if cfg.Logging != nil && cfg.Logging.Logs != nil {
		logs = cfg.Logging.Logs
	}
	if _, ok := logs[caddy.DefaultLoggerName]; !ok {
		// Caddy creates a default log that accepts every logger.
		logs[caddy.DefaultLoggerName] = &caddy.CustomLog{}
	}

	var leaks []string
	for _, srvName := range sortedKeys(app.Servers) {
		srv := app.Servers[srvName]
		if srv.Logs == nil {
			continue
		}
		for _, logger := range accessLoggers(srv.Logs, logs) {
			for _, logName := range sortedKeys(logs) {
				l := logs[logName]
				if !loggerAllowed(l, logger) || discards(t, l) {
					continue
				}
				if len(l.CoreRaw) > 0 {
					leaks = append(leaks, fmt.Sprintf("server %s: %s goes to log %q, whose core sees fields before the encoder hides them", srvName, logger, logName))
				}
				if missing := unredacted(t, l.EncoderRaw); len(missing) > 0 {
					leaks = append(leaks, fmt.Sprintf("server %s: %s goes to log %q, which does not hide %s (use format ecsgate_redact)", srvName, logger, logName, strings.Join(missing, ", ")))
				}
			}
		}
	}
	return leaks
}

// accessLoggers names the loggers a server's access log may be emitted by
// (Caddy's ServerLogConfig.wrapLogger); a name included by some log is taken
// too, as a route can pick any name with log_name.
func accessLoggers(slc *caddyhttp.ServerLogConfig, logs map[string]*caddy.CustomLog) []string {
	const base = "http.log.access"
	var names []string
	add := func(n string) {
		name := base
		if n != "" {
			name += "." + n
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	add(slc.DefaultLoggerName)
	for _, host := range sortedKeys(slc.LoggerNames) {
		for _, n := range slc.LoggerNames[host] {
			add(n)
		}
	}
	for _, logName := range sortedKeys(logs) {
		for _, inc := range logs[logName].Include {
			if inc == base || strings.HasPrefix(inc, base+".") {
				add(strings.TrimPrefix(strings.TrimPrefix(inc, base), "."))
			}
		}
	}
	return names
}

// loggerAllowed mirrors Caddy's CustomLog.loggerAllowed for a logger name:
// the longest matching include or exclude namespace decides.
func loggerAllowed(l *caddy.CustomLog, name string) bool {
	if len(l.Include) == 0 && len(l.Exclude) == 0 {
		return true
	}
	name += "."
	longest := func(namespaces []string) int {
		n := 0
		for _, ns := range namespaces {
			if strings.HasPrefix(name, ns+".") && len(ns) > n {
				n = len(ns)
			}
		}
		return n
	}
	accept, reject := longest(l.Include), longest(l.Exclude)
	if slices.Contains(l.Exclude, "*") {
		return false
	}
	if len(l.Include) > 0 && accept == 0 {
		return false
	}
	return accept > reject || (len(l.Include) == 0 && reject == 0)
}

func discards(t *testing.T, l *caddy.CustomLog) bool {
	t.Helper()
	if len(l.WriterRaw) == 0 {
		return false
	}
	var w struct {
		Output string `json:"output"`
	}
	require.NoError(t, json.Unmarshal(l.WriterRaw, &w))
	return w.Output == "discard"
}

// unredacted lists the credential fields an encoder config lets through.
// ecsgate_redact hides them all by construction (proxy/logformat.go); a
// filter must replace or delete each one, or a parent object of it. A
// filter wrapping ecsgate_redact counts as nothing: ecsgate_redact refuses
// to start there, because the field paths would not match.
func unredacted(t *testing.T, encoderRaw json.RawMessage) []string {
	t.Helper()
	// An access log entry has no top-level headers (that is reverse_proxy's
	// debug entry), so a hand-written filter need not list those.
	all := slices.DeleteFunc(proxy.RedactedLogFields(), func(f string) bool { return strings.HasPrefix(f, "headers>") })
	if len(encoderRaw) == 0 {
		return all
	}
	var enc struct {
		Format string                     `json:"format"`
		Wrap   json.RawMessage            `json:"wrap"`
		Fields map[string]json.RawMessage `json:"fields"`
	}
	require.NoError(t, json.Unmarshal(encoderRaw, &enc))
	switch enc.Format {
	case "ecsgate_redact":
		return nil
	case "append":
		// Passes every field on with its name to the encoder it wraps.
		return unredacted(t, enc.Wrap)
	case "filter":
		var missing []string
		for _, field := range all {
			if !hidden(t, enc.Fields, field) {
				missing = append(missing, field)
			}
		}
		return missing
	}
	return all
}

func hidden(t *testing.T, fields map[string]json.RawMessage, field string) bool {
	t.Helper()
	parts := strings.Split(field, ">")
	for i := range parts {
		raw, ok := fields[strings.Join(parts[:i+1], ">")]
		if !ok {
			continue
		}
		var f struct {
			Filter string `json:"filter"`
		}
		require.NoError(t, json.Unmarshal(raw, &f))
		return f.Filter == "replace" || f.Filter == "delete"
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
