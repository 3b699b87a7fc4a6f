package ecsgate.lib.change_ticket_test

import data.ecsgate.authz
import data.ecsgate.lib.change_ticket
import data.ecsgate.lib.fixtures as f

rules := {"change_ticket": {"pattern": "CHG-[0-9]{5}"}}

unlock := f.action("unlock", f.token(["member", "ecs_unlocker"]))

test_unlock_without_ticket_denied if {
	authz.decision.allow with input as unlock
	d := authz.decision with input as unlock with data.ecsgate.rules as rules
	d == {"allow": false, "reasons": [sprintf("server.action unlock on server %s needs a change ticket: send X-Change-Ticket: <ticket matching CHG-[0-9]{5}>", [f.server_a])]}
	d2 := authz.decision with input as f.with_header(unlock, "x-change-ticket", "") with data.ecsgate.rules as rules
	d2 == d
}

test_unlock_with_valid_ticket_allowed if {
	authz.decision == {"allow": true, "reasons": []} with input as f.with_header(unlock, "x-change-ticket", "CHG-12345")
		with data.ecsgate.rules as rules
}

test_invalid_ticket_named if {
	d := authz.decision with input as f.with_header(unlock, "x-change-ticket", "CHG-1") with data.ecsgate.rules as rules
	d == {"allow": false, "reasons": [sprintf("server.action unlock on server %s: change ticket \"CHG-1\" in X-Change-Ticket does not match CHG-[0-9]{5}", [f.server_a])]}
}

# The whole value must match: a valid ticket inside other text is not one.
test_pattern_is_anchored if {
	every value in ["xCHG-12345", "CHG-12345x", "CHG-12345, CHG-12345", "see CHG-12345"] {
		count(change_ticket.violations) == 1 with input as f.with_header(unlock, "x-change-ticket", value)
			with data.ecsgate.rules as rules
	}
}

test_long_ticket_truncated if {
	long := concat("", [x | some _ in numbers.range(1, 100); x := "A"])
	some msg in change_ticket.violations with input as f.with_header(unlock, "x-change-ticket", long)
	contains(msg, concat("", [substring(long, 0, 64), "..."]))
	not contains(msg, substring(long, 0, 65))
}

test_defaults if {
	count(change_ticket.violations) == 0 with input as f.with_header(unlock, "x-change-ticket", "CHG-1")
		with data.ecsgate.rules as {"change_ticket": true}
	count(change_ticket.violations) == 1 with input as unlock with data.ecsgate.rules as {"change_ticket": true}
}

test_admins_need_a_ticket_too if {
	inp := f.action("unlock", f.token(["admin"]))
	not authz.decision.allow with input as inp with data.ecsgate.rules as rules
}

test_other_requests_untouched if {
	count(change_ticket.violations) == 0 with input as f.action("lock", f.token(["member"])) with data.ecsgate.rules as rules
	count(change_ticket.violations) == 0 with input as f.read(f.token(["member"])) with data.ecsgate.rules as rules
}

test_operations_and_header_configurable if {
	settings := {"header": "X-Ticket", "pattern": "INC[0-9]+", "actions": [], "operations": ["server.delete"]}
	del := f.delete(f.token(["member"]))
	count(change_ticket.violations) == 1 with input as del with data.ecsgate.rules as {"change_ticket": settings}
	count(change_ticket.violations) == 0 with input as f.with_header(del, "x-ticket", "INC42")
		with data.ecsgate.rules as {"change_ticket": settings}
	count(change_ticket.violations) == 0 with input as unlock with data.ecsgate.rules as {"change_ticket": settings}
}

test_bad_settings_deny if {
	every bad in [{"pattern": "CHG-("}, {"pattern": 5}, {"actions": "unlock"}, {"header": ["x"]}] {
		d := authz.decision with input as f.with_header(f.read(f.token(["admin"])), "x-change-ticket", "CHG-1")
			with data.ecsgate.rules as {"change_ticket": bad}
		not d.allow
		some reason in d.reasons
		startswith(reason, "library rule change_ticket:")
	}
}
