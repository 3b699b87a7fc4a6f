package ecssim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

const (
	novaTime       = "2006-01-02T15:04:05Z"
	novaTimeMicros = "2006-01-02T15:04:05.000000"
)

func hostID(projectID string) string {
	s := sha256.Sum224([]byte(projectID + computeHost))
	return hex.EncodeToString(s[:])
}

func (c *novaCtx) link(rel, href string) map[string]any {
	return map[string]any{"rel": rel, "href": href}
}

func (c *novaCtx) serverLinks(id string) []any {
	return []any{
		c.link("self", c.linkBase()+"/servers/"+id),
		c.link("bookmark", c.bookmarkBase()+"/servers/"+id),
	}
}

// serverSummary is the GET /servers entry.
func (c *novaCtx) serverSummary(s *server) map[string]any {
	return map[string]any{"id": s.ID, "name": s.Name, "links": c.serverLinks(s.ID)}
}

// serverView is the detailed server body at the request's microversion.
func (c *novaCtx) serverView(s *server) map[string]any {
	fl := findFlavor(s.FlavorID)
	v := map[string]any{
		"id":           s.ID,
		"name":         s.Name,
		"status":       vmStatus[s.VMState],
		"tenant_id":    s.ProjectID,
		"user_id":      s.UserID,
		"metadata":     copyMeta(s.Metadata),
		"hostId":       hostID(s.ProjectID),
		"image":        map[string]any{"id": imageID, "links": []any{c.link("bookmark", c.bookmarkBase()+"/images/"+imageID)}},
		"created":      s.Created.UTC().Format(novaTime),
		"updated":      s.Updated.UTC().Format(novaTime),
		"addresses":    map[string]any{},
		"accessIPv4":   "",
		"accessIPv6":   "",
		"links":        c.serverLinks(s.ID),
		"key_name":     nil,
		"config_drive": "",

		"OS-DCF:diskConfig":                    "MANUAL",
		"OS-EXT-AZ:availability_zone":          "nova",
		"OS-EXT-STS:task_state":                nil,
		"OS-EXT-STS:vm_state":                  s.VMState,
		"OS-EXT-STS:power_state":               vmPower[s.VMState],
		"OS-SRV-USG:launched_at":               s.Launched.UTC().Format(novaTimeMicros),
		"OS-SRV-USG:terminated_at":             nil,
		"os-extended-volumes:volumes_attached": []any{},
		"security_groups":                      []any{map[string]any{"name": "default"}},
	}
	if s.VMState == vmActive {
		v["progress"] = 0
	}
	if c.ver.atLeast(47) {
		v["flavor"] = map[string]any{"vcpus": fl.VCPUs, "ram": fl.RAM, "disk": fl.Disk, "ephemeral": 0, "swap": 0,
			"original_name": fl.Name, "extra_specs": map[string]any{}}
	} else {
		v["flavor"] = map[string]any{"id": fl.ID, "links": []any{c.link("bookmark", c.bookmarkBase()+"/flavors/"+fl.ID)}}
	}
	if c.who.IsAdmin { // os_compute_api:servers:show:attributes
		v["OS-EXT-SRV-ATTR:host"] = computeHost
		v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = computeHost
		v["OS-EXT-SRV-ATTR:instance_name"] = "instance-" + strconv.FormatInt(int64(0x100+s.Seq), 16)
		if c.ver.atLeast(3) {
			v["OS-EXT-SRV-ATTR:reservation_id"] = "r-" + s.ID[:8]
			v["OS-EXT-SRV-ATTR:launch_index"] = 0
			v["OS-EXT-SRV-ATTR:kernel_id"] = ""
			v["OS-EXT-SRV-ATTR:ramdisk_id"] = ""
			v["OS-EXT-SRV-ATTR:root_device_name"] = "/dev/vda"
			v["OS-EXT-SRV-ATTR:user_data"] = nil
		}
		if c.ver.atLeast(16) {
			v["host_status"] = "UP"
		}
	}
	if c.ver.atLeast(3) && (c.who.IsAdmin || c.ver.atLeast(90)) {
		v["OS-EXT-SRV-ATTR:hostname"] = s.Name
	}
	if c.ver.atLeast(9) {
		v["locked"] = s.Locked
	}
	if c.ver.atLeast(19) {
		if s.Description == "" {
			v["description"] = nil
		} else {
			v["description"] = s.Description
		}
	}
	if c.ver.atLeast(26) {
		v["tags"] = []any{}
	}
	if c.ver.atLeast(63) {
		v["trusted_image_certificates"] = nil
	}
	if c.ver.atLeast(71) {
		v["server_groups"] = []any{}
	}
	if c.ver.atLeast(73) {
		if s.LockedReason == "" {
			v["locked_reason"] = nil
		} else {
			v["locked_reason"] = s.LockedReason
		}
	}
	return v
}

func copyMeta(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// boolFromString is oslo strutils.bool_from_string(strict=True).
func boolFromString(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "on", "y", "yes":
		return true, true
	case "0", "f", "false", "off", "n", "no":
		return false, true
	}
	return false, false
}

// listServers implements GET /servers and /servers/detail with the filters
// clients use: name (a regular expression), status, all_tenants,
// project_id/tenant_id (admin), limit and marker.
func (c *novaCtx) listServers(detail bool) {
	q := c.r.URL.Query()
	allTenants := false
	if vals, ok := q["all_tenants"]; ok {
		b, valid := boolFromString(vals[len(vals)-1])
		if vals[len(vals)-1] == "" {
			b, valid = true, true
		}
		if !valid {
			c.fault(http.StatusBadRequest, "Unrecognized value '"+vals[len(vals)-1]+"', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'")
			return
		}
		allTenants = b
	}
	rule := "servers:index"
	if detail {
		rule = "servers:detail"
	}
	if !c.authorize(rule, projectReaderOrAdmin, c.who.ProjectID) {
		return
	}
	if allTenants && !c.authorize(rule+":get_all_tenants", adminOnly, c.who.ProjectID) {
		return
	}
	projectFilter := c.who.ProjectID
	if allTenants {
		projectFilter = ""
		if c.who.IsAdmin {
			if p := q.Get("project_id"); p != "" {
				projectFilter = p
			} else if p := q.Get("tenant_id"); p != "" {
				projectFilter = p
			}
		}
	}
	var nameRE *regexp.Regexp
	name, hasName := q["name"]
	if hasName {
		re, err := regexp.Compile(name[len(name)-1])
		if err != nil {
			re = regexp.MustCompile(regexp.QuoteMeta(name[len(name)-1]))
		}
		nameRE = re
	}
	status := strings.ToUpper(q.Get("status"))
	limit := -1
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			c.fault(http.StatusBadRequest, "limit param must be an integer")
			return
		}
		limit = n
	}
	marker := q.Get("marker")

	c.h.st.mu.Lock()
	all := c.h.st.sortedServersLocked()
	var out []*server
	for _, s := range all {
		if projectFilter != "" && s.ProjectID != projectFilter {
			continue
		}
		if nameRE != nil && !nameRE.MatchString(s.Name) {
			continue
		}
		if status != "" && vmStatus[s.VMState] != status {
			continue
		}
		out = append(out, s.clone())
	}
	c.h.st.mu.Unlock()

	if marker != "" {
		idx := -1
		for i, s := range out {
			if s.ID == marker {
				idx = i
			}
		}
		if idx < 0 {
			c.fault(http.StatusBadRequest, "marker ["+marker+"] not found")
			return
		}
		out = out[idx+1:]
	}
	// Nova adds a next link whenever a page is full.
	more := false
	if limit >= 0 && len(out) >= limit {
		out, more = out[:limit], true
	}
	items := make([]any, 0, len(out))
	for _, s := range out {
		if detail {
			items = append(items, c.serverView(s))
		} else {
			items = append(items, c.serverSummary(s))
		}
	}
	resp := map[string]any{"servers": items}
	if more && len(out) > 0 {
		nq := url.Values{}
		for k, v := range q {
			if k != "marker" {
				nq[k] = v
			}
		}
		nq.Set("marker", out[len(out)-1].ID)
		p := "/servers"
		if detail {
			p += "/detail"
		}
		resp["servers_links"] = []any{c.link("next", c.linkBase()+p+"?"+nq.Encode())}
	}
	c.json(http.StatusOK, resp)
}

func serversIndex(c *novaCtx)  { c.listServers(false) }
func serversDetail(c *novaCtx) { c.listServers(true) }

func serverShow(c *novaCtx) {
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	srv := c.instance(c.params[0])
	if srv == nil {
		return
	}
	if !c.authorize("servers:show", projectReaderOrAdmin, srv.ProjectID) {
		return
	}
	c.json(http.StatusOK, map[string]any{"server": c.serverView(srv)})
}

func serverIPs(c *novaCtx) {
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	srv := c.instance(c.params[0])
	if srv == nil {
		return
	}
	if !c.authorize("ips:index", projectReaderOrAdmin, srv.ProjectID) {
		return
	}
	c.json(http.StatusOK, map[string]any{"addresses": map[string]any{}})
}

// validName is Nova's 'name' format: printable, no leading or trailing
// whitespace, 1..255 characters.
func validateName(field string, v any) *schemaError {
	s, ok := v.(string)
	if !ok {
		return typeError([]string{field}, v, "string")
	}
	if pyLen(s) < 1 {
		return &schemaError{path: []string{field}, value: v, msg: pyRepr(v) + " is too short"}
	}
	if pyLen(s) > 255 {
		return &schemaError{path: []string{field}, value: v, msg: pyRepr(v) + " is too long"}
	}
	if strings.TrimSpace(s) != s {
		return &schemaError{bare: true, msg: "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace."}
	}
	return nil
}

func serverUpdate(c *novaCtx) {
	obj, ok := c.body.(*pyObject)
	if !c.hasBody || !ok {
		c.schemaFault(typeError(nil, c.body, "object"))
		return
	}
	inner, ok := obj.get("server")
	if !ok {
		c.schemaFault(&schemaError{msg: "'server' is a required property"})
		return
	}
	if e := c.checkAdditional(nil, obj, "server"); e != nil {
		c.schemaFault(e)
		return
	}
	so, ok := inner.(*pyObject)
	if !ok {
		c.schemaFault(typeError([]string{"server"}, inner, "object"))
		return
	}
	allowed := []string{"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
	if c.ver.atLeast(19) {
		allowed = append(allowed, "description")
	}
	if c.ver.atLeast(90) {
		allowed = append(allowed, "hostname")
	}
	if e := c.checkAdditional([]string{"server"}, so, allowed...); e != nil {
		c.schemaFault(e)
		return
	}
	var newName, newDesc *string
	if v, ok := so.get("name"); ok {
		if e := validateName("name", v); e != nil {
			c.schemaFault(e)
			return
		}
		s := v.(string)
		newName = &s
	}
	if v, ok := so.get("description"); ok && c.ver.atLeast(19) {
		switch t := v.(type) {
		case nil:
			s := ""
			newDesc = &s
		case string:
			if pyLen(t) > 255 {
				c.schemaFault(&schemaError{path: []string{"server", "description"}, value: v, msg: pyRepr(v) + " is too long"})
				return
			}
			newDesc = &t
		default:
			c.schemaFault(typeError([]string{"server", "description"}, v, "string", "null"))
			return
		}
	}
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	srv := c.instance(c.params[0])
	if srv == nil {
		return
	}
	if !c.authorize("servers:update", projectMemberOrAdmin, srv.ProjectID) {
		return
	}
	// Nova's update_instance has no lock check: a locked server can be
	// renamed.
	if newName != nil {
		srv.Name = *newName
	}
	if newDesc != nil {
		srv.Description = *newDesc
	}
	srv.Updated = now().UTC()
	c.json(http.StatusOK, map[string]any{"server": c.serverView(srv)})
}

func serverDelete(c *novaCtx) {
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	srv := c.instance(c.params[0])
	if srv == nil {
		return
	}
	if !c.authorize("servers:delete", projectMemberOrAdmin, srv.ProjectID) {
		return
	}
	if !c.checkLock(srv) {
		return
	}
	delete(c.h.st.servers, srv.ID)
	c.empty(http.StatusNoContent)
}

// serversCreate is a minimal POST /servers: the server is ACTIVE at once.
func serversCreate(c *novaCtx) {
	obj, ok := c.body.(*pyObject)
	if !c.hasBody || !ok {
		c.schemaFault(typeError(nil, c.body, "object"))
		return
	}
	inner, ok := obj.get("server")
	if !ok {
		c.schemaFault(&schemaError{msg: "'server' is a required property"})
		return
	}
	so, ok := inner.(*pyObject)
	if !ok {
		c.schemaFault(typeError([]string{"server"}, inner, "object"))
		return
	}
	nameV, ok := so.get("name")
	if !ok {
		c.schemaFault(&schemaError{path: []string{"server"}, value: so, msg: "'name' is a required property"})
		return
	}
	if e := validateName("name", nameV); e != nil {
		c.schemaFault(e)
		return
	}
	flavorV, ok := so.get("flavorRef")
	if !ok {
		c.schemaFault(&schemaError{path: []string{"server"}, value: so, msg: "'flavorRef' is a required property"})
		return
	}
	flavorRef := pyStr(flavorV)
	if i := strings.LastIndex(flavorRef, "/"); i >= 0 {
		flavorRef = flavorRef[i+1:]
	}
	if findFlavor(flavorRef) == nil {
		c.fault(http.StatusBadRequest, "Flavor "+flavorRef+" could not be found.")
		return
	}
	if imgV, ok := so.get("imageRef"); ok {
		img := pyStr(imgV)
		if i := strings.LastIndex(img, "/"); i >= 0 {
			img = img[i+1:]
		}
		if img != imageID {
			c.fault(http.StatusBadRequest, "Image "+img+" could not be found.")
			return
		}
	}
	if !c.authorize("servers:create", projectMemberOrAdmin, c.who.ProjectID) {
		return
	}
	var meta map[string]string
	if mv, ok := so.get("metadata"); ok {
		m, e := c.parseMetadata([]string{"server", "metadata"}, mv)
		if e != nil {
			c.schemaFault(e)
			return
		}
		meta = m
	}
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	t := now().UTC().Truncate(time.Second)
	id := c.h.st.newServerIDLocked()
	srv := &server{
		ID: id, Name: nameV.(string), ProjectID: c.who.ProjectID, UserID: c.who.User.ID, FlavorID: flavorRef,
		VMState: vmActive, Metadata: map[string]string{}, Created: t, Updated: t, Launched: t,
		Seq: 100 + c.h.st.serverSeq,
	}
	for k, v := range meta {
		srv.Metadata[k] = v
	}
	c.h.st.servers[id] = srv
	c.w.Header().Set("Location", c.linkBase()+"/servers/"+id)
	c.json(http.StatusAccepted, map[string]any{"server": map[string]any{
		"id": id, "links": c.serverLinks(id), "OS-DCF:diskConfig": "MANUAL",
		"security_groups": []any{map[string]any{"name": "default"}}, "adminPass": randURLSafe(9),
	}})
}

// checkLock is compute.api.check_instance_lock.
func (c *novaCtx) checkLock(srv *server) bool {
	if srv.Locked && !c.who.IsAdmin {
		c.fault(http.StatusConflict, "Instance "+srv.ID+" is locked")
		return false
	}
	return true
}

// ---- metadata ----

var metaKeyRE = regexp.MustCompile(`^[a-zA-Z0-9-_:. ]{1,255}$`)

func (c *novaCtx) parseMetadata(path []string, v any) (map[string]string, *schemaError) {
	o, ok := v.(*pyObject)
	if !ok {
		return nil, typeError(path, v, "object")
	}
	out := map[string]string{}
	for _, k := range o.keys {
		if !metaKeyRE.MatchString(k) {
			if c.legacy {
				continue
			}
			return nil, &schemaError{path: path, value: o, msg: "Additional properties are not allowed (" + pyRepr(k) + " was unexpected)"}
		}
		val := o.vals[k]
		s, ok := val.(string)
		if !ok {
			return nil, typeError(append(append([]string{}, path...), k), val, "string")
		}
		if pyLen(s) > 255 {
			return nil, &schemaError{path: append(append([]string{}, path...), k), value: val, msg: pyRepr(val) + " is too long"}
		}
		out[k] = s
	}
	return out, nil
}

// metadataBody validates {"<key>": {...}} bodies.
func (c *novaCtx) metadataBody(key string) (map[string]string, bool) {
	obj, ok := c.body.(*pyObject)
	if !c.hasBody || !ok {
		c.schemaFault(typeError(nil, c.body, "object"))
		return nil, false
	}
	inner, ok := obj.get(key)
	if !ok {
		c.schemaFault(&schemaError{msg: pyRepr(key) + " is a required property"})
		return nil, false
	}
	if e := c.checkAdditional(nil, obj, key); e != nil {
		c.schemaFault(e)
		return nil, false
	}
	m, e := c.parseMetadata([]string{key}, inner)
	if e != nil {
		c.schemaFault(e)
		return nil, false
	}
	return m, true
}

// metaServer finds the server for a metadata call and checks the policy
// and, for writes, the lock. The caller holds st.mu.
func (c *novaCtx) metaServer(rule string, write bool) *server {
	srv := c.instance(c.params[0])
	if srv == nil {
		return nil
	}
	kind := projectReaderOrAdmin
	if write {
		kind = projectMemberOrAdmin
	}
	if !c.authorize("server-metadata:"+rule, kind, srv.ProjectID) {
		return nil
	}
	if write && !c.checkLock(srv) {
		return nil
	}
	return srv
}

func metadataIndex(c *novaCtx) {
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	if srv := c.metaServer("index", false); srv != nil {
		c.json(http.StatusOK, map[string]any{"metadata": copyMeta(srv.Metadata)})
	}
}

func metadataShow(c *novaCtx) {
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	srv := c.metaServer("show", false)
	if srv == nil {
		return
	}
	v, ok := srv.Metadata[c.params[1]]
	if !ok {
		c.fault(http.StatusNotFound, "Metadata item was not found")
		return
	}
	c.json(http.StatusOK, map[string]any{"meta": map[string]string{c.params[1]: v}})
}

func metadataCreate(c *novaCtx) {
	m, ok := c.metadataBody("metadata")
	if !ok {
		return
	}
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	srv := c.metaServer("create", true)
	if srv == nil {
		return
	}
	for k, v := range m {
		srv.Metadata[k] = v
	}
	srv.Updated = now().UTC()
	c.json(http.StatusOK, map[string]any{"metadata": copyMeta(srv.Metadata)})
}

func metadataUpdateAll(c *novaCtx) {
	m, ok := c.metadataBody("metadata")
	if !ok {
		return
	}
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	srv := c.metaServer("update_all", true)
	if srv == nil {
		return
	}
	srv.Metadata = m
	srv.Updated = now().UTC()
	c.json(http.StatusOK, map[string]any{"metadata": copyMeta(srv.Metadata)})
}

func metadataUpdate(c *novaCtx) {
	m, ok := c.metadataBody("meta")
	if !ok {
		return
	}
	if len(m) != 1 {
		msg := "Request body contains too many items"
		if len(m) == 0 {
			msg = "Request body and URI mismatch"
		}
		c.fault(http.StatusBadRequest, msg)
		return
	}
	if _, ok := m[c.params[1]]; !ok {
		c.fault(http.StatusBadRequest, "Request body and URI mismatch")
		return
	}
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	srv := c.metaServer("update", true)
	if srv == nil {
		return
	}
	for k, v := range m {
		srv.Metadata[k] = v
	}
	srv.Updated = now().UTC()
	c.json(http.StatusOK, map[string]any{"meta": m})
}

func metadataDelete(c *novaCtx) {
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	srv := c.metaServer("delete", true)
	if srv == nil {
		return
	}
	if _, ok := srv.Metadata[c.params[1]]; !ok {
		c.fault(http.StatusNotFound, "Metadata item was not found")
		return
	}
	delete(srv.Metadata, c.params[1])
	srv.Updated = now().UTC()
	c.empty(http.StatusNoContent)
}

// ---- flavors and limits ----

func (c *novaCtx) flavorView(f *flavor, detail bool) map[string]any {
	v := map[string]any{
		"id": f.ID, "name": f.Name,
		"links": []any{c.link("self", c.linkBase()+"/flavors/"+f.ID), c.link("bookmark", c.bookmarkBase()+"/flavors/"+f.ID)},
	}
	if c.ver.atLeast(55) {
		v["description"] = nil
	}
	if !detail {
		return v
	}
	v["ram"], v["disk"], v["vcpus"] = f.RAM, f.Disk, f.VCPUs
	v["swap"] = ""
	if c.ver.atLeast(75) {
		v["swap"] = 0
	}
	v["OS-FLV-EXT-DATA:ephemeral"] = 0
	v["OS-FLV-DISABLED:disabled"] = false
	v["os-flavor-access:is_public"] = true
	v["rxtx_factor"] = 1.0
	if c.ver.atLeast(61) {
		v["extra_specs"] = map[string]any{}
	}
	return v
}

func flavorsList(c *novaCtx, detail bool) {
	items := []any{}
	for i := range seedFlavors {
		items = append(items, c.flavorView(&seedFlavors[i], detail))
	}
	c.json(http.StatusOK, map[string]any{"flavors": items})
}

func flavorsIndex(c *novaCtx)  { flavorsList(c, false) }
func flavorsDetail(c *novaCtx) { flavorsList(c, true) }

func flavorShow(c *novaCtx) {
	f := findFlavor(c.params[0])
	if f == nil {
		c.fault(http.StatusNotFound, "Flavor "+c.params[0]+" could not be found.")
		return
	}
	c.json(http.StatusOK, map[string]any{"flavor": c.flavorView(f, true)})
}

func limitsShow(c *novaCtx) {
	c.h.st.mu.Lock()
	used, cores, ram := 0, 0, 0
	for _, s := range c.h.st.servers {
		if s.ProjectID == c.who.ProjectID {
			used++
			f := findFlavor(s.FlavorID)
			cores += f.VCPUs
			ram += f.RAM
		}
	}
	c.h.st.mu.Unlock()
	abs := map[string]any{
		"maxTotalInstances": 10, "maxTotalCores": 20, "maxTotalRAMSize": 51200,
		"maxServerMeta": 128, "maxImageMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240,
		"maxTotalKeypairs": 100, "maxServerGroups": 10, "maxServerGroupMembers": 10,
		"totalInstancesUsed": used, "totalCoresUsed": cores, "totalRAMUsed": ram, "totalServerGroupsUsed": 0,
	}
	c.json(http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}})
}
