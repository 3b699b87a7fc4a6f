# shellcheck shell=bash disable=SC2034 # the constants below are used by the sourcing scripts
# Shared helpers for up.sh, down.sh, reset-servers.sh and smoke.sh. Source it; do not run it.
#
# Everything this stack owns lives under $STATE (default /tmp/ecsgate-openstack): config, sqlite
# files, fernet keys, logs and pidfiles. Every address is 127.0.0.1.

OS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${ECSGATE_OS_STATE:-/tmp/ecsgate-openstack}"
# Absolute, no trailing slash: the PID-reuse guard matches this string in /proc/PID/cmdline.
case "$STATE" in
/*) ;;
*) STATE="$(pwd)/$STATE" ;;
esac
STATE="${STATE%/}"
export ECSGATE_OS_STATE="$STATE"

LOG_DIR="$STATE/logs"
RUN_DIR="$STATE/run"
ETC_DIR="$STATE/etc"
DATA_DIR="$STATE/data"

# Distribution Python: nova, keystoneclient and friends come from Debian packages, and the
# machine's PATH may put a pyenv shim first.
PY=/usr/bin/python3

KEYSTONE_PORT=5000
NOVA_PORT=8774
NEUTRON_PORT=9696
GLANCE_PORT=9292
PLACEMENT_PORT=8778
KEYSTONE_URL="http://127.0.0.1:$KEYSTONE_PORT/v3"
NOVA_URL="http://127.0.0.1:$NOVA_PORT/v2.1"

PASSWORD_SUFFIX="-secret"

# Fixed seed data (see seed_servers.py).
SERVER1=c0ffee00-0000-4000-8000-000000000001
SERVER2=c0ffee00-0000-4000-8000-000000000002
SERVER3=c0ffee00-0000-4000-8000-000000000003
IMAGE_ID=c0ffee00-0000-4000-8000-0000000000aa

# Name of the calling script, for log lines.
LOG_TAG="${LOG_TAG:-$(basename "$0" .sh)}"

ts() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }

# log MESSAGE...: timestamped line on stderr and in $STATE/logs/<script>.log (once the dir exists).
log() {
	local line
	line="$(ts) [$LOG_TAG] $*"
	printf '%s\n' "$line" >&2
	if [[ -d "$LOG_DIR" ]]; then
		printf '%s\n' "$line" >>"$LOG_DIR/$LOG_TAG.log"
	fi
}

die() {
	log "ERROR: $*"
	exit 1
}

# Seconds since the epoch with millisecond precision, for step timings.
now_ms() { date +%s%3N; }

# step NAME CMD...: log start and end (with duration) of one step. Runs CMD directly (not in an
# `||` list, which would switch off errexit inside it); failures are reported by the ERR trap below.
step() {
	local name="$1" t0
	shift
	log "step: $name ..."
	t0="$(now_ms)"
	"$@"
	log "step: $name done in $(($(now_ms) - t0)) ms"
}

# Any failing command (errexit) gets a log line naming it before the script exits.
set -E
trap 'log "ERROR: exit $? at ${BASH_SOURCE[0]##*/}:$LINENO: $BASH_COMMAND"' ERR

# pid_is_ours PIDFILE PID: true if PID is alive and its command line still names our state dir
# (guards against PID reuse; the pidfile path itself is under the state dir and on every command line
# we start).
pid_is_ours() {
	local pidfile="$1" pid="$2" cmdline
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[[ -r "/proc/$pid/cmdline" ]] || return 1
	cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
	[[ "$cmdline" == *"$pidfile"* ]]
}

# pidfile_pid PIDFILE: prints the recorded PID if it is alive and ours; fails otherwise.
pidfile_pid() {
	local pidfile="$1" pid
	[[ -s "$pidfile" ]] || return 1
	pid="$(tr -dc '0-9' <"$pidfile")"
	pid_is_ours "$pidfile" "$pid" || return 1
	printf '%s\n' "$pid"
}

# children_of PID: direct children (uwsgi workers) of PID.
children_of() {
	local parent="$1" stat pid rest ppid
	for stat in /proc/[0-9]*/stat; do
		# /proc/PID/stat: pid (comm) state ppid ...; comm may contain spaces, so cut after the last ')'.
		{ IFS= read -r rest <"$stat"; } 2>/dev/null || continue
		pid="${rest%% *}"
		rest="${rest##*) }"
		ppid="$(cut -d' ' -f2 <<<"$rest")"
		[[ "$ppid" == "$parent" ]] && printf '%s\n' "$pid"
	done
	return 0
}

# stop_pidfile PIDFILE [TIMEOUT_S]: TERM the recorded master and its noted children, KILL leftovers.
# Only processes whose command line contains PIDFILE are ever signalled.
stop_pidfile() {
	local pidfile="$1" timeout="${2:-15}" pid kids=() k deadline alive
	if ! pid="$(pidfile_pid "$pidfile")"; then
		if [[ -e "$pidfile" ]]; then
			log "$(basename "$pidfile"): no live process of ours; removing stale pidfile"
			rm -f "$pidfile"
		fi
		return 0
	fi
	# Note the workers before stopping the master: once it is gone they are re-parented.
	while IFS= read -r k; do
		[[ -n "$k" ]] && pid_is_ours "$pidfile" "$k" && kids+=("$k")
	done < <(children_of "$pid")
	log "stopping $(basename "$pidfile" .pid): pid $pid${kids[*]:+, workers ${kids[*]}}"
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		alive=0
		for k in "$pid" "${kids[@]}"; do
			pid_is_ours "$pidfile" "$k" && alive=1
		done
		((alive == 0)) && break
		sleep 0.2
	done
	for k in "$pid" "${kids[@]}"; do
		if pid_is_ours "$pidfile" "$k"; then
			log "pid $k did not exit within ${timeout}s; sending KILL"
			kill -KILL "$k" 2>/dev/null || true
		fi
	done
	rm -f "$pidfile"
}

# close_inherited_fds: close every fd above 2 in the current (sub)shell, so daemons we start hold no
# lock file or pipe of whoever ran us (a caller waiting for EOF on a pipe would otherwise hang).
close_inherited_fds() {
	local fd n
	for fd in "/proc/$BASHPID/fd"/*; do
		n="${fd##*/}"
		[[ "$n" =~ ^[0-9]+$ ]] && ((n > 2)) && { eval "exec $n>&-"; } 2>/dev/null
	done
	return 0
}

# wait_http URL TIMEOUT_S [EXPECTED_CODE_REGEX]: poll until URL answers with a matching status.
wait_http() {
	local url="$1" timeout="$2" want="${3:-^[1-4][0-9][0-9]$}" code deadline
	deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" 2>/dev/null || true)"
		[[ "$code" =~ $want ]] && return 0
		sleep 0.5
	done
	log "timeout after ${timeout}s waiting for $url (last status '${code:-none}')"
	return 1
}

# port_busy PORT: true if something listens on 127.0.0.1:PORT.
port_busy() {
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null
	local rc=$?
	# 7 = could not connect; anything else means a listener answered (or hung).
	((rc != 7))
}
