#!/usr/bin/env bash
# Reset the seeded servers (SERVER1..3) to ACTIVE, running, unlocked, no locked_reason, no user
# metadata, original names. Fast path: a few SQL statements on the cell1 database (~20 ms), taken
# only when all three servers and their mappings still exist undeleted with their original owners;
# otherwise it falls back to seed_servers.py (Nova's object layer, a few seconds), which also
# recreates deleted servers. Needs a stack brought up by up.sh. Exit status 0 = reset done.
set -euo pipefail

LOG_TAG=reset-servers
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

[[ -f "$STATE/env.sh" && -f "$STATE/servers.json" ]] || die "no stack state in $STATE: run up.sh first"
# shellcheck source=/dev/null
source "$STATE/env.sh"

CELL1="$DATA_DIR/nova_cell1.sqlite"
API="$DATA_DIR/nova_api.sqlite"
T0="$(now_ms)"

sq() { timeout 30 sqlite3 -bail -batch -cmd '.timeout 10000' "$@"; }

# uuid|name|project|user for each seeded server.
mapfile -t SPECS < <("$PY" -c 'import json,sys
for s in json.load(open(sys.argv[1])):
    print("|".join([s["uuid"], s["name"], s["project_id"], s["user_id"]]))' "$STATE/servers.json")
((${#SPECS[@]} > 0)) || die "no servers in $STATE/servers.json"

fast_ok=1
sql="BEGIN IMMEDIATE;"
ids=""
for spec in "${SPECS[@]}"; do
	IFS='|' read -r uuid name project user <<<"$spec"
	# Values come from our own servers.json (uuids, hex ids, fixed names): nothing to escape.
	[[ "$uuid$name$project$user" =~ ^[A-Za-z0-9-]+$ ]] || die "unexpected characters in servers.json"
	inst="$(sq "$CELL1" "SELECT count(*) FROM instances WHERE uuid='$uuid' AND deleted=0 AND project_id='$project' AND user_id='$user';")"
	mapped="$(sq "$API" "SELECT count(*) FROM instance_mappings m JOIN cell_mappings c ON c.id=m.cell_id WHERE m.instance_uuid='$uuid' AND m.project_id='$project' AND c.name='cell1' AND (m.queued_for_delete=0 OR m.queued_for_delete IS NULL);")"
	if [[ "$inst" != 1 || "$mapped" != 1 ]]; then
		log "server $uuid is missing, deleted or moved (instances=$inst, mappings=$mapped): full reseed"
		fast_ok=0
		break
	fi
	sql+="UPDATE instances SET vm_state='active', power_state=1, task_state=NULL, locked=0, locked_by=NULL,
display_name='$name', hostname='$name', updated_at=datetime('now') WHERE uuid='$uuid';"
	ids+="${ids:+,}'$uuid'"
done

if ((fast_ok)); then
	sql+="DELETE FROM instance_system_metadata WHERE instance_uuid IN ($ids) AND key='locked_reason';"
	sql+="DELETE FROM instance_metadata WHERE instance_uuid IN ($ids);"
	sql+="COMMIT;"
	sq "$CELL1" "$sql"
	log "reset ${#SPECS[@]} servers (sql) in $(($(now_ms) - T0)) ms"
else
	timeout 300 "$PY" "$OS_DIR/seed_servers.py" "$ETC_DIR/nova/nova.conf" "$(cat "$STATE/servers.json")" \
		2> >(tee -a "$LOG_DIR/seed.log" >&2)
	log "reset ${#SPECS[@]} servers (object layer) in $(($(now_ms) - T0)) ms"
fi
