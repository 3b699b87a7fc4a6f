package proxy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/ecsgate/ecsgate/proxy"
)

// TestCaddyfileAdapt checks Caddyfile/JSON parity the way Caddy does: each
// file holds a Caddyfile, a ---------- line, and the JSON it adapts to, or
// the error text it must produce.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddyfiletest")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			in, want, ok := strings.Cut(string(data), "----------")
			require.True(t, ok, "missing ---------- separator")
			in, want = strings.TrimSpace(in)+"\n", strings.TrimSpace(want)
			if strings.HasPrefix(want, "{") {
				assert.True(t, caddytest.CompareAdapt(t, f, in, "caddyfile", want))
				return
			}
			_, _, err = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(in), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
			assert.Contains(t, err.Error(), "Caddyfile:", "the error names the file and line")
		})
	}
}
