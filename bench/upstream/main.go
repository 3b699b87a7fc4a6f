// Command upstream is the compute API stand-in of `make bench`: it answers
// every POST with 202 and an empty body (as Nova answers a server action)
// and every other request with 200 and a small JSON body, instantly, so the
// benchmark measures the gateway rather than the upstream. Loopback only.
//
//	go run ./bench/upstream -addr 127.0.0.1:19080
package main

import (
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19080", "listen address (loopback)")
	flag.Parse()
	mustLoopback(*addr)
	body := []byte(`{"server": {"id": "c0ffee00-0000-4000-8000-000000000001", "status": "ACTIVE"}}`)
	srv := &http.Server{
		Addr:              *addr,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			if r.Method == http.MethodPost {
				w.Header().Set("Content-Length", "0")
				w.WriteHeader(http.StatusAccepted)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}),
	}
	log.Printf("upstream on http://%s", *addr)
	log.Fatal(srv.ListenAndServe())
}

func mustLoopback(addr string) {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("-addr %q: must be a loopback IP and port", addr)
	}
}
