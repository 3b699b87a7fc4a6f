# Inputs and ecs.server mocks the library's tests share. The file name ends
# in _test.rego so that the gateway never loads it.
package ecsgate.lib.fixtures

demo := "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

other := "a1b2c3d4e5f60718293a4b5c6d7e8f90"

server_a := "c0ffee00-0000-4000-8000-000000000001"

server_b := "c0ffee00-0000-4000-8000-000000000002"

token(roles) := token_in(demo, roles)

token_in(project, roles) := {
	"method": "token",
	"user": {"id": "u-alice", "name": "alice", "domain": {"id": "default", "name": "Default"}},
	"project": {"id": project, "name": "p", "domain": {"id": "default", "name": "Default"}},
	"scope": {"type": "project", "project": {"id": project, "name": "p"}, "domain": null, "system": null},
	"roles": roles,
	"auth_methods": ["password"],
	"expires_at": "2030-01-01T00:00:00Z",
	"access_key": null,
}

request(method, operation, action, identity) := {
	"request": {
		"id": "req-1", "method": method, "path": "/v2.1/servers", "query": "",
		"headers": {"x-auth-token": "[REDACTED]"}, "remote_ip": "127.0.0.1",
	},
	"api": {"family": "nova", "version": "v2.1", "microversion": "2.1", "route": "/servers/{server_id}"},
	"operation": operation,
	"action": action,
	"server_ids": [server_a],
	"project_id": demo,
	"identity": identity,
}

action(name, identity) := request("POST", "server.action", {"name": name, "args": null}, identity)

read(identity) := request("GET", "server.read", null, identity)

delete(identity) := request("DELETE", "server.delete", null, identity)

with_header(inp, name, value) := json.patch(inp, [{"op": "add", "path": sprintf("/request/headers/%s", [name]), "value": value}])

# --- ecs.server mocks --------------------------------------------------------

plain_server(id) := {
	"id": id, "name": "web-1", "status": "ACTIVE", "tenant_id": demo,
	"locked": false, "locked_reason": null, "metadata": {}, "tags": [],
	"flavor": {"original_name": "s6.small.1"},
}

locked_by_admin(id) := object.union(plain_server(id), {"locked": true, "locked_by": "admin", "locked_reason": "forensics"})

locked_by_owner(id) := object.union(plain_server(id), {"locked": true, "locked_by": "owner"})

# locked, but no locked_by: what Nova's API shows.
locked(id) := object.union(plain_server(id), {"locked": true})

protected_by_metadata(id) := object.union(plain_server(id), {"metadata": {"protected": "true"}})

protected_by_tag(id) := object.union(plain_server(id), {"tags": ["web", "protected"]})

# Only server_b is protected.
protected_b(id) := protected_by_tag(id) if id == server_b

protected_b(id) := plain_server(id) if id != server_b

# A lookup that fails: the built-in is undefined.
unknown_server(id) := plain_server(id) if id == "no such server"

prod_server(id) := object.union(plain_server(id), {"metadata": {"env": "prod"}})
