package ecssim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// now is the simulator's clock; tests replace it.
var now = time.Now

// Fixed identifiers of the seeded world (see doc.go).
const (
	domainID   = "default"
	domainName = "Default"
	regionName = "RegionOne"

	projectDemoID  = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	projectOtherID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
	projectAdminID = "ad000000000000000000000000000001"

	roleAdminID    = "0e000000000000000000000000000001"
	roleMemberID   = "0e000000000000000000000000000002"
	roleReaderID   = "0e000000000000000000000000000003"
	roleUnlockerID = "0e000000000000000000000000000004"

	serverWeb1ID = "c0ffee00-0000-4000-8000-000000000001"
	serverDB1ID  = "c0ffee00-0000-4000-8000-000000000002"
	serverEve1ID = "c0ffee00-0000-4000-8000-000000000003"

	imageID   = "beefcafe-0000-4000-8000-000000000001"
	imageName = "cirros-0.6.2-x86_64-disk"

	computeHost = "ecssim-compute-1"

	// demoTokenPrefix starts the fixed, never-expiring demo tokens.
	demoTokenPrefix = "demo-"
)

// seedTime is when the seeded resources were created.
var seedTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type project struct {
	ID, Name string
}

type role struct {
	ID, Name string
}

type user struct {
	ID, Name, Password string
	// HomeProject is where the user's roles are and what a demo token is
	// scoped to.
	HomeProject string
	// Roles are the assigned role names in HomeProject (implied roles are
	// added when a token is built).
	Roles []string
}

var (
	seedProjects = []project{
		{projectDemoID, "demo"},
		{projectOtherID, "other"},
		{projectAdminID, "admin"},
	}
	seedRoles = []role{
		{roleAdminID, "admin"},
		{roleMemberID, "member"},
		{roleReaderID, "reader"},
		{roleUnlockerID, "ecs_unlocker"},
	}
	// impliedRoles is Keystone's default implication chain.
	impliedRoles = map[string][]string{
		"admin":  {"member"},
		"member": {"reader"},
	}
	seedUsers = []user{
		{"1d000000000000000000000000000001", "admin", "admin-secret", projectAdminID, []string{"admin"}},
		{"1d000000000000000000000000000002", "alice", "alice-secret", projectDemoID, []string{"member"}},
		{"1d000000000000000000000000000003", "bob", "bob-secret", projectDemoID, []string{"member"}},
		{"1d000000000000000000000000000004", "carol", "carol-secret", projectDemoID, []string{"reader"}},
		{"1d000000000000000000000000000005", "dave", "dave-secret", projectDemoID, []string{"member", "ecs_unlocker"}},
		{"1d000000000000000000000000000006", "eve", "eve-secret", projectOtherID, []string{"member"}},
	}
)

// flavor is a Nova flavor.
type flavor struct {
	ID, Name         string
	RAM, Disk, VCPUs int
}

var seedFlavors = []flavor{
	{ID: "1", Name: "m1.tiny", RAM: 512, Disk: 1, VCPUs: 1},
	{ID: "2", Name: "m1.small", RAM: 2048, Disk: 20, VCPUs: 1},
}

func findFlavor(id string) *flavor {
	for i := range seedFlavors {
		if seedFlavors[i].ID == id {
			return &seedFlavors[i]
		}
	}
	return nil
}

// Nova vm_states used here and their API statuses and power states.
const (
	vmActive    = "active"
	vmStopped   = "stopped"
	vmPaused    = "paused"
	vmSuspended = "suspended"
	vmError     = "error"
)

var vmStatus = map[string]string{
	vmActive: "ACTIVE", vmStopped: "SHUTOFF", vmPaused: "PAUSED", vmSuspended: "SUSPENDED", vmError: "ERROR",
}

var vmPower = map[string]int{
	vmActive: 1, vmStopped: 4, vmPaused: 3, vmSuspended: 7, vmError: 0,
}

// server is one instance record.
type server struct {
	ID, Name, Description string
	ProjectID, UserID     string
	FlavorID              string
	VMState               string
	Locked                bool
	LockedBy              string // "", "owner" or "admin"
	LockedReason          string // system metadata locked_reason ("" = absent)
	Metadata              map[string]string
	Created, Updated      time.Time
	Launched              time.Time
	Seq                   int // creation order, for sorting
}

func (s *server) clone() *server {
	c := *s
	c.Metadata = make(map[string]string, len(s.Metadata))
	for k, v := range s.Metadata {
		c.Metadata[k] = v
	}
	return &c
}

func seedServers() map[string]*server {
	mk := func(id, name, proj, userID string, seq int) *server {
		created := seedTime.Add(time.Duration(seq) * time.Second)
		return &server{
			ID: id, Name: name, ProjectID: proj, UserID: userID, FlavorID: "1",
			VMState: vmActive, Metadata: map[string]string{},
			Created: created, Updated: created, Launched: created.Add(5 * time.Second), Seq: seq,
		}
	}
	alice := seedUsers[1].ID
	eve := seedUsers[5].ID
	return map[string]*server{
		serverWeb1ID: mk(serverWeb1ID, "web-1", projectDemoID, alice, 1),
		serverDB1ID:  mk(serverDB1ID, "db-1", projectDemoID, alice, 2),
		serverEve1ID: mk(serverEve1ID, "eve-1", projectOtherID, eve, 3),
	}
}

// token is an issued Keystone token.
type token struct {
	ID        string
	UserID    string
	ProjectID string // "" for unscoped
	Methods   []string
	AuditID   string
	Issued    time.Time
	Expires   time.Time
	Demo      bool // demo-<user>: never expires
}

// job is a Huawei native asynchronous job (always finished at once).
type job struct {
	ID, Type, ProjectID string
	Begin, End          time.Time
	Status              string // SUCCESS or FAIL
	FailReason          string
	Subs                []subJob
}

type subJob struct {
	ID, Type, ServerID, Status, FailReason string
}

// state is the simulator's whole mutable world, guarded by mu.
type state struct {
	mu          sync.Mutex
	servers     map[string]*server
	tokens      map[string]*token
	revokedDemo map[string]bool
	jobs        map[string]*job
	log         []*RequestRecord
	logSeq      int
	serverSeq   int
}

func newState() *state {
	s := &state{tokens: map[string]*token{}}
	s.resetLocked(false)
	return s
}

// resetLocked puts servers, jobs, demo-token revocations and the request
// log back to the seed; issued tokens survive unless dropTokens.
func (s *state) resetLocked(dropTokens bool) {
	s.servers = seedServers()
	s.revokedDemo = map[string]bool{}
	s.jobs = map[string]*job{}
	s.log = nil
	s.logSeq = 0
	s.serverSeq = 0
	if dropTokens {
		s.tokens = map[string]*token{}
	}
}

func userByName(name string) *user {
	for i := range seedUsers {
		if seedUsers[i].Name == name {
			return &seedUsers[i]
		}
	}
	return nil
}

func userByID(id string) *user {
	for i := range seedUsers {
		if seedUsers[i].ID == id {
			return &seedUsers[i]
		}
	}
	return nil
}

func projectByID(id string) *project {
	for i := range seedProjects {
		if seedProjects[i].ID == id {
			return &seedProjects[i]
		}
	}
	return nil
}

func projectByName(name string) *project {
	for i := range seedProjects {
		if seedProjects[i].Name == name {
			return &seedProjects[i]
		}
	}
	return nil
}

func roleByName(name string) role {
	for _, r := range seedRoles {
		if r.Name == name {
			return r
		}
	}
	return role{Name: name}
}

// effectiveRoles returns the user's roles in projectID, implied roles
// included, in Keystone's order (assigned first).
func effectiveRoles(u *user, projectID string) []role {
	if u == nil || projectID == "" || u.HomeProject != projectID {
		return nil
	}
	seen := map[string]bool{}
	var out []role
	var add func(string)
	add = func(n string) {
		if seen[n] {
			return
		}
		seen[n] = true
		out = append(out, roleByName(n))
	}
	for _, n := range u.Roles {
		add(n)
	}
	for i := 0; i < len(out); i++ {
		for _, imp := range impliedRoles[out[i].Name] {
			add(imp)
		}
	}
	return out
}

// identity is what keystonemiddleware tells Nova about a caller.
type identity struct {
	Token     *token
	User      *user
	ProjectID string
	Roles     []string
	IsAdmin   bool
}

func (id *identity) hasRole(name string) bool {
	for _, r := range id.Roles {
		if r == name {
			return true
		}
	}
	return false
}

// projectOrNone renders the context's project like Python's str(None).
func (id *identity) projectOrNone() string {
	if id.ProjectID == "" {
		return "None"
	}
	return id.ProjectID
}

// lookupTokenLocked resolves a token string. It returns the token and why it
// is unusable ("" when valid, else "unknown", "expired" or "revoked").
func (s *state) lookupTokenLocked(id string) (*token, string) {
	if strings.HasPrefix(id, demoTokenPrefix) {
		u := userByName(strings.TrimPrefix(id, demoTokenPrefix))
		if u == nil {
			return nil, "unknown"
		}
		if s.revokedDemo[id] {
			return nil, "revoked"
		}
		t := now().UTC().Truncate(time.Second)
		return &token{
			ID: id, UserID: u.ID, ProjectID: u.HomeProject, Methods: []string{"password"},
			AuditID: auditIDFor(id), Issued: t, Expires: t.Add(24 * time.Hour), Demo: true,
		}, ""
	}
	t, ok := s.tokens[id]
	if !ok {
		return nil, "unknown"
	}
	if t.ID == "" {
		return nil, "revoked"
	}
	if !now().Before(t.Expires) {
		return t, "expired"
	}
	return t, ""
}

func identityFor(t *token) *identity {
	u := userByID(t.UserID)
	id := &identity{Token: t, User: u, ProjectID: t.ProjectID}
	for _, r := range effectiveRoles(u, t.ProjectID) {
		id.Roles = append(id.Roles, r.Name)
	}
	id.IsAdmin = id.hasRole("admin")
	return id
}

// authenticate is keystonemiddleware: a valid, unexpired, unrevoked token
// gives an identity.
func (s *state) authenticate(tok string) *identity {
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, why := s.lookupTokenLocked(tok)
	if why != "" {
		return nil
	}
	return identityFor(t)
}

// issueTokenLocked creates a fresh random token.
func (s *state) issueTokenLocked(u *user, projectID string, methods []string) *token {
	t := now().UTC().Truncate(time.Microsecond)
	tok := &token{
		ID:        "gAAAAA" + randURLSafe(132),
		UserID:    u.ID,
		ProjectID: projectID,
		Methods:   methods,
		AuditID:   randURLSafe(16),
		Issued:    t,
		Expires:   t.Add(24 * time.Hour),
	}
	s.tokens[tok.ID] = tok
	return tok
}

// revokeLocked revokes a token string; it reports false for unknown ones.
func (s *state) revokeLocked(id string) bool {
	if strings.HasPrefix(id, demoTokenPrefix) {
		if userByName(strings.TrimPrefix(id, demoTokenPrefix)) == nil || s.revokedDemo[id] {
			return false
		}
		s.revokedDemo[id] = true
		return true
	}
	t, ok := s.tokens[id]
	if !ok || t.ID == "" {
		return false
	}
	// Keep a tombstone so that validation says "revoked", not "unknown".
	s.tokens[id] = &token{}
	return true
}

// findServerLocked looks a server up by the id as written in the URL. The
// comparison ignores case, like Nova on MySQL's default collation (real
// Nova checks that the id is UUID-like, then queries the raw string).
func (s *state) findServerLocked(id string) *server {
	if srv, ok := s.servers[id]; ok {
		return srv
	}
	for k, srv := range s.servers {
		if strings.EqualFold(k, id) {
			return srv
		}
	}
	return nil
}

// visibleServerLocked is Nova's common.get_instance: other projects' servers
// do not exist for non-admin callers.
func (s *state) visibleServerLocked(id string, who *identity) *server {
	srv := s.findServerLocked(id)
	if srv == nil {
		return nil
	}
	if !who.IsAdmin && srv.ProjectID != who.ProjectID {
		return nil
	}
	return srv
}

// sortedServersLocked returns servers newest first (Nova's default sort,
// created_at desc).
func (s *state) sortedServersLocked() []*server {
	out := make([]*server, 0, len(s.servers))
	for _, srv := range s.servers {
		out = append(out, srv)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID > out[j].ID
	})
	return out
}

func (s *state) newServerIDLocked() string {
	s.serverSeq++
	return fmt.Sprintf("c0ffee00-0000-4000-8000-%012x", 0x1000+s.serverSeq)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}

func randURLSafe(n int) string { return base64.RawURLEncoding.EncodeToString(randBytes(n)) }

func auditIDFor(s string) string {
	b := []byte(s)
	for len(b) < 16 {
		b = append(b, '.')
	}
	return base64.RawURLEncoding.EncodeToString(b[:16])
}

// newUUID returns a random version-4 UUID.
func newUUID() string {
	b := randBytes(16)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func newRequestID() string { return "req-" + newUUID() }
