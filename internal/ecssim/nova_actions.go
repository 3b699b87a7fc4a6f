package ecssim

import (
	"net/http"
	"strings"
)

// schemaError is a JSON-schema validation failure, rendered like Nova's
// ValidationError (docs/compute-api-facts.md, "Error formats").
type schemaError struct {
	path  []string
	value any
	msg   string
	bare  bool // msg is the whole detail
}

func (e *schemaError) detail() string {
	if e.bare || len(e.path) == 0 {
		return e.msg
	}
	return "Invalid input for field/attribute " + e.path[len(e.path)-1] + ". Value: " + pyStr(e.value) + ". " + e.msg
}

func typeError(path []string, v any, types ...string) *schemaError {
	q := make([]string, len(types))
	for i, t := range types {
		q[i] = "'" + t + "'"
	}
	return &schemaError{path: path, value: v, msg: pyRepr(v) + " is not of type " + strings.Join(q, ", ")}
}

// checkAdditional is additionalProperties: false (relaxed on /v2, where
// unknown properties are dropped).
func (c *novaCtx) checkAdditional(path []string, o *pyObject, allowed ...string) *schemaError {
	if c.legacy {
		return nil
	}
	var extra []string
	for _, k := range o.keys {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			extra = append(extra, pyRepr(k))
		}
	}
	if len(extra) == 0 {
		return nil
	}
	verb := "was"
	if len(extra) > 1 {
		verb = "were"
	}
	return &schemaError{path: path, value: o, msg: "Additional properties are not allowed (" + strings.Join(extra, ", ") + " " + verb + " unexpected)"}
}

func (c *novaCtx) schemaFault(e *schemaError) { c.fault(http.StatusBadRequest, e.detail()) }

// actionSpec describes one server action of POST /servers/{id}/action.
type actionSpec struct {
	rule string // policy rule without the os_compute_api: prefix
	kind policyKind
	// minMinor and maxMinor bound the microversions (2.minMinor..2.maxMinor;
	// 0 means unbounded).
	minMinor, maxMinor int
	// gone is the status of an action that no longer exists.
	gone int
	// noLockCheck exempts the action from compute's check_instance_lock.
	noLockCheck bool
	// validate checks the action's value (nil: Nova accepts any value);
	// it applies from 2.schemaMinor on.
	validate    func(c *novaCtx, v any) *schemaError
	schemaMinor int
	// run performs the action; nil means "accepted, nothing to simulate".
	run func(c *novaCtx, srv *server, v any)
}

var actionTable map[string]*actionSpec

func init() {
	pma, admin := projectMemberOrAdmin, adminOnly
	transition := func(name string, from []string, to string) func(c *novaCtx, srv *server, v any) {
		return func(c *novaCtx, srv *server, v any) {
			if !c.checkState(name, srv, from...) {
				return
			}
			srv.VMState = to
			srv.Updated = now().UTC()
			c.empty(http.StatusAccepted)
		}
	}
	actionTable = map[string]*actionSpec{
		"lock":                {rule: "os-lock-server:lock", kind: pma, noLockCheck: true, validate: validateLock, schemaMinor: 73, run: runLock},
		"unlock":              {rule: "os-lock-server:unlock", kind: pma, noLockCheck: true, run: runUnlock},
		"reboot":              {rule: "servers:reboot", kind: pma, validate: validateReboot, run: runReboot},
		"os-start":            {rule: "servers:start", kind: pma, run: transition("start", []string{vmStopped}, vmActive)},
		"os-stop":             {rule: "servers:stop", kind: pma, run: transition("stop", []string{vmActive, vmError}, vmStopped)},
		"pause":               {rule: "os-pause-server:pause", kind: pma, run: transition("pause", []string{vmActive}, vmPaused)},
		"unpause":             {rule: "os-pause-server:unpause", kind: pma, run: transition("unpause", []string{vmPaused}, vmActive)},
		"suspend":             {rule: "os-suspend-server:suspend", kind: pma, run: transition("suspend", []string{vmActive}, vmSuspended)},
		"resume":              {rule: "os-suspend-server:resume", kind: pma, run: transition("resume", []string{vmSuspended}, vmActive)},
		"os-resetState":       {rule: "os-admin-actions:reset_state", kind: admin, noLockCheck: true, validate: validateResetState, run: runResetState},
		"injectNetworkInfo":   {rule: "os-admin-actions:inject_network_info", kind: admin, noLockCheck: true},
		"createImage":         {rule: "servers:create_image", kind: pma, validate: requireStringKey("createImage", "name"), run: runCreateImage},
		"createBackup":        {rule: "os-create-backup", kind: pma, run: runCreateImage},
		"resize":              {rule: "servers:resize", kind: pma, validate: requireKey("resize", "flavorRef")},
		"confirmResize":       {rule: "servers:confirm_resize", kind: pma},
		"revertResize":        {rule: "servers:revert_resize", kind: pma},
		"rebuild":             {rule: "servers:rebuild", kind: pma, validate: requireKey("rebuild", "imageRef"), run: runRebuild},
		"trigger_crash_dump":  {rule: "servers:trigger_crash_dump", kind: pma, minMinor: 17},
		"changePassword":      {rule: "os-admin-password", kind: pma, validate: requireStringKey("changePassword", "adminPass")},
		"os-getConsoleOutput": {rule: "os-console-output", kind: pma, noLockCheck: true, run: runConsoleOutput},
		"restore":             {rule: "os-deferred-delete:restore", kind: pma},
		"forceDelete":         {rule: "os-deferred-delete:force", kind: pma},
		"evacuate":            {rule: "os-evacuate", kind: admin},
		"addFloatingIp":       {rule: "os-floating-ips:add", kind: pma, maxMinor: 43},
		"removeFloatingIp":    {rule: "os-floating-ips:remove", kind: pma, maxMinor: 43},
		"migrate":             {rule: "os-migrate-server:migrate", kind: admin},
		"os-migrateLive":      {rule: "os-migrate-server:migrate_live", kind: admin},
		"addFixedIp":          {rule: "os-multinic:add", kind: pma, maxMinor: 43},
		"removeFixedIp":       {rule: "os-multinic:remove", kind: pma, maxMinor: 43},
		"os-getVNCConsole":    {rule: "os-remote-consoles", kind: pma, maxMinor: 5, noLockCheck: true},
		"os-getSPICEConsole":  {rule: "os-remote-consoles", kind: pma, maxMinor: 5, noLockCheck: true},
		"os-getSerialConsole": {rule: "os-remote-consoles", kind: pma, maxMinor: 5, noLockCheck: true},
		"os-getRDPConsole":    {maxMinor: 5, gone: http.StatusBadRequest},
		"rescue":              {rule: "os-rescue", kind: pma, run: runRescue},
		"unrescue":            {rule: "os-unrescue", kind: pma},
		"addSecurityGroup":    {rule: "os-security-groups:add", kind: pma},
		"removeSecurityGroup": {rule: "os-security-groups:remove", kind: pma},
		"shelve":              {rule: "os-shelve:shelve", kind: pma},
		"shelveOffload":       {rule: "os-shelve:shelve_offload", kind: admin},
		"unshelve":            {rule: "os-shelve:unshelve", kind: pma},
		"resetNetwork":        {gone: http.StatusGone},
	}
}

// serverAction is POST /servers/{id}/action after extraction.
func serverAction(c *novaCtx) {
	spec := actionTable[c.action]
	if spec.minMinor > 0 && !c.ver.atLeast(spec.minMinor) || spec.maxMinor > 0 && c.ver.atLeast(spec.maxMinor+1) {
		c.fault(http.StatusNotFound, msgNotFound)
		return
	}
	switch spec.gone {
	case http.StatusGone:
		c.fault(http.StatusGone, "This resource is no longer available.  No forwarding address is given.")
		return
	case http.StatusBadRequest:
		c.fault(http.StatusBadRequest, "Unavailable console type rdp-html5.")
		return
	}
	var arg any
	if c.hasBody {
		arg, _ = c.body.(*pyObject).get(c.action)
	}
	if spec.validate != nil && c.ver.atLeast(spec.schemaMinor) {
		if !c.hasBody {
			c.schemaFault(typeError(nil, nil, "object"))
			return
		}
		if e := spec.validate(c, arg); e != nil {
			c.schemaFault(e)
			return
		}
	}
	c.h.st.mu.Lock()
	defer c.h.st.mu.Unlock()
	srv := c.instance(c.params[0])
	if srv == nil {
		return
	}
	if !c.authorize(spec.rule, spec.kind, srv.ProjectID) {
		return
	}
	if !spec.noLockCheck && !c.checkLock(srv) {
		return
	}
	if spec.run == nil {
		c.empty(http.StatusAccepted)
		return
	}
	spec.run(c, srv, arg)
}

// checkState is compute.api.check_instance_state, answering 409.
func (c *novaCtx) checkState(action string, srv *server, allowed ...string) bool {
	for _, s := range allowed {
		if srv.VMState == s {
			return true
		}
	}
	c.fault(http.StatusConflict, "Cannot '"+action+"' instance "+c.params[0]+" while it is in vm_state "+srv.VMState)
	return false
}

// ---- lock / unlock (docs/compute-api-facts.md, "Lock and unlock") ----

func validateLock(c *novaCtx, v any) *schemaError {
	switch t := v.(type) {
	case nil:
		return nil
	case *pyObject:
		if e := c.checkAdditional([]string{"lock"}, t, "locked_reason"); e != nil {
			return e
		}
		if r, ok := t.get("locked_reason"); ok {
			s, isStr := r.(string)
			path := []string{"lock", "locked_reason"}
			switch {
			case !isStr:
				return typeError(path, r, "string")
			case pyLen(s) < 1:
				return &schemaError{path: path, value: r, msg: pyRepr(r) + " is too short"}
			case pyLen(s) > 255:
				return &schemaError{path: path, value: r, msg: pyRepr(r) + " is too long"}
			}
		}
		return nil
	default:
		return typeError([]string{"lock"}, v, "object", "null")
	}
}

func runLock(c *novaCtx, srv *server, v any) {
	reason := ""
	if !c.legacy && c.ver.atLeast(73) {
		if o, ok := v.(*pyObject); ok {
			if r, ok := o.get("locked_reason"); ok {
				reason, _ = r.(string)
			}
		}
	}
	isOwner := srv.ProjectID == c.who.ProjectID
	if srv.Locked && isOwner {
		c.empty(http.StatusAccepted) // already locked: no-op
		return
	}
	srv.Locked = true
	if isOwner {
		srv.LockedBy = "owner"
	} else {
		srv.LockedBy = "admin"
	}
	if reason != "" {
		srv.LockedReason = reason
	}
	srv.Updated = now().UTC()
	c.empty(http.StatusAccepted)
}

func runUnlock(c *novaCtx, srv *server, _ any) {
	expected := "admin"
	if srv.ProjectID == c.who.ProjectID {
		expected = "owner"
	}
	if srv.LockedBy != "" && srv.LockedBy != expected {
		if !c.authorize("os-lock-server:unlock:unlock_override", adminOnly, srv.ProjectID) {
			return
		}
	}
	srv.Locked = false
	srv.LockedBy = ""
	srv.LockedReason = ""
	srv.Updated = now().UTC()
	c.empty(http.StatusAccepted)
}

// ---- other actions ----

var rebootTypes = []string{"HARD", "Hard", "hard", "SOFT", "Soft", "soft"}

func validateReboot(c *novaCtx, v any) *schemaError {
	o, ok := v.(*pyObject)
	if !ok {
		return typeError([]string{"reboot"}, v, "object")
	}
	t, ok := o.get("type")
	if !ok {
		return &schemaError{path: []string{"reboot"}, value: o, msg: "'type' is a required property"}
	}
	if e := c.checkAdditional([]string{"reboot"}, o, "type"); e != nil {
		return e
	}
	s, isStr := t.(string)
	if !isStr {
		return typeError([]string{"reboot", "type"}, t, "string")
	}
	for _, rt := range rebootTypes {
		if s == rt {
			return nil
		}
	}
	return &schemaError{path: []string{"reboot", "type"}, value: t,
		msg: pyRepr(t) + " is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']"}
}

func runReboot(c *novaCtx, srv *server, v any) {
	t, _ := v.(*pyObject).get("type")
	allowed := []string{vmActive}
	if strings.EqualFold(t.(string), "HARD") {
		allowed = append(allowed, vmStopped, vmPaused, vmSuspended, vmError)
	}
	if !c.checkState("reboot", srv, allowed...) {
		return
	}
	srv.VMState = vmActive
	srv.Updated = now().UTC()
	c.empty(http.StatusAccepted)
}

func validateResetState(c *novaCtx, v any) *schemaError {
	o, ok := v.(*pyObject)
	if !ok {
		return typeError([]string{"os-resetState"}, v, "object")
	}
	st, ok := o.get("state")
	if !ok {
		return &schemaError{path: []string{"os-resetState"}, value: o, msg: "'state' is a required property"}
	}
	if e := c.checkAdditional([]string{"os-resetState"}, o, "state"); e != nil {
		return e
	}
	if st != "active" && st != "error" {
		return &schemaError{path: []string{"os-resetState", "state"}, value: st, msg: pyRepr(st) + " is not one of ['active', 'error']"}
	}
	return nil
}

func runResetState(c *novaCtx, srv *server, v any) {
	st, _ := v.(*pyObject).get("state")
	srv.VMState = st.(string)
	srv.Updated = now().UTC()
	c.empty(http.StatusAccepted)
}

func requireKey(action, key string) func(c *novaCtx, v any) *schemaError {
	return func(c *novaCtx, v any) *schemaError {
		o, ok := v.(*pyObject)
		if !ok {
			return typeError([]string{action}, v, "object")
		}
		if _, ok := o.get(key); !ok {
			return &schemaError{path: []string{action}, value: o, msg: pyRepr(key) + " is a required property"}
		}
		return nil
	}
}

func requireStringKey(action, key string) func(c *novaCtx, v any) *schemaError {
	req := requireKey(action, key)
	return func(c *novaCtx, v any) *schemaError {
		if e := req(c, v); e != nil {
			return e
		}
		val, _ := v.(*pyObject).get(key)
		if _, ok := val.(string); !ok {
			return typeError([]string{action, key}, val, "string")
		}
		return nil
	}
}

func runCreateImage(c *novaCtx, _ *server, _ any) {
	id := newUUID()
	if c.ver.atLeast(45) {
		c.json(http.StatusAccepted, map[string]any{"image_id": id})
		return
	}
	c.w.Header().Set("Location", c.h.imageURL(c.r)+"/v2/images/"+id)
	c.empty(http.StatusAccepted)
}

func runRebuild(c *novaCtx, srv *server, v any) {
	if o, ok := v.(*pyObject); ok {
		if n, ok := o.get("name"); ok {
			if s, ok := n.(string); ok && s != "" {
				srv.Name = s
			}
		}
	}
	srv.VMState = vmActive
	srv.Updated = now().UTC()
	c.json(http.StatusAccepted, map[string]any{"server": c.serverView(srv)})
}

func runConsoleOutput(c *novaCtx, srv *server, _ any) {
	c.json(http.StatusOK, map[string]any{"output": "ecssim: console of " + srv.Name + "\n"})
}

func runRescue(c *novaCtx, _ *server, _ any) {
	c.json(http.StatusOK, map[string]any{"adminPass": randURLSafe(9)})
}
