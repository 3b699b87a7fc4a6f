// Package classify works out what the upstream compute API would execute for a
// raw HTTP request: the Nova-compatible API (/v2.1, /v2) or Huawei's native ECS
// API (/v1, /v1.1, /v2/{project_id}/cloudservers). The answer is an Operation
// for policy to judge, or a *Rejection that must be answered without
// forwarding anything.
//
// The rule throughout (docs/compute-api-facts.md, "Parser differentials"):
// classify at least as broadly as the upstream would execute, and refuse
// whatever cannot be classified with certainty. Nothing is normalised: the
// classifier only accepts or rejects, so the bytes the proxy forwards are the
// bytes that were classified. The package is pure Go with no dependency
// beyond the standard library, decodes no JSON into structs, and allocates
// only for the Operation's ServerIDs and Action on the common path.
//
// # Operations
//
// Name is one of:
//
//	server.read                        GET/HEAD of a server, its list, or a sub-resource
//	server.create                      POST /servers, POST .../cloudservers
//	server.update                      PUT /servers/{id}; native PUT {id}, PUT server-name (batch)
//	server.delete                      DELETE /servers/{id}; native POST delete (batch), recycle-bin DELETE
//	server.action                      an action; Action says which
//	server.metadata.update             POST/PUT metadata, PUT metadata/{key}; native POST metadata
//	server.metadata.delete             DELETE metadata/{key}
//	server.tags.update                 PUT tags, PUT tags/{tag}; native POST tags/action
//	server.tags.delete                 DELETE tags, DELETE tags/{tag}
//	server.volume_attachment.create    POST os-volume_attachments; native POST attachvolume
//	server.volume_attachment.update    PUT os-volume_attachments/{volume_id} (swap)
//	server.volume_attachment.delete    DELETE os-volume_attachments/{volume_id}; native DELETE detachvolume/{volume_id}
//	server.interface.create            POST os-interface; native POST nics
//	server.interface.delete            DELETE os-interface/{port_id}; native POST nics/delete
//	server.password.delete             DELETE os-server-password (both APIs)
//	server.migration.force_complete    POST migrations/{migration_id}/action {"force_complete": ...}
//	server.migration.abort             DELETE migrations/{migration_id}
//	server.remote_console.create       POST remote-consoles; native POST remote_console
//	server.share.create                POST shares
//	server.share.delete                DELETE shares/{share_id}
//	server.console.create              POST consoles (pre-Ussuri, still in Queens-era forks)
//	server.console.delete              DELETE consoles/{console_id}
//	host.action                        GET/HEAD /os-hosts/{host_name}/reboot|shutdown|startup; Action says which
//	other                              a recognised route that is not a server route
//
// A mutating method on a server path is never server.read or other, and
// neither is a GET that Nova executes as a change (see "Mutations reachable
// with GET"). Policy must treat other with a method other than GET/HEAD as
// default-deny: it includes admin routes such as os-server-external-events.
//
// host.action powers a compute host: Action.Name is "reboot", "shutdown" or
// "startup" (the last path segment), Action.Args is nil, ServerIDs is empty
// and the host name stays in the request path only. It is an operator's
// action; a policy should allow it to admins alone.
//
// Route is a template without the version and project segments, so its
// cardinality is bounded: "/servers/{server_id}/action",
// "/cloudservers/action", "/os-hosts/{host_name}/reboot", "/flavors",
// "/flavors/...". The /os-volumes_boot
// alias gets the /servers templates: it is the same operation.
//
// ServerIDs lists the canonical lowercase UUIDs targeted: the path id on
// per-server routes, every servers[].id of a native batch body (in body
// order, duplicates kept). It is empty for lists, creates, host.action and
// other.
//
// # Nova routes
//
// Under /v2.1 and /v2, each with and without a /{project_id} segment
// ([0-9a-f-]+, else no route), with /servers or /os-volumes_boot:
//
//	GET|HEAD  /servers, /servers/detail                    server.read (no ids)
//	POST      /servers                                     server.create
//	GET|HEAD  /servers/{id}                                server.read
//	PUT       /servers/{id}                                server.update
//	DELETE    /servers/{id}                                server.delete
//	POST      /servers/{id}/action                         server.action, Action from the body
//	GET|HEAD  /servers/{id}/{sub}[/{item}]                 server.read for sub in metadata, tags,
//	          os-volume_attachments, os-interface, os-server-password, migrations, shares, consoles,
//	          ips, os-instance-actions, diagnostics, topology, os-security-groups, os-virtual-interfaces
//	mutations of those sub-resources                       the specific names above
//	everything else under /servers/{id}/                   404
//
// Outside /servers:
//
//	GET|HEAD  /os-hosts/{host_name}/reboot|shutdown|startup  host.action, at any microversion
//	anything else below /os-hosts/{host_name}/               404 (other methods, "reboot.json", "REBOOT", deeper)
//
// A method a route does not have is 404, as Nova's router answers. The
// non-server collections (flavors, images, limits, os-keypairs,
// os-hypervisors, os-aggregates, os-server-groups, ... see
// novaOtherCollections) are other; an unknown collection is 404. GET/HEAD of
// "/", "/v2.1" and "/v2" (version discovery) is other; any other unversioned
// path is 404, because only a fork's router would know what it executes.
//
// Every Nova server action is accepted byte-exact after JSON unescaping:
// addFixedIp addFloatingIp addSecurityGroup changePassword confirmResize
// createBackup createImage evacuate forceDelete injectNetworkInfo lock migrate
// os-getConsoleOutput os-getRDPConsole os-getSPICEConsole os-getSerialConsole
// os-getVNCConsole os-migrateLive os-resetState os-start os-stop pause reboot
// rebuild removeFixedIp removeFloatingIp removeSecurityGroup rescue
// resetNetwork resize restore resume revertResize shelve shelveOffload
// suspend trigger_crash_dump unlock unpause unrescue unshelve.
// resetNetwork and os-getRDPConsole are refused by current Nova but may run on
// an older fork, so they are classified and left to policy. Any other key is
// 400 "There is no such action: <key>".
//
// Whether an action exists at the request's microversion (capped at 2.5 or
// 2.43, trigger_crash_dump from 2.17, and so on) and which of its parameters
// are honoured is not decided here: Nova answers an out-of-range action with
// 404. Policy sees Operation.Microversion and Action.Args and may be stricter
// than Nova (for example, treat a migrate host as meaningful at any version),
// never looser.
//
// # Native routes
//
// Under /v1/{p}, /v1.1/{p} and /v2/{p} (only /cloudservers; the rest of /v2
// is Nova's legacy prefix, so routing looks at the whole path), "..." being
// {prefix}/cloudservers:
//
//	POST    .../action                       server.action  os-start | os-stop | reboot (body key), ids from its servers[]
//	POST    .../delete                       server.delete  ids from body
//	POST    .../batch-resize, .../resize     server.action  resize, ids from body, Args = body
//	PUT     .../os-reset-passwords           server.action  os-reset-password, ids from body, Args = body
//	PUT     .../server-name                  server.update  ids from body
//	POST    ...                              server.create
//	PUT     .../{id}                         server.update
//	POST    .../{id}/resize                  server.action  resize
//	POST    .../{id}/changeos                server.action  changeos
//	POST    .../{id}/reinstallos             server.action  reinstallos
//	PUT     .../{id}/os-reset-password       server.action  os-reset-password
//	POST    .../{id}/migrate                 server.action  migrate
//	POST    .../{id}/actions/trigger-crash-dump  server.action  trigger-crash-dump
//	POST    .../{id}/actions/redeploy        server.action  redeploy
//	POST    .../{id}/changevpc               server.action  changevpc
//	POST    .../{id}/attachvolume            server.volume_attachment.create
//	DELETE  .../{id}/detachvolume/{vol}      server.volume_attachment.delete
//	POST    .../{id}/nics                    server.interface.create
//	POST    .../{id}/nics/delete             server.interface.delete
//	POST    .../{id}/tags/action             server.tags.update (the body's create or delete)
//	DELETE  .../{id}/os-server-password      server.password.delete
//	POST    .../{id}/metadata                server.metadata.update
//	DELETE  .../{id}/metadata/{key}          server.metadata.delete
//	POST    .../{id}/remote_console          server.remote_console.create
//	POST    /v1/{p}/recycle-bin/cloudservers/{id}/actions/revert  server.action  revert
//	DELETE  /v1/{p}/recycle-bin/cloudservers/{id}                 server.delete
//	GET     ..., .../detail, recycle-bin lists                    server.read (no ids)
//	GET     .../{id}[/anything, up to 4 segments]                 server.read
//	GET     .../flavors, resize_flavors, limits, os-server-groups, os-availability-zone; /v1/{p}/jobs/{job_id}  other
//
// For native single-server actions Action.Args is the whole body (nil when
// empty); for batch start/stop/reboot it is the value of the key, as on Nova.
// Batch bodies must name at least one server; the ids are taken from every
// "servers" array at the top level and one level below (where Huawei reads
// each batch call's list is not certain, so policy gets the union), and each
// element must be an object whose "id" is a canonical UUID written without
// escapes. Any other mutation under /cloudservers is 404.
//
// # Mutations reachable with GET
//
// Policies read GET and HEAD as reads, so every GET route of Nova's route
// table was followed to the controller method it reaches, in Nova Zed
// (nova-api 26, microversions up to 2.93, the reference deployment). Where
// Zed answers 410 Gone the verdict is for the code older releases ran, which
// a Queens-era fork may still run. HEAD matches no GET route in Nova's
// router, which compares methods exactly, but a WSGI front end may run a
// HEAD as a GET (mod_wsgi does when an output filter such as compression is
// active), so HEAD is classified like GET throughout.
//
// Nova, below /v2.1 or /v2, with or without /{project_id}:
//
//	route                                                    what the controller does                          verdict
//	/, /versions/{id}, /extensions[/{alias}]                 static version and extension documents            read
//	/flavors[/detail|/{id}], .../os-extra_specs[/{key}],     flavor lookups                                    read
//	  .../os-flavor-access
//	/images[/detail|/{id}], /images/{id}/metadata[/{key}]    image service lookups (proxy API)                 read
//	/limits                                                  quota limits and usage counts                     read
//	/os-agents                                               410; formerly listed guest agent builds           read
//	/os-aggregates[/{id}]                                    aggregate lookups                                 read
//	/os-availability-zone[/detail]                           zone and service lookups                          read
//	/os-baremetal-nodes[/{id}]                               bare metal node lookups (proxy API)               read
//	/os-cells[/detail|/info|/capacities|/{id}[/capacities]]  410; formerly cell lookups                        read
//	/os-certificates/{id}                                    410; formerly returned the root CA certificate    read
//	/os-cloudpipe                                            410; formerly listed VPN instances                read
//	/os-console-auth-tokens/{token}                          looks a console token up, consumes nothing        read
//	/os-fixed-ips/{address}                                  410; formerly a fixed IP lookup                   read
//	/os-floating-ip-dns, .../{domain}/entries/{name}         410; formerly DNS lookups                         read
//	/os-floating-ip-pools, /os-floating-ips[/{id}]           network service lookups (proxy API)               read
//	/os-floating-ips-bulk[/{id}]                             410; formerly floating IP lookups                 read
//	/os-fping[/{server_id}]                                  410; formerly pinged the servers' addresses:      read
//	                                                         network probes, no state change
//	/os-hosts, /os-hosts/{host_name}                         service list; one host's resource usage           read
//	/os-hosts/{host_name}/reboot|shutdown|startup            reboots, shuts down or powers on the compute      MUTATION: host.action
//	                                                         host through its compute service (up to 2.42)
//	/os-hypervisors[/detail|/statistics|/{id}[/search|       compute node lookups; uptime asks the host        read
//	  /servers|/uptime]]
//	/os-instance_usage_audit_log[/{before}]                  audit task log lookups                            read
//	/os-keypairs[/{name}]                                    keypair lookups                                   read
//	/os-migrations                                           migration lookups                                 read
//	/os-networks[/{id}]                                      network lookups (proxy API, up to 2.35)           read
//	/os-quota-class-sets/{class}, /os-quota-sets/{project}   quota lookups                                     read
//	  [/detail|/defaults]
//	/os-security-group-default-rules[/{id}]                  410; formerly rule lookups                        read
//	/os-security-groups[/{id}]                               security group lookups (proxy API); see below     read
//	/os-server-groups[/{id}]                                 server group lookups                              read
//	/os-services                                             service list                                      read
//	/os-simple-tenant-usage[/{project}]                      usage summed from instance records                read
//	/os-snapshots[/detail|/{id}], /os-volumes[/detail|/{id}] block storage lookups (proxy API)                 read
//	/os-tenant-networks[/{id}]                               network lookups; refills an in-process cache of   read
//	                                                         default networks
//	/servers[/detail|/{id}], /os-volumes_boot[...]           instance lookups                                  read (server.read)
//	/servers/{id}/consoles[/{id}], .../os-virtual-interfaces 410; formerly lookups                             read (server.read)
//	/servers/{id}/diagnostics                                asks the hypervisor for the guest's counters      read (server.read)
//	/servers/{id}/ips, metadata, migrations,                 lookups; os-server-password returns the stored    read (server.read)
//	  os-instance-actions, os-interface, os-security-groups, (encrypted) password
//	  os-server-password, os-volume_attachments, tags,
//	  topology, each [/{item}] where routed
//
// The host power actions are the only GET mutations. Older releases
// registered them as member actions of a routes resource, which also
// matched a ".{format}" suffix (".../reboot.json" rebooted too); such paths
// are refused rather than read. /servers/{id}/shares (2.97 and later) is not
// in the reference release and is classified server.read from the API
// reference alone.
//
// One side effect is deliberately left a read: listing security groups
// creates the caller's project's default security group when it does not
// exist yet (the network service does so on every listing, and nova-network
// did so on list and show). That group is deemed to exist for every project,
// any user of the project can cause the same creation through the network
// service's own read API, and server reads that look groups up may do it
// too; calling it a mutation would make reads of servers non-reads.
//
// Native routes: no source is available, only Huawei's API reference, which
// documents every GET as a query: server lists and details, the recycle-bin
// lists, flavors, resize flavors, limits, server groups, availability zones
// and job status. None is documented to change state. GET below
// .../cloudservers/{id}/ is read for up to four segments without knowing
// each sub-resource, so an undocumented native GET that changed state would
// be misread; only a check against Huawei's service can rule that out.
//
// # What is rejected, and why
//
// Request (400 unless noted):
//   - a method outside GET, HEAD, POST, PUT, DELETE, in any case (404, as
//     Nova's router answers): Nova compares methods case-sensitively;
//   - "_method" anywhere in the raw query or in any repeatedly percent- and
//     '+'-decoded form of it, case-insensitively; routes honours a query
//     method override, found by a parser unlike Go's. A harmless query that
//     merely contains the text is refused too;
//   - X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override or any header
//     whose name contains "method-override";
//   - any header name with '_': WSGI servers merge it into the dashed name
//     (Caddy's server already drops such headers unless configured to keep
//     them, so then neither the classifier nor the upstream sees them; this
//     rule covers servers that keep them);
//   - a repeated X-Auth-Token, Authorization, OpenStack-API-Version,
//     X-OpenStack-Nova-API-Version, X-Project-Id, X-Sdk-Date,
//     X-Security-Token, X-Sdk-Content-Sha256, X-Service-Token, Content-Type,
//     Content-Length or Content-Encoding: WSGI folds repeats, Go does not;
//   - a Transfer-Encoding header; a Content-Encoding other than identity
//     (415); a Content-Length that is not the body's length (truncated or
//     padded bodies would be classified on other bytes).
//
// Path:
//   - any '%' (no ECS path needs an escape; Nova routes on the decoded path);
//   - control characters, whitespace, DEL or non-ASCII bytes (placeholders
//     accept them, and the route regexp tolerates a trailing newline);
//   - empty segments, "." or "..", a trailing slash (404): Nova collapses
//     slashes before routing;
//   - a server id that is not ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$
//     (404 "Instance <id> could not be found.", which keeps openstackclient's
//     name search working): Nova accepts other spellings and may find the
//     server through a case-insensitive lookup;
//   - anything that matches no route above (404); "/servers/{id}.json" and
//     ".../action.json" included.
//
// Microversion (Nova only; docs/compute-api-facts.md, "Microversions"):
// computed exactly as Nova does, except that two compute entries, a comma
// list in the legacy header, the two headers disagreeing, or bytes outside
// printable ASCII are refused (400) rather than resolved: a fork may resolve
// them differently. Invalid format is 400 with Nova's message, out of range
// 406 with Nova's message; /v2 always means 2.1.
//
// Content-Type (415): on Nova routes, for every request, as Nova checks it:
// absent, empty, or a media type (text before the first ';', compared
// exactly) of text/plain, application/json or
// application/vnd.openstack.compute+json. On native routes the media type
// must be application/json, and must be present when there is a body. It
// never selects the parser: JSON is parsed whatever it says. Form types are
// refused with reason form_body.
//
// Body:
//   - any body on GET, HEAD or DELETE;
//   - every non-empty POST/PUT body is checked as strict JSON, because Nova
//     deserialises all of them and policy may read them: invalid UTF-8, a
//     leading BOM, syntax errors or trailing data, a duplicate key at any
//     depth (compared after unescaping), an escape decoding to a lone
//     surrogate, a number overflowing float64, NaN/Infinity, nesting deeper
//     than 64 (all 400 "Malformed request body");
//   - action bodies follow Nova's extraction (docs/compute-api-facts.md,
//     "Action extraction"): exactly one key, else 400; a top-level number,
//     boolean, null, one-element array or one-character string 404; other
//     arrays and strings 400.
//
// Rejection.Family is "ecs" for native paths (decided from the prefix when
// the path cannot be parsed) and "nova" otherwise, so the caller can answer
// in the right error format. Rejection.Reason is a stable code for logs and
// metrics; Status is always 4xx and never 401 or 403.
package classify
