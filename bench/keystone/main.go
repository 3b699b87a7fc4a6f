// Command keystone is the identity stand-in of `make bench`: a Keystone v3
// token-validation endpoint that knows the callers of the request mix
// (bench/mix: tokens bench-token-0..49 for users user0..user49 in the
// inventory fixture's ten projects, with member and reader, most with
// ecs_unlocker, some with admin) and one more token, -token (roles member and
// ecs_unlocker in the demo project). GET /v3/auth/tokens with a known token
// in both X-Auth-Token and X-Subject-Token answers 200 with a token body
// expiring in an hour; anything else answers 404, as Keystone does for
// unknown tokens. /stats counts validations. Loopback only.
//
//	go run ./bench/keystone -addr 127.0.0.1:19081 -token bench-token
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ecsgate/ecsgate/bench/mix"
)

// DemoProject is the simulator's demo project (internal/ecssim).
const DemoProject = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

// caller is what the stub says about a token.
type caller struct {
	userID, userName, projectID, projectName string
	roles                                    []string
}

func main() {
	addr := flag.String("addr", "127.0.0.1:19081", "listen address (loopback)")
	token := flag.String("token", "bench-token", "a token of the demo project, besides the mix's")
	flag.Parse()
	mustLoopback(*addr)

	callers := map[string]caller{
		*token: {"1d000000000000000000000000000005", "dave", DemoProject, "demo", []string{"member", "ecs_unlocker"}},
	}
	for i := range mix.NumUsers {
		u := mix.UserN(i)
		callers[u.Token] = caller{u.ID, u.Name, u.Project, "project-" + u.Project[len(u.Project)-2:], u.Roles}
	}

	var validations atomic.Int64
	srv := &http.Server{
		Addr:              *addr,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/stats" {
				_ = json.NewEncoder(w).Encode(map[string]int64{"validations": validations.Load()})
				return
			}
			subject := r.Header.Get("X-Subject-Token")
			c, ok := callers[subject]
			if !ok || r.Method != http.MethodGet || r.URL.Path != "/v3/auth/tokens" || r.Header.Get("X-Auth-Token") != subject {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error": {"code": 404, "title": "Not Found", "message": "Could not recognize Fernet token"}}`))
				return
			}
			validations.Add(1)
			now := time.Now().UTC()
			domain := map[string]string{"id": "default", "name": "Default"}
			roles := make([]map[string]string, len(c.roles))
			for i, name := range c.roles {
				roles[i] = map[string]string{"id": "0e" + name, "name": name}
			}
			body, _ := json.Marshal(map[string]any{"token": map[string]any{
				"methods":    []string{"password"},
				"user":       map[string]any{"id": c.userID, "name": c.userName, "domain": domain},
				"project":    map[string]any{"id": c.projectID, "name": c.projectName, "domain": domain},
				"roles":      roles,
				"issued_at":  now.Format("2006-01-02T15:04:05.000000Z"),
				"expires_at": now.Add(time.Hour).Format("2006-01-02T15:04:05.000000Z"),
			}})
			w.Header().Set("X-Subject-Token", subject)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}),
	}
	log.Printf("keystone on http://%s/v3 (%d tokens)", *addr, len(callers))
	log.Fatal(srv.ListenAndServe())
}

func mustLoopback(addr string) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("-addr %q: must be a loopback IP and port", addr)
	}
}
