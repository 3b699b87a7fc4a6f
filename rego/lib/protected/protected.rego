# METADATA
# title: Protected servers change by admin only
# description: |
#   Enable with `protected: {}` under data.ecsgate.rules. A server whose
#   metadata has protected=true, or which carries the tag protected, takes
#   no change (action, update, delete, metadata, tags, volumes, ...) except
#   from a caller with one of the roles. Reads are not affected. Settings:
#   metadata_key (default protected), metadata_value (default "true"), tag
#   (default protected), roles (default [admin]).
package ecsgate.lib.protected

import data.ecsgate.authz

settings := object.union(
	{"metadata_key": "protected", "metadata_value": "true", "tag": "protected", "roles": ["admin"]},
	configured,
)

# `protected: true` means the defaults.
default configured := {}

configured := data.ecsgate.rules.protected if is_object(data.ecsgate.rules.protected)

# One lookup per server, however many rules below ask.
servers[id] := ecs.server(id) if some id in input.server_ids

guarded if {
	authz.authenticated
	authz.is_mutation
	not authz.has_role(settings.roles)
}

violations contains msg if {
	guarded
	some id in input.server_ids
	why := protection(servers[id])
	msg := sprintf("server %s is protected (%s): %s needs one of the roles %s (caller has: %s)", [
		id, why, authz.subject,
		concat(", ", settings.roles), authz.role_list,
	])
}

# A server that cannot be looked up might be protected: whoever could not
# change a protected one cannot change it either.
violations contains msg if {
	guarded
	some id in input.server_ids
	not servers[id]
	msg := sprintf("server %s could not be looked up to see whether it is protected: %s needs one of the roles %s (caller has: %s)", [
		id, authz.subject,
		concat(", ", settings.roles), authz.role_list,
	])
}

protection(server) := sprintf("metadata %s=%s", [settings.metadata_key, settings.metadata_value]) if {
	server.metadata[settings.metadata_key] == settings.metadata_value
}

protection(server) := sprintf("tag %s", [settings.tag]) if {
	not server.metadata[settings.metadata_key] == settings.metadata_value
	settings.tag in server.tags
}

# Settings of the wrong shape would make the rules above fail to match, and
# so allow: they deny instead.
violations contains "library rule protected: metadata_key, metadata_value and tag must be strings, roles a list of strings" if {
	not valid_settings
}

valid_settings if {
	every key in ["metadata_key", "metadata_value", "tag"] {
		is_string(settings[key])
	}
	is_array(settings.roles)
	every role in settings.roles {
		is_string(role)
	}
}
