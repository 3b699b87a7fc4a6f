# METADATA
# title: Per-project allow-lists
# description: |
#   Enable under data.ecsgate.rules with, for example:
#     project_allowlist:
#       projects:
#         0f1e2d3c4b5a69788796a5b4c3d2e1f0:
#           - {roles: [reader, member], operations: [server.read, other]}
#           - {roles: [member], operations: [server.action lock, server.action unlock]}
#           - {users: [9b1c...], operations: ["*"]}
#   In a listed project, a request is denied unless an entry matches it;
#   other projects are not affected. An entry matches a caller whose user id
#   (or access key) is in users or who has one of the roles (neither given:
#   everyone), for an operation in operations, either the operation
#   (server.action: every action) or the operation and action name as the
#   reasons write them (server.action unlock), or "*" (not given: every
#   operation). The list only narrows what the rest of the policy allows.
package ecsgate.lib.project_allowlist

import data.ecsgate.authz

settings := object.union({"projects": {}}, configured)

# `project_allowlist: true` lists no project.
default configured := {}

configured := data.ecsgate.rules.project_allowlist if is_object(data.ecsgate.rules.project_allowlist)

violations contains msg if {
	authz.authenticated
	entries := settings.projects[authz.caller_project]
	not listed(entries)
	msg := sprintf("%s%s in project %s is not on the project's allow-list (caller %s, roles: %s)", [
		authz.subject, authz.target_text, authz.caller_project,
		caller, authz.role_list,
	])
}

listed(entries) if {
	some entry in entries
	who(entry)
	what(entry)
}

who(entry) if {
	not "users" in object.keys(entry)
	not "roles" in object.keys(entry)
}

who(entry) if input.identity.user.id in entry.users

who(entry) if {
	is_string(input.identity.access_key)
	input.identity.access_key in entry.users
}

who(entry) if authz.has_role(entry.roles)

what(entry) if not "operations" in object.keys(entry)

what(entry) if "*" in entry.operations

what(entry) if input.operation in entry.operations

what(entry) if authz.subject in entry.operations

# How the reason names the caller: it must be defined for every caller, or
# the violation would be too.
caller := input.identity.user.name if {
	input.identity.user.name != ""
} else := input.identity.access_key if {
	is_string(input.identity.access_key)
} else := input.identity.user.id if {
	is_string(input.identity.user.id)
} else := "unknown"

# Settings of the wrong shape would make entries fail to match and deny
# only in part, or not at all: they deny everything instead.
violations contains "library rule project_allowlist: projects must map project ids to lists of {users, roles, operations}, each a list of strings" if {
	not valid_settings
}

valid_settings if {
	is_object(settings.projects)
	every entries in settings.projects {
		is_array(entries)
		every entry in entries {
			valid_entry(entry)
		}
	}
}

valid_entry(entry) if {
	is_object(entry)
	every key, values in entry {
		key in {"users", "roles", "operations"}
		is_array(values)
		every value in values {
			is_string(value)
		}
	}
}
