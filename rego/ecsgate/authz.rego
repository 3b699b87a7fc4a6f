# METADATA
# title: ecsgate baseline authorization
# description: |
#   The policy ecsgate ships and embeds. It mirrors Nova's default rules
#   (project_member_or_admin for mutations, admin-only actions) and adds one
#   ecsgate rule: unlocking a server also needs the custom role ecs_unlocker
#   (or admin). Everything unauthenticated or unrecognised is denied with a
#   reason. The decision is an object in the opa-envoy-plugin style:
#   {"allow": bool, "reasons": [string], "status": 403}.
package ecsgate.authz

# A deny must always say why: the default carries a reason, so a request no
# rule speaks for is refused with an explanation rather than silently.
default decision := {
	"allow": false,
	"reasons": ["no rule allows this request (ecsgate denies by default)"],
}

# One violation is enough to deny, whatever else holds: that is what lets a
# rule added to `violations` be trusted. The reasons are all of them, so a
# caller fixes everything at once.
decision := {"allow": false, "reasons": sort(violations)} if {
	count(violations) > 0
} else := {"allow": true, "reasons": sort(notes)} if permitted

# --- who is calling ---------------------------------------------------------

authenticated if input.identity != null

# AK/SK callers carry no roles of their own: the gateway cannot verify a
# signature (only the upstream's API gateway holds the SK), so an access key
# gets roles and a project only when data maps it. Unmapped keys may read.
access_key := data.ecsgate.access_keys[input.identity.access_key]

caller_roles contains role if some role in input.identity.roles

caller_roles contains role if some role in access_key.roles

token_project := input.identity.project.id if input.identity.project.id != ""

caller_project := token_project

caller_project := access_key.project_id if {
	not token_project
	access_key.project_id != ""
}

has_role(names) if {
	some name in names
	name in caller_roles
}

is_admin if "admin" in caller_roles

# --- what is asked -----------------------------------------------------------

safe_methods := {"GET", "HEAD"}

is_read if input.operation == "server.read"

is_read if {
	input.operation == "other"
	input.request.method in safe_methods
}

is_mutation if not is_read

known_operation if input.operation == "other"

known_operation if startswith(input.operation, "server.")

# Nova runs host power actions on a GET; the classifier names them
# host.action so that no rule above takes them for a read.
known_operation if input.operation == "host.action"

permitted if {
	authenticated
	known_operation
}

action_name := input.action.name

subject := sprintf("%s %s", [input.operation, action_name]) if action_name

subject := input.operation if not action_name

targets := concat(", ", input.server_ids) if count(input.server_ids) > 0

target_text := sprintf(" on server %s", [targets]) if targets

target_text := "" if not targets

# Nova's admin-only server actions (context_is_admin / project_manager_or_admin
# with no manager role in Keystone's defaults).
admin_only_actions := {
	"evacuate",
	"os-resetState",
	"injectNetworkInfo",
	"shelveOffload",
	"migrate",
	"os-migrateLive",
}

# Parameters Nova honours only for admins: naming a target host.
host_parameter_actions := {"migrate", "os-migrateLive", "unshelve", "evacuate"}

# --- why not -----------------------------------------------------------------

violations contains "authentication required: send a valid X-Auth-Token" if not authenticated

violations contains msg if {
	not known_operation
	msg := sprintf("unrecognised operation %q is denied", [input.operation])
}

violations contains msg if {
	authenticated
	input.project_id != null
	caller_project != input.project_id
	msg := sprintf("project %s in the URL is not the caller's project %s", [input.project_id, caller_project])
}

violations contains msg if {
	authenticated
	input.project_id != null
	not caller_project
	msg := sprintf("project %s in the URL needs a project-scoped token", [input.project_id])
}

violations contains msg if {
	authenticated
	is_mutation
	not caller_project
	msg := sprintf("%s%s needs a project-scoped token", [subject, target_text])
}

# Routes outside the servers API that project members may change (Nova's
# defaults let any user manage their own keypairs). Every other non-server
# mutation (aggregates, hosts, external events, ...) is an admin's business.
member_other_routes := {"/os-keypairs", "/os-keypairs/..."}

violations contains msg if {
	authenticated
	input.operation == "other"
	is_mutation
	not input.api.route in member_other_routes
	not is_admin
	msg := sprintf("%s %s is admin-only", [input.request.method, input.api.route])
}

# Powering a compute host off, on or through a reboot affects every
# project's servers on it: Nova's default is admin-only.
violations contains msg if {
	input.operation == "host.action"
	authenticated
	not is_admin
	msg := sprintf("%s (%s %s) is admin-only", [subject, input.request.method, input.api.route])
}

violations contains msg if {
	authenticated
	is_mutation
	not has_role({"member", "admin"})
	msg := sprintf("%s%s requires role member or admin (caller has: %s)", [subject, target_text, role_list])
}

violations contains msg if {
	input.action.name == "unlock"
	authenticated
	not has_role({"ecs_unlocker", "admin"})
	msg := sprintf("unlock%s requires role ecs_unlocker or admin (caller has: %s)", [target_text, role_list])
}

violations contains msg if {
	input.action.name in admin_only_actions
	authenticated
	not is_admin
	msg := sprintf("%s%s is admin-only", [action_name, target_text])
}

violations contains msg if {
	input.action.name in host_parameter_actions
	authenticated
	is_object(input.action.args)
	object.get(input.action.args, "host", null) != null
	not is_admin
	msg := sprintf("%s with a target host%s is admin-only", [action_name, target_text])
}

# An AK/SK request whose body is not covered by the signature can have its
# body swapped on a captured request: refuse it wherever the body matters.
violations contains msg if {
	input.identity.method == "aksk"
	is_mutation
	lower(object.get(input.request.headers, "x-sdk-content-sha256", "")) == "unsigned-payload"
	msg := sprintf("%s%s: an unsigned payload (X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD) is not accepted for changes", [subject, target_text])
}

role_list := concat(", ", sort([r | some r in caller_roles])) if count(caller_roles) > 0

role_list := "no roles" if count(caller_roles) == 0

# --- the rule library (rego/README.md) --------------------------------------

# A library rule is on when data.ecsgate.rules names it (its value is its
# settings; false turns it off), so a security team composes a policy in
# data and the rules above stay as they are.
enabled_rules contains name if {
	some name, settings in data.ecsgate.rules
	settings != false
}

library_violations contains msg if {
	some name in enabled_rules
	some msg in data.ecsgate.lib[name].violations
}

# Break-glass waives the library's rules, never the rules of this file or
# one a team adds to it.
violations contains msg if {
	not break_glass
	some msg in library_violations
}

# A rule turned on but not loaded (a misspelt name, a file left out) would
# look enforced and enforce nothing.
violations contains msg if {
	some name in enabled_rules
	not data.ecsgate.lib[name].violations
	msg := sprintf("library rule %v is enabled in data.ecsgate.rules but not loaded (ecsgate denies until it is)", [name])
}

break_glass := data.ecsgate.lib.break_glass.reason if "break_glass" in enabled_rules

# An allowed request's reasons are kept in its decision record: a break-glass
# request is recorded with its stated reason and what it waived.
notes contains sprintf("break-glass: %s (waived: %s)", [break_glass, waived]) if break_glass

waived := concat("; ", sort(library_violations)) if count(library_violations) > 0

waived := "nothing" if count(library_violations) == 0
