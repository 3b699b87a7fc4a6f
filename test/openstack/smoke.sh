#!/usr/bin/env bash
# Smoke test of the real stack, straight against Keystone and Nova (no gateway): tokens, the
# lock/unlock matrix of docs/compute-api-facts.md ("Lock and unlock") with exact error bodies,
# a few documented error formats, reset-servers.sh, and openstackclient as alice/carol/admin.
# Last line: "N passed, M failed".
# Exit status: 0 only if nothing failed. Leaves the seeded servers reset.
set -euo pipefail

LOG_TAG=smoke
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
[[ -f "$STATE/env.sh" ]] || die "no $STATE/env.sh: run up.sh first"
# shellcheck source=/dev/null
source "$STATE/env.sh"

T0="$(now_ms)"
PASS=0
FAIL=0
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

ok() {
	PASS=$((PASS + 1))
	log "PASS $*"
}
bad() {
	FAIL=$((FAIL + 1))
	log "FAIL $*"
}

# --- HTTP helpers --------------------------------------------------------------------------------
CODE=""
BODY=""
# req METHOD URL TOKEN [BODY [MICROVERSION]]: sets CODE and BODY.
req() {
	local method="$1" url="$2" token="$3" body="${4-}" mv="${5-}" args=()
	args=(-s -X "$method" -o "$TMP/body" -w '%{http_code}' --max-time 30)
	[[ -n "$token" ]] && args+=(-H "X-Auth-Token: $token")
	[[ -n "$mv" ]] && args+=(-H "OpenStack-API-Version: compute $mv")
	if [[ -n "$body" ]]; then
		args+=(-H 'Content-Type: application/json' --data-binary "$body")
	fi
	CODE="$(curl "${args[@]}" "$url" || true)"
	BODY="$(cat "$TMP/body" 2>/dev/null || true)"
}

# check NAME WANT_CODE [EXACT_BODY]
check() {
	local name="$1" want="$2" want_body="${3-__any__}"
	if [[ "$CODE" != "$want" ]]; then
		bad "$name: HTTP $CODE, want $want; body: ${BODY:0:300}"
	elif [[ "$want_body" != __any__ && "$BODY" != "$want_body" ]]; then
		bad "$name: HTTP $CODE as expected, but body differs:"$'\n'"   got:  $BODY"$'\n'"   want: $want_body"
	elif [[ "$CODE" =~ ^[45] ]]; then
		ok "$name: HTTP $CODE ${BODY:0:300}"
	else
		ok "$name: HTTP $CODE"
	fi
}

# check_json NAME WANT_CODE WANT_JSON: like check, but the body is compared as parsed JSON
# (Keystone's Flask answers compact JSON, Nova's webob answers json.dumps spacing).
check_json() {
	local name="$1" want="$2" want_json="$3" same
	same="$("$PY" -c 'import json,sys
try: print(json.loads(sys.argv[1]) == json.loads(sys.argv[2]))
except ValueError: print(False)' "$BODY" "$want_json")"
	if [[ "$CODE" != "$want" ]]; then
		bad "$name: HTTP $CODE, want $want; body: ${BODY:0:300}"
	elif [[ "$same" != True ]]; then
		bad "$name: HTTP $CODE as expected, but JSON differs:"$'\n'"   got:  $BODY"$'\n'"   want: $want_json"
	else
		ok "$name: HTTP $CODE $BODY"
	fi
}

# jfield EXPR: evaluate a Python expression on the JSON in $BODY (variable d).
jfield() {
	"$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print(json.dumps(eval(sys.argv[2])))' "$BODY" "$1" 2>/dev/null || echo "<unparsable>"
}

# check_field NAME EXPR WANT_JSON
check_field() {
	local got
	got="$(jfield "$2")"
	if [[ "$got" == "$3" ]]; then ok "$1: $2 == $3"; else bad "$1: $2 == $got, want $3"; fi
}

declare -A TOKEN
# issue USER PROJECT
issue() {
	local user="$1" project="$2" hdr="$TMP/hdr"
	CODE="$(curl -s -o "$TMP/body" -D "$hdr" -w '%{http_code}' --max-time 30 -H 'Content-Type: application/json' \
		-d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$user\",\"domain\":{\"id\":\"default\"},\"password\":\"$user$OS_PASSWORD_SUFFIX\"}}},\"scope\":{\"project\":{\"name\":\"$project\",\"domain\":{\"id\":\"default\"}}}}}" \
		"$KEYSTONE_URL/auth/tokens" || true)"
	BODY="$(cat "$TMP/body")"
	TOKEN[$user]="$(awk 'tolower($1)=="x-subject-token:" {print $2}' "$hdr" | tr -d '\r')"
	if [[ "$CODE" == 201 && -n "${TOKEN[$user]}" ]]; then
		ok "token issue $user@$project: 201, ${#TOKEN[$user]}-char fernet token"
	else
		bad "token issue $user@$project: HTTP $CODE; ${BODY:0:300}"
	fi
}

reset() { "$OS_DIR/reset-servers.sh" 2>>"$LOG_DIR/smoke.log" >/dev/null || bad "reset-servers.sh failed"; }

S1="$NOVA_URL/servers/$SERVER1"
S2="$NOVA_URL/servers/$SERVER2"
S3="$NOVA_URL/servers/$SERVER3"
LOCK='{"lock": null}'
UNLOCK='{"unlock": null}'
policy_403() { printf '{"forbidden": {"code": 403, "message": "Policy doesn'"'"'t allow os_compute_api:%s to be performed."}}' "$1"; }
not_found_404() { printf '{"itemNotFound": {"code": 404, "message": "Instance %s could not be found."}}' "$1"; }

log "smoke test against $KEYSTONE_URL and $NOVA_URL"
reset

# --- Keystone ------------------------------------------------------------------------------------
issue alice demo
issue bob demo
issue carol demo
issue dave demo
issue eve other
issue admin admin

ALICE="${TOKEN[alice]}" BOB="${TOKEN[bob]}" CAROL="${TOKEN[carol]}" DAVE="${TOKEN[dave]}"
EVE="${TOKEN[eve]}" ADMIN="${TOKEN[admin]}"

# A token may validate itself; a member token lists implied roles.
CODE="$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 30 -H "X-Auth-Token: $ALICE" \
	-H "X-Subject-Token: $ALICE" "$KEYSTONE_URL/auth/tokens?nocatalog" || true)"
BODY="$(cat "$TMP/body")"
check "alice validates her own token" 200
check_field "alice token roles" 'sorted(r["name"] for r in d["token"]["roles"])' '["member", "reader"]'
check_field "alice token project" 'd["token"]["project"]["id"]' "\"$DEMO_PROJECT_ID\""
CODE="$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 30 -H "X-Auth-Token: $ALICE" \
	-H "X-Subject-Token: ${ALICE:0:-4}AAAA" "$KEYSTONE_URL/auth/tokens" || true)"
BODY="$(cat "$TMP/body")"
check_json "bad subject token" 404 '{"error": {"code": 404, "message": "Could not recognize Fernet token", "title": "Not Found"}}'

# --- Nova basics ---------------------------------------------------------------------------------
req GET "$NOVA_URL/servers" ""
check "no token: keystonemiddleware 401" 401 '{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}'
req GET "$S1" "$ALICE" "" 2.9
check "alice GET server1 @2.9" 200
check_field "server1 status" 'd["server"]["status"]' '"ACTIVE"'
check_field "server1 locked" 'd["server"]["locked"]' 'false'
check_field "server1 tenant" 'd["server"]["tenant_id"]' "\"$DEMO_PROJECT_ID\""
req GET "$NOVA_URL/servers" "$ALICE"
check "alice list servers" 200
check_field "alice sees exactly the demo servers" 'sorted(s["id"] for s in d["servers"])' "[\"$SERVER1\", \"$SERVER2\"]"
req GET "$S1" "$CAROL"
check "carol (reader) GET server1" 200
req GET "$S1" "$ALICE" "" 2.94
check "microversion 2.94 rejected" 406 '{"computeFault": {"code": 406, "message": "Version 2.94 is not supported by the API. Minimum is 2.1 and maximum is 2.93."}}'

# --- lock/unlock matrix --------------------------------------------------------------------------
req POST "$S1/action" "$ALICE" "$LOCK"
check "alice (member) locks server1" 202 ""
req GET "$S1" "$BOB" "" 2.9
check_field "server1 locked after alice's lock" 'd["server"]["locked"]' 'true'
req POST "$S1/action" "$ALICE" "$LOCK"
check "alice locks the already locked server1 (owner no-op)" 202 ""
req POST "$S1/action" "$BOB" "$UNLOCK"
check "bob (other member) unlocks alice's lock" 202 ""
req GET "$S1" "$BOB" "" 2.9
check_field "server1 unlocked after bob's unlock" 'd["server"]["locked"]' 'false'
req POST "$S1/action" "$BOB" "$UNLOCK"
check "bob unlocks an unlocked server" 202 ""

req POST "$S1/action" "$CAROL" "$LOCK"
check "carol (reader) lock" 403 "$(policy_403 os-lock-server:lock)"
req POST "$S1/action" "$ALICE" "$LOCK"
req POST "$S1/action" "$CAROL" "$UNLOCK"
check "carol (reader) unlock of a member lock" 403 "$(policy_403 os-lock-server:unlock)"
req POST "$S1/action" "$ALICE" "$UNLOCK"
check "alice unlocks" 202 ""

req POST "$S1/action" "$ADMIN" "$LOCK"
check "admin (other project) locks server1" 202 ""
req POST "$S1/action" "$ALICE" "$UNLOCK"
check "alice (member) unlock of an admin lock" 403 "$(policy_403 os-lock-server:unlock:unlock_override)"
req POST "$S1/action" "$DAVE" "$UNLOCK"
check "dave (member + ecs_unlocker) unlock of an admin lock" 403 "$(policy_403 os-lock-server:unlock:unlock_override)"
req POST "$S1/action" "$ALICE" "$LOCK"
check "alice re-locks an admin-locked server (owner, already locked: no-op)" 202 ""
req POST "$S1/action" "$ALICE" "$UNLOCK"
check "alice still cannot unlock (locked_by stays admin)" 403 "$(policy_403 os-lock-server:unlock:unlock_override)"
req POST "$S1/action" "$ADMIN" "$UNLOCK"
check "admin unlocks" 202 ""
req GET "$S1" "$ALICE" "" 2.9
check_field "server1 unlocked after admin's unlock" 'd["server"]["locked"]' 'false'

req GET "$S1" "$EVE"
check "eve (other project) GET server1" 404 "$(not_found_404 "$SERVER1")"
req POST "$S1/action" "$EVE" "$LOCK"
check "eve (other project) lock server1" 404 "$(not_found_404 "$SERVER1")"
req POST "$S1/action" "$EVE" "$UNLOCK"
check "eve (other project) unlock server1" 404 "$(not_found_404 "$SERVER1")"
req POST "$S3/action" "$EVE" "$LOCK"
check "eve locks her own server3" 202 ""
req POST "$S3/action" "$EVE" "$UNLOCK"
check "eve unlocks her own server3" 202 ""

# Optional project segment in the path (docs/compute-api-facts.md, "Routing").
req POST "$NOVA_URL/$DEMO_PROJECT_ID/servers/$SERVER1/action" "$ALICE" "$LOCK"
check "alice locks via /v2.1/{demo project}/servers/{id}/action" 202 ""
req POST "$NOVA_URL/$DEMO_PROJECT_ID/servers/$SERVER1/action" "$ALICE" "$UNLOCK"
check "alice unlocks via /v2.1/{demo project}/servers/{id}/action" 202 ""
req POST "$NOVA_URL/$OTHER_PROJECT_ID/servers/$SERVER1/action" "$ALICE" "$LOCK"
check "project segment != token project" 400 "{\"badRequest\": {\"code\": 400, \"message\": \"Malformed request URL: URL's project_id '$OTHER_PROJECT_ID' doesn't match Context's project_id '$DEMO_PROJECT_ID'\"}}"

# 2.73 reason, then reset-servers.sh must clear it.
req POST "$S2/action" "$ALICE" '{"lock": {"locked_reason": "smoke"}}' 2.73
check "alice locks server2 with a reason @2.73" 202 ""
req GET "$S2" "$ALICE" "" 2.73
check_field "server2 locked_reason" '[d["server"]["locked"], d["server"]["locked_reason"]]' '[true, "smoke"]'
req POST "$S2/action" "$ALICE" '{"lock": {"locked_reason": 1}}' 2.73
check "lock reason of the wrong type @2.73" 400
req POST "$S2/action" "$ALICE" '{"lock": {"locked_reason": 1}}'
check "same body @2.1 (reason ignored)" 202 ""
T_RESET="$(now_ms)"
reset
T_RESET=$(($(now_ms) - T_RESET))
req GET "$S2" "$ALICE" "" 2.73
check_field "server2 after reset-servers.sh (${T_RESET} ms)" '[d["server"]["status"], d["server"]["locked"], d["server"]["locked_reason"]]' '["ACTIVE", false, null]'

# --- openstackclient -----------------------------------------------------------------------------
osc() {
	local cloud="$1"
	shift
	env -u OS_AUTH_URL -u OS_USER_DOMAIN_NAME -u OS_PROJECT_DOMAIN_NAME -u OS_REGION_NAME -u OS_INTERFACE \
		OS_CLIENT_CONFIG_FILE="$STATE/clouds.yaml" timeout 120 openstack --os-cloud "$cloud" "$@"
}
# osc_check NAME WANT_RC GREP_PATTERN CLOUD ARGS...
osc_check() {
	local name="$1" want_rc="$2" pattern="$3" rc=0 out
	shift 3
	out="$(osc "$@" 2>&1)" || rc=$?
	if [[ "$rc" != "$want_rc" ]]; then
		bad "openstack $name: exit $rc, want $want_rc; output: ${out:0:400}"
	elif [[ -n "$pattern" ]] && ! grep -Eq -- "$pattern" <<<"$out"; then
		bad "openstack $name: output lacks /$pattern/: ${out:0:400}"
	else
		ok "openstack $name: exit $rc${pattern:+, matches /$pattern/}"
		[[ "$want_rc" != 0 ]] && log "     CLI said: $(tr '\n' ' ' <<<"$out")"
	fi
	return 0
}

osc_check "token issue (alice)" 0 '^\| id +\| gAAAAA' alice token issue
osc_check "server list (alice)" 0 "$SERVER1.*ecsgate-test-1" alice server list
ids="$(osc alice server list -f value -c ID 2>&1 || true)"
if grep -q "$SERVER1" <<<"$ids" && grep -q "$SERVER2" <<<"$ids" && ! grep -q "$SERVER3" <<<"$ids"; then
	ok "openstack server list -f value -c ID (alice): server1 and server2, not server3"
else
	bad "openstack server list -f value -c ID (alice): ${ids:0:400}"
fi
osc_check "server show (alice)" 0 "ecsgate-test-1" alice server show "$SERVER1"
osc_check "server lock (alice)" 0 '' alice server lock "$SERVER1"
osc_check "server show --os-compute-api-version 2.9 (alice): locked" 0 '\| locked +\| True' \
	alice --os-compute-api-version 2.9 server show "$SERVER1"
osc_check "server lock (carol, reader)" 1 "Policy doesn't allow os_compute_api:os-lock-server:lock to be performed. \(HTTP 403\) \(Request-ID: req-" \
	carol server lock "$SERVER1"
osc_check "server unlock (alice)" 0 '' alice server unlock "$SERVER1"
osc_check "server lock (admin)" 0 '' admin server lock "$SERVER1"
osc_check "server unlock (alice) of an admin lock" 1 "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed. \(HTTP 403\) \(Request-ID: req-" \
	alice server unlock "$SERVER1"
osc_check "server unlock (admin)" 0 '' admin server unlock "$SERVER1"
osc_check "server show --os-compute-api-version 2.9 (alice): unlocked" 0 '\| locked +\| False' \
	alice --os-compute-api-version 2.9 server show "$SERVER1"

reset
log "smoke finished in $(($(now_ms) - T0)) ms"
echo "$PASS passed, $FAIL failed"
if ((FAIL > 0)); then
	exit 1
fi
