//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The policy's life around the request: rules that read the server's live
// state at Nova (server_api, ecs.server), shadow decisions (dry_run), policy
// files edited under traffic (watch) and OPA bundles (bundle). Each is shown
// against the real nova-api: what Nova executed, what its database holds
// and what the decision record says.

// lifecycleFiles are what the lifecycle sites load, prepared by TestMain.
type lifecycleFiles struct {
	shippedDir, libDir string // the repository's rego/ecsgate and rego/lib
	protectedData      string // data turning the library's protected rule on
	bundleURL          string
}

// lifecycleSetup writes the lifecycle sites' files into workDir: the data
// for the protected site and the first revision of the watched policy.
func lifecycleSetup() (lifecycleFiles, error) {
	var lc lifecycleFiles
	var err error
	// The library is loaded from the repository as a deployment copies it:
	// the binary embeds rego/ecsgate/authz.rego only.
	if lc.shippedDir, err = filepath.Abs("../../rego/ecsgate"); err != nil {
		return lc, err
	}
	if lc.libDir, err = filepath.Abs("../../rego/lib"); err != nil {
		return lc, err
	}
	for _, dir := range []string{lc.shippedDir, lc.libDir} {
		if _, err := os.Stat(dir); err != nil {
			return lc, fmt.Errorf("the rule library: %w", err)
		}
	}
	lc.protectedData = filepath.Join(workDir, "protected-rules.json")
	if err := os.WriteFile(lc.protectedData, []byte(`{"ecsgate": {"rules": {"protected": {}}}}`), 0o644); err != nil {
		return lc, err
	}
	watchedDir = filepath.Join(workDir, "watched")
	if err := os.MkdirAll(watchedDir, 0o755); err != nil {
		return lc, err
	}
	return lc, saveWatched(watchedPolicy("v1", false))
}

// ---- leaving Nova as the test found it ----------------------------------------

// sameServer compares what a test can change about a server; updated_at
// moves on any write, even one that changes nothing.
func sameServer(a, b dbState) bool {
	a.Row, b.Row = "", ""
	return a == b
}

// keepServers puts every seeded server back, when the test ends, in the
// state it had when the test began: lock, who locked it and why, metadata.
// The other tests reset the servers before they start; these leave them as
// they found them, so that a later test (or a person inspecting the stack)
// does not inherit a protected or unlocked server.
func keepServers(t *testing.T) {
	t.Helper()
	ids := []string{env["SERVER1"], env["SERVER2"], env["SERVER3"]}
	before := map[string]dbState{}
	for _, id := range ids {
		before[id] = novaDBState(t, id)
	}
	t.Cleanup(func() {
		changed := false
		for _, id := range ids {
			if !sameServer(before[id], novaDBState(t, id)) {
				changed = true
			}
		}
		if !changed {
			return
		}
		resetServers(t)
		for _, id := range ids {
			restoreServer(t, id, before[id])
			after := novaDBState(t, id)
			assert.True(t, sameServer(before[id], after), "server %s not restored:\n  was %+v\n  now %+v", id, before[id], after)
		}
	})
}

// restoreServer brings a freshly reset server to state s.
func restoreServer(t *testing.T, id string, s dbState) {
	t.Helper()
	if !s.Exists || s.VMState != "active" || s.TaskState != "" || s.Name != seededName(id) {
		t.Logf("server %s was %s (%s) before the test: only lock and metadata are restored", id, s.short(), s.Row)
	}
	if s.Metadata != "" {
		meta := map[string]string{}
		for _, kv := range strings.Split(s.Metadata, ",") {
			k, v, _ := strings.Cut(kv, "=")
			meta[k] = v
		}
		doc, err := json.Marshal(map[string]any{"metadata": meta})
		require.NoError(t, err)
		status, _, body := novaDo(t, "admin", http.MethodPut, "/v2.1/servers/"+id+"/metadata", string(doc))
		require.Equal(t, http.StatusOK, status, "restoring metadata of %s: %s", id, body)
	}
	if !s.Locked {
		return
	}
	// locked_by is "owner" when someone of the server's project locked it,
	// "admin" otherwise; the seeded owners are alice (demo) and eve (other).
	user := "alice"
	if id == env["SERVER3"] {
		user = "eve"
	}
	if s.LockedBy == "admin" {
		user = "admin"
	}
	lock := `{"lock": null}`
	if s.LockedReason != "" {
		doc, err := json.Marshal(map[string]any{"lock": map[string]string{"locked_reason": s.LockedReason}})
		require.NoError(t, err)
		lock = string(doc)
	}
	status, _, body := novaDo(t, user, http.MethodPost, "/v2.1/servers/"+id+"/action", lock, "OpenStack-API-Version: compute 2.73")
	require.Equal(t, http.StatusAccepted, status, "relocking %s as %s: %s", id, user, body)
}

// ---- 1. a rule on live server metadata ------------------------------------------

// setProtected sets or removes metadata protected=true on id straight at
// Nova, as user.
func setProtected(t *testing.T, user, id string, on bool) {
	t.Helper()
	path := "/v2.1/servers/" + id + "/metadata/protected"
	if on {
		status, _, body := novaDo(t, user, http.MethodPut, path, `{"meta": {"protected": "true"}}`)
		require.Equal(t, http.StatusOK, status, "setting protected=true as %s: %s", user, body)
		return
	}
	status, _, body := novaDo(t, user, http.MethodDelete, path, "")
	require.Equal(t, http.StatusNoContent, status, "removing protected as %s: %s", user, body)
}

// TestProtectedServerLiveMetadata: the library's protected rule, decided on
// the metadata Nova holds at the moment of the request, looked up with the
// caller's own token. Nothing but Nova's metadata changes between a denied
// and an allowed unlock.
func TestProtectedServerLiveMetadata(t *testing.T) {
	keepServers(t)
	s1 := env["SERVER1"]
	action := "/v2.1/servers/" + s1 + "/action"
	lookup := "GET /v2.1/" + env["DEMO_PROJECT_ID"] + "/servers/" + s1 + " => 200"
	resetServers(t)
	setProtected(t, "alice", s1, true)
	lockAs(t, "alice", s1)

	t.Run("dave's unlock of the protected server is denied", func(t *testing.T) {
		mark := nlog.mark(t)
		status, hdr, body := httpDo(t, gwProtected, "dave", http.MethodPost, action, `{"unlock": null}`)
		reached := nlog.since(t, mark)
		require.Equal(t, http.StatusForbidden, status, "%s", body)
		msg := novaFault(t, status, hdr, body, "forbidden")
		assert.Contains(t, msg, "server "+s1+" is protected (metadata protected=true): server.action unlock needs one of the roles admin")
		assert.Equal(t, []string{lookup}, reached, "one lookup with dave's token and project, no unlock")
		assert.Equal(t, "locked(owner)", novaDBState(t, s1).short())
		rec := decisionFor(t, gwProtected, hdr)
		assert.Equal(t, "dave/"+env["DEMO_PROJECT_ID"], rec.who())
		if assert.NotNil(t, rec.Result) {
			assert.False(t, rec.Result.Allow)
		}
	})

	t.Run("a read asks Nova nothing more", func(t *testing.T) {
		mark := nlog.mark(t)
		status, _, body := httpDo(t, gwProtected, "dave", http.MethodGet, "/v2.1/servers/"+s1, "")
		require.Equal(t, http.StatusOK, status, "%s", body)
		assert.Equal(t, []string{"GET /v2.1/servers/" + s1 + " => 200"}, nlog.since(t, mark),
			"the protected rule guards changes only: no lookup for a read")
	})

	t.Run("without the metadata the same unlock goes through", func(t *testing.T) {
		// A locked server takes no metadata change from its own project
		// (Nova answers 409); an admin's is allowed.
		setProtected(t, "admin", s1, false)
		mark := nlog.mark(t)
		status, hdr, body := httpDo(t, gwProtected, "dave", http.MethodPost, action, `{"unlock": null}`)
		reached := nlog.since(t, mark)
		require.Equal(t, http.StatusAccepted, status, "%s", body)
		assert.Equal(t, []string{lookup, "POST " + action + " => 202"}, reached)
		assert.Equal(t, "unlocked", novaDBState(t, s1).short())
		assert.Equal(t, "dave/"+env["DEMO_PROJECT_ID"], decisionFor(t, gwProtected, hdr).who())
	})

	t.Run("admin may unlock a protected server", func(t *testing.T) {
		setProtected(t, "alice", s1, true)
		lockAs(t, "alice", s1)
		mark := nlog.mark(t)
		status, hdr, body := httpDo(t, gwProtected, "admin", http.MethodPost, action, `{"unlock": null}`)
		reached := nlog.since(t, mark)
		require.Equal(t, http.StatusAccepted, status, "%s", body)
		assert.Equal(t, []string{"POST " + action + " => 202"}, reached, "an admin is not guarded: no lookup")
		after := novaDBState(t, s1)
		assert.Equal(t, "unlocked", after.short())
		assert.Equal(t, "protected=true", after.Metadata)
		assert.Equal(t, "admin/"+env["ADMIN_PROJECT_ID"], decisionFor(t, gwProtected, hdr).who())
	})
}

// ---- 2. dry run --------------------------------------------------------------------

// TestDryRunForwardsAndRecords: with `dry_run unlock`, an unlock the policy
// denies still reaches Nova, and the record keeps the denial it would have
// been; everything else is enforced as usual.
func TestDryRunForwardsAndRecords(t *testing.T) {
	keepServers(t)
	s1 := env["SERVER1"]
	action := "/v2.1/servers/" + s1 + "/action"
	resetServers(t)
	lockAs(t, "alice", s1)

	t.Run("alice's unlock is forwarded, the denial recorded", func(t *testing.T) {
		mark := nlog.mark(t)
		status, hdr, body := httpDo(t, gwDryRun, "alice", http.MethodPost, action, `{"unlock": null}`)
		reached := nlog.since(t, mark)
		require.Equal(t, http.StatusAccepted, status, "Nova's answer: %s", body)
		assert.Equal(t, []string{"POST " + action + " => 202"}, reached)
		assert.Equal(t, "unlocked", novaDBState(t, s1).short())
		rec := decisionFor(t, gwDryRun, hdr)
		assert.True(t, rec.DryRun, "the record says dry_run")
		assert.Equal(t, "alice/"+env["DEMO_PROJECT_ID"], rec.who())
		if assert.NotNil(t, rec.Result) {
			assert.False(t, rec.Result.Allow, "the would-be result is kept")
			assert.Contains(t, strings.Join(rec.Result.Reasons, "\n"), "requires role ecs_unlocker or admin")
		}
	})

	t.Run("carol's lock is still denied", func(t *testing.T) {
		before := novaDBState(t, s1)
		mark := nlog.mark(t)
		status, hdr, body := httpDo(t, gwDryRun, "carol", http.MethodPost, action, `{"lock": null}`)
		reached := nlog.since(t, mark)
		require.Equal(t, http.StatusForbidden, status, "%s", body)
		assert.Contains(t, novaFault(t, status, hdr, body, "forbidden"), "requires role member or admin")
		assert.Empty(t, reached, "nothing may reach nova-api")
		assert.Equal(t, before, novaDBState(t, s1))
		rec := decisionFor(t, gwDryRun, hdr)
		assert.False(t, rec.DryRun, "lock is not in dry_run")
		if assert.NotNil(t, rec.Result) {
			assert.False(t, rec.Result.Allow)
		}
	})
}

// ---- 3. a watched policy edited under traffic ----------------------------------

const (
	// watchedDecision is the watched policy's decision path.
	watchedDecision = "data.e2e.watched.decision"
	// watchInterval is the watched site's `watch`.
	watchInterval = 50 * time.Millisecond
)

// watchedPolicy lets every authenticated request through but unlock, which
// it denies or allows; the reason names the version.
func watchedPolicy(version string, allowUnlock bool) string {
	verb := "denied"
	if allowUnlock {
		verb = "allowed"
	}
	return fmt.Sprintf(`package e2e.watched

default decision := {"allow": false, "reasons": ["e2e watched: authentication required"]}

decision := {"allow": %t, "reasons": ["e2e watched %s: unlock %s"]} if {
	input.identity != null
	input.action.name == "unlock"
} else := {"allow": true, "reasons": []} if {
	input.identity != null
}
`, allowUnlock, version, verb)
}

// brokenWatched does not parse.
const brokenWatched = "package e2e.watched\n\ndecision := {\"allow\": true,\n"

// saveWatched saves the watched policy as editors do, by a rename over the
// file: the watcher never sees half a file, so what it activates or refuses
// is exactly the version written.
func saveWatched(src string) error {
	tmp := filepath.Join(workDir, "watched.rego.tmp")
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(watchedDir, "policy.rego"))
}

// shot is one request of the traffic against the watched site.
type shot struct {
	start, end time.Time
	unlock     bool
	outcome    string // "v1", "v4" (denied by that version), "allowed", "read", or what went wrong
	decisionID string
}

// TestWatchedPolicyUnderLoad: while requests flow, the watched policy file
// goes deny unlock (v1) -> allow unlock (v2) -> a broken edit -> deny
// unlock (v4). No request fails; each change takes effect within a few
// watch intervals and never goes back; the broken edit changes nothing.
func TestWatchedPolicyUnderLoad(t *testing.T) {
	keepServers(t)
	s1 := env["SERVER1"]
	alice := token(t, "alice")
	client := &http.Client{Timeout: 10 * time.Second}
	send := func(unlock bool) shot {
		method, path, body := http.MethodGet, "/v2.1/servers/"+s1, ""
		if unlock {
			method, path, body = http.MethodPost, "/v2.1/servers/"+s1+"/action", `{"unlock": null}`
		}
		s := shot{start: time.Now(), unlock: unlock}
		req, _ := http.NewRequest(method, "http://"+gwWatched+path, strings.NewReader(body))
		req.Header.Set("X-Auth-Token", alice)
		req.Header.Set("Accept", "application/json")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			s.end, s.outcome = time.Now(), "error: "+err.Error()
			return s
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		s.end, s.decisionID = time.Now(), resp.Header.Get("X-Ecsgate-Decision-Id")
		switch {
		case err != nil:
			s.outcome = "error reading the body: " + err.Error()
		case !unlock && resp.StatusCode == http.StatusOK:
			s.outcome = "read"
		case unlock && resp.StatusCode == http.StatusAccepted:
			s.outcome = "allowed"
		case unlock && resp.StatusCode == http.StatusForbidden && strings.Contains(string(data), "e2e watched v1: unlock denied"):
			s.outcome = "v1"
		case unlock && resp.StatusCode == http.StatusForbidden && strings.Contains(string(data), "e2e watched v4: unlock denied"):
			s.outcome = "v4"
		default:
			s.outcome = fmt.Sprintf("%d %.200s", resp.StatusCode, data)
		}
		return s
	}

	var (
		mu    sync.Mutex
		shots []shot
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	// Two callers unlock, one reads, back to back.
	for _, unlock := range []bool{true, true, false} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := send(unlock)
				mu.Lock()
				shots = append(shots, s)
				mu.Unlock()
			}
		}()
	}
	stopped := false
	halt := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer halt()

	// await returns the first unlock that matches. Its bound is not the
	// watch interval but what a forwarded unlock may take: nova-api has
	// one worker.
	await := func(what string, match func(shot) bool) shot {
		t.Helper()
		deadline := time.Now().Add(6 * time.Second)
		for {
			mu.Lock()
			for _, s := range shots {
				if s.unlock && match(s) {
					mu.Unlock()
					return s
				}
			}
			mu.Unlock()
			if time.Now().After(deadline) {
				halt()
				require.Failf(t, "no such unlock within 6 s", "%s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	first := func(outcome string, since time.Time) shot {
		t.Helper()
		return await("an unlock "+outcome+" after the save", func(s shot) bool { return s.outcome == outcome && s.end.After(since) })
	}

	tV1 := time.Now()
	require.NoError(t, saveWatched(watchedPolicy("v1", false)))
	firstV1 := first("v1", tV1)
	time.Sleep(300 * time.Millisecond)

	tV2 := time.Now()
	require.NoError(t, saveWatched(watchedPolicy("v2", true)))
	firstAllowed := first("allowed", tV2)
	t.Logf("first allowed unlock answered (by Nova) %s after the save", firstAllowed.end.Sub(tV2).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)

	tBroken := time.Now()
	require.NoError(t, saveWatched(brokenWatched))
	time.Sleep(15 * watchInterval)
	// At least one unlock decided with the broken edit long on disk.
	late := time.Now()
	await("an unlock sent after the broken edit", func(s shot) bool { return s.start.After(late) })

	tV4 := time.Now()
	require.NoError(t, saveWatched(watchedPolicy("v4", false)))
	firstV4 := first("v4", tV4)
	t.Logf("first v4 denial %s after the save", firstV4.end.Sub(tV4).Round(time.Millisecond))
	time.Sleep(200 * time.Millisecond)
	halt()

	counts := map[string]int{}
	var brokenPhase []shot
	var wrong []string // the first few only: one bug would repeat thousands of times
	report := func(format string, args ...any) {
		if len(wrong) < 5 {
			wrong = append(wrong, fmt.Sprintf(format, args...))
		}
		counts["(wrong)"]++
	}
	for _, s := range shots {
		counts[s.outcome]++
		at := s.start.Sub(tV1).Round(time.Millisecond)
		switch s.outcome {
		case "read", "allowed", "v1", "v4":
		default:
			report("a request sent at +%s failed: %s", at, s.outcome)
			continue
		}
		if !s.unlock {
			continue
		}
		// A request sent after a version answered is decided by it or a
		// later one: an activation never goes back.
		want := ""
		switch {
		case s.start.After(firstV1.end) && s.end.Before(tV2):
			want = "v1"
		case s.start.After(firstAllowed.end) && s.end.Before(tV4):
			want = "allowed"
			if s.start.After(tBroken) {
				brokenPhase = append(brokenPhase, s)
			}
		case s.start.After(firstV4.end):
			want = "v4"
		}
		if want != "" && s.outcome != want {
			report("an unlock sent at +%s: %s, want %s", at, s.outcome, want)
		}
	}
	t.Logf("%d requests in %s: %v", len(shots), time.Since(tV1).Round(time.Millisecond), counts)
	assert.Empty(t, wrong, "v2 saved at +%s, broken at +%s, v4 at +%s", tV2.Sub(tV1).Round(time.Millisecond),
		tBroken.Sub(tV1).Round(time.Millisecond), tV4.Sub(tV1).Round(time.Millisecond))
	require.NotEmpty(t, brokenPhase, "unlocks decided while the broken edit was on disk")

	// The records name the revision that decided: three of them, the
	// broken edit none.
	revision := func(s shot) string {
		t.Helper()
		rec := decisionFor(t, gwWatched, http.Header{"X-Ecsgate-Decision-Id": {s.decisionID}})
		require.NotEmpty(t, rec.revision(), "decision %s names its revision", s.decisionID)
		return rec.revision()
	}
	r1, r2, r4 := revision(firstV1), revision(firstAllowed), revision(firstV4)
	assert.NotEqual(t, r1, r2)
	assert.NotEqual(t, r2, r4)
	assert.Equal(t, r2, revision(brokenPhase[len(brokenPhase)-1]), "the broken edit kept v2 serving")
	assert.Contains(t, gatewayLogLines("policy revision not activated"), filepath.Join(watchedDir, "policy.rego"),
		"the broken edit is logged with its file")
}

// gatewayLogLines returns the gateway log's lines that contain s.
func gatewayLogLines(s string) string {
	data, _ := os.ReadFile(gatewayLg)
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// ---- 4. OPA bundles --------------------------------------------------------------

// bundleDecision is the bundled policy's decision path.
const bundleDecision = "data.e2e.bundle.decision"

// mainTB is the testing.TB TestMain's own fixtures report to, TestMain
// having no *testing.T: cleanups run when TestMain returns. Any other use
// reaches the nil embedded TB and panics rather than passing unnoticed.
type mainTB struct {
	testing.TB
	cleanups []func()
}

func (m *mainTB) Helper()          {}
func (m *mainTB) Cleanup(f func()) { m.cleanups = append(m.cleanups, f) }

func (m *mainTB) cleanup() {
	for i := len(m.cleanups) - 1; i >= 0; i-- {
		m.cleanups[i]()
	}
}

// bundleModule lets every authenticated request through, but unlock while
// the bundle's data freezes unlocks.
const bundleModule = `package e2e.bundle

default decision := {"allow": false, "reasons": ["e2e bundle: authentication required"]}

decision := {"allow": false, "reasons": ["e2e bundle: unlocks are frozen"]} if {
	input.identity != null
	input.action.name == "unlock"
	data.e2e.settings.freeze_unlocks
} else := {"allow": true, "reasons": []} if {
	input.identity != null
}
`

func setBundle(t *testing.T, revision string, freeze bool) {
	t.Helper()
	bundleSrv.Set(t, revision, map[string]string{"e2e/bundle.rego": bundleModule},
		map[string]any{"e2e": map[string]any{"settings": map[string]any{"freeze_unlocks": freeze}}}, nil)
}

// bundleActivated is set once a bundle was served: the gateway keeps the
// last good revision for good, so the 503 before the first can only be
// seen once per run.
var bundleActivated bool

// TestBundle: a site whose policy comes from an OPA bundle answers 503
// until the first bundle activates, then decides by it, and by the next
// revision once that is served.
func TestBundle(t *testing.T) {
	keepServers(t)
	s1 := env["SERVER1"]
	action := "/v2.1/servers/" + s1 + "/action"
	resetServers(t)
	lockAs(t, "alice", s1)

	if bundleActivated {
		t.Log("a bundle is already active in this gateway: skipping the 503 before the first")
	} else {
		t.Run("503 before the first bundle", func(t *testing.T) {
			mark := nlog.mark(t)
			status, hdr, body := httpDo(t, gwBundle, "alice", http.MethodGet, "/v2.1/servers/"+s1, "")
			require.Equal(t, http.StatusServiceUnavailable, status, "%s", body)
			novaFault(t, status, hdr, body, "serviceUnavailable")
			status, _, body = httpDo(t, gwBundle, "alice", http.MethodPost, action, `{"unlock": null}`)
			require.Equal(t, http.StatusServiceUnavailable, status, "%s", body)
			assert.Empty(t, nlog.since(t, mark), "nothing may reach nova-api")
			assert.Equal(t, "locked(owner)", novaDBState(t, s1).short())
		})
	}

	// awaitRevision reads until the site decides by revision: a read may
	// be repeated, an unlock is sent once, when the revision is known.
	awaitRevision := func(t *testing.T, revision string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			status, hdr, body := httpDo(t, gwBundle, "alice", http.MethodGet, "/v2.1/servers/"+s1, "")
			if status == http.StatusOK && decisionFor(t, gwBundle, hdr).revision() == revision {
				return
			}
			require.True(t, time.Now().Before(deadline), "revision %s not active after 10 s: %d %.200s", revision, status, body)
			time.Sleep(100 * time.Millisecond)
		}
	}

	t.Run("r1 freezes unlocks", func(t *testing.T) {
		setBundle(t, "e2e-r1", true)
		bundleActivated = true
		awaitRevision(t, "e2e-r1")
		mark := nlog.mark(t)
		status, hdr, body := httpDo(t, gwBundle, "alice", http.MethodPost, action, `{"unlock": null}`)
		require.Equal(t, http.StatusForbidden, status, "%s", body)
		assert.Contains(t, novaFault(t, status, hdr, body, "forbidden"), "e2e bundle: unlocks are frozen")
		assert.Empty(t, nlog.since(t, mark), "nothing may reach nova-api")
		assert.Equal(t, "e2e-r1", decisionFor(t, gwBundle, hdr).revision())
		assert.Equal(t, "locked(owner)", novaDBState(t, s1).short())
	})

	t.Run("r2 lifts the freeze", func(t *testing.T) {
		setBundle(t, "e2e-r2", false)
		awaitRevision(t, "e2e-r2")
		status, hdr, body := httpDo(t, gwBundle, "alice", http.MethodPost, action, `{"unlock": null}`)
		require.Equal(t, http.StatusAccepted, status, "%s", body)
		assert.Equal(t, "e2e-r2", decisionFor(t, gwBundle, hdr).revision())
		assert.Equal(t, "unlocked", novaDBState(t, s1).short())
	})
}
