// Package e2e proves ecsgate against the real thing: the built bin/ecsgate
// binary in front of a real Keystone 22 and nova-api 26 (test/openstack).
//
// The tests carry the build tag e2e, so `go test ./...` skips them. Run them
// with `bash test/e2e/run.sh` (brings the stack up, builds the binary, runs
// `go test -tags e2e ./test/e2e/`), or by hand once the stack is up:
//
//	go build -o bin/ecsgate ./cmd/ecsgate
//	go test -tags e2e -count=1 -v ./test/e2e/
//
// TestMain starts bin/ecsgate (ECSGATE_BIN, default ../../bin/ecsgate) with a
// generated Caddyfile, all on 127.0.0.1:
//
//	:18080  shipped policy, identity from Keystone      -> nova-api :8774
//	        (data maps one access key; decision log)
//	:18081  deny-all-mutations policy (written by the test, custom decision;
//	        decision log)
//	:18082  Keystone unreachable (a closed port)        -> nova-api
//	:18083  Keystone that answers too slowly (httptest) -> nova-api
//	:18084  Keystone that answers 200 "not json"        -> nova-api
//	:18085  shipped policy                              -> a closed port
//	:18086  shipped policy -> a relay that answers 101 to an Upgrade request,
//	        then pipes raw bytes to nova-api (a WebSocket-capable balancer)
//	:18087  shipped policy -> a relay that answers 101 to every request
//	:18088  the same with reverse_proxy's plain http transport
//	:18089  rego/ecsgate + rego/lib with the protected rule on, server_api
//	        nova-api (ttl 1ns); decision log
//	:18090  shipped policy, dry_run unlock; decision log
//	:18091  a policy directory the test rewrites, watch 50ms; decision log
//	:18092  an OPA bundle from an internal/bundletest server TestMain
//	        starts (empty until TestBundle sets one); decision log
//	admin   localhost:2399
//
// Every site but :18088 proxies through the ecs_verified transport, as the
// shipped configurations do.
// and stops exactly that process at the end. The decision logs (OPA's
// decision-log format, one file per site) are in the temp dir. Environment:
//
//	ECSGATE_BIN       the binary to run (default ../../bin/ecsgate)
//	ECSGATE_OS_STATE  the stack's state dir (default /tmp/ecsgate-openstack)
//	E2E_KEEP=1        keep the temp dir (Caddyfile, policy, gateway log)
//	E2E_TABLE=<file>  also write the differential table there
//	E2E_DELETE=0      skip the server-deletion variants of the differential
//	                  test (each deletion Nova executes costs ~7 s of reseeding)
package e2e
