// Package mix is the request mix of `make bench` and of the inventory policy
// benchmark (policy/bench_test.go): callers, servers and operations drawn
// from the inventory fixture (internal/fixtures/inventory), so that decisions
// vary the way they do in front of a real inventory. One definition serves
// the Keystone stub (who each token is), the wrk script (what is sent) and
// the Go benchmark (the policy inputs), so the three cannot drift apart.
//
// The mix is deterministic: the same servers count and seed give the same
// requests, in the same order.
package mix

import (
	"fmt"
	"math/rand/v2"

	"github.com/ecsgate/ecsgate/internal/fixtures/inventory"
)

// NumUsers is how many callers the mix has: the fixture's owners are
// inventory.User(0..49), so every user owns servers.
const NumUsers = 50

// Length is how many requests one cycle of the mix has: enough that 64
// connections never send the same request together, few enough that the wrk
// script formats them all up front.
const Length = 2000

// Actions are the server actions of the mix, besides reads.
var Actions = []string{"unlock", "lock", "os-start", "reboot"}

// User is a caller as the Keystone stub describes it.
type User struct {
	Token   string
	ID      string
	Name    string
	Project string
	Roles   []string
}

// UserN is the i-th caller: inventory.User(i), in project
// inventory.Project(i%10) as the fixture's servers are, with member and
// reader; two in three also hold ecs_unlocker (the shipped policy needs it to
// unlock) and four in fifty admin (the inventory policy lets admins past
// ownership, protection and the window).
func UserN(i int) User {
	roles := []string{"member", "reader"}
	if i%3 != 2 {
		roles = append(roles, "ecs_unlocker")
	}
	if i%12 == 5 {
		roles = append(roles, "admin")
	}
	return User{
		Token:   fmt.Sprintf("bench-token-%d", i),
		ID:      fmt.Sprintf("1d%030x", i),
		Name:    inventory.User(i),
		Project: inventory.Project(i % 10),
		Roles:   roles,
	}
}

// Request is one request of the mix.
type Request struct {
	User int
	// Server is the target server's id.
	Server string
	// Action is the server action, "" for GET /servers/{id}.
	Action string
	// WithProject puts the caller's project in the path, as
	// /v2.1/{project}/servers/...; without it the path is /v2.1/servers/...
	WithProject bool
}

// Method is the request's HTTP method.
func (r Request) Method() string {
	if r.Action == "" {
		return "GET"
	}
	return "POST"
}

// Path is the request's path.
func (r Request) Path() string {
	prefix := "/v2.1"
	if r.WithProject {
		prefix += "/" + UserN(r.User).Project
	}
	if r.Action == "" {
		return prefix + "/servers/" + r.Server
	}
	return prefix + "/servers/" + r.Server + "/action"
}

// Body is the request's body, "" for a read: the action's key with the
// arguments Nova expects (reboot needs a type, the others take null).
func (r Request) Body() string {
	switch r.Action {
	case "":
		return ""
	case "reboot":
		return `{"reboot": {"type": "SOFT"}}`
	}
	return fmt.Sprintf(`{%q: null}`, r.Action)
}

// Args is the JSON value of the action's key in Body (the policy input's
// action.args).
func (r Request) Args() string {
	if r.Action == "reboot" {
		return `{"type": "SOFT"}`
	}
	return "null"
}

// Requests is one cycle of the mix against an inventory of n servers
// (inventory.Data(n, ...)): 40 % reads and 15 % each of unlock, lock,
// os-start and reboot, by any of the NumUsers callers, half with the project
// in the path; the target is one of the caller's own servers (its project,
// the caller among the owners) 80 % of the time, a server of its project
// owned by others 8 %, a server of another project 6 %, and a server missing
// from the inventory 6 %. The fixture's protected servers (one in ten) and
// the admins add the other outcomes. It needs n >= NumUsers.
func Requests(n int, seed uint64) []Request {
	if n < NumUsers {
		panic(fmt.Sprintf("mix.Requests: %d servers, need at least %d", n, NumUsers))
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x6a09e667f3bcc909))
	// server picks a server i < n with i%50 == want%50 (the fixture gives
	// server i to project i%10 and to owners i%50 and (i+7)%50).
	server := func(want int) string {
		return inventory.ServerID(want%NumUsers + NumUsers*rng.IntN((n-want%NumUsers+NumUsers-1)/NumUsers))
	}
	reqs := make([]Request, Length)
	for k := range reqs {
		u := rng.IntN(NumUsers)
		r := Request{User: u, WithProject: rng.IntN(2) == 0}
		if p := rng.IntN(100); p >= 40 {
			r.Action = Actions[(p-40)/15]
		}
		switch p := rng.IntN(100); {
		case p < 80:
			r.Server = server(u)
		case p < 88:
			// Same project (same residue mod 10), another owner.
			r.Server = server(u + 10*(1+rng.IntN(4)))
		case p < 94:
			// Another project: a residue mod 10 other than u's.
			r.Server = server(u + 1 + rng.IntN(9))
		default:
			r.Server = inventory.ServerID(n + rng.IntN(n))
		}
		reqs[k] = r
	}
	return reqs
}
