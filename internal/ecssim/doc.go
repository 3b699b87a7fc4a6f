// Package ecssim is an in-memory simulator of the Huawei Cloud ECS /
// OpenStack Nova compute API and of Keystone v3, packaged as the Caddy HTTP
// handler module http.handlers.ecs_simulator (Caddyfile directive
// ecs_simulator). It powers the ecsgate demo and integration tests without
// a cloud account.
//
// It is implemented independently of the gateway (it imports nothing from
// ecsgate) and follows Nova's own semantics (Nova 26 / OpenStack Zed with
// enforce_new_defaults = true, maximum microversion 2.93), including the
// quirks a gateway must not misread: Python JSON decoding (NaN, duplicate
// keys last-wins, strict UTF-8), action extraction errors, the optional
// /{project_id} segment, slash collapsing, the query-string method override
// (_method) of the routes middleware, WSGI header folding (underscores and
// repeated lines), the /os-volumes_boot alias and case-insensitive server
// id lookup (MySQL collation). docs/compute-api-facts.md describes them.
//
// # Caddyfile
//
//	ecs_simulator {
//	    public_url       <url>   # compute endpoint in the catalog (the gateway), e.g. http://127.0.0.1:8080/v2.1
//	    identity_url     <url>   # identity endpoint in the catalog; default <request scheme+host>/v3
//	    image_url        <url>   # image endpoint in the catalog;    default <request scheme+host>/image
//	    max_microversion 2.93
//	}
//
// The directive is ordered before respond. Paths the simulator does not own
// go to the next handler.
//
// # Seeded world
//
// Domain Default (id "default"), region RegionOne. Passwords are
// "<name>-secret". Roles include implied roles (admin ⇒ member ⇒ reader).
//
//	user   user id                            password       project (roles)                 demo token
//	admin  1d000000000000000000000000000001   admin-secret   admin   (admin)                 demo-admin
//	alice  1d000000000000000000000000000002   alice-secret   demo    (member)                demo-alice
//	bob    1d000000000000000000000000000003   bob-secret     demo    (member)                demo-bob
//	carol  1d000000000000000000000000000004   carol-secret   demo    (reader)                demo-carol
//	dave   1d000000000000000000000000000005   dave-secret    demo    (member, ecs_unlocker)  demo-dave
//	eve    1d000000000000000000000000000006   eve-secret     other   (member)                demo-eve
//
//	project  id
//	demo     0f1e2d3c4b5a69788796a5b4c3d2e1f0
//	other    a1b2c3d4e5f60718293a4b5c6d7e8f90
//	admin    ad000000000000000000000000000001
//
//	role          id
//	admin         0e000000000000000000000000000001
//	member        0e000000000000000000000000000002
//	reader        0e000000000000000000000000000003
//	ecs_unlocker  0e000000000000000000000000000004   (means nothing to Nova)
//
//	server                                 name   project  user   state
//	c0ffee00-0000-4000-8000-000000000001   web-1  demo     alice  ACTIVE, unlocked
//	c0ffee00-0000-4000-8000-000000000002   db-1   demo     alice  ACTIVE, unlocked
//	c0ffee00-0000-4000-8000-000000000003   eve-1  other    eve    ACTIVE, unlocked
//
//	image   beefcafe-0000-4000-8000-000000000001  cirros-0.6.2-x86_64-disk (the servers' image)
//	flavor  1 m1.tiny (the servers' flavor), 2 m1.small
//
// Servers created through POST /servers get ids c0ffee00-0000-4000-8000-0000000010NN.
//
// # Tokens
//
// POST /v3/auth/tokens issues random opaque tokens (Fernet-like, 182
// characters) valid for 24 hours. For copy-paste curl demos the simulator
// also accepts the fixed tokens demo-<user> (e.g. demo-dave): valid
// forever, scoped to the user's project in the table above. They can be
// revoked with DELETE /v3/auth/tokens until the next reset. This is a
// simulator: never accept such tokens anywhere real.
//
//	curl -H 'X-Auth-Token: demo-alice' -H 'Content-Type: application/json' \
//	     -d '{"lock": null}' http://127.0.0.1:8080/v2.1/servers/c0ffee00-0000-4000-8000-000000000001/action
//
// # Endpoints
//
//	/v3                  Keystone: version doc; POST/GET/HEAD/DELETE auth/tokens; GET auth/catalog, auth/projects
//	/, /servers...       Nova version discovery (GET / lists versions, unversioned paths answer 300)
//	/v2.1, /v2           Nova: version docs; servers (list, detail, show, create, update, delete,
//	                     action, metadata, ips), os-volumes_boot alias, flavors, limits;
//	                     with or without /{project_id}
//	/image               Glance stand-in: versions, GET v2/images[/{id}]
//	/v1/{p}/cloudservers Huawei native: detail, {id}, action (os-start, os-stop, reboot); /v1/{p}/jobs/{id}
//	/__ecssim            test hooks, no auth: GET requests, DELETE requests, POST reset[?tokens=1],
//	                     GET servers[/{id}]
//
// Every request outside /v3 and /__ecssim is recorded in the request log
// (method, raw path and query, body SHA-256 and length, Content-Length,
// Transfer-Encoding, headers without credential values, traceparent,
// answer status). A reset restores servers, jobs, demo-token revocations
// and the log to the seed; issued tokens survive unless ?tokens=1.
package ecssim
