package ecssim

import (
	"net/http"
	"strings"
)

// serveImage is the Glance stand-in under /image: version discovery and one
// fixed active image, enough for openstackclient, which builds an image
// client from the catalog for server show, list, lock and unlock and gives
// up when it cannot discover an image endpoint.
//
//	GET /image, /image/            300 versions
//	GET /image/versions, /image/v2 200 versions
//	GET /image/v2/images           the image list (filters: name, id, status, visibility)
//	GET /image/v2/images/{id}      the image
func (h *Handler) serveImage(ex *exchange) {
	w, r := ex.w, ex.r
	w.Header().Set("X-Openstack-Request-Id", ex.requestID)
	p := strings.TrimPrefix(r.URL.Path, "/image")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeWebob(w, r, http.StatusMethodNotAllowed, "Method Not Allowed", "The method is not allowed for this resource.")
		return
	}
	switch p {
	case "", "/":
		writeJSON(w, http.StatusMultipleChoices, ctJSON, h.imageVersions(r))
		return
	case "/versions", "/v2", "/v2/":
		writeJSON(w, http.StatusOK, ctJSON, h.imageVersions(r))
		return
	}
	if !strings.HasPrefix(p, "/v2/images") {
		writeWebob(w, r, http.StatusNotFound, "Not Found", msgNotFound)
		return
	}
	tok, _ := wsgiHeader(r, "X-Auth-Token")
	if h.st.authenticate(tok) == nil {
		w.Header().Set("WWW-Authenticate", `Keystone uri="`+h.identityURL(r)+`"`)
		writeJSON(w, http.StatusUnauthorized, ctJSON, map[string]any{"error": map[string]any{
			"code": 401, "title": "Unauthorized", "message": msgAuthRequired,
		}})
		return
	}
	switch {
	case p == "/v2/images":
		q := r.URL.Query()
		images := []any{}
		match := func(key, val string) bool {
			v, ok := q[key]
			if !ok {
				return true
			}
			want := v[len(v)-1]
			want = strings.TrimPrefix(want, "in:")
			for _, alt := range strings.Split(want, ",") {
				if alt == val {
					return true
				}
			}
			return false
		}
		if match("name", imageName) && match("id", imageID) && match("status", "active") && match("visibility", "public") {
			images = append(images, imageBody())
		}
		writeJSON(w, http.StatusOK, ctJSON, map[string]any{"images": images, "first": "/v2/images", "schema": "/v2/schemas/images"})
	case p == "/v2/images/"+imageID:
		writeJSON(w, http.StatusOK, ctJSON, imageBody())
	case strings.HasPrefix(p, "/v2/images/") && !strings.Contains(strings.TrimPrefix(p, "/v2/images/"), "/"):
		writeWebob(w, r, http.StatusNotFound, "Not Found", "No image found with ID "+strings.TrimPrefix(p, "/v2/images/"))
	default:
		writeWebob(w, r, http.StatusNotFound, "Not Found", msgNotFound)
	}
}

func (h *Handler) imageVersions(r *http.Request) map[string]any {
	self := h.imageURL(r) + "/v2/"
	var vs []any
	for i, id := range []string{"v2.16", "v2.15", "v2.9", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"} {
		status := "SUPPORTED"
		if i == 0 {
			status = "CURRENT"
		}
		vs = append(vs, map[string]any{"id": id, "status": status, "links": []any{map[string]any{"rel": "self", "href": self}}})
	}
	return map[string]any{"versions": vs}
}

func imageBody() map[string]any {
	ts := seedTime.Format(novaTime)
	return map[string]any{
		"id": imageID, "name": imageName, "status": "active", "visibility": "public", "protected": false,
		"os_hidden": false, "container_format": "bare", "disk_format": "qcow2",
		"size": 21430272, "virtual_size": 117440512, "min_disk": 0, "min_ram": 0,
		"checksum": "c8fc807773e5354afe61636071771906", "os_hash_algo": "sha512",
		"os_hash_value": "6b813aa46bb90b4da216a4d19376593fa3f4fc7e617f03a92b7fe11e9a3981cbe8f0959dbebe36225e5f53dc4492341a4863cac4ed1ee0909f3fc78ef9c3e869",
		"owner":         projectAdminID, "created_at": ts, "updated_at": ts, "tags": []any{},
		"self": "/v2/images/" + imageID, "file": "/v2/images/" + imageID + "/file", "schema": "/v2/schemas/image",
	}
}
