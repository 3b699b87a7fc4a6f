// Command mixgen writes what `make bench` needs for its inventory sites and
// its wrk script: the inventory fixture's policy and data
// (internal/fixtures/inventory) for -servers servers, and one cycle of the
// request mix (bench/mix) as requests.tsv, one request a line:
// method, path, token and body, tab-separated (the body may be empty).
//
//	go run ./bench/mixgen -dir /tmp/mix -servers 1000
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ecsgate/ecsgate/bench/mix"
	"github.com/ecsgate/ecsgate/internal/fixtures/inventory"
)

func main() {
	dir := flag.String("dir", ".", "output directory")
	servers := flag.Int("servers", 1000, "servers in the inventory")
	seed := flag.Uint64("seed", 1, "seed of the inventory data and of the mix")
	window := flag.String("window", "open", "maintenance window: open (00:00-24:00 UTC) or fixture (the fixture's 06:00-22:00 UTC)")
	flag.Parse()
	if *servers < mix.NumUsers {
		log.Fatalf("-servers %d: need at least %d", *servers, mix.NumUsers)
	}
	if err := write(*dir, *servers, *seed, *window); err != nil {
		log.Fatal(err)
	}
}

func write(dir string, servers int, seed uint64, window string) error {
	_, dataFile, err := inventory.WriteFiles(dir, servers, seed)
	if err != nil {
		return err
	}
	switch window {
	case "fixture":
	case "open":
		// The policy still reads the clock on every server action; only
		// the outcome stops depending on when the benchmark runs, so that
		// runs at different hours compare.
		data := inventory.Data(servers, seed)
		data["inventory"].(map[string]any)["window"] = map[string]any{
			"zone": "UTC", "from_hour": 0, "to_hour": 24, "text": "00:00-24:00 UTC",
		}
		b, err := json.Marshal(data)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dataFile, b, 0o644); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-window %q: open or fixture", window)
	}

	f, err := os.Create(filepath.Join(dir, "requests.tsv"))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, r := range mix.Requests(servers, seed) {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", r.Method(), r.Path(), mix.UserN(r.User).Token, r.Body())
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
