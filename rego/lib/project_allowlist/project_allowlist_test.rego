package ecsgate.lib.project_allowlist_test

import data.ecsgate.authz
import data.ecsgate.lib.fixtures as f
import data.ecsgate.lib.project_allowlist

rules := {"project_allowlist": {"projects": {f.demo: [
	{"roles": ["reader", "member"], "operations": ["server.read", "other"]},
	{"roles": ["member"], "operations": ["server.action lock", "server.action unlock"]},
	{"users": ["u-bob"], "operations": ["*"]},
	{"roles": ["admin"]},
]}}}

decide(inp) := d if {
	d := authz.decision with input as inp with data.ecsgate.rules as rules
}

test_listed_requests_allowed if {
	decide(f.read(f.token(["reader"]))).allow
	decide(f.action("lock", f.token(["member"]))).allow
	decide(f.action("unlock", f.token(["member", "ecs_unlocker"]))).allow
	decide(f.delete(f.token(["admin"]))).allow
}

test_unlisted_request_denied if {
	d := decide(f.action("os-stop", f.token(["member"])))
	d == {"allow": false, "reasons": [sprintf("server.action os-stop on server %s in project %s is not on the project's allow-list (caller alice, roles: member)", [f.server_a, f.demo])]}
	not decide(f.delete(f.token(["member"]))).allow
}

test_roles_outside_entries_denied if {
	d := decide(f.read(f.token(["auditor"])))
	not d.allow
}

test_user_entry if {
	bob := json.patch(f.token(["member"]), [{"op": "replace", "path": "/user/id", "value": "u-bob"}])
	decide(f.delete(bob)).allow
	decide(f.action("os-stop", bob)).allow
}

test_access_key_entry if {
	key := {"method": "aksk", "access_key": "AKDEPLOY", "roles": [], "user": null, "project": {"id": f.demo}}
	keys := {"AKDEPLOY": {"project_id": f.demo, "roles": ["member"]}}
	settings := {"project_allowlist": {"projects": {f.demo: [{"users": ["AKDEPLOY"], "operations": ["server.delete"]}]}}}
	authz.decision.allow with input as f.delete(key) with data.ecsgate.rules as settings with data.ecsgate.access_keys as keys
	d := authz.decision with input as f.action("lock", key) with data.ecsgate.rules as settings with data.ecsgate.access_keys as keys
	d.reasons == [sprintf("server.action lock on server %s in project %s is not on the project's allow-list (caller AKDEPLOY, roles: member)", [f.server_a, f.demo])]
}

# A caller the reason cannot name is still denied.
test_nameless_caller_denied if {
	nameless := json.patch(f.token(["member"]), [{"op": "replace", "path": "/user", "value": null}])
	d := decide(f.action("os-stop", nameless))
	not d.allow
	contains(d.reasons[0], "(caller unknown, roles: member)")
}

test_other_projects_unaffected if {
	inp := json.patch(f.action("os-stop", f.token_in(f.other, ["member"])), [{"op": "replace", "path": "/project_id", "value": null}])
	decide(inp).allow
	count(project_allowlist.violations) == 0 with input as inp with data.ecsgate.rules as rules
}

test_bad_settings_deny if {
	every bad in [
		{"projects": []},
		{"projects": {f.demo: {"roles": ["member"]}}},
		{"projects": {f.demo: [{"role": ["member"]}]}},
		{"projects": {f.demo: [{"roles": "member"}]}},
	] {
		d := authz.decision with input as f.read(f.token(["admin"])) with data.ecsgate.rules as {"project_allowlist": bad}
		not d.allow
		"library rule project_allowlist: projects must map project ids to lists of {users, roles, operations}, each a list of strings" in d.reasons
	}
}
