package ecsgate.lib.protected_test

import data.ecsgate.authz
import data.ecsgate.lib.fixtures as f
import data.ecsgate.lib.protected

rules := {"protected": {}}

member_stop := f.action("os-stop", f.token(["member"]))

test_protected_by_metadata if {
	d := authz.decision with input as member_stop with ecs.server as f.protected_by_metadata with data.ecsgate.rules as rules
	d == {"allow": false, "reasons": [sprintf("server %s is protected (metadata protected=true): server.action os-stop needs one of the roles admin (caller has: member)", [f.server_a])]}
}

test_protected_by_tag if {
	d := authz.decision with input as member_stop with ecs.server as f.protected_by_tag with data.ecsgate.rules as rules
	d == {"allow": false, "reasons": [sprintf("server %s is protected (tag protected): server.action os-stop needs one of the roles admin (caller has: member)", [f.server_a])]}
}

test_every_mutation_guarded if {
	every inp in [
		f.delete(f.token(["member"])),
		f.action("unlock", f.token(["member", "ecs_unlocker"])),
		f.request("PUT", "server.update", null, f.token(["member"])),
		f.request("DELETE", "server.metadata.delete", null, f.token(["member"])),
		f.request("DELETE", "server.tags.delete", null, f.token(["member"])),
	] {
		authz.decision.allow with input as inp
		not authz.decision.allow with input as inp with ecs.server as f.protected_by_tag with data.ecsgate.rules as rules
	}
}

test_admin_may_change_it if {
	authz.decision.allow with input as f.delete(f.token(["admin"]))
		with ecs.server as f.protected_by_metadata
		with data.ecsgate.rules as rules
}

test_reads_unaffected if {
	authz.decision.allow with input as f.read(f.token(["reader"]))
		with ecs.server as f.protected_by_metadata
		with data.ecsgate.rules as rules
}

test_unprotected_server_unaffected if {
	authz.decision.allow with input as member_stop with ecs.server as f.plain_server with data.ecsgate.rules as rules
	authz.decision.allow with input as member_stop with ecs.server as f.locked with data.ecsgate.rules as rules
}

# Only the protected one of a batch is named.
test_batch if {
	inp := json.patch(member_stop, [{"op": "replace", "path": "/server_ids", "value": [f.server_a, f.server_b]}])
	protected.violations == {sprintf("server %s is protected (tag protected): server.action os-stop needs one of the roles admin (caller has: member)", [f.server_b])} with input as inp
		with ecs.server as f.protected_b
}

test_failed_lookup_denies_non_admins if {
	d := authz.decision with input as member_stop with ecs.server as f.unknown_server with data.ecsgate.rules as rules
	d == {"allow": false, "reasons": [sprintf("server %s could not be looked up to see whether it is protected: server.action os-stop needs one of the roles admin (caller has: member)", [f.server_a])]}
	authz.decision.allow with input as f.action("os-stop", f.token(["admin"]))
		with ecs.server as f.unknown_server
		with data.ecsgate.rules as rules
}

test_settings if {
	settings := {"metadata_key": "env", "metadata_value": "prod", "tag": "pinned", "roles": ["admin", "sre"]}
	sre_stop := f.action("os-stop", f.token(["member", "sre"]))
	count(protected.violations) == 0 with input as member_stop with ecs.server as f.protected_by_tag
		with data.ecsgate.rules as {"protected": settings}
	count(protected.violations) == 1 with input as member_stop with ecs.server as f.prod_server
		with data.ecsgate.rules as {"protected": settings}
	count(protected.violations) == 0 with input as sre_stop with ecs.server as f.prod_server
		with data.ecsgate.rules as {"protected": settings}
}

test_bad_settings_deny if {
	d := authz.decision with input as f.read(f.token(["admin"])) with data.ecsgate.rules as {"protected": {"roles": "admin"}}
	d.reasons == ["library rule protected: metadata_key, metadata_value and tag must be strings, roles a list of strings"]
}
