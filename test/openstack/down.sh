#!/usr/bin/env bash
# Stop the test stack started by up.sh.
#
#   down.sh           stop nova-api, keystone and the stand-in; keep $STATE (a later up.sh is quick)
#   down.sh --purge   also delete $STATE (config, databases, keys, logs)
#
# Only processes recorded in $STATE/run/*.pid are signalled, and only while /proc/PID/cmdline still
# contains that pidfile's path (PID-reuse guard). uwsgi workers are noted before the master is
# stopped. Packages stay installed.
set -euo pipefail

LOG_TAG=down
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

purge=0
case "${1:-}" in
"") ;;
--purge) purge=1 ;;
-h | --help)
	sed -n '2,9p' "$0"
	exit 0
	;;
*) die "unknown argument: $1 (try --help)" ;;
esac

if [[ ! -d "$STATE" ]]; then
	echo "$(ts) [down] nothing to do: $STATE does not exist" >&2
	exit 0
fi
[[ -f "$STATE/.ecsgate-openstack" ]] || die "$STATE is not an ecsgate test stack directory (no .ecsgate-openstack marker); refusing"

# Wait for a running up.sh (it holds the lock) so we do not stop services under it.
if [[ -d "$RUN_DIR" ]]; then
	exec 9>"$RUN_DIR/up.lock"
	flock -w 300 9 || die "up.sh is still running (lock held for 300 s)"
fi

for name in nova-api keystone standin; do
	stop_pidfile "$RUN_DIR/$name.pid" 20
done

# Stragglers: processes of ours whose pidfile was lost (e.g. a crashed up.sh). Their command line
# names a pidfile in our run dir, which no foreign process does.
leftover=()
for cmdfile in /proc/[0-9]*/cmdline; do
	pid="${cmdfile#/proc/}"
	pid="${pid%/cmdline}"
	[[ "$pid" == "$$" ]] && continue
	cmd="$(tr '\0' ' ' <"$cmdfile" 2>/dev/null)" || continue
	for name in nova-api keystone standin; do
		if [[ "$cmd" == *"--pidfile $RUN_DIR/$name.pid"* ]]; then
			leftover+=("$pid")
		fi
	done
done
if ((${#leftover[@]})); then
	log "stopping stray processes of this stack: ${leftover[*]}"
	kill -TERM "${leftover[@]}" 2>/dev/null || true
	sleep 2
	for pid in "${leftover[@]}"; do
		if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--pidfile $RUN_DIR/"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
fi
log "stack stopped"

if ((purge)); then
	exec 9>&-
	rm -rf -- "$STATE"
	echo "$(ts) [down] purged $STATE" >&2
fi
