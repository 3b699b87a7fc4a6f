package classify

import (
	"net/http"
)

// applyBody checks the body as the route requires and fills the body-derived
// parts of op.
func applyBody(op *Operation, kind bodyKind, method string, body []byte) *Rejection {
	fam := op.Family
	if method != http.MethodPost && method != http.MethodPut {
		// Nova ignores such a body, but something in between may not.
		if len(body) != 0 {
			return reject(fam, http.StatusBadRequest, "body_not_allowed", msgBadRequest)
		}
		return nil
	}
	switch kind {
	case bodyNovaAction, bodyNovaMigrationAction:
		table := novaServerActions
		if kind == bodyNovaMigrationAction {
			table = novaMigrationActions
		}
		name, args, rej := parseAction(body, table, fam)
		if rej != nil {
			return rej
		}
		op.Action = &Action{Name: name, Args: args}
	case bodyNativeBatchAction:
		name, args, rej := parseAction(body, nativeBatchActions, fam)
		if rej != nil {
			return rej
		}
		if args[0] != '{' {
			return reject(fam, http.StatusBadRequest, "bad_batch_body", msgMalformed)
		}
		ids, reason := appendServersOf(nil, args, 0)
		if reason == "" && len(ids) == 0 {
			reason = "no_servers"
		}
		if reason != "" {
			return reject(fam, http.StatusBadRequest, reason, msgMalformed)
		}
		op.Action = &Action{Name: name, Args: args}
		op.ServerIDs = ids
	case bodyNativeBatchIDs:
		if len(body) == 0 {
			return reject(fam, http.StatusBadRequest, "empty_body", msgMalformed)
		}
		top, reason, ok := validateBody(body, true)
		if !ok {
			return reject(fam, http.StatusBadRequest, reason, msgMalformed)
		}
		if top.kind != '{' {
			return reject(fam, http.StatusBadRequest, "bad_batch_body", msgMalformed)
		}
		ids, reason := collectBatchIDs(body)
		if reason != "" {
			return reject(fam, http.StatusBadRequest, reason, msgMalformed)
		}
		op.ServerIDs = ids
		if op.Action != nil {
			op.Action.Args = body
		}
	case bodyJSON, bodyNativeArgs:
		if len(body) == 0 {
			// Nova hands the controller no body and its schema decides; an
			// empty native body carries nothing policy could read.
			return nil
		}
		if _, reason, ok := validateBody(body, false); !ok {
			return reject(fam, http.StatusBadRequest, reason, msgMalformed)
		}
		if op.Action != nil {
			op.Action.Args = body
		}
	}
	return nil
}

// parseAction extracts the action of an action body as Nova does, with Nova's
// statuses (docs/compute-api-facts.md, "Action extraction"); on native routes
// every failure is a 400.
func parseAction(body []byte, table map[string]string, fam string) (string, []byte, *Rejection) {
	if len(body) == 0 {
		return "", nil, reject(fam, http.StatusBadRequest, "empty_body", msgMalformed)
	}
	top, reason, ok := validateBody(body, true)
	if !ok {
		return "", nil, reject(fam, http.StatusBadRequest, reason, msgMalformed)
	}
	nova := fam == FamilyNova
	switch top.kind {
	case '{':
		if top.count != 1 {
			return "", nil, reject(fam, http.StatusBadRequest, "action_key_count", msgMalformed)
		}
		key := top.keyRaw
		if top.keyEscaped {
			var tmp [64]byte
			key = appendUnescaped(tmp[:0], key)
		}
		name, ok := table[string(key)]
		if !ok {
			return "", nil, reject(fam, http.StatusBadRequest, "unknown_action",
				"There is no such action: "+string(key))
		}
		return name, body[top.valStart:top.valEnd:top.valEnd], nil
	case '[', '"':
		// Python: len() is 1, then .keys() fails with AttributeError -> 404.
		if nova && top.count == 1 {
			return "", nil, reject(fam, http.StatusNotFound, "action_body_shape", msgNotFound)
		}
		return "", nil, reject(fam, http.StatusBadRequest, "action_body_shape", msgMalformed)
	default:
		// Python: len() of a number, bool or None raises TypeError -> 404.
		if nova {
			return "", nil, reject(fam, http.StatusNotFound, "action_body_shape", msgNotFound)
		}
		return "", nil, reject(fam, http.StatusBadRequest, "action_body_shape", msgMalformed)
	}
}

// collectBatchIDs gathers the ids of every "servers" array at the top level
// of a validated object and one level below it. Where Huawei reads the list
// for each batch call is not certain, so policy gets the union.
func collectBatchIDs(d []byte) ([]string, string) {
	start := skipWS(d, 0)
	ids, reason := appendServersOf(nil, d, start)
	if reason != "" {
		return nil, reason
	}
	it := newMemberIter(d, start)
	for {
		_, _, vs, _, ok := it.next()
		if !ok {
			break
		}
		if d[vs] == '{' {
			if ids, reason = appendServersOf(ids, d, vs); reason != "" {
				return nil, reason
			}
		}
	}
	if len(ids) == 0 {
		return nil, "no_servers"
	}
	return ids, ""
}

// appendServersOf appends the ids of the "servers" member of the validated
// object at d[obj], if it has one.
func appendServersOf(ids []string, d []byte, obj int) ([]string, string) {
	it := newMemberIter(d, obj)
	for {
		k, esc, vs, _, ok := it.next()
		if !ok {
			return ids, ""
		}
		if keyEquals(k, esc, "servers") {
			return appendServerIDs(ids, d, vs)
		}
	}
}

// appendServerIDs appends the ids of the validated servers array at d[i]:
// every element must be an object whose "id" is a canonical UUID written
// without escapes.
func appendServerIDs(ids []string, d []byte, i int) ([]string, string) {
	if d[i] != '[' {
		return nil, "bad_servers"
	}
	i = skipWS(d, i+1)
	if d[i] == ']' {
		return ids, ""
	}
	for {
		if d[i] != '{' {
			return nil, "bad_servers"
		}
		found := false
		it := newMemberIter(d, i)
		for {
			k, esc, vs, ve, ok := it.next()
			if !ok {
				break
			}
			if !keyEquals(k, esc, "id") {
				continue
			}
			if d[vs] != '"' || !isCanonicalUUID(d[vs+1:ve-1]) {
				return nil, "bad_server_id"
			}
			found = true
			ids = append(ids, string(d[vs+1:ve-1]))
		}
		if !found {
			return nil, "bad_server_id"
		}
		i = skipWS(d, skipValue(d, i))
		if d[i] != ',' {
			return ids, ""
		}
		i = skipWS(d, i+1)
	}
}
