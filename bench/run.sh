#!/usr/bin/env bash
# bench/run.sh (`make bench`): throughput, latency and server CPU of ecsgate's
# ecs_policy handler against plain Caddy reverse_proxy, on loopback.
#
# Two ecsgate processes, one per site, in front of the same stub upstream:
#   plain   http://127.0.0.1:$PLAIN_PORT    reverse_proxy
#   policy  http://127.0.0.1:$POLICY_PORT   ecs_policy { keystone ... } + reverse_proxy
# and wrk also hits the stub upstream directly. Each site has a process of its
# own so that its CPU, heap and GC are its own: sharing one process made the
# policy site pay for the plain site's idle connections and heap (a build
# measured in a process of its own came out 0.02-0.03x better than the same
# build sharing one). Every round runs the three
# targets back to back (interleaved, so machine noise hits them alike): a
# loaded run (wrk -t2 -c64, POST {"unlock": null}) and a one-connection run
# (wrk -t1 -c1) for latency. Server CPU per request comes from
# /proc/<pid>/stat (utime+stime) of the site's ecsgate process over each
# loaded run.
# The table shows medians over rounds and ratios to plain reverse_proxy.
#
# Settings (environment): DURATION (loaded run, default 8s), LAT_DURATION
# (one-connection run, default 5s), ROUNDS (default 4; even rounds run the
# targets in reverse order), CONNECTIONS (64),
# THREADS (2), PROFILE=1 (CPU profile of ecsgate under load via the admin
# endpoint's /debug/pprof, shown with go tool pprof; PROFILE_TARGET plain or
# policy, PROFILE_CONNECTIONS, PROFILE_THREADS), OUT (directory
# for raw outputs, default a new temporary directory), ports PLAIN_PORT,
# POLICY_PORT, UPSTREAM_PORT, KEYSTONE_PORT, ADMIN_PORT (policy process),
# PLAIN_ADMIN_PORT; ECSGATE_BIN (a
# prebuilt gateway to measure instead of building bin/ecsgate); BASE_BIN (a
# second, e.g. older, gateway build: its ecs_policy site joins the rounds as
# target "base" on BASE_PORT, admin BASE_ADMIN_PORT, for a before/after
# comparison within one run).
#
# Everything listens on 127.0.0.1 (admin on localhost); the script kills only
# the processes it started.
set -euo pipefail

cd "$(dirname "$0")/.."

DURATION=${DURATION:-8s}
LAT_DURATION=${LAT_DURATION:-5s}
ROUNDS=${ROUNDS:-4}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PROFILE=${PROFILE:-0}
PROFILE_TARGET=${PROFILE_TARGET:-policy}
PROFILE_CONNECTIONS=${PROFILE_CONNECTIONS:-$CONNECTIONS}
PROFILE_THREADS=${PROFILE_THREADS:-$THREADS}
PLAIN_PORT=${PLAIN_PORT:-18080}
POLICY_PORT=${POLICY_PORT:-18081}
UPSTREAM_PORT=${UPSTREAM_PORT:-18780}
KEYSTONE_PORT=${KEYSTONE_PORT:-18781}
ADMIN_PORT=${ADMIN_PORT:-2499}
PLAIN_ADMIN_PORT=${PLAIN_ADMIN_PORT:-2497}
BASE_BIN=${BASE_BIN:-}
BASE_PORT=${BASE_PORT:-18082}
BASE_ADMIN_PORT=${BASE_ADMIN_PORT:-2498}
GO=${GO:-go}

TOKEN=bench-token
PROJECT=0f1e2d3c4b5a69788796a5b4c3d2e1f0
SERVER=c0ffee00-0000-4000-8000-000000000001
ACTION_PATH=/v2.1/$PROJECT/servers/$SERVER/action

OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ecsgate-bench.XXXXXX")}
mkdir -p "$OUT"

pids=()
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# --- tools --------------------------------------------------------------------

if ! command -v wrk >/dev/null 2>&1; then
	log "wrk not found; installing the Debian package wrk"
	if [ "$(id -u)" -eq 0 ]; then
		apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
	elif command -v sudo >/dev/null 2>&1; then
		sudo apt-get install -y wrk >/dev/null || { sudo apt-get update >/dev/null && sudo apt-get install -y wrk >/dev/null; }
	else
		log "cannot install wrk (not root, no sudo): apt-get install wrk"
		exit 1
	fi
fi
for tool in curl awk sort; do
	command -v "$tool" >/dev/null 2>&1 || { log "$tool is required"; exit 1; }
done

ECSGATE_BIN=${ECSGATE_BIN:-}
if [ -z "$ECSGATE_BIN" ]; then
	log "building bin/ecsgate and the stubs"
	$GO build -o bin/ecsgate ./cmd/ecsgate
	ECSGATE_BIN=bin/ecsgate
else
	log "building the stubs; gateway: $ECSGATE_BIN"
fi
$GO build -o bin/bench-upstream ./bench/upstream
$GO build -o bin/bench-keystone ./bench/keystone

# --- processes ----------------------------------------------------------------

wait_http() { # url: wait until it answers (any status), up to 10 s

	for _ in $(seq 1 100); do
		if curl -s -o /dev/null --max-time 1 "$1"; then
			return 0
		fi
		sleep 0.1
	done
	log "no answer from $1"
	exit 1
}

bin/bench-upstream -addr "127.0.0.1:$UPSTREAM_PORT" 2>"$OUT/upstream.log" &
UPSTREAM_PID=$!
pids+=("$UPSTREAM_PID")
bin/bench-keystone -addr "127.0.0.1:$KEYSTONE_PORT" -token "$TOKEN" 2>"$OUT/keystone.log" &
pids+=($!)

# start_gateway name binary admin_port site_port handlers: writes
# $OUT/<name>/Caddyfile serving one site with the given handlers and starts
# the binary on it; the process id is left in GATEWAY_PID. Caddy's data and
# config directories go to $OUT, not to the home directory.
start_gateway() {
	local name=$1 bin=$2 admin=$3 port=$4 handlers=$5 dir="$OUT/$1"
	mkdir -p "$dir"
	cat >"$dir/Caddyfile" <<EOF
{
	admin localhost:$admin
	auto_https off
	persist_config off
	grace_period 1s
}

http://127.0.0.1:$port {
	bind 127.0.0.1
$handlers
}
EOF
	XDG_DATA_HOME="$dir/xdg" XDG_CONFIG_HOME="$dir/xdg" \
		"$bin" run --config "$dir/Caddyfile" --adapter caddyfile 2>"$dir/ecsgate.log" &
	GATEWAY_PID=$!
	pids+=("$GATEWAY_PID")
}

PROXY="	reverse_proxy 127.0.0.1:$UPSTREAM_PORT"
POLICY="	ecs_policy {
		keystone http://127.0.0.1:$KEYSTONE_PORT/v3
	}
$PROXY"

start_gateway plain "$ECSGATE_BIN" "$PLAIN_ADMIN_PORT" "$PLAIN_PORT" "$PROXY"
PLAIN_PID=$GATEWAY_PID
start_gateway policy "$ECSGATE_BIN" "$ADMIN_PORT" "$POLICY_PORT" "$POLICY"
ECSGATE_PID=$GATEWAY_PID

targets="direct plain policy"
BASE_PID=
if [ -n "$BASE_BIN" ]; then
	start_gateway base "$BASE_BIN" "$BASE_ADMIN_PORT" "$BASE_PORT" "$POLICY"
	BASE_PID=$GATEWAY_PID
	targets="$targets base"
fi

wait_http "http://127.0.0.1:$UPSTREAM_PORT/"
wait_http "http://127.0.0.1:$KEYSTONE_PORT/stats"
wait_http "http://127.0.0.1:$PLAIN_PORT/"
wait_http "http://127.0.0.1:$POLICY_PORT/"
[ -z "$BASE_PID" ] || wait_http "http://127.0.0.1:$BASE_PORT/"

status() { # method url token
	curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "X-Auth-Token: $3" \
		-H 'Content-Type: application/json' --data '{"unlock": null}' "$2"
}
got=$(status POST "http://127.0.0.1:$POLICY_PORT$ACTION_PATH" "$TOKEN")
[ "$got" = 202 ] || { log "policy site answered $got to the benchmark request, want 202 (see $OUT/policy/ecsgate.log)"; exit 1; }
got=$(status POST "http://127.0.0.1:$POLICY_PORT$ACTION_PATH" wrong-token)
[ "$got" = 403 ] || { log "policy site answered $got to an unknown token, want 403"; exit 1; }
got=$(status POST "http://127.0.0.1:$PLAIN_PORT$ACTION_PATH" "$TOKEN")
[ "$got" = 202 ] || { log "plain site answered $got, want 202"; exit 1; }
if [ -n "$BASE_PID" ]; then
	got=$(status POST "http://127.0.0.1:$BASE_PORT$ACTION_PATH" "$TOKEN")
	[ "$got" = 202 ] || { log "base site answered $got, want 202 (see $OUT/base/ecsgate.log)"; exit 1; }
fi

# --- measuring ----------------------------------------------------------------

cat >"$OUT/unlock.lua" <<EOF
wrk.method = "POST"
wrk.body = '{"unlock": null}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Auth-Token"] = "$TOKEN"

-- One machine-readable line; latencies in microseconds.
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
		summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
		e.status, e.connect + e.read + e.write + e.timeout))
end
EOF

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # pid: utime+stime in clock ticks
	# Fields after the parenthesised command name: state is $3, utime $14, stime $15.
	sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

url_of() {
	case $1 in
	direct) echo "http://127.0.0.1:$UPSTREAM_PORT$ACTION_PATH" ;;
	plain) echo "http://127.0.0.1:$PLAIN_PORT$ACTION_PATH" ;;
	policy) echo "http://127.0.0.1:$POLICY_PORT$ACTION_PATH" ;;
	base) echo "http://127.0.0.1:$BASE_PORT$ACTION_PATH" ;;
	esac
}

gateway_pid() { # target: the gateway process serving it
	case $1 in
	base) echo "$BASE_PID" ;;
	plain) echo "$PLAIN_PID" ;;
	*) echo "$ECSGATE_PID" ;;
	esac
}

field() { # name line
	sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" $2"
}

# run target kind round duration threads connections
run() {
	local target=$1 kind=$2 round=$3 duration=$4 threads=$5 conns=$6
	local raw="$OUT/$kind-$target-$round.txt" before_g after_g before_u after_u line gw
	gw=$(gateway_pid "$target")
	before_g=$(cpu_ticks "$gw")
	before_u=$(cpu_ticks "$UPSTREAM_PID")
	wrk -t"$threads" -c"$conns" -d"$duration" --timeout 5s -s "$OUT/unlock.lua" "$(url_of "$target")" >"$raw"
	after_g=$(cpu_ticks "$gw")
	after_u=$(cpu_ticks "$UPSTREAM_PID")
	line=$(grep '^RESULT' "$raw")
	local requests duration_us non2xx errors
	requests=$(field requests "$line")
	duration_us=$(field duration_us "$line")
	non2xx=$(field non2xx "$line")
	errors=$(field errors "$line")
	if [ "$requests" -eq 0 ] || [ "$non2xx" -ne 0 ] || [ "$errors" -ne 0 ]; then
		log "$target ($kind, round $round): $requests requests, $non2xx non-2xx, $errors socket errors; see $raw"
		exit 1
	fi
	awk -v t="$target" -v k="$kind" -v r="$round" -v n="$requests" -v d="$duration_us" \
		-v p50="$(field p50_us "$line")" -v p99="$(field p99_us "$line")" \
		-v g="$((after_g - before_g))" -v u="$((after_u - before_u))" -v hz="$CLK_TCK" \
		'BEGIN { printf "%s %s %s %.0f %d %d %.1f %.1f\n", k, t, r, n / (d / 1e6), p50, p99, g * 1e6 / hz / n, u * 1e6 / hz / n }' \
		>>"$OUT/results.txt"
	log "$(printf '  round %s %-6s %-7s %8.0f req/s' "$round" "$kind" "$target" "$(awk -v n="$requests" -v d="$duration_us" 'BEGIN {print n / (d / 1e6)}')")"
}

log "warming up (identity cache, connections)"
for target in $targets; do
	[ "$target" = direct ] && continue
	wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$OUT/unlock.lua" "$(url_of "$target")" >/dev/null
done
rss_start=$(rss_kib "$ECSGATE_PID")
: >"$OUT/results.txt"
: >"$OUT/rss.txt"

log "measuring: $ROUNDS rounds of $DURATION at -t$THREADS -c$CONNECTIONS and $LAT_DURATION at -t1 -c1"
reversed_targets=$(tr ' ' '\n' <<<"$targets" | tac | tr '\n' ' ')
for round in $(seq 1 "$ROUNDS"); do
	# Even rounds run the targets in reverse order: the place in a round
	# matters (a target run last measured 0.03-0.05x better than the same
	# build run before it), so each target takes each place as often.
	order=$targets
	[ $((round % 2)) -eq 0 ] && order=$reversed_targets
	for target in $order; do
		run "$target" load "$round" "$DURATION" "$THREADS" "$CONNECTIONS"
	done
	for target in $order; do
		run "$target" c1 "$round" "$LAT_DURATION" 1 1
	done
	echo "$round $(rss_kib "$ECSGATE_PID")" >>"$OUT/rss.txt"
done

if [ "$PROFILE" = 1 ]; then
	log "profiling ecsgate under $PROFILE_TARGET load (-c$PROFILE_CONNECTIONS)"
	secs=${DURATION%s}
	wrk -t"$PROFILE_THREADS" -c"$PROFILE_CONNECTIONS" -d"$((secs + 2))s" -s "$OUT/unlock.lua" "$(url_of "$PROFILE_TARGET")" >"$OUT/profile-wrk.txt" &
	wrk_pid=$!
	pids+=("$wrk_pid")
	sleep 1
	profile_admin=$ADMIN_PORT
	[ "$PROFILE_TARGET" = plain ] && profile_admin=$PLAIN_ADMIN_PORT
	curl -s -o "$OUT/$PROFILE_TARGET.cpu.pprof" "http://localhost:$profile_admin/debug/pprof/profile?seconds=$secs"
	wait "$wrk_pid" || true
	$GO tool pprof -top -nodecount 40 "$ECSGATE_BIN" "$OUT/$PROFILE_TARGET.cpu.pprof" >"$OUT/$PROFILE_TARGET.cpu.top.txt" 2>/dev/null || true
	$GO tool pprof -top -cum -nodecount 60 "$ECSGATE_BIN" "$OUT/$PROFILE_TARGET.cpu.pprof" >"$OUT/$PROFILE_TARGET.cpu.cum.txt" 2>/dev/null || true
fi

validations=$(curl -s "http://127.0.0.1:$KEYSTONE_PORT/stats" | sed -n 's/.*"validations":\([0-9]*\).*/\1/p')

# --- report -------------------------------------------------------------------

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
col() { # kind target column: median over rounds
	awk -v k="$1" -v t="$2" -v c="$3" '$1 == k && $2 == t { print $c }' "$OUT/results.txt" | median
}
# against kind target column op: one line per round, in round order, with
# (target op plain) for that round's runs; op "/" (ratio) or "-" (difference).
against() {
	awk -v k="$1" -v t="$2" -v c="$3" -v op="$4" '
		$1 == k && $2 == "plain" { base[$3] = $c }
		$1 == k && $2 == t { val[$3] = $c }
		END { for (r = 1; r in val; r++) if (r in base) print (op == "/" ? val[r] / base[r] : val[r] - base[r]) }
	' "$OUT/results.txt"
}
# per_round: the median of against. rounds: every round's value, rounded.
per_round() { against "$@" | median; }
rounds() { against "$@" | awk -v d="$([ "$4" = / ] && echo 2 || echo 0)" '{ printf "%s%.*f", (NR > 1 ? " " : ""), d, $1 }'; }

{
	echo "ecsgate bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "POST {\"unlock\": null} to $ACTION_PATH; medians of $ROUNDS interleaved rounds"
	echo "load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION; c1: wrk -t1 -c1 -d$LAT_DURATION"
	echo
	printf '%-18s %9s %7s %8s %8s %11s %8s %10s %10s\n' target req/s ratio p50_us p99_us cpu_us/req +cpu_us c1_p50_us c1_+p50_us
	for target in $targets; do
		case $target in
		direct) name="upstream directly" ;;
		plain) name="reverse_proxy" ;;
		policy) name="ecs_policy+proxy" ;;
		base) name="base ecs_policy" ;;
		esac
		cpu=$(col load "$target" 7)
		dcpu=$(per_round load "$target" 7 -)
		if [ "$target" = direct ]; then
			cpu="-"
			dcpu="-"
		fi
		printf '%-18s %9.0f %6.2fx %8s %8s %11s %8s %10s %+10.0f\n' "$name" "$(col load "$target" 4)" \
			"$(per_round load "$target" 4 /)" "$(col load "$target" 5)" "$(col load "$target" 6)" \
			"$cpu" "$dcpu" "$(col c1 "$target" 5)" "$(per_round c1 "$target" 5 -)"
	done
	echo "ratio, +cpu_us and c1_+p50_us compare each round with that round's reverse_proxy run (medians)"
	for target in policy base; do
		[ "$target" = base ] && [ -z "$BASE_PID" ] && continue
		echo "  $target per round: ratio $(rounds load "$target" 4 /); +cpu_us $(rounds load "$target" 7 -); c1_+p50_us $(rounds c1 "$target" 5 -)"
	done
	[ -z "$BASE_PID" ] || echo "base: $BASE_BIN"
	echo "upstream stub CPU: $(col load plain 8) us/request (through the proxy)"
	echo "ecs_policy process RSS: ${rss_start} KiB after warm-up, then per round: $(awk '{printf "%s ", $2}' "$OUT/rss.txt")KiB"
	echo "keystone validations: ${validations:-?} (the identity cache answered the rest)"
	echo "per-run figures: $OUT/results.txt (kind target round req/s p50 p99 cpu_us upstream_cpu_us)"
	if [ "$PROFILE" = 1 ]; then
		echo "CPU profile: $OUT/$PROFILE_TARGET.cpu.pprof (top: $OUT/$PROFILE_TARGET.cpu.top.txt)"
	fi
} | tee "$OUT/summary.txt"
