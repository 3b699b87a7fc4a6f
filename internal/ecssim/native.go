package ecssim

import (
	"net/http"
	"strconv"
	"strings"
)

// Huawei native ECS API subset (proxy/classify/doc.go lists the whole API):
//
//	GET  /v1/{project_id}/cloudservers/detail   list (filters: name, status, limit, offset)
//	GET  /v1/{project_id}/cloudservers/{id}     show
//	POST /v1/{project_id}/cloudservers/action   batch os-start / os-stop / reboot
//	GET  /v1/{project_id}/jobs/{job_id}         job status
//
// The batch actions are asynchronous upstream; here their job finishes at
// once (a server in the wrong state makes its sub-job, and the job, FAIL).
// Error codes other than Ecs.0000 and Ecs.0003 are unverified guesses.

func (h *Handler) nativeError(ex *exchange, status int, code, msg string) {
	writeJSON(ex.w, status, ctJSONUTF8, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func (h *Handler) apigError(ex *exchange, status int, code, msg string) {
	writeJSON(ex.w, status, ctJSONUTF8, map[string]any{
		"error_msg": msg, "error_code": code, "request_id": ex.w.Header().Get("X-Request-Id"),
	})
}

func (h *Handler) serveNative(ex *exchange) {
	w, r := ex.w, ex.r
	w.Header().Set("X-Request-Id", strings.ReplaceAll(strings.TrimPrefix(ex.requestID, "req-"), "-", ""))
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/v1/"), "/")
	projectID := parts[0]
	rest := parts[1:]

	tok, present := wsgiHeader(r, "X-Auth-Token")
	if !present || strings.TrimSpace(tok) == "" {
		h.apigError(ex, http.StatusUnauthorized, "APIGW.0301", "Incorrect IAM authentication information: x-auth-token not found")
		return
	}
	who := h.st.authenticate(tok)
	if who == nil {
		h.apigError(ex, http.StatusUnauthorized, "APIGW.0301", "Incorrect IAM authentication information: decrypt token fail")
		return
	}
	if who.ProjectID != projectID {
		h.nativeError(ex, http.StatusForbidden, "Ecs.0003", "You do not have permission to perform this operation")
		return
	}
	if !who.IsAdmin && !who.hasRole("reader") {
		h.nativeError(ex, http.StatusForbidden, "Ecs.0003", "You do not have permission to perform this operation")
		return
	}
	switch {
	case len(rest) == 2 && rest[0] == "cloudservers" && rest[1] == "detail" && r.Method == http.MethodGet:
		h.nativeList(ex, projectID)
	case len(rest) == 2 && rest[0] == "cloudservers" && rest[1] == "action" && r.Method == http.MethodPost:
		h.nativeAction(ex, who, projectID)
	case len(rest) == 2 && rest[0] == "cloudservers" && r.Method == http.MethodGet:
		h.st.mu.Lock()
		srv := h.st.servers[rest[1]]
		var v map[string]any
		if srv != nil && srv.ProjectID == projectID {
			v = nativeView(srv)
		}
		h.st.mu.Unlock()
		if v == nil {
			h.nativeError(ex, http.StatusNotFound, "Ecs.0114", "Instance["+rest[1]+"] could not be found.")
			return
		}
		writeJSON(w, http.StatusOK, ctJSON, map[string]any{"server": v})
	case len(rest) == 2 && rest[0] == "jobs" && r.Method == http.MethodGet:
		h.st.mu.Lock()
		j := h.st.jobs[rest[1]]
		var v map[string]any
		if j != nil && j.ProjectID == projectID {
			v = jobView(j)
		}
		h.st.mu.Unlock()
		if v == nil {
			h.nativeError(ex, http.StatusNotFound, "Ecs.0000", "job "+rest[1]+" not found")
			return
		}
		writeJSON(w, http.StatusOK, ctJSON, v)
	default:
		h.apigError(ex, http.StatusNotFound, "APIGW.0101", "The API does not exist or has not been published in the environment")
	}
}

func nativeView(s *server) map[string]any {
	fl := findFlavor(s.FlavorID)
	return map[string]any{
		"id": s.ID, "name": s.Name, "description": s.Description, "status": vmStatus[s.VMState],
		"tenant_id": s.ProjectID, "user_id": s.UserID, "hostId": hostID(s.ProjectID),
		"created": s.Created.UTC().Format(novaTime), "updated": s.Updated.UTC().Format(novaTime),
		"addresses": map[string]any{}, "accessIPv4": "", "accessIPv6": "", "progress": 0,
		"metadata": copyMeta(s.Metadata), "tags": []any{}, "sys_tags": []any{},
		"flavor": map[string]any{"id": fl.ID, "name": fl.Name, "disk": strconv.Itoa(fl.Disk), "vcpus": strconv.Itoa(fl.VCPUs), "ram": strconv.Itoa(fl.RAM)},
		"image":  map[string]any{"id": imageID},
		"locked": s.Locked, "key_name": nil, "config_drive": "", "enterprise_project_id": "0",
		"security_groups":                      []any{map[string]any{"name": "default"}},
		"os-extended-volumes:volumes_attached": []any{},
		"OS-EXT-STS:vm_state":                  s.VMState,
		"OS-EXT-STS:power_state":               vmPower[s.VMState],
		"OS-EXT-STS:task_state":                nil,
		"OS-EXT-AZ:availability_zone":          "nova",
		"OS-DCF:diskConfig":                    "MANUAL",
		"OS-SRV-USG:launched_at":               s.Launched.UTC().Format(novaTimeMicros),
		"OS-SRV-USG:terminated_at":             nil,
	}
}

func (h *Handler) nativeList(ex *exchange, projectID string) {
	q := ex.r.URL.Query()
	name, status := q.Get("name"), strings.ToUpper(q.Get("status"))
	limit, offset := 1000, 1
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 {
		limit = v
	}
	if v, err := strconv.Atoi(q.Get("offset")); err == nil && v > 0 {
		offset = v
	}
	h.st.mu.Lock()
	var all []map[string]any
	for _, s := range h.st.sortedServersLocked() {
		if s.ProjectID != projectID || (name != "" && !strings.Contains(s.Name, name)) ||
			(status != "" && vmStatus[s.VMState] != status) {
			continue
		}
		all = append(all, nativeView(s))
	}
	h.st.mu.Unlock()
	count := len(all)
	start := (offset - 1) * limit
	page := []map[string]any{}
	if start < len(all) {
		end := min(start+limit, len(all))
		page = all[start:end]
	}
	writeJSON(ex.w, http.StatusOK, ctJSON, map[string]any{"count": count, "servers": page})
}

var nativeJobTypes = map[string][2]string{
	"os-start": {"batchStartServers", "startServer"},
	"os-stop":  {"batchStopServers", "stopServer"},
	"reboot":   {"batchRebootServers", "rebootServer"},
}

func (h *Handler) nativeAction(ex *exchange, who *identity, projectID string) {
	bad := func(msg string) { h.nativeError(ex, http.StatusBadRequest, "Ecs.0000", msg) }
	v, err := pyDecode(ex.body)
	if err != nil {
		bad("request body is illegal.")
		return
	}
	obj, ok := v.(*pyObject)
	if !ok || obj.len() != 1 {
		bad("request body is illegal.")
		return
	}
	action := obj.keys[0]
	types, ok := nativeJobTypes[action]
	if !ok {
		bad("request body is illegal: unsupported action " + action + ".")
		return
	}
	inner, ok := obj.vals[action].(*pyObject)
	if !ok {
		bad("request body is illegal.")
		return
	}
	rebootType := ""
	if t, ok := inner.get("type"); ok || action == "reboot" {
		s, _ := t.(string)
		if s != "SOFT" && s != "HARD" {
			bad("type is invalid.")
			return
		}
		rebootType = s
	}
	list, ok := inner.vals["servers"].([]any)
	if !ok || len(list) == 0 {
		bad("servers is invalid.")
		return
	}
	var ids []string
	for _, e := range list {
		eo, ok := e.(*pyObject)
		if !ok {
			bad("servers is invalid.")
			return
		}
		id, ok := eo.vals["id"].(string)
		if !ok || id == "" {
			bad("servers.id is invalid.")
			return
		}
		ids = append(ids, id)
	}
	if !who.IsAdmin && !who.hasRole("member") {
		h.nativeError(ex, http.StatusForbidden, "Ecs.0003", "You do not have permission to perform this operation")
		return
	}

	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	var targets []*server
	for _, id := range ids {
		srv := h.st.servers[id]
		if srv == nil || srv.ProjectID != projectID {
			h.nativeError(ex, http.StatusNotFound, "Ecs.0114", "Instance["+id+"] could not be found.")
			return
		}
		if srv.Locked && !who.IsAdmin {
			h.nativeError(ex, http.StatusConflict, "Ecs.0000", "Instance "+srv.ID+" is locked")
			return
		}
		targets = append(targets, srv)
	}
	t := now().UTC()
	j := &job{ID: newUUID(), Type: types[0], ProjectID: projectID, Begin: t, End: t, Status: "SUCCESS"}
	for _, srv := range targets {
		var allowed []string
		to := vmActive
		switch action {
		case "os-start":
			allowed = []string{vmStopped}
		case "os-stop":
			allowed, to = []string{vmActive, vmError}, vmStopped
		case "reboot":
			allowed = []string{vmActive}
			if rebootType == "HARD" {
				allowed = append(allowed, vmStopped, vmPaused, vmSuspended, vmError)
			}
		}
		sj := subJob{ID: newUUID(), Type: types[1], ServerID: srv.ID, Status: "SUCCESS"}
		ok := false
		for _, a := range allowed {
			if srv.VMState == a {
				ok = true
			}
		}
		if ok {
			srv.VMState = to
			srv.Updated = t
		} else {
			sj.Status = "FAIL"
			sj.FailReason = "Cannot '" + strings.TrimPrefix(action, "os-") + "' instance " + srv.ID + " while it is in vm_state " + srv.VMState
			j.Status = "FAIL"
			j.FailReason = sj.FailReason
		}
		j.Subs = append(j.Subs, sj)
	}
	h.st.jobs[j.ID] = j
	writeJSON(ex.w, http.StatusOK, ctJSON, map[string]any{"job_id": j.ID})
}

func jobView(j *job) map[string]any {
	subs := []any{}
	for _, s := range j.Subs {
		subs = append(subs, map[string]any{
			"job_id": s.ID, "job_type": s.Type, "status": s.Status, "fail_reason": nilIfEmpty(s.FailReason),
			"begin_time": j.Begin.Format(novaTime), "end_time": j.End.Format(novaTime),
			"entities": map[string]any{"server_id": s.ServerID},
		})
	}
	return map[string]any{
		"job_id": j.ID, "job_type": j.Type, "status": j.Status,
		"begin_time": j.Begin.Format(novaTime), "end_time": j.End.Format(novaTime),
		"error_code": nil, "fail_reason": nilIfEmpty(j.FailReason),
		"entities": map[string]any{"sub_jobs_total": len(subs), "sub_jobs": subs},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
