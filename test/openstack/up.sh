#!/usr/bin/env bash
# Bring up (or re-reconcile) the real Keystone + Nova API test stack on 127.0.0.1.
#
#   up.sh                 install missing packages, configure, start, provision, seed; idempotent
#   up.sh reset-servers   only reset the seeded servers (same as reset-servers.sh)
#
# State: ${ECSGATE_OS_STATE:-/tmp/ecsgate-openstack}. Writes $STATE/env.sh. See README.md.
set -euo pipefail

LOG_TAG=up
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

case "${1:-}" in
"") ;;
reset-servers | --reset-servers) exec "$OS_DIR/reset-servers.sh" ;;
-h | --help)
	sed -n '2,6p' "$0"
	exit 0
	;;
*) die "unknown argument: $1 (try --help)" ;;
esac

[[ "$(id -u)" == 0 ]] || die "run as root (apt-get, and keystone-manage key ownership)"

T_START="$(now_ms)"
mkdir -p "$STATE" "$LOG_DIR" "$RUN_DIR" "$ETC_DIR/keystone" "$ETC_DIR/nova" "$DATA_DIR" \
	"$STATE/keys" "$STATE/nova-state" "$STATE/lock"
touch "$STATE/.ecsgate-openstack" # marks the directory as ours (down.sh --purge checks it)
log "state dir $STATE"

# One up.sh at a time. fd 9 must not leak into the services (close_inherited_fds), or the lock
# would stay held after we exit.
exec 9>"$RUN_DIR/up.lock"
flock -w 900 9 || die "another up.sh holds $RUN_DIR/up.lock for more than 900 s"

PACKAGES=(keystone nova-api python3-openstackclient uwsgi-core uwsgi-plugin-python3 sqlite3 curl)
# Init scripts / units the packages above (and their dependencies) may ship. nova-api pulls in
# open-iscsi (via os-brick), whose iscsid.socket and open-iscsi.service get enabled for systemd.
PACKAGED_SERVICES=(keystone nova-api nova-api-metadata nova-conductor nova-scheduler nova-compute
	nova-novncproxy nova-serialproxy nova-spicehtml5proxy uwsgi memcached apache2 rabbitmq-server
	mariadb mysql iscsid open-iscsi)

pkg_installed() {
	[[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_BACKUP=""
POLICY_RC_CREATED=0
restore_policy_rc() {
	if [[ -n "$POLICY_RC_BACKUP" ]]; then
		mv -f "$POLICY_RC_BACKUP" "$POLICY_RC"
		log "restored the previous $POLICY_RC"
	elif ((POLICY_RC_CREATED)); then
		rm -f "$POLICY_RC"
		log "removed the temporary $POLICY_RC"
	fi
	POLICY_RC_BACKUP=""
	POLICY_RC_CREATED=0
}

install_packages() {
	local missing=() p rc=0
	for p in "${PACKAGES[@]}"; do
		pkg_installed "$p" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		log "packages already installed: ${PACKAGES[*]}"
		return 0
	fi
	log "installing missing packages: ${missing[*]}"

	# Keep maintainer scripts from starting services: invoke-rc.d asks policy-rc.d, 101 = "no".
	if [[ -x "$POLICY_RC" ]] && { "$POLICY_RC" keystone start >/dev/null 2>&1 || rc=$?; } && ((rc == 101)); then
		log "$POLICY_RC already denies service starts; leaving it in place"
	else
		if [[ -e "$POLICY_RC" ]]; then
			POLICY_RC_BACKUP="$STATE/policy-rc.d.orig"
			cp -p "$POLICY_RC" "$POLICY_RC_BACKUP"
		else
			POLICY_RC_CREATED=1
		fi
		trap restore_policy_rc EXIT
		printf '#!/bin/sh\n# temporary, from ecsgate test/openstack/up.sh\nexit 101\n' >"$POLICY_RC"
		chmod 0755 "$POLICY_RC"
		log "installed a temporary $POLICY_RC (exit 101)"
	fi

	# Every "configure this for me" question answers no.
	debconf-set-selections <<-'EOF'
		dbconfig-common dbconfig-common/dbconfig-install boolean false
		keystone keystone/configure_db boolean false
		keystone keystone/create-admin-tenant boolean false
		keystone keystone/register-endpoint boolean false
		nova-common nova/configure_db boolean false
		nova-common nova/configure_ksat boolean false
		nova-common nova/configure_rabbit boolean false
		nova-api nova/register-endpoint boolean false
	EOF

	export DEBIAN_FRONTEND=noninteractive
	log "apt-get update (log: $LOG_DIR/apt.log)"
	timeout 300 apt-get -q -o DPkg::Lock::Timeout=300 update >>"$LOG_DIR/apt.log" 2>&1 ||
		die "apt-get update failed; see $LOG_DIR/apt.log"
	log "apt-get install ${missing[*]} (log: $LOG_DIR/apt.log)"
	timeout 1200 apt-get -q -y --no-install-recommends -o DPkg::Lock::Timeout=300 \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		install "${missing[@]}" >>"$LOG_DIR/apt.log" 2>&1 ||
		die "apt-get install failed; see $LOG_DIR/apt.log"
	restore_policy_rc
	trap - EXIT
	for p in "${PACKAGES[@]}"; do
		pkg_installed "$p" || die "package $p still not installed"
	done
}

# No packaged service may be left running or enabled: our own uwsgi instances are the only ones.
# Careful: the packaged init scripts' "status" asks pidofproc for any process running the uwsgi
# binary, so it reports *our* uwsgi as "running". Judge by the packaged pidfile instead, which is
# also what the init script's "stop" acts on (it never touches our processes).
quiesce_packaged_services() {
	local svc link pf pid changed=0 seen=()
	for svc in "${PACKAGED_SERVICES[@]}"; do
		if [[ -x "/etc/init.d/$svc" ]]; then
			seen+=("$svc")
			for pf in /run/*/"$svc".pid /run/"$svc".pid; do
				[[ -s "$pf" ]] || continue
				pid="$(tr -dc '0-9' <"$pf")"
				[[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || continue
				grep -qF -- "$STATE" "/proc/$pid/cmdline" && continue
				log "packaged service $svc is running (pid $pid from $pf); stopping it"
				timeout 60 service "$svc" stop >>"$LOG_DIR/apt.log" 2>&1 || log "warning: could not stop $svc"
				changed=1
			done
			if compgen -G "/etc/rc[2-5].d/S*$svc" >/dev/null; then
				log "packaged service $svc is enabled (sysv); disabling it"
				timeout 60 update-rc.d "$svc" disable >>"$LOG_DIR/apt.log" 2>&1 || log "warning: update-rc.d $svc disable failed"
				changed=1
			fi
		fi
		for link in /etc/systemd/system/*.wants/"$svc".service /etc/systemd/system/*.wants/"$svc".socket; do
			[[ -L "$link" ]] || continue
			log "packaged unit ${link##*/} is enabled (systemd); disabling it"
			timeout 60 systemctl disable "${link##*/}" >>"$LOG_DIR/apt.log" 2>&1 || true
			# No systemd runs here; if systemctl could not do it, drop the wants link ourselves.
			[[ -L "$link" ]] && rm -f "$link"
			changed=1
		done
	done
	((changed)) || log "packaged services (${seen[*]:-none}) neither running nor enabled"
}

# write_if_changed FILE: stdin becomes FILE if different; returns 0 if it changed.
write_if_changed() {
	local file="$1" tmp
	tmp="$(mktemp "$file.XXXXXX")"
	cat >"$tmp"
	if [[ -f "$file" ]] && cmp -s "$tmp" "$file"; then
		rm -f "$tmp"
		return 1
	fi
	mv -f "$tmp" "$file"
	return 0
}

KEYSTONE_CONF="$ETC_DIR/keystone/keystone.conf"
NOVA_CONF="$ETC_DIR/nova/nova.conf"
NOVA_PASTE="$ETC_DIR/nova/api-paste.ini"
KEYSTONE_DB="$DATA_DIR/keystone.sqlite"
NOVA_API_DB="$DATA_DIR/nova_api.sqlite"
NOVA_CELL0_DB="$DATA_DIR/nova_cell0.sqlite"
NOVA_CELL1_DB="$DATA_DIR/nova_cell1.sqlite"

# shellcheck disable=SC2015 # "write write_configs() {write_configs() { log || true": log only when the file changed
write_configs() {
	write_if_changed "$KEYSTONE_CONF" <<-EOF && log "wrote $KEYSTONE_CONF" || true
		# Generated by ecsgate test/openstack/up.sh; edits are overwritten.
		[DEFAULT]
		log_file = $LOG_DIR/keystone.log
		debug = false

		[database]
		connection = sqlite:///$KEYSTONE_DB

		[token]
		provider = fernet
		expiration = 86400

		[fernet_tokens]
		key_repository = $STATE/keys/fernet

		[fernet_receipts]
		key_repository = $STATE/keys/fernet

		[credential]
		key_repository = $STATE/keys/credential

		[cache]
		enabled = false

		[identity]
		# Test stack only: cheap bcrypt so password logins cost milliseconds, not ~0.2 s.
		password_hash_rounds = 4

		[oslo_policy]
		policy_file = $ETC_DIR/keystone/policy.yaml
	EOF

	local svc_auth
	svc_auth="auth_type = password
auth_url = $KEYSTONE_URL
username = nova
password = nova$PASSWORD_SUFFIX
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne"

	write_if_changed "$NOVA_CONF" <<-EOF && log "wrote $NOVA_CONF" || true
		# Generated by ecsgate test/openstack/up.sh; edits are overwritten.
		[DEFAULT]
		transport_url = fake://
		host = ecsgate-test
		state_path = $STATE/nova-state
		my_ip = 127.0.0.1
		log_file = $LOG_DIR/nova.log
		debug = false

		[api]
		auth_strategy = keystone

		[wsgi]
		api_paste_config = $NOVA_PASTE

		[api_database]
		connection = sqlite:///$NOVA_API_DB

		[database]
		connection = sqlite:///$NOVA_CELL1_DB

		[oslo_messaging_notifications]
		driver = noop

		[oslo_concurrency]
		lock_path = $STATE/lock

		[cache]
		enabled = false

		[oslo_policy]
		enforce_new_defaults = true
		enforce_scope = false
		policy_file = $ETC_DIR/nova/policy.yaml

		[keystone_authtoken]
		www_authenticate_uri = $KEYSTONE_URL
		$svc_auth

		[neutron]
		endpoint_override = http://127.0.0.1:$NEUTRON_PORT
		$svc_auth

		[placement]
		endpoint_override = http://127.0.0.1:$PLACEMENT_PORT
		$svc_auth

		[glance]
		region_name = RegionOne

		[cinder]
		os_region_name = RegionOne
	EOF

	[[ -f /etc/nova/api-paste.ini ]] || die "/etc/nova/api-paste.ini missing (nova-api package broken?)"
	write_if_changed "$NOVA_PASTE" </etc/nova/api-paste.ini && log "copied api-paste.ini" || true
}

# Hash of what a running service depends on: restart when it changes.
config_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }

# A marker remembering that a one-time step ran for this package version, config and database file.
marker_ok() {
	local marker="$1" want="$2" db="$3"
	[[ -f "$db" && -f "$marker" && "$(cat "$marker")" == "$want" ]]
}

wal() {
	local db mode
	for db in "$@"; do
		mode="$(timeout 30 sqlite3 -cmd '.timeout 10000' "$db" 'PRAGMA journal_mode;')"
		if [[ "$mode" != wal ]]; then
			mode="$(timeout 30 sqlite3 -cmd '.timeout 10000' "$db" 'PRAGMA journal_mode=WAL;')"
			[[ "$mode" == wal ]] || die "could not switch $db to WAL (got '$mode')"
			log "journal_mode=WAL on $(basename "$db")"
		fi
	done
}

keystone_manage() { timeout 300 keystone-manage --config-file "$KEYSTONE_CONF" "$@" >>"$LOG_DIR/keystone-manage.log" 2>&1; }
nova_manage() { timeout 300 nova-manage --config-file "$NOVA_CONF" "$@" 2>>"$LOG_DIR/nova-manage.log"; }

keystone_db() {
	local want
	want="$(dpkg-query -W -f='${Version}' keystone)"
	if marker_ok "$DATA_DIR/keystone.synced" "$want" "$KEYSTONE_DB"; then
		log "keystone db already synced for $want"
	else
		keystone_manage db_sync || die "keystone-manage db_sync failed; see $LOG_DIR/keystone-manage.log"
		printf '%s' "$want" >"$DATA_DIR/keystone.synced"
		rm -f "$DATA_DIR/keystone.bootstrapped"
	fi
	wal "$KEYSTONE_DB"
	if [[ ! -f "$STATE/keys/fernet/0" ]]; then
		keystone_manage fernet_setup --keystone-user root --keystone-group root || die "fernet_setup failed"
		log "fernet keys created"
	fi
	if [[ ! -f "$STATE/keys/credential/0" ]]; then
		keystone_manage credential_setup --keystone-user root --keystone-group root || die "credential_setup failed"
		log "credential keys created"
	fi
}

keystone_bootstrap() {
	keystone_manage bootstrap --bootstrap-password "admin$PASSWORD_SUFFIX" \
		--bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
		--bootstrap-service-name keystone --bootstrap-region-id RegionOne \
		--bootstrap-admin-url "$KEYSTONE_URL" --bootstrap-public-url "$KEYSTONE_URL" \
		--bootstrap-internal-url "$KEYSTONE_URL" || die "keystone-manage bootstrap failed"
	touch "$DATA_DIR/keystone.bootstrapped"
}

# start_uwsgi NAME PORT WSGI_SCRIPT HEALTH_URL HASH ENV=VALUE
start_uwsgi() {
	local name="$1" port="$2" script="$3" health="$4" hash="$5" envvar="$6"
	local pidfile="$RUN_DIR/$name.pid" hashfile="$RUN_DIR/$name.confhash" pid wsgi
	if pid="$(pidfile_pid "$pidfile")"; then
		if [[ -f "$hashfile" && "$(cat "$hashfile")" == "$hash" ]] && wait_http "$health" 10 '^[23][0-9][0-9]$'; then
			log "$name already running (pid $pid), config unchanged"
			return 0
		fi
		log "$name: config changed or not healthy; restarting"
		stop_pidfile "$pidfile" 20
	fi
	if port_busy "$port"; then
		die "127.0.0.1:$port is in use by a process this stack did not start"
	fi
	wsgi="$(command -v "$script")" || die "$script not found on PATH"
	rm -f "$pidfile"
	printf '%s' "$hash" >"$hashfile"
	(
		cd "$STATE"
		close_inherited_fds
		exec setsid -f /usr/bin/uwsgi-core --plugin python3 --master --die-on-term --no-orphans \
			--http-socket "127.0.0.1:$port" --wsgi-file "$wsgi" \
			--processes 1 --threads 1 --enable-threads --lazy-apps --buffer-size 65535 --need-app \
			--add-header 'Connection: close' --pidfile "$pidfile" --env "$envvar" \
			</dev/null >>"$LOG_DIR/$name-uwsgi.log" 2>&1
	)
	local deadline=$((SECONDS + 20))
	until pid="$(pidfile_pid "$pidfile")"; do
		((SECONDS < deadline)) || die "$name: no pidfile after 20 s; see $LOG_DIR/$name-uwsgi.log"
		sleep 0.2
	done
	log "$name started (uwsgi master pid $pid), waiting for $health"
	if ! wait_http "$health" 90 '^[23][0-9][0-9]$'; then
		tail -n 30 "$LOG_DIR/$name-uwsgi.log" >&2 || true
		die "$name did not answer within 90 s; see $LOG_DIR/$name-uwsgi.log"
	fi
}

start_keystone() {
	start_uwsgi keystone "$KEYSTONE_PORT" keystone-wsgi-public "$KEYSTONE_URL" \
		"$(config_hash "$KEYSTONE_CONF")" "OS_KEYSTONE_CONFIG_FILES=$KEYSTONE_CONF"
}

start_nova() {
	start_uwsgi nova-api "$NOVA_PORT" nova-api-wsgi "http://127.0.0.1:$NOVA_PORT/" \
		"$(config_hash "$NOVA_CONF" "$NOVA_PASTE")" "OS_NOVA_CONFIG_DIR=$ETC_DIR/nova"
}

start_standin() {
	local pidfile="$RUN_DIR/standin.pid" pid hash
	hash="$(config_hash "$OS_DIR/standin.py")"
	if pid="$(pidfile_pid "$pidfile")"; then
		if [[ "$(cat "$RUN_DIR/standin.confhash" 2>/dev/null)" == "$hash" ]] &&
			wait_http "http://127.0.0.1:$NEUTRON_PORT/v2.0/ports" 5 '^200$' &&
			wait_http "http://127.0.0.1:$GLANCE_PORT/v2/images/$IMAGE_ID" 5 '^200$' &&
			wait_http "http://127.0.0.1:$PLACEMENT_PORT/" 5 '^200$'; then
			log "stand-in already running (pid $pid)"
			return 0
		fi
		stop_pidfile "$pidfile" 10
	fi
	port_busy "$NEUTRON_PORT" && die "127.0.0.1:$NEUTRON_PORT is in use by a process this stack did not start"
	port_busy "$GLANCE_PORT" && die "127.0.0.1:$GLANCE_PORT is in use by a process this stack did not start"
	port_busy "$PLACEMENT_PORT" && die "127.0.0.1:$PLACEMENT_PORT is in use by a process this stack did not start"
	# Run a copy from the state dir: the repo checkout may move or change under a running stack.
	cp -f "$OS_DIR/standin.py" "$STATE/standin.py"
	printf '%s' "$hash" >"$RUN_DIR/standin.confhash"
	(
		cd "$STATE"
		close_inherited_fds
		exec setsid -f "$PY" "$STATE/standin.py" --pidfile "$pidfile" --neutron-port "$NEUTRON_PORT" \
			--glance-port "$GLANCE_PORT" --placement-port "$PLACEMENT_PORT" --image-id "$IMAGE_ID" \
			</dev/null >>"$LOG_DIR/standin.log" 2>&1
	)
	wait_http "http://127.0.0.1:$NEUTRON_PORT/v2.0/ports" 20 '^200$' || die "neutron stand-in did not start; see $LOG_DIR/standin.log"
	wait_http "http://127.0.0.1:$GLANCE_PORT/v2/images/$IMAGE_ID" 20 '^200$' || die "glance stand-in did not start"
	wait_http "http://127.0.0.1:$PLACEMENT_PORT/" 20 '^200$' || die "placement stand-in did not start"
	pid="$(pidfile_pid "$pidfile")" || die "stand-in pidfile missing"
	log "stand-in started (pid $pid)"
}

# admin_token_ok: the bootstrap admin can log in.
admin_token_ok() {
	local code
	code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
		-d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"},\"password\":\"admin$PASSWORD_SUFFIX\"}}},\"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"}}}}}" \
		"$KEYSTONE_URL/auth/tokens")"
	[[ "$code" == 201 ]]
}

PROVISION_JSON=""
provision() {
	if ! admin_token_ok; then
		log "admin cannot log in; running keystone-manage bootstrap"
		keystone_bootstrap
		admin_token_ok || die "admin still cannot log in after bootstrap"
	fi
	PROVISION_JSON="$(timeout 300 "$PY" "$OS_DIR/provision.py" "$KEYSTONE_URL" "$NOVA_URL" \
		"http://127.0.0.1:$GLANCE_PORT" "$PASSWORD_SUFFIX" 2> >(tee -a "$LOG_DIR/provision.log" >&2))" ||
		die "provision.py failed"
	printf '%s\n' "$PROVISION_JSON" >"$STATE/provision.json"
}

# jq-less JSON lookup: json_get KEY1 KEY2 ... on $PROVISION_JSON
json_get() {
	"$PY" -c 'import json,sys; d=json.loads(sys.argv[1])
for k in sys.argv[2:]: d=d[k]
print(d)' "$PROVISION_JSON" "$@"
}

nova_db() {
	local want cells
	want="$(dpkg-query -W -f='${Version}' nova-api)|$NOVA_API_DB|$NOVA_CELL0_DB|$NOVA_CELL1_DB"
	if marker_ok "$DATA_DIR/nova.synced" "$want" "$NOVA_CELL1_DB" && [[ -f "$NOVA_API_DB" && -f "$NOVA_CELL0_DB" ]]; then
		log "nova databases already synced and cells mapped"
	else
		nova_manage api_db sync >>"$LOG_DIR/nova-manage.log" || die "nova-manage api_db sync failed; see $LOG_DIR/nova-manage.log"
		cells="$(nova_manage cell_v2 list_cells --verbose)" || die "nova-manage cell_v2 list_cells failed"
		if ! grep -Eq '^\| cell0 ' <<<"$cells"; then
			nova_manage cell_v2 map_cell0 --database_connection "sqlite:///$NOVA_CELL0_DB" >>"$LOG_DIR/nova-manage.log" ||
				die "nova-manage cell_v2 map_cell0 failed"
			log "cell0 mapped"
		fi
		if ! grep -Eq '^\| cell1 ' <<<"$cells"; then
			nova_manage cell_v2 create_cell --name cell1 >>"$LOG_DIR/nova-manage.log" ||
				die "nova-manage cell_v2 create_cell failed"
			log "cell1 created"
		fi
		nova_manage db sync >>"$LOG_DIR/nova-manage.log" || die "nova-manage db sync failed; see $LOG_DIR/nova-manage.log"
		printf '%s' "$want" >"$DATA_DIR/nova.synced"
	fi
	wal "$NOVA_API_DB" "$NOVA_CELL0_DB" "$NOVA_CELL1_DB"
}

SERVERS_JSON=""
seed_servers() {
	local demo other alice eve
	demo="$(json_get projects demo)"
	other="$(json_get projects other)"
	alice="$(json_get users alice)"
	eve="$(json_get users eve)"
	SERVERS_JSON="[{\"uuid\":\"$SERVER1\",\"name\":\"ecsgate-test-1\",\"project_id\":\"$demo\",\"user_id\":\"$alice\"},
{\"uuid\":\"$SERVER2\",\"name\":\"ecsgate-test-2\",\"project_id\":\"$demo\",\"user_id\":\"$alice\"},
{\"uuid\":\"$SERVER3\",\"name\":\"ecsgate-test-3\",\"project_id\":\"$other\",\"user_id\":\"$eve\"}]"
	printf '%s\n' "$SERVERS_JSON" >"$STATE/servers.json"
	timeout 300 "$PY" "$OS_DIR/seed_servers.py" "$NOVA_CONF" "$SERVERS_JSON" 2> >(tee -a "$LOG_DIR/seed.log" >&2) ||
		die "seed_servers.py failed; see $LOG_DIR/seed.log"
}

write_env() {
	local tmp u up
	tmp="$(mktemp "$STATE/env.sh.XXXXXX")"
	{
		echo "# Generated by ecsgate test/openstack/up.sh at $(ts). Source it (bash/sh), or read it line by line:"
		echo "# every line below the comments is 'export NAME=value' with a shell-safe, unquoted value."
		echo "# Password convention: user NAME has password NAME\$OS_PASSWORD_SUFFIX (e.g. alice-secret)."
		echo "export ECSGATE_OS_STATE=$STATE"
		echo "export ECSGATE_OS_DIR=$OS_DIR"
		echo "export OS_AUTH_URL=$KEYSTONE_URL"
		echo "export OS_IDENTITY_API_VERSION=3"
		echo "export OS_USER_DOMAIN_NAME=Default"
		echo "export OS_PROJECT_DOMAIN_NAME=Default"
		echo "export OS_REGION_NAME=RegionOne"
		echo "export OS_INTERFACE=public"
		echo "export OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml"
		echo "export OS_PASSWORD_SUFFIX=$PASSWORD_SUFFIX"
		echo "export KEYSTONE_URL=$KEYSTONE_URL"
		echo "export NOVA_URL=$NOVA_URL"
		echo "export NOVA_MAX_MICROVERSION=2.93"
		echo "export NEUTRON_URL=http://127.0.0.1:$NEUTRON_PORT"
		echo "export GLANCE_URL=http://127.0.0.1:$GLANCE_PORT"
		echo "export PLACEMENT_URL=http://127.0.0.1:$PLACEMENT_PORT"
		echo "export DEMO_PROJECT_ID=$(json_get projects demo)"
		echo "export OTHER_PROJECT_ID=$(json_get projects other)"
		echo "export ADMIN_PROJECT_ID=$(json_get projects admin)"
		echo "export SERVICE_PROJECT_ID=$(json_get projects service)"
		echo "export SERVER1=$SERVER1"
		echo "export SERVER2=$SERVER2"
		echo "export SERVER3=$SERVER3"
		echo "export IMAGE_ID=$IMAGE_ID"
		echo "export FLAVOR_ID=ecsgate.tiny"
		for u in admin alice bob carol dave eve nova; do
			up="$(tr '[:lower:]' '[:upper:]' <<<"$u")"
			echo "export ${up}_USER_ID=$(json_get users "$u")"
			echo "export ${up}_PASSWORD=$u$PASSWORD_SUFFIX"
		done
		echo "export ECSGATE_OS_RESET_SERVERS=$OS_DIR/reset-servers.sh"
	} >"$tmp"
	# Refuse anything a line-based reader could misparse.
	if grep -v '^#' "$tmp" | grep -Evq '^export [A-Z0-9_]+=[A-Za-z0-9_./:@+-]+$'; then
		die "env.sh would contain a value that needs quoting: $(grep -v '^#' "$tmp" | grep -Ev '^export [A-Z0-9_]+=[A-Za-z0-9_./:@+-]+$' | head -1)"
	fi
	mv -f "$tmp" "$STATE/env.sh"

	# clouds.yaml for openstackclient: one cloud per user, scoped to that user's project.
	tmp="$(mktemp "$STATE/clouds.yaml.XXXXXX")"
	{
		echo "# Generated by ecsgate test/openstack/up.sh. Use: OS_CLIENT_CONFIG_FILE=$STATE/clouds.yaml openstack --os-cloud alice ..."
		echo "clouds:"
		for up in admin:admin alice:demo bob:demo carol:demo dave:demo eve:other nova:service; do
			u="${up%%:*}"
			cat <<-EOF
				  $u:
				    auth:
				      auth_url: $KEYSTONE_URL
				      username: $u
				      password: $u$PASSWORD_SUFFIX
				      project_name: ${up#*:}
				      user_domain_name: Default
				      project_domain_name: Default
				    region_name: RegionOne
				    interface: public
				    identity_api_version: 3
			EOF
		done
	} >"$tmp"
	mv -f "$tmp" "$STATE/clouds.yaml"
	log "wrote $STATE/env.sh and $STATE/clouds.yaml"
}

# Final gate: a member token reaches a seeded server through keystonemiddleware and the stand-in.
verify() {
	local hdr token code
	hdr="$(mktemp)"
	code="$(curl -s -o /dev/null -D "$hdr" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
		-d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"alice\",\"domain\":{\"id\":\"default\"},\"password\":\"alice$PASSWORD_SUFFIX\"}}},\"scope\":{\"project\":{\"name\":\"demo\",\"domain\":{\"id\":\"default\"}}}}}" \
		"$KEYSTONE_URL/auth/tokens")"
	token="$(awk 'tolower($1)=="x-subject-token:" {print $2}' "$hdr" | tr -d '\r')"
	rm -f "$hdr"
	[[ "$code" == 201 && -n "$token" ]] || die "alice cannot get a token (HTTP $code)"
	code="$(curl -s -o "$LOG_DIR/verify-show.json" -w '%{http_code}' --max-time 30 -H "X-Auth-Token: $token" \
		"$NOVA_URL/servers/$SERVER1")"
	[[ "$code" == 200 ]] || die "GET /servers/$SERVER1 as alice: HTTP $code: $(head -c 400 "$LOG_DIR/verify-show.json")"
	log "alice can show $SERVER1 through nova-api"
}

step "packages" install_packages
step "packaged services stopped and disabled" quiesce_packaged_services
step "configs" write_configs
step "keystone database and keys" keystone_db
if [[ ! -f "$DATA_DIR/keystone.bootstrapped" ]]; then
	step "keystone bootstrap" keystone_bootstrap
fi
step "keystone (uwsgi 127.0.0.1:$KEYSTONE_PORT)" start_keystone
step "keystone provisioning" provision
step "neutron/glance/placement stand-in (127.0.0.1:$NEUTRON_PORT, :$GLANCE_PORT, :$PLACEMENT_PORT)" start_standin
step "nova databases and cells" nova_db
step "seed servers (nova object layer)" seed_servers
step "nova-api (uwsgi 127.0.0.1:$NOVA_PORT)" start_nova
step "env.sh" write_env
step "verify" verify
log "stack is up in $(($(now_ms) - T_START)) ms; source $STATE/env.sh"
