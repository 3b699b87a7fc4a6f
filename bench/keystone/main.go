// Command keystone is the identity stand-in of `make bench`: a Keystone v3
// token-validation endpoint that knows one token. GET /v3/auth/tokens with
// that token in X-Auth-Token and X-Subject-Token answers 200 with a token
// body (roles member and ecs_unlocker in the demo project, expiring in an
// hour); anything else answers 404, as Keystone does for unknown tokens.
// Loopback only.
//
//	go run ./bench/keystone -addr 127.0.0.1:18781 -token bench-token
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// DemoProject is the simulator's demo project (internal/ecssim).
const DemoProject = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

func main() {
	addr := flag.String("addr", "127.0.0.1:18781", "listen address (loopback)")
	token := flag.String("token", "bench-token", "the one valid token")
	flag.Parse()
	mustLoopback(*addr)
	var validations atomic.Int64
	srv := &http.Server{
		Addr:              *addr,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/stats" {
				_ = json.NewEncoder(w).Encode(map[string]int64{"validations": validations.Load()})
				return
			}
			if r.Method != http.MethodGet || r.URL.Path != "/v3/auth/tokens" ||
				r.Header.Get("X-Subject-Token") != *token || r.Header.Get("X-Auth-Token") != *token {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error": {"code": 404, "title": "Not Found", "message": "Could not recognize Fernet token"}}`))
				return
			}
			validations.Add(1)
			now := time.Now().UTC()
			domain := map[string]string{"id": "default", "name": "Default"}
			body, _ := json.Marshal(map[string]any{"token": map[string]any{
				"methods":    []string{"password"},
				"user":       map[string]any{"id": "1d000000000000000000000000000005", "name": "dave", "domain": domain},
				"project":    map[string]any{"id": DemoProject, "name": "demo", "domain": domain},
				"roles":      []map[string]string{{"id": "0e000000000000000000000000000002", "name": "member"}, {"id": "0e000000000000000000000000000004", "name": "ecs_unlocker"}},
				"issued_at":  now.Format("2006-01-02T15:04:05.000000Z"),
				"expires_at": now.Add(time.Hour).Format("2006-01-02T15:04:05.000000Z"),
			}})
			w.Header().Set("X-Subject-Token", *token)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}),
	}
	log.Printf("keystone on http://%s/v3", *addr)
	log.Fatal(srv.ListenAndServe())
}

func mustLoopback(addr string) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("-addr %q: must be a loopback IP and port", addr)
	}
}
