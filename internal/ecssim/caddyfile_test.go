package ecssim

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	cases := map[string]struct {
		input string
		want  Handler
		err   string
	}{
		"full": {
			input: `ecs_simulator {
				public_url http://127.0.0.1:8080/v2.1
				identity_url http://127.0.0.1:9000/v3
				image_url http://127.0.0.1:9000/image
				max_microversion 2.60
			}`,
			want: Handler{
				PublicURL: "http://127.0.0.1:8080/v2.1", IdentityURL: "http://127.0.0.1:9000/v3",
				ImageURL: "http://127.0.0.1:9000/image", MaxMicroversion: "2.60",
			},
		},
		"bare":          {input: `ecs_simulator`},
		"empty block":   {input: "ecs_simulator {\n}"},
		"unknown":       {input: "ecs_simulator {\n\tpublic_uri http://x\n}", err: "unrecognized subdirective 'public_uri'"},
		"missing value": {input: "ecs_simulator {\n\tpublic_url\n}", err: "wrong argument count"},
		"extra value":   {input: "ecs_simulator {\n\tpublic_url http://a http://b\n}", err: "wrong argument count"},
		"twice":         {input: "ecs_simulator {\n\timage_url http://a\n\timage_url http://b\n}", err: "image_url specified more than once"},
		"inline arg":    {input: "ecs_simulator http://x", err: "wrong argument count"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.input))
			if c.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, h)
		})
	}
}

func TestProvisionAndValidate(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)

	t.Setenv("ECSSIM_TEST_PUBLIC", "http://gw.example:8080/v2.1/")
	h := &Handler{PublicURL: "{env.ECSSIM_TEST_PUBLIC}"}
	require.NoError(t, h.Provision(ctx))
	require.NoError(t, h.Validate())
	assert.Equal(t, "http://gw.example:8080/v2.1", h.PublicURL)
	assert.Equal(t, "2.93", h.MaxMicroversion)
	assert.Equal(t, "http://gw.example:8080", h.computeBase(nil))

	for _, mv := range []string{"3.1", "2.0", "two", "2.01"} {
		assert.Error(t, (&Handler{MaxMicroversion: mv}).Provision(ctx), mv)
	}
	for _, u := range []string{"ftp://x/v3", "/v3", "http://"} {
		h := &Handler{IdentityURL: u}
		require.NoError(t, h.Provision(ctx))
		assert.Error(t, h.Validate(), u)
	}

	// The JSON form round-trips the documented field names.
	b, err := json.Marshal(Handler{PublicURL: "http://a/v2.1", MaxMicroversion: "2.60"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"public_url": "http://a/v2.1", "max_microversion": "2.60"}`, string(b))
	assert.Equal(t, "http.handlers.ecs_simulator", string(Handler{}.CaddyModule().ID))
}

func TestCaddyfileAdapt(t *testing.T) {
	// The directive is registered and ordered before respond even when it
	// is written after it.
	input := `{
	admin off
}
:8080 {
	respond /health "ok"
	ecs_simulator {
		public_url http://127.0.0.1:8080/v2.1
		max_microversion 2.60
	}
}
`
	adapter := caddyconfig.GetAdapter("caddyfile")
	require.NotNil(t, adapter)
	out, warnings, err := adapter.Adapt([]byte(input), nil)
	require.NoError(t, err)
	assert.Empty(t, warnings)
	s := string(out)
	sim := strings.Index(s, `"handler":"ecs_simulator"`)
	resp := strings.Index(s, `"handler":"static_response"`)
	require.GreaterOrEqual(t, sim, 0, s)
	require.GreaterOrEqual(t, resp, 0, s)
	assert.Less(t, sim, resp, "ecs_simulator must run before respond: %s", s)
	assert.Contains(t, s, `"public_url":"http://127.0.0.1:8080/v2.1"`)
	assert.Contains(t, s, `"max_microversion":"2.60"`)

	_, _, err = adapter.Adapt([]byte(":8080 {\n\tecs_simulator {\n\t\tbogus 1\n\t}\n}\n"), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unrecognized subdirective 'bogus'")
}
