package ecsgate.lib.nova_defaults_test

import data.ecsgate.authz
import data.ecsgate.lib.fixtures as f
import data.ecsgate.lib.nova_defaults

rules := {"nova_defaults": {}}

test_read_needs_a_reader_role if {
	every roles in [["reader"], ["member"], ["admin"], ["member", "reader"]] {
		count(nova_defaults.violations) == 0 with input as f.read(f.token(roles))
	}
	nova_defaults.violations == {sprintf("server.read on server %s requires role reader, member or admin (caller has: ecs_unlocker)", [f.server_a])} with input as f.read(f.token(["ecs_unlocker"]))
}

test_enabled_read_without_reader_is_denied if {
	# The shipped policy alone lets any valid identity read.
	authz.decision.allow with input as f.read(f.token([]))
	d := authz.decision with input as f.read(f.token([])) with data.ecsgate.rules as rules
	d == {"allow": false, "reasons": [sprintf("server.read on server %s requires role reader, member or admin (caller has: no roles)", [f.server_a])]}
	authz.decision.allow with input as f.read(f.token(["reader"])) with data.ecsgate.rules as rules
}

test_other_reads_are_not_servers if {
	inp := json.patch(f.read(f.token([])), [{"op": "replace", "path": "/operation", "value": "other"}])
	count(nova_defaults.violations) == 0 with input as inp
}

test_unlock_of_admin_lock_needs_admin if {
	inp := f.action("unlock", f.token(["member", "ecs_unlocker"]))
	nova_defaults.violations == {sprintf("unlock on server %s: an admin locked it, so only an admin may unlock it", [f.server_a])} with input as inp
		with ecs.server as f.locked_by_admin
	d := authz.decision with input as inp with ecs.server as f.locked_by_admin with data.ecsgate.rules as rules
	not d.allow

	# The admin may.
	authz.decision.allow with input as f.action("unlock", f.token(["admin"]))
		with ecs.server as f.locked_by_admin
		with data.ecsgate.rules as rules
}

test_unlock_of_owner_lock_is_the_shipped_rule if {
	inp := f.action("unlock", f.token(["member", "ecs_unlocker"]))
	authz.decision.allow with input as inp with ecs.server as f.locked_by_owner with data.ecsgate.rules as rules
	authz.decision.allow with input as inp with ecs.server as f.locked with data.ecsgate.rules as rules
	authz.decision.allow with input as inp with ecs.server as f.unknown_server with data.ecsgate.rules as rules
}

test_lock_is_not_unlock if {
	count(nova_defaults.violations) == 0 with input as f.action("lock", f.token(["member"]))
		with ecs.server as f.locked_by_admin
}
