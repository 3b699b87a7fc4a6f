# A policy repository's own rules, in place of the shipped policy: servers
# listed in data.acme.frozen may only be read, and a change needs a change
# ticket.
package acme.compute

default decision := {"allow": false, "reasons": ["no identity: acme allows nothing anonymous"]}

decision := {"allow": count(deny) == 0, "reasons": sort(deny)} if input.identity != null

deny contains sprintf("server %s is frozen until %s", [id, data.acme.frozen[id]]) if {
	input.operation != "server.read"
	some id in input.server_ids
	data.acme.frozen[id]
}

deny contains "a change needs an X-Change-Ticket header" if {
	input.operation != "server.read"
	not ticket
}

ticket := t if {
	t := input.request.headers["x-change-ticket"]
	trace(sprintf("change ticket %s", [t]))
}
