package ecsgate.lib.unlock_role_test

import data.ecsgate.authz
import data.ecsgate.lib.fixtures as f
import data.ecsgate.lib.unlock_role

rules := {"unlock_role": {"roles": ["ops_unlocker", "admin"]}}

test_unlock_needs_a_listed_role if {
	inp := f.action("unlock", f.token(["member", "ecs_unlocker"]))

	# ecs_unlocker satisfies the shipped policy, not this rule.
	authz.decision.allow with input as inp
	d := authz.decision with input as inp with data.ecsgate.rules as rules
	d == {"allow": false, "reasons": [sprintf("unlock on server %s requires one of the roles ops_unlocker, admin (caller has: ecs_unlocker, member)", [f.server_a])]}

	authz.decision.allow with input as inp with input.identity.roles as ["member", "ecs_unlocker", "ops_unlocker"]
		with data.ecsgate.rules as rules
	authz.decision.allow with input as inp with input.identity.roles as ["admin"]
		with data.ecsgate.rules as rules
}

test_shipped_rule_still_applies if {
	# ops_unlocker without ecs_unlocker: this rule is content, the shipped one is not.
	inp := f.action("unlock", f.token(["member", "ops_unlocker"]))
	count(unlock_role.violations) == 0 with input as inp with data.ecsgate.rules as rules
	not authz.decision.allow with input as inp with data.ecsgate.rules as rules
}

test_default_is_admin if {
	unlock_role.violations == {sprintf("unlock on server %s requires one of the roles admin (caller has: ecs_unlocker, member)", [f.server_a])} with input as f.action("unlock", f.token(["member", "ecs_unlocker"]))
		with data.ecsgate.rules as {"unlock_role": {}}
	count(unlock_role.violations) == 1 with input as f.action("unlock", f.token(["member", "ecs_unlocker"]))
		with data.ecsgate.rules as {"unlock_role": true}
	count(unlock_role.violations) == 0 with input as f.action("unlock", f.token(["admin"]))
		with data.ecsgate.rules as {"unlock_role": true}
}

test_other_actions_untouched_unless_listed if {
	inp := f.action("os-stop", f.token(["member"]))
	count(unlock_role.violations) == 0 with input as inp with data.ecsgate.rules as rules
	count(unlock_role.violations) == 1 with input as inp
		with data.ecsgate.rules as {"unlock_role": {"actions": ["unlock", "os-stop"]}}
}

test_bad_settings_deny if {
	every bad in [{"roles": "admin"}, {"roles": [1]}, {"actions": "unlock"}] {
		d := authz.decision with input as f.action("unlock", f.token(["admin"]))
			with data.ecsgate.rules as {"unlock_role": bad}
		d == {"allow": false, "reasons": ["library rule unlock_role: roles and actions must be lists of strings"]}
	}
}
