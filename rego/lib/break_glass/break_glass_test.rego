package ecsgate.lib.break_glass_test

import data.ecsgate.authz
import data.ecsgate.lib.fixtures as f

strict := {
	"change_ticket": {},
	"maintenance_window": {"windows": [{"days": ["Sun"], "start": "02:00", "end": "04:00"}]},
	"protected": {},
}

rules := object.union(strict, {"break_glass": {}})

# A Tuesday afternoon.
tuesday := time.parse_rfc3339_ns("2024-06-04T14:00:00Z")

unlock(roles) := f.action("unlock", f.token(roles))

broken(inp) := f.with_header(inp, "x-break-glass-reason", "INC-4711 database down")

test_admin_breaks_glass if {
	d := authz.decision with input as broken(unlock(["admin"]))
		with data.ecsgate.rules as rules
		with time.now_ns as tuesday
		with ecs.server as f.protected_by_tag
	d.allow
	d.reasons == [sprintf(
		"break-glass: INC-4711 database down (waived: server.action unlock on server %s is outside the maintenance windows (Sun 02:00-04:00, UTC); it is Tuesday 14:00 there; server.action unlock on server %s needs a change ticket: send X-Change-Ticket: <ticket matching CHG-[0-9]+>)",
		[f.server_a, f.server_a],
	)]
}

test_the_same_without_the_header_is_denied if {
	d := authz.decision with input as unlock(["admin"])
		with data.ecsgate.rules as rules
		with time.now_ns as tuesday
		with ecs.server as f.protected_by_tag
	not d.allow
	count(d.reasons) == 2 # the change ticket and the window; an admin may change a protected server
}

test_nothing_to_waive_is_recorded_too if {
	d := authz.decision with input as broken(f.read(f.token(["admin"])))
		with data.ecsgate.rules as rules
		with time.now_ns as tuesday
	d == {"allow": true, "reasons": ["break-glass: INC-4711 database down (waived: nothing)"]}
}

test_not_for_members if {
	d := authz.decision with input as broken(unlock(["member", "ecs_unlocker"]))
		with data.ecsgate.rules as rules
		with time.now_ns as tuesday
		with ecs.server as f.plain_server
	not d.allow
	"X-Break-Glass-Reason is honoured for the roles admin only (caller has: ecs_unlocker, member)" in d.reasons
	count(d.reasons) == 3
}

test_empty_reason_refused if {
	d := authz.decision with input as f.with_header(f.read(f.token(["admin"])), "x-break-glass-reason", "  ")
		with data.ecsgate.rules as rules
		with time.now_ns as tuesday
	d == {"allow": false, "reasons": ["X-Break-Glass-Reason is empty: say why the glass is broken"]}
}

# Break-glass waives the library's rules, never authz.rego's.
test_shipped_rules_not_waived if {
	inp := json.patch(broken(unlock(["admin"])), [{"op": "replace", "path": "/project_id", "value": f.other}])
	d := authz.decision with input as inp
		with data.ecsgate.rules as rules
		with time.now_ns as tuesday
		with ecs.server as f.plain_server
	d == {"allow": false, "reasons": [sprintf("project %s in the URL is not the caller's project %s", [f.other, f.demo])]}
}

test_off_unless_enabled if {
	d := authz.decision with input as broken(unlock(["admin"]))
		with data.ecsgate.rules as strict
		with time.now_ns as tuesday
		with ecs.server as f.plain_server
	not d.allow
	d2 := authz.decision with input as broken(unlock(["admin"]))
		with data.ecsgate.rules as object.union(strict, {"break_glass": false})
		with time.now_ns as tuesday
		with ecs.server as f.plain_server
	d2 == d
}

test_header_and_roles_configurable if {
	settings := {"header": "X-Emergency", "roles": ["sre"]}
	inp := f.with_header(unlock(["member", "ecs_unlocker", "sre"]), "x-emergency", "pager")
	d := authz.decision with input as inp
		with data.ecsgate.rules as object.union(strict, {"break_glass": settings})
		with time.now_ns as tuesday
		with ecs.server as f.plain_server
	d.allow
	startswith(d.reasons[0], "break-glass: pager (waived: ")
}

test_bad_settings_deny if {
	d := authz.decision with input as f.read(f.token(["admin"])) with data.ecsgate.rules as {"break_glass": {"roles": "admin"}}
	d.reasons == ["library rule break_glass: header must be a string, roles a list of strings"]
}
