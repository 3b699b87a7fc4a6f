# METADATA
# title: Unlocking needs one of a list of roles
# description: |
#   Enable with `unlock_role: {roles: [ops_unlocker, admin]}` under
#   data.ecsgate.rules. Settings: roles (default [admin]); actions, the
#   server actions it guards (default [unlock]). It adds to the shipped
#   policy's rule (ecs_unlocker or admin), which stays: to replace that
#   role rather than add one, also delete that rule from authz.rego.
package ecsgate.lib.unlock_role

import data.ecsgate.authz

settings := object.union({"roles": ["admin"], "actions": ["unlock"]}, configured)

# `unlock_role: true` means the defaults.
default configured := {}

configured := data.ecsgate.rules.unlock_role if is_object(data.ecsgate.rules.unlock_role)

violations contains msg if {
	input.action.name in settings.actions
	authz.authenticated
	not authz.has_role(settings.roles)
	msg := sprintf("%s%s requires one of the roles %s (caller has: %s)", [
		input.action.name, authz.target_text,
		concat(", ", settings.roles), authz.role_list,
	])
}

# Settings of the wrong shape would make the rule above fail to match, and so
# allow: they deny instead.
violations contains "library rule unlock_role: roles and actions must be lists of strings" if not valid_settings

valid_settings if {
	every key in ["roles", "actions"] {
		is_array(settings[key])
		every x in settings[key] {
			is_string(x)
		}
	}
}
