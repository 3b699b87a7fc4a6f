# METADATA
# title: Nova's default roles, where the shipped policy is looser
# description: |
#   Enable with `nova_defaults: {}` under data.ecsgate.rules. Adds the parts
#   of Nova's default policy the shipped policy leaves to Nova: reading a
#   server needs reader, member or admin (project_reader_or_admin), and a
#   server an admin locked is unlocked by an admin only
#   (os-lock-server:unlock:unlock_override). The shipped policy already
#   gives mutations to member or admin and the admin-only actions to admin.
package ecsgate.lib.nova_defaults

import data.ecsgate.authz

reader_roles := {"reader", "member", "admin"}

violations contains msg if {
	input.operation == "server.read"
	authz.authenticated
	not authz.has_role(reader_roles)
	msg := sprintf("server.read%s requires role reader, member or admin (caller has: %s)", [authz.target_text, authz.role_list])
}

# Nova records who locked a server (locked_by: owner or admin) but its API
# does not show it; ecs.server reports it where the cloud does. Where it is
# missing (or the lookup fails), Nova itself still refuses the unlock.
violations contains msg if {
	input.action.name == "unlock"
	authz.authenticated
	not authz.is_admin
	some id in input.server_ids
	ecs.server(id).locked_by == "admin"
	msg := sprintf("unlock on server %s: an admin locked it, so only an admin may unlock it", [id])
}
