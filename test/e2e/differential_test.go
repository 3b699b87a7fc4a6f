//go:build e2e

package e2e

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The differential test: every parser differential of
// docs/compute-api-facts.md ("Parser differentials"), with variants, as
// raw bytes over TCP. Each request is sent
//
//	(a) straight to nova-api          what does Nova execute?
//	(b) through the deny-all-mutations gateway (:18081)
//	    any state change is a BYPASS: test failure, raw bytes reported
//	(c) through the shipped-policy gateway (:18080), lock/unlock only
//	    the state may change only if the canonical request is allowed:
//	    alice (member) may lock, may not unlock (needs ecs_unlocker)
//
// from the same starting state, and Nova's state (admin GET at 2.73 plus
// locked_by from its database) is compared before and after. The requests
// nova-api logged during (b) and (c) are counted too ("fwd").

// target is where a raw request goes and with which identities.
type target struct {
	addr    string // host:port, also the Host header
	alice   string // alice's token (member in demo)
	carol   string // carol's token (reader in demo)
	dave    string // dave's token (member + ecs_unlocker in demo)
	project string // demo
	other   string // another project
	server  string // SERVER1
}

type kind string

const (
	kindLock   kind = "lock"   // start unlocked; a change means it got locked
	kindUnlock kind = "unlock" // start locked by alice (owner); a change means unlocked
	kindDelete kind = "delete" // start present; a change means deleted
	kindUpdate kind = "update" // start with the seeded name; a change means renamed
)

type diffCase struct {
	class string
	name  string
	kind  kind
	raw   func(tg target) string
}

// ---- building raw requests ----------------------------------------------------

type rawReq struct {
	method, path, proto string
	host                string
	auth                string // X-Auth-Token value; "" none
	ct                  *string
	headers             []string
	body                string
	framed              bool   // body is already framed (chunked); no Content-Length
	noCL                bool   // no Content-Length even with a body
	after               string // bytes after the request (pipelining, smuggling)
	keepAlive           bool
	conn                string // Connection header value; "" close (or keep-alive)
}

type opt func(*rawReq)

func hdr(lines ...string) opt { return func(r *rawReq) { r.headers = append(r.headers, lines...) } }
func ctype(v string) opt      { return func(r *rawReq) { r.ct = &v } }
func noCT() opt               { return func(r *rawReq) { r.ct = new(string) } }
func noAuth() opt             { return func(r *rawReq) { r.auth = "" } }
func authAs(tok string) opt   { return func(r *rawReq) { r.auth = tok } }
func proto(p string) opt      { return func(r *rawReq) { r.proto = p } }
func framedBody(b string) opt { return func(r *rawReq) { r.body, r.framed = b, true } }
func afterwards(b string) opt { return func(r *rawReq) { r.after = b } }
func keepAlive() opt          { return func(r *rawReq) { r.keepAlive = true } }
func connection(v string) opt { return func(r *rawReq) { r.conn = v } }
func jsonCT() *string         { s := "application/json"; return &s }
func chunked(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// chunkedTrailer frames body as one chunk followed by trailer fields.
func chunkedTrailer(body string, trailers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%x\r\n%s\r\n0\r\n", len(body), body)
	for _, t := range trailers {
		b.WriteString(t + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

// akAuthorization is a well-formed SDK-HMAC-SHA256 header for accessKey
// (the gateway cannot check the signature: it holds no secret key).
func akAuthorization() string {
	return "SDK-HMAC-SHA256 Access=" + accessKey + ", SignedHeaders=host;x-sdk-date, Signature=" + strings.Repeat("5e", 32)
}

func (tg target) req(method, path, body string, opts ...opt) string {
	r := &rawReq{method: method, path: path, proto: "HTTP/1.1", host: tg.addr, auth: tg.alice, body: body}
	if body != "" {
		r.ct = jsonCT()
	}
	for _, o := range opts {
		o(r)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\nHost: %s\r\nAccept: application/json\r\n", r.method, r.path, r.proto, r.host)
	if r.auth != "" {
		b.WriteString("X-Auth-Token: " + r.auth + "\r\n")
	}
	if r.ct != nil && *r.ct != "" {
		b.WriteString("Content-Type: " + *r.ct + "\r\n")
	}
	for _, h := range r.headers {
		b.WriteString(h + "\r\n")
	}
	if !r.framed && !r.noCL && (r.body != "" || r.method == "POST" || r.method == "PUT") {
		b.WriteString("Content-Length: " + strconv.Itoa(len(r.body)) + "\r\n")
	}
	if r.conn != "" {
		b.WriteString("Connection: " + r.conn + "\r\n")
	} else if r.keepAlive {
		b.WriteString("Connection: keep-alive\r\n")
	} else {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(r.body)
	b.WriteString(r.after)
	return b.String()
}

func newTarget(t *testing.T, addr string) target {
	t.Helper()
	return target{addr: addr, alice: token(t, "alice"), carol: token(t, "carol"), dave: token(t, "dave"),
		project: env["DEMO_PROJECT_ID"], other: env["OTHER_PROJECT_ID"], server: env["SERVER1"]}
}

func (tg target) action(server string) string {
	return "/v2.1/" + tg.project + "/servers/" + server + "/action"
}

func body(action string) string { return `{"` + action + `": null}` }

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.String()
}

// ---- the corpus -------------------------------------------------------------

// actionVariants are written once and instantiated for lock and unlock.
type variant struct {
	class, name string
	raw         func(tg target, a string) string
}

func actionVariants() []variant {
	upper := func(s string) string { return strings.ToUpper(s) }
	return []variant{
		{"control", "canonical (project in path)", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a))
		}},

		// Optional project segment.
		{"project segment", "project-less path", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/servers/"+tg.server+"/action", body(a))
		}},
		{"project segment", "another project's id in the path", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+tg.other+"/servers/"+tg.server+"/action", body(a))
		}},
		{"project segment", "upper-case project id", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+upper(tg.project)+"/servers/"+tg.server+"/action", body(a))
		}},
		{"project segment", "/v2 legacy prefix with project", func(tg target, a string) string {
			return tg.req("POST", "/v2/"+tg.project+"/servers/"+tg.server+"/action", body(a))
		}},
		{"project segment", "/v2 legacy prefix, project-less", func(tg target, a string) string {
			return tg.req("POST", "/v2/servers/"+tg.server+"/action", body(a))
		}},
		{"project segment", "no version prefix", func(tg target, a string) string {
			return tg.req("POST", "/servers/"+tg.server+"/action", body(a))
		}},

		// Route alias.
		{"route alias", "/os-volumes_boot alias", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+tg.project+"/os-volumes_boot/"+tg.server+"/action", body(a))
		}},
		{"route alias", "/v2 /os-volumes_boot alias, project-less", func(tg target, a string) string {
			return tg.req("POST", "/v2/os-volumes_boot/"+tg.server+"/action", body(a))
		}},

		// Slash runs, trailing slash.
		{"slash runs", "double slash before servers", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+tg.project+"//servers/"+tg.server+"/action", body(a))
		}},
		{"slash runs", "double slash before action", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+tg.project+"/servers/"+tg.server+"//action", body(a))
		}},
		{"slash runs", "leading double slash", func(tg target, a string) string {
			return tg.req("POST", "//v2.1/"+tg.project+"/servers/"+tg.server+"/action", body(a))
		}},
		{"slash runs", "slash run everywhere", func(tg target, a string) string {
			return tg.req("POST", "/v2.1///servers///"+tg.server+"///action", body(a))
		}},
		{"slash runs", "trailing slash", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server)+"/", body(a))
		}},

		// Dot segments.
		{"dot segments", "/./ before the id", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+tg.project+"/servers/./"+tg.server+"/action", body(a))
		}},
		{"dot segments", "/x/../ before servers", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+tg.project+"/x/../servers/"+tg.server+"/action", body(a))
		}},
		{"dot segments", "trailing /.", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server)+"/.", body(a))
		}},

		// Percent-encoding in the path.
		{"encoded path", "encoded letter %61ction", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+tg.project+"/servers/"+tg.server+"/%61ction", body(a))
		}},
		{"encoded path", "encoded letter %73ervers", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+tg.project+"/%73ervers/"+tg.server+"/action", body(a))
		}},
		{"encoded path", "encoded slash servers%2F{id}", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+tg.project+"/servers%2F"+tg.server+"/action", body(a))
		}},
		{"encoded path", "encoded hyphen in the id", func(tg target, a string) string {
			return tg.req("POST", tg.action(strings.Replace(tg.server, "-", "%2D", 1)), body(a))
		}},
		{"encoded path", "double-encoded %2561ction", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+tg.project+"/servers/"+tg.server+"/%2561ction", body(a))
		}},

		// Trailing newline, control characters.
		{"trailing newline", "action%0A", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server)+"%0A", body(a))
		}},
		{"trailing newline", "action%0a%0d (lower-case hex)", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server)+"%0a%0d", body(a))
		}},
		{"trailing newline", "id%20 (space) before /action", func(tg target, a string) string {
			return tg.req("POST", "/v2.1/"+tg.project+"/servers/"+tg.server+"%20/action", body(a))
		}},
		{"format suffix", "action.json", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server)+".json", body(a))
		}},

		// UUID spellings.
		{"uuid spelling", "upper-case uuid", func(tg target, a string) string {
			return tg.req("POST", tg.action(upper(tg.server)), body(a))
		}},
		{"uuid spelling", "mixed-case uuid", func(tg target, a string) string {
			return tg.req("POST", tg.action("C0FFEE00"+tg.server[8:]), body(a))
		}},
		{"uuid spelling", "braced uuid {…}", func(tg target, a string) string {
			return tg.req("POST", tg.action("{"+tg.server+"}"), body(a))
		}},
		{"uuid spelling", "percent-encoded braces %7B…%7D", func(tg target, a string) string {
			return tg.req("POST", tg.action("%7B"+tg.server+"%7D"), body(a))
		}},
		{"uuid spelling", "hyphenless uuid", func(tg target, a string) string {
			return tg.req("POST", tg.action(strings.ReplaceAll(tg.server, "-", "")), body(a))
		}},
		{"uuid spelling", "urn:uuid: prefix", func(tg target, a string) string {
			return tg.req("POST", tg.action("urn:uuid:"+tg.server), body(a))
		}},

		// Underscore headers.
		{"underscore headers", "X_Auth_Token only", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), noAuth(), hdr("X_Auth_Token: "+tg.alice))
		}},
		{"underscore headers", "X-Auth-Token (reader) plus X_Auth_Token (member)", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), authAs(tg.carol), hdr("X_Auth_Token: "+tg.alice))
		}},
		{"underscore headers", "Content_Type instead of Content-Type", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), noCT(), hdr("Content_Type: application/json"))
		}},
		{"underscore headers", "OpenStack_API_Version", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), withReason(a), hdr("OpenStack_API_Version: compute 2.73"))
		}},

		// Repeated headers.
		{"repeated headers", "X-Auth-Token twice (same token)", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), hdr("X-Auth-Token: "+tg.alice))
		}},
		{"repeated headers", "X-Auth-Token reader then member", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), authAs(tg.carol), hdr("X-Auth-Token: "+tg.alice))
		}},
		{"repeated headers", "Content-Type twice", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), hdr("Content-Type: application/json"))
		}},
		{"repeated headers", "OpenStack-API-Version twice", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), hdr("OpenStack-API-Version: compute 2.1", "OpenStack-API-Version: compute 2.73"))
		}},

		// Method case.
		{"method case", "lower-case post", func(tg target, a string) string {
			return tg.req("post", tg.action(tg.server), body(a))
		}},
		{"method case", "mixed-case Post", func(tg target, a string) string {
			return tg.req("Post", tg.action(tg.server), body(a))
		}},

		// JSON parser differences.
		{"json", `duplicate distinct keys {"lock":null,"unlock":null}`, func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), `{"lock":null,"unlock":null}`)
		}},
		{"json", `duplicate same key {"<a>":1,"<a>":null}`, func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), `{"`+a+`":1,"`+a+`":null}`)
		}},
		{"json", `other action, then <a> twice`, func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), `{"os-start":null,"`+a+`":null,"`+a+`":null}`)
		}},
		{"json", `escaped key {"\u00XX..."}`, func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), `{"\u00`+strconv.FormatInt(int64(a[0]), 16)+a[1:]+`":null}`)
		}},
		{"json", "NaN argument", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), `{"`+a+`":NaN}`)
		}},
		{"json", "Infinity argument", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), `{"`+a+`":-Infinity}`)
		}},
		{"json", "byte-order mark", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), "\ufeff"+body(a))
		}},
		{"json", "invalid UTF-8 in a value", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), `{"`+a+`":"\xff"}`)
		}},
		{"json", "lone surrogate escape", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), `{"`+a+`":"\ud800"}`)
		}},
		{"json", "nested duplicate keys", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), `{"`+a+`":{"x":1,"x":2}}`)
		}},
		{"json", "whitespace around the value", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), " \n\t"+body(a)+"\r\n ")
		}},
		{"json", "one-element array", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), "["+body(a)+"]")
		}},
		{"json", "trailing data after the object", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a)+`{"os-start":null}`)
		}},

		// Content-Type.
		{"content-type", "text/plain", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), ctype("text/plain"))
		}},
		{"content-type", "missing Content-Type", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), noCT())
		}},
		{"content-type", "application/json; charset=utf-8", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), ctype("application/json; charset=utf-8"))
		}},
		{"content-type", "application/vnd.openstack.compute+json", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), ctype("application/vnd.openstack.compute+json"))
		}},
		{"content-type", "Application/JSON (case)", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), ctype("Application/JSON"))
		}},
		{"content-type", "form-encoded type, JSON body", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), ctype("application/x-www-form-urlencoded"))
		}},
		{"content-type", "form-encoded type, form body", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), a+"=", ctype("application/x-www-form-urlencoded"))
		}},

		// Body framing and encoding.
		{"framing", "chunked", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), "", framedBody(chunked(body(a))), hdr("Transfer-Encoding: chunked"))
		}},
		{"framing", "chunked, split, with extension", func(tg target, a string) string {
			b := body(a)
			return tg.req("POST", tg.action(tg.server), "", framedBody(fmt.Sprintf("%x;e2e=1\r\n%s\r\n", 3, b[:3])+chunked(b[3:])), hdr("Transfer-Encoding: chunked"))
		}},
		{"framing", "chunked plus Content-Length", func(tg target, a string) string {
			f := chunked(body(a))
			return tg.req("POST", tg.action(tg.server), "", framedBody(f), hdr("Transfer-Encoding: chunked", "Content-Length: "+strconv.Itoa(len(f))))
		}},
		{"framing", "Content-Encoding: gzip, plain body", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), hdr("Content-Encoding: gzip"))
		}},
		{"framing", "Content-Encoding: gzip, gzipped body", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), gz(body(a)), hdr("Content-Encoding: gzip"))
		}},
		{"framing", "chunked with an X-Auth-Token trailer (dave)", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), "", framedBody(chunkedTrailer(body(a), "X-Auth-Token: "+tg.dave)),
				hdr("Transfer-Encoding: chunked", "Trailer: X-Auth-Token"))
		}},
		{"framing", "Content-Length: 0, body as the next request", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), "", afterwards(body(a)))
		}},
		{"framing", "pipelined after a harmless GET", func(tg target, a string) string {
			return tg.req("GET", "/v2.1/"+tg.project+"/servers/"+tg.server, "", keepAlive()) + tg.req("POST", tg.action(tg.server), body(a))
		}},

		// Microversion headers.
		{"microversion", "OpenStack-API-Version: compute 2.73 (with reason)", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), withReason(a), hdr("OpenStack-API-Version: compute 2.73"))
		}},
		{"microversion", "X-OpenStack-Nova-API-Version: 2.73 (with reason)", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), withReason(a), hdr("X-OpenStack-Nova-API-Version: 2.73"))
		}},
		{"microversion", "COMPUTE 2.73 (service name case)", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), withReason(a), hdr("OpenStack-API-Version: COMPUTE 2.73"))
		}},
		{"microversion", "two compute entries, last 2.73", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), withReason(a), hdr("OpenStack-API-Version: compute 2.1, compute 2.73"))
		}},
		{"microversion", "compute latest", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), withReason(a), hdr("OpenStack-API-Version: compute latest"))
		}},
		{"microversion", "the two headers disagree", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), withReason(a), hdr("OpenStack-API-Version: compute 2.1", "X-OpenStack-Nova-API-Version: 2.73"))
		}},
		{"microversion", "/v2 with 2.73 (v2 drops the header)", func(tg target, a string) string {
			return tg.req("POST", "/v2/"+tg.project+"/servers/"+tg.server+"/action", withReason(a), hdr("OpenStack-API-Version: compute 2.73"))
		}},
		{"microversion", "other service first: volume 3.0, compute 2.73", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), withReason(a), hdr("OpenStack-API-Version: volume 3.0, compute 2.73"))
		}},

		// Spoofed identity headers (keystonemiddleware strips them).
		{"identity headers", "no token, X-Identity-Status: Confirmed + X-Roles: admin", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), noAuth(), hdr("X-Identity-Status: Confirmed", "X-Roles: admin,member", "X-Project-Id: "+tg.project, "X-User-Id: admin"))
		}},
		{"identity headers", "reader token + X-Roles: admin,member", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), authAs(tg.carol), hdr("X-Roles: admin,member,ecs_unlocker"))
		}},
		// Token headers as keystonemiddleware reads them: X-Auth-Token if
		// present (even empty), else X-Storage-Token; X-Service-Token too.
		{"token headers", "X-Storage-Token only", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), noAuth(), hdr("X-Storage-Token: "+tg.alice))
		}},
		{"token headers", "empty X-Auth-Token plus X-Storage-Token", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), noAuth(), hdr("X-Auth-Token:", "X-Storage-Token: "+tg.alice))
		}},
		{"token headers", "X-Auth-Token (reader) plus X-Storage-Token (member)", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), authAs(tg.carol), hdr("X-Storage-Token: "+tg.alice))
		}},
		{"token headers", "X-Service-Token (alice's) next to X-Auth-Token", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), hdr("X-Service-Token: "+tg.alice))
		}},

		// Headers named in Connection: a proxy drops them after the gateway
		// decided, so Nova may act as someone else or at another microversion.
		{"connection header", "names X-Auth-Token (dave), alice's X-Storage-Token", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), authAs(tg.dave), hdr("X-Storage-Token: "+tg.alice),
				connection("close, X-Auth-Token"))
		}},
		{"connection header", "names empty X-Auth-Token and an AK signature, alice's X-Storage-Token", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), noAuth(),
				hdr("X-Auth-Token:", "Authorization: "+akAuthorization(), "X-Sdk-Date: 20260101T000000Z", "X-Storage-Token: "+tg.alice),
				connection("close, X-Auth-Token, Authorization"))
		}},
		{"connection header", "names OpenStack-API-Version (2.73)", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), withReason(a), hdr("OpenStack-API-Version: compute 2.73"),
				connection("close, OpenStack-API-Version"))
		}},
		{"connection header", "Upgrade: websocket", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), hdr("Upgrade: websocket", "Sec-WebSocket-Version: 13",
				"Sec-WebSocket-Key: ZTJlLXdlYnNvY2tldC1rZXk="), connection("close, Upgrade"))
		}},
		{"connection header", "Upgrade: h2c", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), hdr("Upgrade: h2c", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"),
				connection("close, Upgrade, HTTP2-Settings"))
		}},

		{"method override", "X-HTTP-Method-Override: POST on a GET", func(tg target, a string) string {
			return tg.req("GET", tg.action(tg.server), "", hdr("X-HTTP-Method-Override: POST"))
		}},
		{"method override", "GET with ?_method=POST and a body", func(tg target, a string) string {
			return tg.req("GET", tg.action(tg.server)+"?_method=POST", body(a))
		}},

		// Request line.
		{"request line", "absolute-form URI", func(tg target, a string) string {
			return tg.req("POST", "http://"+tg.addr+tg.action(tg.server), body(a))
		}},
		{"request line", "HTTP/1.0", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server), body(a), proto("HTTP/1.0"))
		}},
		{"request line", "harmless query ?e2e=1", func(tg target, a string) string {
			return tg.req("POST", tg.action(tg.server)+"?e2e=1", body(a))
		}},
	}
}

func withReason(a string) string {
	if a == "lock" {
		return `{"lock": {"locked_reason": "e2e"}}`
	}
	return body(a)
}

// deleteVariants target server deletion (DELETE /servers/{id}).
func deleteVariants() []diffCase {
	srv := func(tg target) string { return "/v2.1/" + tg.project + "/servers/" + tg.server }
	get := func(q string) func(tg target) string {
		return func(tg target) string { return tg.req("GET", srv(tg)+q, "") }
	}
	return []diffCase{
		{"control", "canonical DELETE", kindDelete, func(tg target) string { return tg.req("DELETE", srv(tg), "") }},
		{"method override", "GET ?_method=DELETE", kindDelete, get("?_method=DELETE")},
		{"method override", "GET ?%5Fmethod=DELETE", kindDelete, get("?%5Fmethod=DELETE")},
		{"method override", "GET ?%5fmethod=DELETE (lower-case hex)", kindDelete, get("?%5fmethod=DELETE")},
		{"method override", "GET ?_METHOD=DELETE", kindDelete, get("?_METHOD=DELETE")},
		{"method override", "GET ?a=1;_method=DELETE", kindDelete, get("?a=1;_method=DELETE")},
		{"method override", "GET ?_method=delete", kindDelete, get("?_method=delete")},
		{"method override", "GET ?_method=DEL%45TE", kindDelete, get("?_method=DEL%45TE")},
		{"method override", "GET ?%255Fmethod=DELETE (double-encoded)", kindDelete, get("?%255Fmethod=DELETE")},
		{"method override", "GET ?_method=DELETE+ (plus)", kindDelete, get("?_method=DELETE+")},
		{"method override", "GET ?x=1&_method=GET&_method=DELETE", kindDelete, get("?x=1&_method=GET&_method=DELETE")},
		{"method override", "GET ?_method=GET&%5Fmethod=DELETE (decoy, last wins)", kindDelete, get("?_method=GET&%5Fmethod=DELETE")},
		{"method override", "GET ?_methodx=1&%5Fmethod=DELETE (decoy key)", kindDelete, get("?_methodx=1&%5Fmethod=DELETE")},
		{"method override", "HEAD ?_method=DELETE", kindDelete, func(tg target) string { return tg.req("HEAD", srv(tg)+"?_method=DELETE", "") }},
		{"method override", "POST ?_method=DELETE with {}", kindDelete, func(tg target) string { return tg.req("POST", srv(tg)+"?_method=DELETE", "{}") }},
		{"method override", "POST form body _method=DELETE", kindDelete, func(tg target) string {
			return tg.req("POST", srv(tg), "_method=DELETE", ctype("application/x-www-form-urlencoded"))
		}},
		{"method override", "GET + X-HTTP-Method-Override: DELETE", kindDelete, func(tg target) string {
			return tg.req("GET", srv(tg), "", hdr("X-HTTP-Method-Override: DELETE"))
		}},
		{"method case", "lower-case delete", kindDelete, func(tg target) string { return tg.req("delete", srv(tg), "") }},
		{"route alias", "DELETE /os-volumes_boot/{id}", kindDelete, func(tg target) string {
			return tg.req("DELETE", "/v2.1/"+tg.project+"/os-volumes_boot/"+tg.server, "")
		}},
		{"slash runs", "DELETE /servers//{id}", kindDelete, func(tg target) string {
			return tg.req("DELETE", "/v2.1/"+tg.project+"/servers//"+tg.server, "")
		}},
		{"uuid spelling", "DELETE upper-case uuid", kindDelete, func(tg target) string {
			return tg.req("DELETE", "/v2.1/"+tg.project+"/servers/"+strings.ToUpper(tg.server), "")
		}},
		{"body on DELETE", "DELETE with a JSON body", kindDelete, func(tg target) string {
			return tg.req("DELETE", srv(tg), "{}", jsonCTOpt())
		}},
	}
}

// updateVariants rename the server (PUT /servers/{id}); a POST whose query
// overrides the method to PUT reaches the update controller with its body.
func updateVariants() []diffCase {
	srv := func(tg target) string { return "/v2.1/" + tg.project + "/servers/" + tg.server }
	rename := `{"server": {"name": "e2e-renamed"}}`
	post := func(q string) func(tg target) string {
		return func(tg target) string { return tg.req("POST", srv(tg)+q, rename) }
	}
	return []diffCase{
		{"control", "canonical PUT rename", kindUpdate, func(tg target) string { return tg.req("PUT", srv(tg), rename) }},
		{"method override", "POST ?_method=PUT", kindUpdate, post("?_method=PUT")},
		{"method override", "POST ?_method=put", kindUpdate, post("?_method=put")},
		{"method override", "POST ?_method=GET&%5Fmethod=PUT (decoy, last wins)", kindUpdate, post("?_method=GET&%5Fmethod=PUT")},
		{"method override", "POST ?a=1;_method=PUT", kindUpdate, post("?a=1;_method=PUT")},
		{"method case", "lower-case put", kindUpdate, func(tg target) string { return tg.req("put", srv(tg), rename) }},
		{"route alias", "PUT /os-volumes_boot/{id}", kindUpdate, func(tg target) string {
			return tg.req("PUT", "/v2.1/"+tg.project+"/os-volumes_boot/"+tg.server, rename)
		}},
	}
}

func jsonCTOpt() opt { return func(r *rawReq) { r.ct = jsonCT() } }

func corpus() []diffCase {
	var out []diffCase
	for _, a := range []kind{kindLock, kindUnlock} {
		for _, v := range actionVariants() {
			v, a := v, a
			out = append(out, diffCase{class: v.class, name: v.name, kind: a, raw: func(tg target) string { return v.raw(tg, string(a)) }})
		}
	}
	out = append(out, updateVariants()...)
	if os.Getenv("E2E_DELETE") != "0" {
		out = append(out, deleteVariants()...)
	}
	return out
}

// ---- running it -------------------------------------------------------------

type leg struct {
	status  string // status code(s), or the error
	changed bool
	after   string // short state after
	fwd     int    // requests nova-api logged; -1 not measured
	ran     bool
}

func (l leg) String() string {
	if !l.ran {
		return "-"
	}
	s := l.status + " "
	if l.changed {
		s += "CHANGED→" + l.after
	} else {
		s += "same"
	}
	if l.fwd >= 0 {
		s += fmt.Sprintf(" fwd=%d", l.fwd)
	}
	return s
}

type row struct {
	c                   diffCase
	nova, deny, shipped leg
	verdict             string
}

// prepare puts SERVER1 into the starting state for k and returns it.
func prepare(t *testing.T, k kind) dbState {
	t.Helper()
	s1 := env["SERVER1"]
	st := novaDBState(t, s1)
	ok := st.pristine(s1)
	switch k {
	case kindUnlock:
		ok = ok && st.Locked && st.LockedBy == "owner"
	default:
		ok = ok && !st.Locked
	}
	if ok {
		return st
	}
	resetServers(t)
	if k == kindUnlock {
		lockAs(t, "alice", s1)
	}
	st = novaDBState(t, s1)
	require.True(t, st.pristine(s1), "after reset: %s", st.Row)
	return st
}

func statuses(resps []rawResponse, err error) string {
	if err != nil {
		msg := err.Error()
		if len(msg) > 40 {
			msg = msg[:40]
		}
		return "err(" + msg + ")"
	}
	var parts []string
	for _, r := range resps {
		parts = append(parts, strconv.Itoa(r.Status))
	}
	return strings.Join(parts, "+")
}

func runLeg(t *testing.T, c diffCase, addr string, countFwd bool) (leg, string, []rawResponse) {
	t.Helper()
	before := prepare(t, c.kind)
	raw := c.raw(newTarget(t, addr))
	var mark int64
	if countFwd {
		mark = nlog.mark(t)
	}
	resps, err := sendRaw(addr, raw, 20*time.Second)
	l := leg{ran: true, status: statuses(resps, err), fwd: -1}
	if countFwd {
		l.fwd = len(nlog.since(t, mark))
	}
	after := novaDBState(t, env["SERVER1"])
	l.changed = after != before
	l.after = after.short()
	return l, raw, resps
}

func TestDifferential(t *testing.T) {
	cases := corpus()
	start := time.Now()
	var rows []row
	for i, c := range cases {
		name := fmt.Sprintf("%03d %s/%s/%s", i, c.kind, c.class, c.name)
		t.Run(name, func(t *testing.T) {
			r := row{c: c}
			defer func() { rows = append(rows, r) }()

			// (a) straight to Nova.
			var raw string
			r.nova, raw, _ = runLeg(t, c, novaAddr, false)

			// (b) through the deny-all-mutations gateway.
			var resps []rawResponse
			r.deny, raw, resps = runLeg(t, c, gwDeny, true)
			if r.deny.changed || (r.deny.fwd > 0 && r.nova.changed) {
				r.verdict = "BYPASS"
				t.Errorf("BYPASS through the deny-all-mutations gateway: state %s, Nova logged %d request(s), responses %s\nraw bytes (Go %%q):\n%q",
					r.deny.after, r.deny.fwd, r.deny.status, raw)
			}
			for i, resp := range resps {
				if resp.Status < 400 && !(i == 0 && len(resps) > 1) {
					t.Logf("note: the deny gateway answered %d (Nova logged %d request(s)): %.200s", resp.Status, r.deny.fwd, resp.Body)
				}
			}

			// (c) through the shipped-policy gateway as alice.
			if c.kind == kindLock || c.kind == kindUnlock {
				r.shipped, raw, _ = runLeg(t, c, gwShipped, true)
				canonicalAllowed := c.kind == kindLock // alice: member, no ecs_unlocker
				if r.shipped.changed && !canonicalAllowed {
					r.verdict = "BYPASS"
					t.Errorf("BYPASS through the shipped policy: alice's %s took effect (%s) though the canonical request is denied\nraw bytes (Go %%q):\n%q",
						c.kind, r.shipped.after, raw)
				}
			}

			// Sanity of the harness: the canonical request changes the state
			// at Nova, and the shipped policy decides it as documented.
			if c.class == "control" {
				if !r.nova.changed {
					t.Errorf("the canonical %s did not change Nova's state: the oracle is blind", c.kind)
				}
				if c.kind == kindLock && (!r.shipped.changed || r.shipped.status != "202") {
					t.Errorf("canonical lock by alice through the shipped policy: %s", r.shipped)
				}
				if c.kind == kindUnlock && r.shipped.status != "403" {
					t.Errorf("canonical unlock by alice through the shipped policy: %s", r.shipped)
				}
			}
			if r.verdict == "" {
				switch {
				case r.nova.changed && !r.deny.changed:
					r.verdict = "blocked"
				case !r.nova.changed:
					r.verdict = "nova-noop"
				}
			}
		})
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n%-4s %-6s %-18s %-52s | %-32s | %-26s | %-38s | %s\n", "#", "kind", "class", "case", "(a) nova direct", "(b) deny-all gateway", "(c) shipped gw (alice)", "verdict")
	b.WriteString(strings.Repeat("-", 210) + "\n")
	bypasses, executed := 0, 0
	for i, r := range rows {
		if r.verdict == "BYPASS" {
			bypasses++
		}
		if r.nova.changed {
			executed++
		}
		fmt.Fprintf(&b, "%-4d %-6s %-18s %-52s | %-32s | %-26s | %-38s | %s\n", i, r.c.kind, r.c.class, trunc(r.c.name, 52),
			r.nova, r.deny, r.shipped, r.verdict)
	}
	fmt.Fprintf(&b, "%d cases in %.1fs; Nova executed %d; bypasses: %d\n", len(rows), time.Since(start).Seconds(), executed, bypasses)
	t.Log(b.String())
	if path := os.Getenv("E2E_TABLE"); path != "" {
		_ = os.WriteFile(path, []byte(b.String()), 0o644)
	}
}

func trunc(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
