package config_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/stretchr/testify/require"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/ecsgate/ecsgate/config"
	_ "github.com/ecsgate/ecsgate/internal/ecssim"
	_ "github.com/ecsgate/ecsgate/proxy"
)

// TestShippedCaddyfilesValidate adapts and provisions every shipped
// configuration (what `ecsgate validate` does), so a config that no longer
// loads fails here rather than in front of a user.
func TestShippedCaddyfilesValidate(t *testing.T) {
	forEachShipped(t, func(t *testing.T, cfgJSON []byte) {
		var cfg caddy.Config
		require.NoError(t, json.Unmarshal(cfgJSON, &cfg))
		require.NoError(t, caddy.Validate(&cfg))
	})
}

// forEachShipped runs check, as a subtest, on the JSON each shipped Caddyfile
// adapts to in this test's environment.
func forEachShipped(t *testing.T, check func(t *testing.T, cfgJSON []byte)) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("ECSGATE_UPSTREAM", "http://127.0.0.1:8774")
	t.Setenv("ECSGATE_KEYSTONE", "http://127.0.0.1:5000/v3")
	t.Setenv("ECSGATE_POLICY", "../rego/ecsgate")
	files, err := filepath.Glob("*.Caddyfile")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	logDir := t.TempDir()
	keys := filepath.Join(logDir, "access_keys.yaml")
	require.NoError(t, os.WriteFile(keys, []byte("ecsgate:\n  access_keys: {}\n"), 0o600))
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			// Paths of a production install do not exist here.
			text := strings.ReplaceAll(string(src), "/var/log/ecsgate", logDir)
			text = strings.ReplaceAll(text, "/etc/ecsgate/policy", "../rego/ecsgate")
			text = strings.ReplaceAll(text, "/etc/ecsgate/access_keys.yaml", keys)
			cfgJSON, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), map[string]any{"filename": f})
			require.NoError(t, err)
			for _, w := range warnings {
				t.Errorf("%s:%d: %s", f, w.Line, w.Message)
			}
			check(t, cfgJSON)
		})
	}
}

func TestDemoIsEmbedded(t *testing.T) {
	onDisk, err := os.ReadFile("demo.Caddyfile")
	require.NoError(t, err)
	require.Equal(t, string(onDisk), string(config.Demo))
}
