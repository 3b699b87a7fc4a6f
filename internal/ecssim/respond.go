package ecssim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

const (
	ctJSON      = "application/json"
	ctJSONUTF8  = "application/json; charset=UTF-8"
	ctHTMLUTF8  = "text/html; charset=UTF-8"
	ctPlainUTF8 = "text/plain; charset=UTF-8"
)

// writeJSON writes v as JSON. HTML characters are not escaped, as in
// Python's json.dumps.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeEmpty writes a response without a body.
func writeEmpty(w http.ResponseWriter, status int, contentType string) {
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	if status != http.StatusNoContent {
		w.Header().Set("Content-Length", "0")
	}
	w.WriteHeader(status)
}

// faultNames maps statuses to Nova Fault names (docs/compute-api-facts.md,
// "Error formats").
var faultNames = map[int]string{
	400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound", 405: "badMethod",
	409: "conflictingRequest", 413: "overLimit", 415: "badMediaType", 429: "overLimit",
	501: "notImplemented", 503: "serviceUnavailable",
}

func faultName(status int) string {
	if n, ok := faultNames[status]; ok {
		return n
	}
	return "computeFault"
}

// writeFault writes a Nova Fault body.
func writeFault(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ctJSONUTF8, map[string]any{faultName(status): map[string]any{"code": status, "message": msg}})
}

// Nova messages.
const (
	msgNotFound        = "The resource could not be found."
	msgMalformed       = "Malformed request body"
	msgAuthRequired    = "The request you have made requires authentication."
	msgUnexpectedError = "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.\n"
)

func policyMsg(rule string) string {
	return "Policy doesn't allow os_compute_api:" + rule + " to be performed."
}

// webobFormat picks the body format of a plain webob error from Accept:
// text/html and application/json are offered (html first), anything else
// gets text/plain.
func webobFormat(accept string) string {
	if strings.TrimSpace(accept) == "" {
		return "html"
	}
	best, bestQ := "", 0.0
	for _, offer := range []string{"text/html", "application/json"} {
		q := acceptQuality(accept, offer)
		if q > bestQ {
			best, bestQ = offer, q
		}
	}
	switch best {
	case "text/html":
		return "html"
	case "application/json":
		return "json"
	}
	return "plain"
}

// acceptQuality returns the q value Accept gives offer (most specific range
// wins).
func acceptQuality(accept, offer string) float64 {
	otype, osub, _ := strings.Cut(offer, "/")
	bestSpec, q := -1, 0.0
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		mr := strings.ToLower(strings.TrimSpace(fields[0]))
		t, sub, ok := strings.Cut(mr, "/")
		if !ok {
			continue
		}
		spec := -1
		switch {
		case t == otype && sub == osub:
			spec = 2
		case t == otype && sub == "*":
			spec = 1
		case t == "*" && sub == "*":
			spec = 0
		}
		if spec < 0 || spec < bestSpec {
			continue
		}
		qv := 1.0
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					qv = f
				}
			}
		}
		bestSpec, q = spec, qv
	}
	return q
}

// writeWebob writes a plain webob HTTP error (router 404, 413), whose
// format follows Accept (docs/compute-api-facts.md, "Error formats").
func writeWebob(w http.ResponseWriter, r *http.Request, status int, title, explanation string) {
	statusLine := strconv.Itoa(status) + " " + title
	body := explanation + "<br /><br />\n\n\n"
	switch webobFormat(r.Header.Get("Accept")) {
	case "json":
		writeJSON(w, status, ctJSONUTF8, map[string]any{"message": body, "code": statusLine, "title": title})
	case "html":
		page := "<html>\n <head>\n  <title>" + statusLine + "</title>\n </head>\n <body>\n  <h1>" + statusLine +
			"</h1>\n  " + body + "\n </body>\n</html>"
		writeRaw(w, status, ctHTMLUTF8, page)
	default:
		writeRaw(w, status, ctPlainUTF8, statusLine+"\n\n"+explanation+"\n\n\n")
	}
}

func writeRaw(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// writeKeystoneError writes Keystone's error body.
func writeKeystoneError(w http.ResponseWriter, status int, title, msg string) {
	writeJSON(w, status, ctJSON, map[string]any{"error": map[string]any{"code": status, "title": title, "message": msg}})
}

// wsgiHeader reads a header the way a WSGI server exposes it: names are
// compared after turning '_' into '-' (both become the same environ key) and
// the values of all matching lines are joined with commas. Dashed lines come
// before underscored ones (Go does not keep the order across names).
func wsgiHeader(r *http.Request, name string) (string, bool) {
	want := strings.ToLower(name)
	var dashed, under []string
	for k, vs := range r.Header {
		lk := strings.ToLower(k)
		switch {
		case lk == want:
			dashed = append(dashed, vs...)
		case strings.ReplaceAll(lk, "_", "-") == want:
			under = append(under, vs...)
		}
	}
	all := append(dashed, under...)
	if len(all) == 0 {
		return "", false
	}
	return strings.Join(all, ","), true
}
