package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ecsgate/ecsgate/policy"
	"github.com/ecsgate/ecsgate/proxy"
)

// credentialHeaders is written out here again rather than taken from
// proxy.CredentialHeaders: a name dropped there must fail these tests, not
// silently shrink what they send.
var credentialHeaders = []string{
	"X-Auth-Token", "X-Storage-Token", "X-Subject-Token", "X-Service-Token", "X-Security-Token",
	"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie",
}

// secretFor gives each credential header a value no other text in a log
// could contain, so finding it anywhere means that header leaked.
func secretFor(where, name string) string {
	return "s3cr3t-" + where + "-" + strings.ToLower(name) + "-7f3a9c"
}

func credentialRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for _, name := range credentialHeaders {
		req.Header.Set(name, secretFor("req", name))
	}
	req.Header.Set("X-Not-A-Secret", "visible-value")
	return req
}

func loadRedactEncoder(t *testing.T, raw string) zapcore.Encoder {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	mod, err := ctx.LoadModuleByID("caddy.logging.encoders.ecsgate_redact", json.RawMessage(raw))
	require.NoError(t, err)
	return mod.(zapcore.Encoder)
}

// accessEntry encodes one entry shaped like Caddy's "handled request" log,
// whose response headers are resp_headers.
func accessEntry(t *testing.T, enc zapcore.Encoder, logCredentials bool) string {
	return headersEntry(t, enc, "resp_headers", logCredentials)
}

// headersEntry encodes an entry with a request and response headers under
// respKey: "resp_headers" in the access log, "headers" in reverse_proxy's
// debug "upstream roundtrip" entry.
func headersEntry(t *testing.T, enc zapcore.Encoder, respKey string, logCredentials bool) string {
	t.Helper()
	req := credentialRequest(t, "http://127.0.0.1/v2.1/servers")
	req.RemoteAddr = "192.0.2.7:4711"
	resp := http.Header{}
	for _, name := range credentialHeaders {
		resp.Set(name, secretFor("resp", name))
	}
	buf, err := enc.EncodeEntry(zapcore.Entry{Level: zapcore.InfoLevel, Time: time.Now(), LoggerName: "http.log.access.log0", Message: "handled request"}, []zapcore.Field{
		zap.Object("request", caddyhttp.LoggableHTTPRequest{Request: req, ShouldLogCredentials: logCredentials}),
		zap.Int("status", 200),
		zap.Object(respKey, caddyhttp.LoggableHTTPHeader{Header: resp, ShouldLogCredentials: logCredentials}),
	})
	require.NoError(t, err)
	defer buf.Free()
	return buf.String()
}

func assertNoSecret(t *testing.T, logged string) {
	t.Helper()
	for _, name := range credentialHeaders {
		for _, where := range []string{"req", "resp"} {
			assert.NotContains(t, logged, secretFor(where, name), "%s %s leaked", where, name)
		}
	}
}

func TestRedactEncoderHidesEveryCredential(t *testing.T) {
	for name, raw := range map[string]string{
		"default":      `{}`,
		"extra fields": `{"fields": {"request>remote_ip": {"filter": "ip_mask", "ipv4_cidr": 16}}}`,
	} {
		for _, respKey := range []string{"resp_headers", "headers"} {
			for _, logCredentials := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/log_credentials=%v", name, respKey, logCredentials), func(t *testing.T) {
					logged := headersEntry(t, loadRedactEncoder(t, raw), respKey, logCredentials)
					assertNoSecret(t, logged)
					var entry struct {
						Request struct {
							RemoteIP string         `json:"remote_ip"`
							Headers  map[string]any `json:"headers"`
						} `json:"request"`
					}
					var top map[string]any
					require.NoError(t, json.Unmarshal([]byte(logged), &entry), logged)
					require.NoError(t, json.Unmarshal([]byte(logged), &top), logged)
					resp, _ := top[respKey].(map[string]any)
					for _, h := range credentialHeaders {
						assert.Equal(t, policy.Redacted, entry.Request.Headers[h], "request %s", h)
						assert.Equal(t, policy.Redacted, resp[h], "%s %s", respKey, h)
					}
					assert.Equal(t, []any{"visible-value"}, entry.Request.Headers["X-Not-A-Secret"], "other headers are logged as Caddy logs them")
					if name == "extra fields" {
						assert.Equal(t, "192.0.0.0", entry.Request.RemoteIP, "the operator's own fields apply too")
					}
				})
			}
		}
	}
}

func TestRedactEncoderWrapsAnotherFormat(t *testing.T) {
	logged := accessEntry(t, loadRedactEncoder(t, `{"wrap": {"format": "console"}}`), true)
	assertNoSecret(t, logged)
	assert.False(t, json.Valid([]byte(logged)), "console, not JSON: %s", logged)
	assert.Contains(t, logged, `"X-Auth-Token": "[REDACTED]"`)
}

func TestRedactEncoderRefusesFilterOnCredential(t *testing.T) {
	for _, field := range []string{"request>headers>X-Auth-Token", "resp_headers>x-subject-token"} {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		_, err := ctx.LoadModuleByID("caddy.logging.encoders.ecsgate_redact",
			json.RawMessage(`{"fields": {"`+field+`": {"filter": "hash"}}}`))
		cancel()
		require.Error(t, err, field)
		assert.Contains(t, err.Error(), "is always replaced with [REDACTED]")
	}
}

func TestCredentialHeadersAreCanonical(t *testing.T) {
	assert.Subset(t, proxy.CredentialHeaders, credentialHeaders)
	for _, name := range proxy.CredentialHeaders {
		assert.Equal(t, http.CanonicalHeaderKey(name), name, "Caddy logs canonical names; the filter matches exactly")
	}
}

func TestRedactEncoderRefusesToBeWrappedByAFilter(t *testing.T) {
	for _, c := range []struct{ id, raw string }{
		{"filter", `{"wrap": {"format": "ecsgate_redact"}}`},
		{"filter", `{"wrap": {"format": "append", "wrap": {"format": "ecsgate_redact"}}}`},
		{"ecsgate_redact", `{"wrap": {"format": "ecsgate_redact"}}`},
	} {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		_, err := ctx.LoadModuleByID("caddy.logging.encoders."+c.id, json.RawMessage(c.raw))
		cancel()
		require.Error(t, err, c.raw)
		assert.Contains(t, err.Error(), "make ecsgate_redact the outer format")
	}
}

// TestRedactEncoderInsideAppend: append passes each field on with its
// name, so ecsgate_redact under it still sees full paths.
func TestRedactEncoderInsideAppend(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	mod, err := ctx.LoadModuleByID("caddy.logging.encoders.append",
		json.RawMessage(`{"wrap": {"format": "ecsgate_redact"}, "fields": {"site": "ecs"}}`))
	require.NoError(t, err)
	logged := accessEntry(t, mod.(zapcore.Encoder), true)
	assertNoSecret(t, logged)
	assert.Contains(t, logged, `"X-Auth-Token":"[REDACTED]"`)
	assert.Contains(t, logged, `"site":"ecs"`)
}

const (
	redactFront    = "127.0.0.1:9180"
	redactUpstream = "127.0.0.1:9181"
)

// redactCaddyfile serves a front site proxying to an upstream site that
// answers with every credential header, both logged with ecsgate_redact,
// and sends Caddy's default log to a file too: a request whose Host matches
// no site is logged there, not in the site's log.
func redactCaddyfile(logCredentials bool) string {
	var opts, respHeaders strings.Builder
	if logCredentials {
		opts.WriteString("\tservers {\n\t\tlog_credentials\n\t}\n")
	}
	for _, name := range credentialHeaders {
		fmt.Fprintf(&respHeaders, "\t\t%s %q\n", name, secretFor("resp", name))
	}
	return fmt.Sprintf(`{
	admin localhost:2999
	http_port 9180
	auto_https off
	skip_install_trust
	grace_period 1ns
%s	log default {
		output file {$ECSGATE_TEST_DEFAULT_LOG}
		format ecsgate_redact
	}
}

(access_log) {
	log {
		output file {$ECSGATE_TEST_ACCESS_LOG}
		format ecsgate_redact
	}
}

http://%s {
	bind 127.0.0.1
	import access_log
	reverse_proxy %s
}

http://%s {
	bind 127.0.0.1
	import access_log
	header {
%s	}
	respond "ok"
}
`, opts.String(), redactFront, redactUpstream, redactUpstream, respHeaders.String())
}

// TestAccessLogRedactsEveryCredentialHeader runs Caddy with the format and
// checks the files it writes: not one secret, and every credential header
// that was sent or answered shows up by name as [REDACTED].
func TestAccessLogRedactsEveryCredentialHeader(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts Caddy")
	}
	for _, logCredentials := range []bool{false, true} {
		t.Run(fmt.Sprintf("log_credentials=%v", logCredentials), func(t *testing.T) {
			dir := t.TempDir()
			accessLog, defaultLog := filepath.Join(dir, "access.log"), filepath.Join(dir, "default.log")
			t.Setenv("ECSGATE_TEST_ACCESS_LOG", accessLog)
			t.Setenv("ECSGATE_TEST_DEFAULT_LOG", defaultLog)
			caddytest.NewTester(t).InitServer(redactCaddyfile(logCredentials), "caddyfile")
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

			resp, err := client.Do(credentialRequest(t, "http://"+redactFront+"/v2.1/servers"))
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, secretFor("resp", "X-Subject-Token"), resp.Header.Get("X-Subject-Token"), "the upstream's answer reached the client")

			// A Host no site names: Caddy still logs it, to the default log.
			stray := credentialRequest(t, "http://"+redactFront+"/v2.1/servers")
			stray.Host = "localhost"
			resp, err = client.Do(stray)
			require.NoError(t, err)
			resp.Body.Close()

			// Both sites and the stray request each write one entry.
			var entries []map[string]any
			require.Eventually(t, func() bool {
				entries, err = accessEntries(accessLog, defaultLog)
				return err == nil && len(entries) >= 3
			}, 5*time.Second, 20*time.Millisecond, "%v", err)

			for _, path := range []string{accessLog, defaultLog} {
				logged, err := os.ReadFile(path)
				require.NoError(t, err)
				assert.NotContains(t, string(logged), "-7f3a9c", "%s holds a secret:\n%s", path, logged)
			}
			seen := map[string]bool{}
			for _, e := range entries {
				if nested(e, "request")["host"] == "localhost" {
					seen["stray"] = true
				}
				for _, place := range []string{"request>headers", "resp_headers"} {
					for name, value := range nested(e, place) {
						if slices.Contains(credentialHeaders, name) {
							assert.Equal(t, policy.Redacted, value, "%s>%s", place, name)
							seen[place+">"+name] = true
						}
					}
				}
			}
			assert.True(t, seen["stray"], "the request for an unknown Host is logged")
			for _, name := range credentialHeaders {
				assert.True(t, seen["request>headers>"+name], "request>headers>%s logged", name)
				assert.True(t, seen["resp_headers>"+name], "resp_headers>%s logged", name)
			}
		})
	}
}

// accessEntries reads the entries of Caddy's access loggers from the given
// files; the stray request's says "NOP" (no route), not "handled request".
func accessEntries(paths ...string) ([]map[string]any, error) {
	var out []map[string]any
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(data)) {
			var e map[string]any
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				return nil, fmt.Errorf("%s: %w: %s", path, err, line)
			}
			if logger, _ := e["logger"].(string); strings.HasPrefix(logger, "http.log.access") {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// nested follows a path like request>headers into a decoded entry.
func nested(e map[string]any, path string) map[string]any {
	for _, key := range strings.Split(path, ">") {
		e, _ = e[key].(map[string]any)
	}
	return e
}
