package classify

import (
	"net/http"
)

// Native action names (Action.Name on native routes). Batch start, stop and
// reboot reuse Nova's keys, which are also the native body keys, so one
// policy rule covers both APIs.
const (
	NativeResize           = "resize"
	NativeChangeOS         = "changeos"
	NativeReinstallOS      = "reinstallos"
	NativeResetPassword    = "os-reset-password"
	NativeMigrate          = "migrate"
	NativeTriggerCrashDump = "trigger-crash-dump"
	NativeRedeploy         = "redeploy"
	NativeChangeVPC        = "changevpc"
	NativeRecycleRevert    = "revert"
)

// nativeBatchActions are the keys accepted by POST .../cloudservers/action.
var nativeBatchActions = map[string]string{
	"os-start": "os-start",
	"os-stop":  "os-stop",
	"reboot":   "reboot",
}

// nativeOtherCollections are read-only native collections under
// /cloudservers that are not servers.
var nativeOtherCollections = map[string]otherRoute{
	"flavors":              {coll: "/cloudservers/flavors", deep: "/cloudservers/flavors/..."},
	"resize_flavors":       {coll: "/cloudservers/resize_flavors", deep: "/cloudservers/resize_flavors/..."},
	"limits":               {coll: "/cloudservers/limits", deep: "/cloudservers/limits/..."},
	"os-server-groups":     {coll: "/cloudservers/os-server-groups", deep: "/cloudservers/os-server-groups/..."},
	"os-availability-zone": {coll: "/cloudservers/os-availability-zone", deep: "/cloudservers/os-availability-zone/..."},
}

func routeNative(method, version string, seg []string) (routed, *Rejection) {
	op := Operation{Family: FamilyECS, Version: version}
	if len(seg) == 0 {
		if isRead(method) {
			op.Name, op.Route = OpOther, "/"
			return routed{op: op}, nil
		}
		return noRoute(FamilyECS)
	}
	if !isProjectID(seg[0]) {
		return routed{}, reject(FamilyECS, http.StatusNotFound, "bad_project_id", msgNotFound)
	}
	op.ProjectID = seg[0]
	seg = seg[1:]
	if len(seg) == 0 {
		return noRoute(FamilyECS)
	}
	switch seg[0] {
	case "cloudservers":
		return nativeServers(method, op, seg[1:])
	case "recycle-bin":
		if version != "v2" && len(seg) >= 2 && seg[1] == "cloudservers" {
			return nativeRecycleBin(method, op, seg[2:])
		}
	case "jobs":
		// Every native mutation is asynchronous; clients poll the job.
		if len(seg) == 2 && isRead(method) {
			op.Name, op.Route = OpOther, "/jobs/{job_id}"
			return routed{op: op}, nil
		}
	}
	return noRoute(FamilyECS)
}

func nativeServers(method string, op Operation, rest []string) (routed, *Rejection) {
	r := routed{op: op}
	if len(rest) == 0 {
		switch {
		case isRead(method):
			r.op.Name = OpRead
		case method == http.MethodPost:
			r.op.Name = OpCreate
		default:
			return noRoute(FamilyECS)
		}
		r.op.Route = "/cloudservers"
		return r, nil
	}
	first := rest[0]
	if isCanonicalUUID(first) {
		return nativeServer(method, op, first, rest[1:])
	}
	if len(rest) == 1 {
		switch {
		case first == "detail" && isRead(method):
			r.op.Name, r.op.Route = OpRead, "/cloudservers/detail"
			return r, nil
		case first == "action" && method == http.MethodPost:
			// Start, stop and reboot share this path and differ only in the
			// body key.
			r.op.Name, r.op.Route = OpAction, "/cloudservers/action"
			r.body = bodyNativeBatchAction
			return r, nil
		case first == "delete" && method == http.MethodPost:
			r.op.Name, r.op.Route = OpDelete, "/cloudservers/delete"
			r.body = bodyNativeBatchIDs
			return r, nil
		case (first == "batch-resize" || first == "resize") && method == http.MethodPost:
			// Both spellings of batch resize are in use in Huawei's docs.
			r.op.Name, r.op.Route = OpAction, "/cloudservers/batch-resize"
			if first == "resize" {
				r.op.Route = "/cloudservers/resize"
			}
			r.op.Action = &Action{Name: NativeResize}
			r.body = bodyNativeBatchIDs
			return r, nil
		case first == "os-reset-passwords" && method == http.MethodPut:
			r.op.Name, r.op.Route = OpAction, "/cloudservers/os-reset-passwords"
			r.op.Action = &Action{Name: NativeResetPassword}
			r.body = bodyNativeBatchIDs
			return r, nil
		case first == "server-name" && method == http.MethodPut:
			r.op.Name, r.op.Route = OpUpdate, "/cloudservers/server-name"
			r.body = bodyNativeBatchIDs
			return r, nil
		}
	}
	if isRead(method) && len(rest) <= 2 {
		if o, ok := nativeOtherCollections[first]; ok {
			r.op.Name, r.op.Route = OpOther, o.coll
			if len(rest) > 1 {
				r.op.Route = o.deep
			}
			return r, nil
		}
	}
	if looksLikeID(first) {
		return routed{}, reject(FamilyECS, http.StatusNotFound, "bad_server_id", msgNotFound)
	}
	return noRoute(FamilyECS)
}

// looksLikeID tells a misspelt server id from an unknown route, only to pick
// the rejection reason.
func looksLikeID(s string) bool {
	if len(s) < 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isHex(c) && c != '-' && c != '{' && c != '}' {
			return false
		}
	}
	return true
}

// maxNativeReadDepth bounds reads below /cloudservers/{id}; every read there
// is a read of that server.
const maxNativeReadDepth = 4

func nativeServer(method string, op Operation, id string, tail []string) (routed, *Rejection) {
	r := routed{op: op}
	r.op.ServerIDs = []string{id}
	if len(tail) == 0 {
		switch method {
		case http.MethodGet, http.MethodHead:
			r.op.Name = OpRead
		case http.MethodPut:
			r.op.Name = OpUpdate
		default:
			return noRoute(FamilyECS)
		}
		r.op.Route = "/cloudservers/{server_id}"
		return r, nil
	}
	if isRead(method) {
		if len(tail) > maxNativeReadDepth {
			return noRoute(FamilyECS)
		}
		r.op.Name, r.op.Route = OpRead, "/cloudservers/{server_id}/..."
		return r, nil
	}
	action := func(name, route string) (routed, *Rejection) {
		r.op.Name, r.op.Route = OpAction, route
		r.op.Action = &Action{Name: name}
		r.body = bodyNativeArgs
		return r, nil
	}
	named := func(name, route string) (routed, *Rejection) {
		r.op.Name, r.op.Route = name, route
		return r, nil
	}
	switch method {
	case http.MethodPost:
		switch len(tail) {
		case 1:
			switch tail[0] {
			case "resize":
				return action(NativeResize, "/cloudservers/{server_id}/resize")
			case "changeos":
				return action(NativeChangeOS, "/cloudservers/{server_id}/changeos")
			case "reinstallos":
				return action(NativeReinstallOS, "/cloudservers/{server_id}/reinstallos")
			case "migrate":
				return action(NativeMigrate, "/cloudservers/{server_id}/migrate")
			case "changevpc":
				return action(NativeChangeVPC, "/cloudservers/{server_id}/changevpc")
			case "attachvolume":
				return named(OpVolumeAttachmentCreate, "/cloudservers/{server_id}/attachvolume")
			case "nics":
				return named(OpInterfaceCreate, "/cloudservers/{server_id}/nics")
			case "metadata":
				return named(OpMetadataUpdate, "/cloudservers/{server_id}/metadata")
			case "remote_console":
				return named(OpRemoteConsoleCreate, "/cloudservers/{server_id}/remote_console")
			}
		case 2:
			switch {
			case tail[0] == "actions" && tail[1] == "trigger-crash-dump":
				return action(NativeTriggerCrashDump, "/cloudservers/{server_id}/actions/trigger-crash-dump")
			case tail[0] == "actions" && tail[1] == "redeploy":
				return action(NativeRedeploy, "/cloudservers/{server_id}/actions/redeploy")
			case tail[0] == "nics" && tail[1] == "delete":
				return named(OpInterfaceDelete, "/cloudservers/{server_id}/nics/delete")
			case tail[0] == "tags" && tail[1] == "action":
				// The body says create or delete; both change the tag set.
				return named(OpTagsUpdate, "/cloudservers/{server_id}/tags/action")
			}
		}
	case http.MethodPut:
		if len(tail) == 1 && tail[0] == "os-reset-password" {
			return action(NativeResetPassword, "/cloudservers/{server_id}/os-reset-password")
		}
	case http.MethodDelete:
		switch {
		case len(tail) == 2 && tail[0] == "detachvolume":
			return named(OpVolumeAttachmentDelete, "/cloudservers/{server_id}/detachvolume/{volume_id}")
		case len(tail) == 1 && tail[0] == "os-server-password":
			return named(OpPasswordDelete, "/cloudservers/{server_id}/os-server-password")
		case len(tail) == 2 && tail[0] == "metadata":
			return named(OpMetadataDelete, "/cloudservers/{server_id}/metadata/{key}")
		}
	}
	return noRoute(FamilyECS)
}

func nativeRecycleBin(method string, op Operation, rest []string) (routed, *Rejection) {
	r := routed{op: op}
	if len(rest) == 0 || (len(rest) == 1 && rest[0] == "detail") {
		if !isRead(method) {
			return noRoute(FamilyECS)
		}
		r.op.Name, r.op.Route = OpRead, "/recycle-bin/cloudservers"
		if len(rest) == 1 {
			r.op.Route = "/recycle-bin/cloudservers/detail"
		}
		return r, nil
	}
	id := rest[0]
	if !isCanonicalUUID(id) {
		if looksLikeID(id) {
			return routed{}, reject(FamilyECS, http.StatusNotFound, "bad_server_id", msgNotFound)
		}
		return noRoute(FamilyECS)
	}
	r.op.ServerIDs = []string{id}
	tail := rest[1:]
	switch {
	case isRead(method) && len(tail) <= maxNativeReadDepth:
		r.op.Name, r.op.Route = OpRead, "/recycle-bin/cloudservers/{server_id}"
		if len(tail) > 0 {
			r.op.Route = "/recycle-bin/cloudservers/{server_id}/..."
		}
	case method == http.MethodDelete && len(tail) == 0:
		r.op.Name, r.op.Route = OpDelete, "/recycle-bin/cloudservers/{server_id}"
	case method == http.MethodPost && len(tail) == 2 && tail[0] == "actions" && tail[1] == "revert":
		r.op.Name, r.op.Route = OpAction, "/recycle-bin/cloudservers/{server_id}/actions/revert"
		r.op.Action = &Action{Name: NativeRecycleRevert}
		r.body = bodyNativeArgs
	default:
		return noRoute(FamilyECS)
	}
	return r, nil
}
