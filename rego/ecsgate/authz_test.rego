package ecsgate.authz_test

import data.ecsgate.authz

server_a := "c0ffee00-0000-4000-8000-000000000001"

demo := "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

other := "a1b2c3d4e5f60718293a4b5c6d7e8f90"

token(roles) := {
	"method": "token",
	"user": {"id": "u1", "name": "alice", "domain": {"id": "default", "name": "Default"}},
	"project": {"id": demo, "name": "demo", "domain": {"id": "default", "name": "Default"}},
	"roles": roles,
}

action(name, args, identity) := {
	"request": {"method": "POST", "path": sprintf("/v2.1/%s/servers/%s/action", [demo, server_a]), "headers": {}},
	"api": {"family": "nova", "version": "v2.1", "microversion": "2.1", "route": "/servers/{server_id}"},
	"operation": "server.action",
	"action": {"name": name, "args": args},
	"server_ids": [server_a],
	"project_id": demo,
	"identity": identity,
}

read(identity) := {
	"request": {"method": "GET", "path": sprintf("/v2.1/servers/%s", [server_a]), "headers": {}},
	"api": {"family": "nova", "version": "v2.1", "microversion": "2.1", "route": "/servers/{server_id}"},
	"operation": "server.read",
	"action": null,
	"server_ids": [server_a],
	"project_id": null,
	"identity": identity,
}

# A host power action as the classifier reports it: Nova runs it on a GET.
host_action(name, identity) := {
	"request": {"method": "GET", "path": sprintf("/v2.1/%s/os-hosts/cmp-1/%s", [demo, name]), "headers": {}},
	"api": {"family": "nova", "version": "v2.1", "microversion": "2.1", "route": sprintf("/os-hosts/{host_name}/%s", [name])},
	"operation": "host.action",
	"action": {"name": name, "args": null},
	"server_ids": [],
	"project_id": demo,
	"identity": identity,
}

host_action_names := ["reboot", "shutdown", "startup"]

test_read_allowed_for_any_role if {
	authz.decision.allow with input as read(token(["reader"]))
}

test_read_denied_unauthenticated if {
	d := authz.decision with input as read(null)
	not d.allow
	d.reasons == ["authentication required: send a valid X-Auth-Token"]
}

test_lock_allowed_for_member if {
	authz.decision.allow with input as action("lock", null, token(["member", "reader"]))
}

test_lock_denied_for_reader if {
	d := authz.decision with input as action("lock", null, token(["reader"]))
	not d.allow
	d.reasons == [sprintf("server.action lock on server %s requires role member or admin (caller has: reader)", [server_a])]
}

test_unlock_needs_ecs_unlocker if {
	d := authz.decision with input as action("unlock", null, token(["member", "reader"]))
	not d.allow
	d.reasons == [sprintf("unlock on server %s requires role ecs_unlocker or admin (caller has: member, reader)", [server_a])]
}

test_unlock_allowed_for_member_with_ecs_unlocker if {
	authz.decision.allow with input as action("unlock", null, token(["member", "reader", "ecs_unlocker"]))
}

test_unlock_allowed_for_admin if {
	authz.decision.allow with input as action("unlock", null, token(["admin", "member", "reader"]))
}

test_ecs_unlocker_alone_is_not_enough if {
	d := authz.decision with input as action("unlock", null, token(["ecs_unlocker"]))
	not d.allow
	count(d.reasons) == 1
	contains(d.reasons[0], "requires role member or admin")
}

test_project_mismatch_denied if {
	inp := json.patch(action("lock", null, token(["member"])), [{"op": "replace", "path": "/project_id", "value": other}])
	d := authz.decision with input as inp
	not d.allow
	d.reasons == [sprintf("project %s in the URL is not the caller's project %s", [other, demo])]
}

test_admin_only_action_denied_for_member if {
	d := authz.decision with input as action("os-resetState", {"state": "active"}, token(["member"]))
	not d.allow
	d.reasons == [sprintf("os-resetState on server %s is admin-only", [server_a])]
}

test_migrate_host_admin_only if {
	d := authz.decision with input as action("os-migrateLive", {"host": "cmp-1"}, token(["admin"]))
	d.allow
	authz.decision.allow with input as action("unshelve", null, token(["member"]))
	d2 := authz.decision with input as action("unshelve", {"host": "cmp-1"}, token(["member"]))
	not d2.allow
	d2.reasons == [sprintf("unshelve with a target host on server %s is admin-only", [server_a])]
}

test_unauthenticated_mutation_denied if {
	d := authz.decision with input as action("lock", null, null)
	not d.allow
	d.reasons == ["authentication required: send a valid X-Auth-Token"]
}

test_unknown_operation_denied if {
	inp := json.patch(read(token(["admin"])), [{"op": "replace", "path": "/operation", "value": "mystery"}])
	d := authz.decision with input as inp
	not d.allow
	d.reasons == ["unrecognised operation \"mystery\" is denied"]
}

test_other_read_allowed_other_write_needs_member if {
	get := json.patch(read(token(["reader"])), [
		{"op": "replace", "path": "/operation", "value": "other"},
		{"op": "replace", "path": "/server_ids", "value": []},
	])
	authz.decision.allow with input as get
	post := json.patch(get, [
		{"op": "replace", "path": "/request/method", "value": "POST"},
		{"op": "replace", "path": "/api/route", "value": "/os-keypairs"},
	])
	d := authz.decision with input as post
	not d.allow
	d.reasons == ["other requires role member or admin (caller has: reader)"]
	authz.decision.allow with input as post with input.identity.roles as ["member"]
}

test_other_admin_routes_need_admin if {
	inp := json.patch(read(token(["member"])), [
		{"op": "replace", "path": "/operation", "value": "other"},
		{"op": "replace", "path": "/server_ids", "value": []},
		{"op": "replace", "path": "/request/method", "value": "POST"},
		{"op": "replace", "path": "/api/route", "value": "/os-server-external-events"},
	])
	d := authz.decision with input as inp
	not d.allow
	d.reasons == ["POST /os-server-external-events is admin-only"]
	authz.decision.allow with input as inp with input.identity.roles as ["admin"]
}

test_domain_scoped_token_cannot_mutate if {
	inp := json.patch(action("lock", null, token(["member"])), [
		{"op": "remove", "path": "/identity/project"},
		{"op": "replace", "path": "/project_id", "value": null},
	])
	d := authz.decision with input as inp
	not d.allow
	d.reasons == [sprintf("server.action lock on server %s needs a project-scoped token", [server_a])]
}

test_host_action_denied_for_member if {
	every name in host_action_names {
		d := authz.decision with input as host_action(name, token(["member", "reader"]))
		not d.allow
		d.reasons == [sprintf("host.action %s (GET /os-hosts/{host_name}/%s) is admin-only", [name, name])]
	}
}

test_host_action_denied_for_reader if {
	every name in host_action_names {
		d := authz.decision with input as host_action(name, token(["reader"]))
		not d.allow
		d.reasons == [
			sprintf("host.action %s (GET /os-hosts/{host_name}/%s) is admin-only", [name, name]),
			sprintf("host.action %s requires role member or admin (caller has: reader)", [name]),
		]
	}
}

test_host_action_allowed_for_admin if {
	every name in host_action_names {
		authz.decision == {"allow": true, "reasons": []} with input as host_action(name, token(["admin"]))
	}
	head := json.patch(host_action("reboot", token(["admin"])), [
		{"op": "replace", "path": "/request/method", "value": "HEAD"},
		{"op": "replace", "path": "/project_id", "value": null},
	])
	authz.decision.allow with input as head
}

test_host_action_denied_unauthenticated if {
	d := authz.decision with input as host_action("shutdown", null)
	not d.allow
	d.reasons == ["authentication required: send a valid X-Auth-Token"]
}

# A GET that powers a host is never let through as a read: whatever the
# method, only an admin may.
test_host_action_is_never_a_read if {
	every identity in candidate_identities {
		every name in host_action_names {
			every method in ["GET", "HEAD"] {
				d := authz.decision with input as json.patch(host_action(name, identity), [{"op": "replace", "path": "/request/method", "value": method}])
				d.allow == is_admin(identity)
			}
		}
	}
}

is_admin(identity) if "admin" in identity.roles

default is_admin(_) := false

aksk := {"method": "aksk", "access_key": "AKEXAMPLE", "roles": []}

test_aksk_mapped_key_may_lock if {
	authz.decision.allow with input as action("lock", null, aksk)
		with data.ecsgate.access_keys as {"AKEXAMPLE": {"project_id": demo, "roles": ["member"]}}
}

test_aksk_unmapped_key_may_read_not_lock if {
	authz.decision.allow with input as read(aksk)
	d := authz.decision with input as action("lock", null, aksk)
	not d.allow
}

test_aksk_unsigned_payload_denied if {
	inp := json.patch(action("lock", null, aksk), [{"op": "add", "path": "/request/headers/x-sdk-content-sha256", "value": "UNSIGNED-PAYLOAD"}])
	d := authz.decision with input as inp
		with data.ecsgate.access_keys as {"AKEXAMPLE": {"project_id": demo, "roles": ["member"]}}
	not d.allow
	contains(d.reasons[0], "unsigned payload")
}

test_batch_lists_every_server if {
	inp := json.patch(action("os-stop", {"servers": [{"id": "a"}, {"id": "b"}]}, token(["reader"])), [{"op": "replace", "path": "/server_ids", "value": ["a", "b"]}])
	d := authz.decision with input as inp
	d.reasons == ["server.action os-stop on server a, b requires role member or admin (caller has: reader)"]
}

# --- whatever the request, a violation denies -------------------------------

# A rule added to violations must win over everything that would allow the
# request: every candidate is denied, with the rule's reason, once a
# violation is added, with and without access keys in data.
test_any_violation_denies if {
	every inp in candidates {
		denied_by_added_rule(inp)
		denied_by_added_rule(inp) with data.ecsgate.access_keys as candidate_access_keys
	}
}

denied_by_added_rule(inp) if {
	extra := {"added by a test"}
	d := authz.decision with input as inp with authz.violations as extra
	d == {"allow": false, "reasons": ["added by a test"]}
}

# The candidates include requests the policy allows, or the test above would
# prove nothing.
test_candidates_include_allowed_requests if {
	count([inp | some inp in candidates; authz.decision.allow with input as inp]) > 10
}

candidate_access_keys := {
	"AKEXAMPLE": {"project_id": demo, "roles": ["member"]},
	"AKUNLOCK": {"project_id": demo, "roles": ["ecs_unlocker"]},
	"AKADMIN": {"roles": ["admin"]},
}

candidates := [inp |
	some identity in candidate_identities
	some req in candidate_requests(identity)
	some project_id in [null, demo, other, ""]
	inp := json.patch(req, [{"op": "replace", "path": "/project_id", "value": project_id}])
]

candidate_identities := [
	null,
	token([]),
	token(["reader"]),
	token(["member"]),
	token(["ecs_unlocker"]),
	token(["member", "ecs_unlocker"]),
	token(["admin"]),
	json.patch(token(["member", "ecs_unlocker"]), [{"op": "replace", "path": "/project", "value": null}]),
	json.patch(token(["member", "ecs_unlocker"]), [{"op": "replace", "path": "/project/id", "value": ""}]),
	json.patch(token(["member", "ecs_unlocker"]), [{"op": "replace", "path": "/project/id", "value": other}]),
	json.patch(token(["member", "ecs_unlocker"]), [{"op": "replace", "path": "/method", "value": "aksk"}]),
	json.patch(token(["member"]), [{"op": "add", "path": "/access_key", "value": "AKUNLOCK"}]),
	json.patch(token(["member"]), [{"op": "add", "path": "/access_key", "value": "AKADMIN"}]),
	json.patch(token(["reader"]), [{"op": "add", "path": "/access_key", "value": "AKEXAMPLE"}]),
	aksk,
]

candidate_requests(identity) := [
	read(identity),
	json.patch(read(identity), [{"op": "replace", "path": "/operation", "value": "other"}]),
	json.patch(read(identity), [{"op": "replace", "path": "/request/method", "value": "POST"}]),
	json.patch(read(identity), [
		{"op": "replace", "path": "/operation", "value": "other"},
		{"op": "replace", "path": "/request/method", "value": "POST"},
	]),
	json.patch(read(identity), [{"op": "replace", "path": "/action", "value": {"name": "unlock", "args": null}}]),
	json.patch(read(identity), [{"op": "replace", "path": "/operation", "value": "server.create"}]),
	json.patch(read(identity), [
		{"op": "replace", "path": "/operation", "value": "server.delete"},
		{"op": "replace", "path": "/request/method", "value": "DELETE"},
	]),
	action("lock", null, identity),
	action("unlock", null, identity),
	action("os-stop", null, identity),
	action("os-resetState", {"state": "active"}, identity),
	action("os-migrateLive", {"host": "cmp-1"}, identity),
	action("unshelve", {"host": "cmp-1"}, identity),
	action("unshelve", null, identity),
	json.patch(action("lock", null, identity), [{"op": "add", "path": "/request/headers/x-sdk-content-sha256", "value": "UNSIGNED-PAYLOAD"}]),
	json.patch(action("lock", null, identity), [{"op": "replace", "path": "/operation", "value": "mystery"}]),
	host_action("reboot", identity),
	json.patch(host_action("shutdown", identity), [{"op": "replace", "path": "/request/method", "value": "HEAD"}]),
]

test_admin_only_actions_need_admin if {
	every name in authz.admin_only_actions {
		d := authz.decision with input as action(name, null, token(["member"]))
		sprintf("%s on server %s is admin-only", [name, server_a]) in d.reasons
		authz.decision.allow with input as action(name, null, token(["admin"]))
	}
	not "unshelve" in authz.admin_only_actions
	authz.decision.allow with input as action("unshelve", null, token(["member"]))
}

test_host_parameter_needs_admin if {
	every name in authz.host_parameter_actions {
		d := authz.decision with input as action(name, {"host": "cmp-1"}, token(["member"]))
		sprintf("%s with a target host on server %s is admin-only", [name, server_a]) in d.reasons
		authz.decision.allow with input as action(name, {"host": "cmp-1"}, token(["admin"]))
	}
}

test_unlock_without_project_in_url if {
	inp := json.patch(action("unlock", null, token(["member", "reader"])), [{"op": "replace", "path": "/project_id", "value": null}])
	d := authz.decision with input as inp
	d == {"allow": false, "reasons": [sprintf("unlock on server %s requires role ecs_unlocker or admin (caller has: member, reader)", [server_a])]}
	authz.decision == {"allow": true, "reasons": []} with input as inp with input.identity.roles as ["member", "ecs_unlocker"]
}

test_member_changes_own_project_with_or_without_project_in_url if {
	every project_id in [demo, null] {
		every name in ["lock", "os-stop", "reboot", "shelve"] {
			inp := json.patch(action(name, null, token(["member"])), [{"op": "replace", "path": "/project_id", "value": project_id}])
			authz.decision == {"allow": true, "reasons": []} with input as inp
		}
	}
}

# --- the rule library --------------------------------------------------------

# The library's own tests (rego/lib) show each rule through this decision.

test_no_library_rule_without_data if {
	count(authz.enabled_rules) == 0 with input as read(token(["reader"]))
	authz.decision == {"allow": true, "reasons": []} with input as read(token(["reader"])) with data.ecsgate.rules as {}
}

# A misspelt or missing rule must not look enforced.
test_library_rule_not_loaded_denies if {
	d := authz.decision with input as read(token(["admin"])) with data.ecsgate.rules as {"change_tickets": {}}
	d == {"allow": false, "reasons": ["library rule change_tickets is enabled in data.ecsgate.rules but not loaded (ecsgate denies until it is)"]}
}

test_library_rule_turned_off if {
	authz.decision == {"allow": true, "reasons": []} with input as read(token(["admin"]))
		with data.ecsgate.rules as {"change_tickets": false}
}
