#!/usr/bin/env bash
# End-to-end suite: the real bin/ecsgate in front of a real Keystone + nova-api.
#
#   bash test/e2e/run.sh [go test args...]     e.g. bash test/e2e/run.sh -run TestDifferential
#
# 1. test/openstack/up.sh   brings the stack up (installs Debian packages on a fresh machine:
#                           needs root; idempotent, ~6 s when already up)
# 2. go build bin/ecsgate
# 3. go test -tags e2e -count=1 -v ./test/e2e/   (TestMain starts and stops the gateway)
#
# Prints the time of each step. Exit status: that of go test (or of the first failing step).
# Environment: GO (default go), ECSGATE_BIN (default bin/ecsgate), E2E_TIMEOUT (go test -timeout,
# default 15m), E2E_TABLE (file for the differential table, default $TMPDIR/ecsgate-e2e-table.txt),
# plus those documented in test/e2e/doc.go (E2E_KEEP, E2E_DELETE, ECSGATE_OS_STATE).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
GO="${GO:-go}"
BIN="${ECSGATE_BIN:-$ROOT/bin/ecsgate}"
export E2E_TABLE="${E2E_TABLE:-${TMPDIR:-/tmp}/ecsgate-e2e-table.txt}"

now() { date +%s%3N; } # milliseconds
secs() { printf '%d.%01d' $(($1 / 1000)) $((($1 % 1000) / 100)); }
T0="$(now)"
declare -a TIMINGS=()
step() { # step <label> <command...>
	local label="$1" t rc
	shift
	echo "== e2e: $label" >&2
	t="$(now)"
	set +e
	"$@"
	rc=$?
	set -e
	TIMINGS+=("$(printf '%-28s %7s s  (exit %d)' "$label" "$(secs $(($(now) - t)))" "$rc")")
	return "$rc"
}
report() {
	local rc=$?
	echo "== e2e timings" >&2
	for line in "${TIMINGS[@]}"; do echo "   $line" >&2; done
	printf '   %-28s %7s s\n' "total" "$(secs $(($(now) - T0)))" >&2
	[[ -s "$E2E_TABLE" ]] && echo "== differential table: $E2E_TABLE" >&2
	exit "$rc"
}
trap report EXIT

step "stack up (up.sh)" bash test/openstack/up.sh
step "build bin/ecsgate" "$GO" build -o "$BIN" ./cmd/ecsgate
rm -f "$E2E_TABLE"
export ECSGATE_BIN="$BIN"
step "go test -tags e2e" "$GO" test -tags e2e -count=1 -v -timeout "${E2E_TIMEOUT:-15m}" ./test/e2e/ "$@"
# The forwarded-equals-decided property (docs/forwarded-request.md, "Testing
# the promise"), longer than make test runs it.
ECSGATE_PROPERTY_N="${ECSGATE_PROPERTY_N:-20000}" step "property, long" "$GO" test -count=1 -timeout 30m \
	-run '^(TestForwardedRequestProperty|TestPropertyHarnessCatchesChangedRequests)$' ./proxy
