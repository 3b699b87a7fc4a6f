package classify

import (
	"net/http"
)

// methodNames gives the operation name per method; "" means Nova has no
// route for that method, which its router answers with 404.
type methodNames struct{ get, post, put, del string }

func (m *methodNames) pick(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return m.get
	case http.MethodPost:
		return m.post
	case http.MethodPut:
		return m.put
	case http.MethodDelete:
		return m.del
	}
	return ""
}

// subRoute is a sub-resource of /servers/{server_id}: the collection itself
// and, when itemRoute is set, one item below it.
type subRoute struct {
	coll, item           methodNames
	collRoute, itemRoute string
	// itemDigits: Nova's migration ids are integers; anything else is not a
	// migration and is refused rather than guessed at.
	itemDigits bool
}

var readOnly = methodNames{get: OpRead}

// novaServerSubRoutes lists every sub-resource of a server that Nova (Queens
// to current) routes. Anything else under /servers/{id}/ is 404.
var novaServerSubRoutes = map[string]*subRoute{
	"metadata": {
		coll:      methodNames{get: OpRead, post: OpMetadataUpdate, put: OpMetadataUpdate},
		item:      methodNames{get: OpRead, put: OpMetadataUpdate, del: OpMetadataDelete},
		collRoute: "/servers/{server_id}/metadata", itemRoute: "/servers/{server_id}/metadata/{key}",
	},
	"tags": {
		coll:      methodNames{get: OpRead, put: OpTagsUpdate, del: OpTagsDelete},
		item:      methodNames{get: OpRead, put: OpTagsUpdate, del: OpTagsDelete},
		collRoute: "/servers/{server_id}/tags", itemRoute: "/servers/{server_id}/tags/{tag}",
	},
	"os-volume_attachments": {
		coll:      methodNames{get: OpRead, post: OpVolumeAttachmentCreate},
		item:      methodNames{get: OpRead, put: OpVolumeAttachmentUpdate, del: OpVolumeAttachmentDelete},
		collRoute: "/servers/{server_id}/os-volume_attachments", itemRoute: "/servers/{server_id}/os-volume_attachments/{volume_id}",
	},
	"os-interface": {
		coll:      methodNames{get: OpRead, post: OpInterfaceCreate},
		item:      methodNames{get: OpRead, del: OpInterfaceDelete},
		collRoute: "/servers/{server_id}/os-interface", itemRoute: "/servers/{server_id}/os-interface/{port_id}",
	},
	"os-server-password": {
		coll:      methodNames{get: OpRead, del: OpPasswordDelete},
		collRoute: "/servers/{server_id}/os-server-password",
	},
	"migrations": {
		coll:      readOnly,
		item:      methodNames{get: OpRead, del: OpMigrationAbort},
		collRoute: "/servers/{server_id}/migrations", itemRoute: "/servers/{server_id}/migrations/{migration_id}",
		itemDigits: true,
	},
	"remote-consoles": {
		coll:      methodNames{post: OpRemoteConsoleCreate},
		collRoute: "/servers/{server_id}/remote-consoles",
	},
	"shares": {
		coll:      methodNames{get: OpRead, post: OpShareCreate},
		item:      methodNames{get: OpRead, del: OpShareDelete},
		collRoute: "/servers/{server_id}/shares", itemRoute: "/servers/{server_id}/shares/{share_id}",
	},
	// Removed in Ussuri, present in the Queens-era fork Huawei runs.
	"consoles": {
		coll:      methodNames{get: OpRead, post: OpConsoleCreate},
		item:      methodNames{get: OpRead, del: OpConsoleDelete},
		collRoute: "/servers/{server_id}/consoles", itemRoute: "/servers/{server_id}/consoles/{console_id}",
	},
	"ips": {
		coll: readOnly, item: readOnly,
		collRoute: "/servers/{server_id}/ips", itemRoute: "/servers/{server_id}/ips/{network_label}",
	},
	"os-instance-actions": {
		coll: readOnly, item: readOnly,
		collRoute: "/servers/{server_id}/os-instance-actions", itemRoute: "/servers/{server_id}/os-instance-actions/{request_id}",
	},
	"diagnostics":           {coll: readOnly, collRoute: "/servers/{server_id}/diagnostics"},
	"topology":              {coll: readOnly, collRoute: "/servers/{server_id}/topology"},
	"os-security-groups":    {coll: readOnly, collRoute: "/servers/{server_id}/os-security-groups"},
	"os-virtual-interfaces": {coll: readOnly, collRoute: "/servers/{server_id}/os-virtual-interfaces"},
}

// novaOtherCollections are the top-level Nova resources that are not
// servers. They are classified "other" (policy decides on method and route);
// a collection not listed here matches no route.
var novaOtherCollections = []string{
	"extensions", "flavors", "images", "limits",
	"os-agents", "os-aggregates", "os-assisted-volume-snapshots", "os-availability-zone",
	"os-baremetal-nodes", "os-cells", "os-certificates", "os-cloudpipe", "os-console-auth-tokens",
	"os-fixed-ips", "os-floating-ip-dns", "os-floating-ip-pools", "os-floating-ips", "os-floating-ips-bulk",
	"os-fping", "os-hosts", "os-hypervisors", "os-instance_usage_audit_log", "os-keypairs",
	"os-migrations", "os-networks", "os-quota-class-sets", "os-quota-sets",
	"os-security-group-default-rules", "os-security-group-rules", "os-security-groups",
	"os-server-external-events", "os-server-groups", "os-services", "os-simple-tenant-usage",
	"os-snapshots", "os-tenant-networks", "os-volumes",
}

// otherRoute holds the two precomputed route templates of a collection, so
// routing allocates nothing.
type otherRoute struct{ coll, deep string }

var novaOtherRoutes = func() map[string]otherRoute {
	m := make(map[string]otherRoute, len(novaOtherCollections))
	for _, c := range novaOtherCollections {
		m[c] = otherRoute{coll: "/" + c, deep: "/" + c + "/..."}
	}
	return m
}()

func routeNova(method, version string, seg []string) (routed, *Rejection) {
	op := Operation{Family: FamilyNova, Version: version}
	if len(seg) == 0 {
		if isRead(method) {
			op.Name, op.Route = OpOther, "/"
			return routed{op: op}, nil
		}
		return noRoute(FamilyNova)
	}
	// The project segment is optional on every route; no collection name is
	// made of hex digits and hyphens only, so the two forms cannot collide.
	if isProjectID(seg[0]) {
		op.ProjectID = seg[0]
		seg = seg[1:]
		if len(seg) == 0 {
			return noRoute(FamilyNova)
		}
	}
	switch seg[0] {
	case "servers", "os-volumes_boot":
		// os-volumes_boot is a full alias of /servers (show, update, delete,
		// action); classify it identically, sub-resources included.
		return novaServers(method, op, seg[1:])
	}
	if seg[0] == "os-hosts" && len(seg) > 2 {
		return novaHostAction(method, op, seg[1:])
	}
	if r, ok := novaOtherRoutes[seg[0]]; ok {
		op.Name = OpOther
		op.Route = r.coll
		if len(seg) > 1 {
			op.Route = r.deep
		}
		return routed{op: op}, nil
	}
	return noRoute(FamilyNova)
}

func novaServers(method string, op Operation, rest []string) (routed, *Rejection) {
	if len(rest) == 0 {
		switch {
		case isRead(method):
			op.Name, op.Route = OpRead, "/servers"
		case method == http.MethodPost:
			op.Name, op.Route = OpCreate, "/servers"
		default:
			return noRoute(FamilyNova)
		}
		return routed{op: op}, nil
	}
	// /servers/detail precedes /servers/{id}.
	if len(rest) == 1 && rest[0] == "detail" && isRead(method) {
		op.Name, op.Route = OpRead, "/servers/detail"
		return routed{op: op}, nil
	}
	id := rest[0]
	if !isCanonicalUUID(id) {
		// A 404 keeps openstackclient's fallback search by name working.
		return routed{}, reject(FamilyNova, http.StatusNotFound, "bad_server_id",
			"Instance "+id+" could not be found.")
	}
	r := routed{op: op}
	if len(rest) == 1 {
		switch method {
		case http.MethodGet, http.MethodHead:
			r.op.Name = OpRead
		case http.MethodPut:
			r.op.Name = OpUpdate
		case http.MethodDelete:
			r.op.Name = OpDelete
		default:
			return noRoute(FamilyNova)
		}
		r.op.Route = "/servers/{server_id}"
		r.op.ServerIDs = []string{id}
		return r, nil
	}
	sub, tail := rest[1], rest[2:]
	switch {
	case sub == "action":
		if len(tail) != 0 || method != http.MethodPost {
			return noRoute(FamilyNova)
		}
		r.op.Name, r.op.Route = OpAction, "/servers/{server_id}/action"
		r.body = bodyNovaAction
	case sub == "migrations" && len(tail) == 2 && tail[1] == "action":
		if method != http.MethodPost || !isDigits(tail[0]) {
			return noRoute(FamilyNova)
		}
		r.op.Name, r.op.Route = OpMigrationForceComplete, "/servers/{server_id}/migrations/{migration_id}/action"
		r.body = bodyNovaMigrationAction
	default:
		sr := novaServerSubRoutes[sub]
		if sr == nil {
			return noRoute(FamilyNova)
		}
		switch {
		case len(tail) == 0:
			r.op.Name, r.op.Route = sr.coll.pick(method), sr.collRoute
		case len(tail) == 1 && sr.itemRoute != "" && (!sr.itemDigits || isDigits(tail[0])):
			r.op.Name, r.op.Route = sr.item.pick(method), sr.itemRoute
		}
		if r.op.Name == "" {
			return noRoute(FamilyNova)
		}
	}
	r.op.ServerIDs = []string{id}
	return r, nil
}

// hostAction is one of the host power actions Nova runs on a GET, with its
// precomputed route template.
type hostAction struct{ name, route string }

// novaHostActions are the power actions of Nova's hosts API. They are GET
// routes (up to microversion 2.42 upstream; any version here, since a fork
// may keep them) that reboot, shut down or start a compute host, so a policy
// reading GET as a read must never see them as one. See "Mutations reachable
// with GET" in the package documentation.
var novaHostActions = map[string]hostAction{
	HostReboot:   {HostReboot, "/os-hosts/{host_name}/" + HostReboot},
	HostShutdown: {HostShutdown, "/os-hosts/{host_name}/" + HostShutdown},
	HostStartup:  {HostStartup, "/os-hosts/{host_name}/" + HostStartup},
}

// novaHostAction routes /os-hosts/{host_name}/..., rest starting at the host
// name. Nova has no other route this deep under /os-hosts, and no other
// method on the power actions, so anything else is 404. That includes
// "reboot.json" and "REBOOT": Nova releases that registered these actions
// as resource member actions also routed a ".{format}" suffix, and only an
// exact match is known to be what Nova calls it.
func novaHostAction(method string, op Operation, rest []string) (routed, *Rejection) {
	if len(rest) != 2 || !isRead(method) {
		return noRoute(FamilyNova)
	}
	a, ok := novaHostActions[rest[1]]
	if !ok {
		return noRoute(FamilyNova)
	}
	op.Name, op.Route = OpHostAction, a.route
	op.Action = &Action{Name: a.name}
	return routed{op: op}, nil
}
