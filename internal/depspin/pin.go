// Package depspin keeps the chosen dependency versions in go.mod until the
// packages that use them land. Temporary: removed once every import is real.
package depspin

import (
	_ "github.com/caddyserver/caddy/v2/caddytest"
	_ "github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	_ "github.com/open-policy-agent/opa/v1/rego"
	_ "github.com/open-policy-agent/opa/v1/tester"
	_ "github.com/stretchr/testify/require"
	_ "go.opentelemetry.io/contrib/exporters/autoexport"
	_ "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	_ "go.opentelemetry.io/contrib/propagators/autoprop"
	_ "go.opentelemetry.io/otel/sdk/trace"
	_ "go.opentelemetry.io/otel/sdk/trace/tracetest"
	_ "golang.org/x/sync/singleflight"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "go.uber.org/zap"
	_ "gopkg.in/yaml.v3"
)
