# METADATA
# title: Break-glass for admins
# description: |
#   Enable with `break_glass: {}` under data.ecsgate.rules. A caller with
#   one of the roles (default [admin]) who sends the header (default
#   X-Break-Glass-Reason) with a reason is allowed despite the library's
#   other rules (change tickets, windows, protected servers, ...), never
#   despite the rules of authz.rego or one a team adds there. The decision
#   then carries "break-glass: <reason> (waived: ...)" in its reasons,
#   which the decision record keeps. The header from anyone else is refused,
#   so nobody believes it worked.
package ecsgate.lib.break_glass

import data.ecsgate.authz

settings := object.union({"header": "X-Break-Glass-Reason", "roles": ["admin"]}, configured)

# `break_glass: true` means the defaults.
default configured := {}

configured := data.ecsgate.rules.break_glass if is_object(data.ecsgate.rules.break_glass)

stated := trim_space(input.request.headers[lower(settings.header)])

# The reason authz.rego reads: defined only when break-glass applies.
reason := stated if {
	stated != ""
	authz.has_role(settings.roles)
}

violations contains msg if {
	stated != ""
	not authz.has_role(settings.roles)
	msg := sprintf("%s is honoured for the roles %s only (caller has: %s)", [settings.header, concat(", ", settings.roles), authz.role_list])
}

violations contains msg if {
	lower(settings.header) in object.keys(input.request.headers)
	stated == ""
	msg := sprintf("%s is empty: say why the glass is broken", [settings.header])
}

# Settings of the wrong shape would make break-glass apply to nobody,
# silently: they deny instead.
violations contains "library rule break_glass: header must be a string, roles a list of strings" if not valid_settings

valid_settings if {
	is_string(settings.header)
	is_array(settings.roles)
	every role in settings.roles {
		is_string(role)
	}
}
