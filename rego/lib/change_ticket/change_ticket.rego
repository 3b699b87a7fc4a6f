# METADATA
# title: Changes need a change ticket
# description: |
#   Enable with `change_ticket: {pattern: "CHG-[0-9]{5}"}` under
#   data.ecsgate.rules. The guarded requests must carry a header whose whole
#   value matches the pattern (a Go regular expression, anchored here).
#   Settings: pattern (default CHG-[0-9]+); header (default
#   X-Change-Ticket); actions, server actions guarded (default [unlock]);
#   operations, operations guarded whatever the action (default []).
package ecsgate.lib.change_ticket

import data.ecsgate.authz

settings := object.union(
	{"pattern": "CHG-[0-9]+", "header": "X-Change-Ticket", "actions": ["unlock"], "operations": []},
	configured,
)

# `change_ticket: true` means the defaults.
default configured := {}

configured := data.ecsgate.rules.change_ticket if is_object(data.ecsgate.rules.change_ticket)

guarded if input.action.name in settings.actions

guarded if input.operation in settings.operations

ticket := input.request.headers[lower(settings.header)]

violations contains msg if {
	guarded
	authz.authenticated
	object.get(input.request.headers, lower(settings.header), "") == ""
	msg := sprintf("%s%s needs a change ticket: send %s: <ticket matching %s>", [
		authz.subject, authz.target_text,
		settings.header, settings.pattern,
	])
}

violations contains msg if {
	guarded
	authz.authenticated
	ticket != ""
	not regex.match(sprintf("^(?:%s)$", [settings.pattern]), ticket)
	msg := sprintf("%s%s: change ticket %q in %s does not match %s", [
		authz.subject, authz.target_text,
		truncate(ticket, 64), settings.header, settings.pattern,
	])
}

truncate(s, n) := s if count(s) <= n

truncate(s, n) := concat("", [substring(s, 0, n), "..."]) if count(s) > n

# Settings of the wrong shape would make the rules above fail to match, and
# so allow: they deny instead.
violations contains "library rule change_ticket: pattern must be a valid regular expression, header a string, actions and operations lists of strings" if {
	not valid_settings
}

valid_settings if {
	is_string(settings.pattern)
	regex.is_valid(settings.pattern)
	is_string(settings.header)
	every key in ["actions", "operations"] {
		is_array(settings[key])
		every x in settings[key] {
			is_string(x)
		}
	}
}
