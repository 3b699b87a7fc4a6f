#!/usr/bin/env bash
# bench/run.sh (`make bench`): what ecs_policy costs on top of Caddy's plain
# reverse_proxy, on loopback, for the policies users run. bench/README.md
# explains the targets, the columns and the settings.
#
# Every site is an ecsgate process of its own in front of the same stub
# upstream, so that its CPU, heap and GC are its own (sharing one process
# made a site pay for its neighbours' idle connections and heap: a build
# measured alone came out 0.02-0.03x better than the same build sharing):
#   plain             reverse_proxy, the reference
#   shipped           ecs_policy (embedded policy) with the Keystone stub
#   shipped-nocache   the same with decision_cache off: the policy's own cost
#   inventory         the inventory fixture's data-heavy policy, Keystone stub
#   inventory-noauth  the same without keystone: no identity, all denied
#   deny              a policy denying everything with a reason, Keystone stub
#   trivial           decision := {"allow": true}, Keystone stub: the ceiling
#   base              (BASE_BIN) another build's BASE_POLICY site
# Every policy site forwards through `transport ecs_verified`, as documented.
# wrk also hits the upstream directly. All targets get the same request mix
# (bench/mix, via bench/mixgen and a wrk Lua script).
#
# Settings (environment; defaults in brackets): QUICK=1 (a smoke run of
# about a minute: 2 rounds of 2s + 1s), DURATION [6s] loaded run (wrk
# -t$THREADS -c$CONNECTIONS), LAT_DURATION [3s] one-connection run, ROUNDS
# [4], WARMUP [2s], CONNECTIONS [64], THREADS [2], SITES [all six],
# INVENTORY_SERVERS [1000], INVENTORY_WINDOW [open; or fixture], MIX_SEED [1],
# PORT_BASE [19080] (upstream, Keystone, then one port per site),
# ADMIN_PORT_BASE [2599] (one admin port per gateway), BASE_BIN,
# BASE_POLICY [shipped], PROFILE=1 with PROFILE_TARGET [inventory],
# PROFILE_CONNECTIONS, PROFILE_THREADS, ECSGATE_BIN (a prebuilt gateway),
# OUT (raw outputs; default a new temporary directory), GO.
#
# Everything listens on 127.0.0.1; the script kills only the processes it
# started, on any exit.
set -euo pipefail

cd "$(dirname "$0")/.."

QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then
	DURATION=${DURATION:-2s}
	LAT_DURATION=${LAT_DURATION:-1s}
	ROUNDS=${ROUNDS:-2}
	WARMUP=${WARMUP:-1s}
fi
DURATION=${DURATION:-6s}
LAT_DURATION=${LAT_DURATION:-3s}
ROUNDS=${ROUNDS:-4}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SITES=${SITES:-shipped shipped-nocache inventory inventory-noauth deny trivial}
INVENTORY_SERVERS=${INVENTORY_SERVERS:-1000}
INVENTORY_WINDOW=${INVENTORY_WINDOW:-open}
MIX_SEED=${MIX_SEED:-1}
PORT_BASE=${PORT_BASE:-19080}
ADMIN_PORT_BASE=${ADMIN_PORT_BASE:-2599}
BASE_BIN=${BASE_BIN:-}
BASE_POLICY=${BASE_POLICY:-shipped}
PROFILE=${PROFILE:-0}
PROFILE_TARGET=${PROFILE_TARGET:-inventory}
PROFILE_CONNECTIONS=${PROFILE_CONNECTIONS:-$CONNECTIONS}
PROFILE_THREADS=${PROFILE_THREADS:-$THREADS}
GO=${GO:-go}

ALL_SITES="shipped shipped-nocache inventory inventory-noauth deny trivial"
for site in $SITES; do
	case " $ALL_SITES " in *" $site "*) ;; *)
		echo "SITES: unknown site $site (known: $ALL_SITES)" >&2
		exit 2
		;;
	esac
done
if [ -n "$BASE_BIN" ]; then
	case " $SITES " in *" $BASE_POLICY "*) ;; *)
		echo "BASE_POLICY=$BASE_POLICY is not among SITES ($SITES)" >&2
		exit 2
		;;
	esac
fi

UPSTREAM_PORT=$PORT_BASE
KEYSTONE_PORT=$((PORT_BASE + 1))
# Fixed offsets, whatever SITES holds, so that a site keeps its ports.
declare -A PORT ADMIN PID LOGF
i=2
for target in plain $ALL_SITES base; do
	PORT[$target]=$((PORT_BASE + i))
	ADMIN[$target]=$((ADMIN_PORT_BASE + i - 2))
	i=$((i + 1))
done

OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ecsgate-bench.XXXXXX")}
mkdir -p "$OUT"
cut -d' ' -f1-3 /proc/loadavg >"$OUT/loadavg.start"

log() { printf '%s\n' "$*" >&2; }

# started: process id -> its start time (/proc/<pid>/stat, field 22), so that
# cleanup signals a process only while that id is still the process it
# started: bash reaps exited children at once, and their ids can be reused.
declare -A started
starttime() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $20 }'; }
own() { # pid: remember it as ours
	started[$1]=$(starttime "$1")
}
ours() { # pid: is it still the process we started?
	[ -n "${started[$1]:-}" ] && [ "$(starttime "$1")" = "${started[$1]}" ]
}
# bg_pid: the short-lived helper being waited for (a profile's curl or wrk).
bg_pid=
cleanup() {
	local pid left
	for pid in "${!started[@]}"; do
		! ours "$pid" || kill "$pid" 2>/dev/null || true
	done
	# Caddy drains for grace_period (1s); a process still there after 5 s
	# is killed rather than left behind.
	for _ in $(seq 1 50); do
		left=0
		for pid in "${!started[@]}"; do
			! ours "$pid" || left=1
		done
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	for pid in "${!started[@]}"; do
		! ours "$pid" || kill -KILL "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

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
for tool in curl awk sort tail head stat; do
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
$GO build -o bin/bench-mixgen ./bench/mixgen

# --- policies and the request mix ---------------------------------------------

mkdir -p "$OUT/policy"
bin/bench-mixgen -dir "$OUT/policy" -servers "$INVENTORY_SERVERS" -seed "$MIX_SEED" -window "$INVENTORY_WINDOW"
cat >"$OUT/policy/deny.rego" <<'EOF'
package bench.deny

decision := {"allow": false, "reasons": ["the benchmark's deny policy refuses every request"]}
EOF
cat >"$OUT/policy/trivial.rego" <<'EOF'
package bench.trivial

decision := {"allow": true}
EOF

# --- processes ----------------------------------------------------------------

wait_http() { # url [seconds]: wait until it answers (any status), up to 10 s
	for _ in $(seq 1 $((${2:-10} * 10))); do
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
own "$UPSTREAM_PID"
bin/bench-keystone -addr "127.0.0.1:$KEYSTONE_PORT" 2>"$OUT/keystone.log" &
own $!
wait_http "http://127.0.0.1:$UPSTREAM_PORT/"
wait_http "http://127.0.0.1:$KEYSTONE_PORT/stats"

KEYSTONE="		keystone http://127.0.0.1:$KEYSTONE_PORT/v3"
INVENTORY="		policy $OUT/policy/inventory.rego
		data $OUT/policy/inventory.json
		decision data.inventory.authz.decision"

# handlers site [transport]: the site's handlers in a Caddyfile; transport
# "plain" leaves ecs_verified out (for a BASE_BIN that predates it).
handlers() {
	local ecs transport="
		transport ecs_verified"
	[ "${2:-}" = plain ] && transport=
	case $1 in
	plain)
		echo "	reverse_proxy 127.0.0.1:$UPSTREAM_PORT"
		return
		;;
	shipped) ecs=$KEYSTONE ;;
	shipped-nocache) ecs="		decision_cache off
$KEYSTONE" ;;
	inventory) ecs="$INVENTORY
$KEYSTONE" ;;
	inventory-noauth) ecs=$INVENTORY ;;
	deny) ecs="		policy $OUT/policy/deny.rego
		decision data.bench.deny.decision
$KEYSTONE" ;;
	trivial) ecs="		policy $OUT/policy/trivial.rego
		decision data.bench.trivial.decision
$KEYSTONE" ;;
	esac
	cat <<EOF
	ecs_policy {
$ecs
	}
	reverse_proxy 127.0.0.1:$UPSTREAM_PORT {$transport
	}
EOF
}

# start_gateway target binary handlers: writes $OUT/<target>/Caddyfile and
# starts the binary on it. Caddy's data and config directories go to $OUT,
# not to the home directory.
start_gateway() {
	local target=$1 bin=$2 dir="$OUT/$1"
	mkdir -p "$dir"
	cat >"$dir/Caddyfile" <<EOF
{
	admin 127.0.0.1:${ADMIN[$target]}
	auto_https off
	persist_config off
	grace_period 1s
}

http://127.0.0.1:${PORT[$target]} {
	bind 127.0.0.1
$3
}
EOF
	LOGF[$target]="$dir/ecsgate.log"
	XDG_DATA_HOME="$dir/xdg" XDG_CONFIG_HOME="$dir/xdg" \
		"$bin" run --config "$dir/Caddyfile" --adapter caddyfile 2>"${LOGF[$target]}" &
	PID[$target]=$!
	own $!
	# One at a time: loading a policy specialises it against its data
	# (policy/compile.go) within a fixed budget, and gateways loading
	# together on two CPUs would run each other out of it.
	wait_http "http://127.0.0.1:${PORT[$target]}/" 60
	if grep -q 'policy served unspecialised' "${LOGF[$target]}"; then
		generic="$generic $target"
	fi
}
generic=

start_gateway plain "$ECSGATE_BIN" "$(handlers plain)"
for site in $SITES; do
	start_gateway "$site" "$ECSGATE_BIN" "$(handlers "$site")"
done
gateways="plain $SITES"
base_note=
if [ -n "$BASE_BIN" ]; then
	base_transport=
	# Not grep -q: it would stop reading, and pipefail would count the
	# list-modules SIGPIPE as "not found".
	if ! "$BASE_BIN" list-modules 2>/dev/null | grep -x 'http.reverse_proxy.transport.ecs_verified' >/dev/null; then
		base_transport=plain
		base_note=" (no ecs_verified in that build: plain http transport)"
	fi
	start_gateway base "$BASE_BIN" "$(handlers "$BASE_POLICY" "$base_transport")"
	gateways="$gateways base"
fi
targets="direct $gateways"


# user0 (bench/mix) reading server 0, which it owns in its project: every
# policy allows it but deny and inventory-noauth; an unknown token: only
# trivial does.
TOKEN=bench-token-0
SERVER=/v2.1/servers/c0ffee00-0000-4000-8000-000000000000
status() { # url token
	curl -s -o /dev/null -w '%{http_code}' -H "X-Auth-Token: $2" "$1"
}
expect() { # target token want
	local got
	got=$(status "http://127.0.0.1:${PORT[$1]}$SERVER" "$2")
	[ "$got" = "$3" ] || { log "$1 answered $got to GET $SERVER with token $2, want $3 (see $OUT/$1/ecsgate.log)"; exit 1; }
}
for target in $gateways; do
	site=$target
	[ "$target" = base ] && site=$BASE_POLICY
	case $site in
	plain | trivial) expect "$target" "$TOKEN" 200 ;;
	deny | inventory-noauth) expect "$target" "$TOKEN" 403 ;;
	*)
		expect "$target" "$TOKEN" 200
		expect "$target" wrong-token 403
		;;
	esac
done

# --- measuring ----------------------------------------------------------------

# Every thread cycles through the whole mix from its own starting point, so
# connections do not send the same request together. The requests are
# formatted once, in init: formatting per request would cost wrk CPU the
# servers then lack on a small machine.
cat >"$OUT/mix.lua" <<EOF
local reqs, n, i = {}, 0, 0
local threads = 0

function setup(thread)
	thread:set("first", threads)
	threads = threads + 1
end

function init(args)
	for line in io.lines("$OUT/policy/requests.tsv") do
		local method, path, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
		local headers = { ["X-Auth-Token"] = token }
		if body == "" then
			body = nil
		else
			headers["Content-Type"] = "application/json"
		end
		reqs[#reqs + 1] = wrk.format(method, path, headers, body)
	end
	n = #reqs
	i = (first * 997) % n
end

function request()
	i = i % n + 1
	return reqs[i]
end

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

# scrape target: "mallocs bytes allow deny other wire_refusals heap_inuse
# gc_cycles gc_pause_seconds" from the gateway's /metrics (Go runtime and
# ecsgate counters).
scrape() {
	curl -s --max-time 5 "http://127.0.0.1:${ADMIN[$1]}/metrics" | awk '
		/^go_memstats_mallocs_total / { m = $2 }
		/^go_memstats_alloc_bytes_total / { b = $2 }
		/^caddy_ecsgate_decisions_total\{/ {
			if ($0 ~ /result="allow"/) a += $NF
			else if ($0 ~ /result="deny"/) d += $NF
			else o += $NF
		}
		/^caddy_ecsgate_wire_refusals_total\{/ { w += $NF }
		/^go_memstats_heap_inuse_bytes / { h = $2 }
		/^go_gc_duration_seconds_count / { c = $2 }
		/^go_gc_duration_seconds_sum / { p = $2 }
		END { printf "%.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.6f\n", m, b, a, d, o, w, h, c, p }'
}

# GC_FOCUS picks the samples of a CPU profile that are the garbage
# collector's work: marking (background workers, assists), sweeping (in the
# background and inside allocations), and starting and ending a cycle.
GC_FOCUS='^runtime\.(gcBgMarkWorker|gcAssistAlloc1?|gcDrain[A-Za-z]*|bgsweep|sweepone|gcStart|gcMarkDone|gcMarkTermination)$|^runtime\.\(\*mspan\)\.sweep$'

# gc_share profile: the percentage of the profile's samples in GC_FOCUS.
gc_share() {
	local pct
	pct=$($GO tool pprof -top -nodefraction=0 -nodecount=1000000 -focus "$GC_FOCUS" "$1" 2>/dev/null |
		sed -n 's/^Showing nodes accounting for [^,]*, \([0-9.]*\)% of .*/\1/p')
	echo "${pct:-0}"
}

# seconds duration: a wrk duration (Ns, Nm) in seconds, for the profile
# that covers a loaded run.
seconds() {
	case $1 in
	*[0-9]s) echo "${1%s}" ;;
	*[0-9]m) echo $((${1%m} * 60)) ;;
	*[0-9]) echo "$1" ;;
	*)
		log "duration $1: use whole seconds (6s) or minutes (1m)"
		exit 2
		;;
	esac
}
LOAD_SECS=$(seconds "$DURATION")

field() { # name line
	sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<" $2"
}

# run target kind round duration threads connections: one wrk run, one line
# in results.txt (columns in the report's footer).
run() {
	local target=$1 kind=$2 round=$3 duration=$4 threads=$5 conns=$6
	local raw="$OUT/$kind-$target-$round.txt" url gw="" line
	local before_g=0 after_g=0 before_u after_u m0="" m1="" prof=""
	if [ "$target" = direct ]; then
		url="http://127.0.0.1:$UPSTREAM_PORT/"
	else
		url="http://127.0.0.1:${PORT[$target]}/"
		gw=${PID[$target]}
		kill -0 "$gw" 2>/dev/null || { log "$target's gateway has exited; see ${LOGF[$target]}"; exit 1; }
	fi
	# A CPU profile of every loaded run gives its GC share: the runtime's
	# own GC CPU accounting (gctrace, runtime/metrics) is estimated from the
	# time its workers run, which on a busy shared machine came out twice
	# what the profile, sampling each thread's CPU clock, measured.
	if [ -n "$gw" ] && [ "$kind" = load ]; then
		m0=$(scrape "$target")
		prof="$OUT/profiles/$target-$round.pprof"
		mkdir -p "$OUT/profiles"
		curl -s -o "$prof" "http://127.0.0.1:${ADMIN[$target]}/debug/pprof/profile?seconds=$LOAD_SECS" &
		bg_pid=$!
		own "$bg_pid"
	fi
	[ -z "$gw" ] || before_g=$(cpu_ticks "$gw")
	before_u=$(cpu_ticks "$UPSTREAM_PID")
	wrk -t"$threads" -c"$conns" -d"$duration" --timeout 5s -s "$OUT/mix.lua" "$url" >"$raw"
	[ -z "$gw" ] || after_g=$(cpu_ticks "$gw")
	after_u=$(cpu_ticks "$UPSTREAM_PID")
	if [ -n "$m0" ]; then
		wait "$bg_pid" || { bg_pid=; log "$target: no CPU profile (round $round)"; exit 1; }
		bg_pid=
		m1=$(scrape "$target")
	fi
	line=$(grep '^RESULT' "$raw") || { log "$target ($kind, round $round): no result from wrk; see $raw"; exit 1; }
	local requests duration_us non2xx errors
	requests=$(field requests "$line")
	duration_us=$(field duration_us "$line")
	non2xx=$(field non2xx "$line")
	errors=$(field errors "$line")
	if [ "$requests" -eq 0 ] || [ "$errors" -ne 0 ]; then
		log "$target ($kind, round $round): $requests requests, $errors socket errors; see $raw"
		exit 1
	fi
	# Only a policy's denials (403) may be non-2xx; the metrics below say
	# whether every one of them was a decision.
	if { [ "$target" = direct ] || [ "$target" = plain ]; } && [ "$non2xx" -ne 0 ]; then
		log "$target ($kind, round $round): $non2xx non-2xx answers; see $raw"
		exit 1
	fi
	local mem="- - - - - - - - - -"
	if [ -n "$m0" ]; then
		mem=$(awk -v m0="$m0" -v m1="$m1" -v gc="$(gc_share "$prof")" -v n="$requests" -v g="$((after_g - before_g))" \
			-v hz="$CLK_TCK" -v rss="$(rss_kib "$gw")" -v t="$target" -v conns="$conns" '
			BEGIN {
				split(m0, a, " "); split(m1, b, " ")
				decided = (b[3] - a[3]) + (b[4] - a[4]) + (b[5] - a[5])
				# wrk closes its connections when the time is up: a request
				# in flight then fails its evaluation (context canceled).
				if (b[5] - a[5] > conns || b[6] - a[6] > 0) {
					printf "FAIL %d rejections or errors and %d wire refusals", b[5] - a[5], b[6] - a[6]
					exit
				}
				printf "%.1f %.0f %.1f %.2f %s %d %d %.1f %.0f %d", (b[1] - a[1]) / n, (b[2] - a[2]) / n,
					gc, gc / 100 * g * 1e6 / hz / n,
					t == "plain" ? "-" : sprintf("%.1f", decided ? 100 * (b[4] - a[4]) / decided : 0), rss, b[8] - a[8],
					(b[9] - a[9]) * 1000, b[7] / 1024, b[5] - a[5]
			}')
		case $mem in FAIL*)
			log "$target ($kind, round $round): ${mem#FAIL }; see ${LOGF[$target]}, whose last error says:"
			log "  $(grep '"level":"error"' "${LOGF[$target]}" | tail -1 | grep -o '"error":"[^"]*"' || true)"
			exit 1
			;;
		esac
	fi
	local cpu="-"
	[ -z "$gw" ] || cpu=$(awk -v g="$((after_g - before_g))" -v n="$requests" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", g * 1e6 / hz / n }')
	awk -v t="$target" -v k="$kind" -v r="$round" -v n="$requests" -v d="$duration_us" \
		-v p50="$(field p50_us "$line")" -v p99="$(field p99_us "$line")" -v cpu="$cpu" \
		-v u="$((after_u - before_u))" -v hz="$CLK_TCK" -v mem="$mem" \
		'BEGIN { printf "%s %s %s %.0f %d %d %s %.1f %s\n", k, t, r, n / (d / 1e6), p50, p99, cpu, u * 1e6 / hz / n, mem }' \
		>>"$OUT/results.txt"
	log "$(awk -v r="$round" -v k="$kind" -v t="$target" -v n="$requests" -v d="$duration_us" \
		'BEGIN { printf "  round %s %-4s %-16s %8.0f req/s", r, k, t, n / (d / 1e6) }')"
}

log "warming up (identity caches, connections): $WARMUP per gateway"
for target in $gateways; do
	wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" -s "$OUT/mix.lua" "http://127.0.0.1:${PORT[$target]}/" >"$OUT/warmup-$target.txt"
done
: >"$OUT/results.txt"

log "measuring: $ROUNDS rounds of $DURATION at -t$THREADS -c$CONNECTIONS and $LAT_DURATION at -t1 -c1; targets: $targets"
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
done

if [ "$PROFILE" = 1 ]; then
	[ -n "${PID[$PROFILE_TARGET]:-}" ] || { log "PROFILE_TARGET=$PROFILE_TARGET is not running (gateways: $gateways)"; exit 1; }
	log "profiling $PROFILE_TARGET under load (-c$PROFILE_CONNECTIONS)"
	secs=${DURATION%s}
	wrk -t"$PROFILE_THREADS" -c"$PROFILE_CONNECTIONS" -d"$((secs + 2))s" -s "$OUT/mix.lua" \
		"http://127.0.0.1:${PORT[$PROFILE_TARGET]}/" >"$OUT/profile-wrk.txt" &
	bg_pid=$!
	own "$bg_pid"
	sleep 1
	curl -s -o "$OUT/$PROFILE_TARGET.cpu.pprof" "http://127.0.0.1:${ADMIN[$PROFILE_TARGET]}/debug/pprof/profile?seconds=$secs"
	wait "$bg_pid" || true
	bg_pid=
	profile_bin=$ECSGATE_BIN
	[ "$PROFILE_TARGET" = base ] && profile_bin=$BASE_BIN
	$GO tool pprof -top -nodecount 40 "$profile_bin" "$OUT/$PROFILE_TARGET.cpu.pprof" >"$OUT/$PROFILE_TARGET.cpu.top.txt" 2>/dev/null || true
	$GO tool pprof -top -cum -nodecount 60 "$profile_bin" "$OUT/$PROFILE_TARGET.cpu.pprof" >"$OUT/$PROFILE_TARGET.cpu.cum.txt" 2>/dev/null || true
fi

validations=$(curl -s "http://127.0.0.1:$KEYSTONE_PORT/stats" | sed -n 's/.*"validations":\([0-9]*\).*/\1/p')
with_keystone=0
for target in $gateways; do
	grep -q 'keystone ' "$OUT/$target/Caddyfile" && with_keystone=$((with_keystone + 1))
done

# --- report -------------------------------------------------------------------

{
	echo "ecsgate bench: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, $(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
	echo "load average before/after: $(cat "$OUT/loadavg.start" 2>/dev/null || echo ?) / $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "request mix: $(wc -l <"$OUT/policy/requests.tsv") requests cycled (bench/mix), $INVENTORY_SERVERS servers, window $INVENTORY_WINDOW, seed $MIX_SEED"
	echo "medians of $ROUNDS interleaved rounds; load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION; c1: wrk -t1 -c1 -d$LAT_DURATION"
	echo
	awk -v targets="$targets" -v rounds="$ROUNDS" -v base_policy="$BASE_POLICY" -v base_note="$base_note" '
		{ for (c = 4; c <= NF; c++) v[$1, $2, c, $3] = $c }
		function isnum(x) { return x ~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/ }
		function median(a, n,   i, j, x) {
			for (i = 2; i <= n; i++) {
				x = a[i]
				for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]
				a[j + 1] = x
			}
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		# col: the median over rounds; "-" when not measured.
		function col(k, t, c,   a, n, r) {
			n = 0
			for (r = 1; r <= rounds; r++) if (((k, t, c, r) in v) && isnum(v[k, t, c, r])) a[++n] = v[k, t, c, r]
			return n ? median(a, n) : "-"
		}
		# rel: each round against the same round of ref (ratio or
		# difference), then the median; list: every round.
		function relval(k, t, c, op, ref, r,   x, y) {
			if (!((k, t, c, r) in v) || !((k, ref, c, r) in v)) return "-"
			x = v[k, t, c, r]; y = v[k, ref, c, r]
			if (!isnum(x) || !isnum(y) || (op == "/" && y == 0)) return "-"
			return op == "/" ? x / y : x - y
		}
		function rel(k, t, c, op, ref,   a, n, r, x) {
			n = 0
			for (r = 1; r <= rounds; r++) if (isnum(x = relval(k, t, c, op, ref, r))) a[++n] = x
			return n ? median(a, n) : "-"
		}
		function list(k, t, c, op, ref, fmt,   r, s, x) {
			s = ""
			for (r = 1; r <= rounds; r++) {
				x = relval(k, t, c, op, ref, r)
				s = s (r > 1 ? " " : "") (isnum(x) ? sprintf(fmt, x) : "-")
			}
			return s
		}
		function f(x, fmt) { return isnum(x) ? sprintf(fmt, x) : "-" }
		function kib(x) { return isnum(x) ? x / 1024 : "-" }
		function name(t) {
			if (t == "direct") return "upstream directly"
			if (t == "plain") return "reverse_proxy"
			if (t == "base") return "base " base_policy
			return t
		}
		END {
			n = split(targets, T, " ")
			fmt = "%-18s %7s %6s %7s %7s %7s %7s %6s %6s %5s %6s %5s %5s %7s\n"
			printf fmt, "loaded", "req/s", "ratio", "cpu_us", "+cpu_us", "allocs", "+allocs", "KiB", "+KiB", \
				"gc_%", "gc_us", "heap", "rss", "denied"
			for (i = 1; i <= n; i++) {
				t = T[i]
				printf fmt, name(t), f(col("load", t, 4), "%.0f"),
					f(rel("load", t, 4, "/", "plain"), "%.2fx"), f(col("load", t, 7), "%.1f"), f(rel("load", t, 7, "-", "plain"), "%+.1f"),
					f(col("load", t, 9), "%.0f"), f(rel("load", t, 9, "-", "plain"), "%+.0f"),
					f(kib(col("load", t, 10)), "%.1f"), f(kib(rel("load", t, 10, "-", "plain")), "%+.1f"),
					f(col("load", t, 11), "%.1f"), f(col("load", t, 12), "%.1f"),
					f(kib(col("load", t, 17)), "%.0f"), f(kib(col("load", t, 14)), "%.0f"), f(col("load", t, 13), "%.1f%%")
			}
			print ""
			printf "%-18s %8s %8s %8s %8s\n", "one connection", "p50_us", "+p50_us", "p99_us", "+p99_us"
			for (i = 1; i <= n; i++) {
				t = T[i]
				printf "%-18s %8s %8s %8s %8s\n", name(t), f(col("c1", t, 5), "%.0f"), f(rel("c1", t, 5, "-", "plain"), "%+.0f"),
					f(col("c1", t, 6), "%.0f"), f(rel("c1", t, 6, "-", "plain"), "%+.0f")
			}
			print ""
			print "per round, against the same round'"'"'s reverse_proxy (ratio, +cpu_us, c1 +p50_us):"
			for (i = 1; i <= n; i++) {
				t = T[i]
				if (t == "direct" || t == "plain") continue
				printf "  %-16s %s | %s | %s\n", name(t), list("load", t, 4, "/", "plain", "%.2f"),
					list("load", t, 7, "-", "plain", "%+.0f"), list("c1", t, 5, "-", "plain", "%+.0f")
			}
			if (targets ~ / base/) {
				printf "base against %s per round: ratio %s, +cpu_us %s, c1 +p50_us %s%s\n", base_policy,
					list("load", "base", 4, "/", base_policy, "%.2f"), list("load", "base", 7, "-", base_policy, "%+.0f"),
					list("c1", "base", 5, "-", base_policy, "%+.0f"), base_note
			}
			printf "upstream stub CPU: %s us/request (through reverse_proxy)\n", f(col("load", "plain", 8), "%.1f")
		}' "$OUT/results.txt"
	[ -z "$BASE_BIN" ] || echo "base: $BASE_BIN"
	printf 'peak RSS (VmHWM) over the whole run, MiB:'
	for target in $gateways; do
		printf ' %s %s' "$target" "$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/${PID[$target]}/status")"
	done
	echo
	[ -z "$generic" ] || echo "served unspecialised (specialisation ran out of its load-time budget):$generic"
	echo "keystone validations: ${validations:-?} ($with_keystone gateways with keystone; the identity caches answered the rest)"
	echo "columns (bench/README.md): req/s and ratio to reverse_proxy; server CPU us/request (/proc utime+stime); allocs and"
	echo "  KiB allocated per request (go_memstats_mallocs_total, go_memstats_alloc_bytes_total); gc_% of the process CPU"
	echo "  in GC and gc_us per request (CPU profile of each run); heap in use and RSS after the run, MiB;"
	echo "  denied: share of decisions that denied (caddy_ecsgate_decisions_total)"
	echo "per-run figures: $OUT/results.txt (kind target round req/s p50 p99 cpu_us upstream_cpu_us allocs bytes gc_% gc_us denied_% rss_kib gc_cycles gc_pause_ms heap_inuse_kib undecided; profiles: $OUT/profiles)"
	if [ "$PROFILE" = 1 ]; then
		echo "CPU profile: $OUT/$PROFILE_TARGET.cpu.pprof (top: $OUT/$PROFILE_TARGET.cpu.top.txt)"
	fi
} | tee "$OUT/summary.txt"
