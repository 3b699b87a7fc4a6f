package policy_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ecsgate/ecsgate/internal/bundletest"
	"github.com/ecsgate/ecsgate/policy"
)

const allowAll = `package t
decision := {"allow": true, "reasons": []}`

const denyAll = `package t
decision := {"allow": false, "reasons": ["frozen"]}`

// errs collects OnError reports.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(err error) { e.mu.Lock(); e.list = append(e.list, err); e.mu.Unlock() }
func (e *errs) last() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.list) == 0 {
		return nil
	}
	return e.list[len(e.list)-1]
}

func allowed(t *testing.T, e *policy.Engine) bool {
	t.Helper()
	d, err := e.Decide(t.Context(), unlockInput("member"))
	require.NoError(t, err)
	return d.Allow
}

func TestWatchedPolicyChangesWithoutReload(t *testing.T) {
	dir := writePolicy(t, allowAll)
	file := filepath.Join(dir, "p.rego")
	var reported errs
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e, err := policy.New(ctx, policy.Options{Policies: []string{dir}, Decision: "data.t.decision", OnError: reported.add})
	require.NoError(t, err)
	require.NoError(t, e.Start(ctx, 20*time.Millisecond))
	first := e.Revision()
	require.True(t, allowed(t, e))

	require.NoError(t, os.WriteFile(file, []byte(denyAll), 0o600))
	require.Eventually(t, func() bool { return !allowed(t, e) }, 5*time.Second, 10*time.Millisecond, "a saved change is live")
	second := e.Revision()
	assert.NotEqual(t, first, second)

	// A broken edit: the last good revision keeps serving; the error names
	// the file and line.
	require.NoError(t, os.WriteFile(file, []byte("package t\n\ndecision := {\n"), 0o600))
	require.Eventually(t, func() bool { return reported.last() != nil }, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, reported.last().Error(), file+":")
	assert.Equal(t, second, e.Revision())
	assert.False(t, allowed(t, e))

	// Fixed again: live again.
	require.NoError(t, os.WriteFile(file, []byte(allowAll), 0o600))
	require.Eventually(t, func() bool { return allowed(t, e) }, 5*time.Second, 10*time.Millisecond)
}

func TestBundleLifecycle(t *testing.T) {
	srv := bundletest.New(t)
	key := bundletest.NewKey(t, "ecsgate")
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	require.NoError(t, os.WriteFile(keyFile, []byte(key.PublicPEM), 0o600))
	var reported errs
	var activated []string
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e, err := policy.New(ctx, policy.Options{
		Decision: "data.t.decision",
		Bundle:   &policy.BundleOptions{URL: srv.BundleURL(), MinDelay: time.Second, MaxDelay: time.Second, PublicKey: keyFile},
		OnError:  reported.add,
		OnActivate: func(rev string) {
			mu.Lock()
			activated = append(activated, rev)
			mu.Unlock()
		},
	})
	require.NoError(t, err)

	// Before the first bundle: no decision, never an allow.
	d, err := e.Decide(t.Context(), unlockInput("member"))
	require.ErrorIs(t, err, policy.ErrNotReady)
	assert.False(t, d.Allow)

	srv.Set(t, "rev-1", map[string]string{"t/p.rego": allowAll}, nil, key)
	require.NoError(t, e.Start(ctx, 0))
	require.Eventually(t, e.Ready, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "rev-1", e.Revision())
	assert.True(t, allowed(t, e))

	// An update activates.
	srv.Set(t, "rev-2", map[string]string{"t/p.rego": denyAll}, nil, key)
	require.Eventually(t, func() bool { return e.Revision() == "rev-2" }, 10*time.Second, 20*time.Millisecond)
	assert.False(t, allowed(t, e))

	// Signed with another key: refused, rev-2 keeps serving.
	srv.Set(t, "rev-3", map[string]string{"t/p.rego": allowAll}, nil, bundletest.NewKey(t, "ecsgate"))
	require.Eventually(t, func() bool { return reported.last() != nil }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "rev-2", e.Revision())
	assert.False(t, allowed(t, e))

	// Unsigned: refused too.
	before := len(reported.list)
	srv.Set(t, "rev-4", map[string]string{"t/p.rego": allowAll}, nil, nil)
	require.Eventually(t, func() bool { reported.mu.Lock(); defer reported.mu.Unlock(); return len(reported.list) > before }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "rev-2", e.Revision())

	// The server fails: rev-2 keeps serving.
	before = len(reported.list)
	srv.Fail(http.StatusInternalServerError)
	require.Eventually(t, func() bool { reported.mu.Lock(); defer reported.mu.Unlock(); return len(reported.list) > before }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "rev-2", e.Revision())
	assert.False(t, allowed(t, e))

	// A good bundle again: it activates.
	srv.Fail(0)
	srv.Set(t, "rev-5", map[string]string{"t/p.rego": allowAll}, nil, key)
	require.Eventually(t, func() bool { return e.Revision() == "rev-5" }, 10*time.Second, 20*time.Millisecond)
	assert.True(t, allowed(t, e))
	mu.Lock()
	assert.Equal(t, []string{"rev-1", "rev-2", "rev-5"}, activated)
	mu.Unlock()
}

func TestBundleThatDoesNotCompileKeepsTheLastGood(t *testing.T) {
	srv := bundletest.New(t)
	var reported errs
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e, err := policy.New(ctx, policy.Options{Decision: "data.t.decision", OnError: reported.add,
		Bundle: &policy.BundleOptions{URL: srv.BundleURL(), MinDelay: time.Second, MaxDelay: time.Second}})
	require.NoError(t, err)
	srv.Set(t, "good", map[string]string{"t/p.rego": denyAll}, nil, nil)
	require.NoError(t, e.Start(ctx, 0))
	require.Eventually(t, e.Ready, 10*time.Second, 20*time.Millisecond)

	srv.Set(t, "no-decision", map[string]string{"t/p.rego": "package t\nother := 1"}, nil, nil)
	require.Eventually(t, func() bool { return reported.last() != nil }, 10*time.Second, 20*time.Millisecond)
	assert.Contains(t, reported.last().Error(), "no loaded policy defines it")
	assert.Equal(t, "good", e.Revision())

	srv.SetRaw([]byte("not a tarball"))
	n := len(reported.list)
	require.Eventually(t, func() bool { reported.mu.Lock(); defer reported.mu.Unlock(); return len(reported.list) > n }, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "good", e.Revision())
}

func TestServerBuiltin(t *testing.T) {
	dir := writePolicy(t, `package t
default decision := {"allow": false, "reasons": ["protected or unknown"]}
decision := {"allow": true, "reasons": []} if {
	input.operation != "server.action"
}
decision := {"allow": true, "reasons": []} if {
	input.operation == "server.action"
	s := ecs.server(input.server_ids[0])
	s.metadata.protected != "true"
	ecs.server(input.server_ids[0]).status == "ACTIVE"
}`)
	var calls int
	var mu sync.Mutex
	servers := map[string]map[string]any{
		serverID: {"status": "ACTIVE", "metadata": map[string]any{"protected": "false"}},
	}
	lookup := func(_ context.Context, id string) (map[string]any, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if s, ok := servers[id]; ok {
			return s, nil
		}
		return nil, errors.New("not found")
	}
	e, err := policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.t.decision", ServerLookup: lookup})
	require.NoError(t, err)

	assert.True(t, allowed(t, e))
	assert.Equal(t, 1, calls, "memoised within an evaluation")

	read := unlockInput("member")
	read.Operation, read.Action = "server.read", nil
	d, err := e.Decide(t.Context(), read)
	require.NoError(t, err)
	assert.True(t, d.Allow)
	assert.Equal(t, 1, calls, "a decision that does not need it makes no lookup")

	servers[serverID]["metadata"] = map[string]any{"protected": "true"}
	assert.False(t, allowed(t, e), "live state, never cached across evaluations")
	assert.Equal(t, 2, calls)

	delete(servers, serverID)
	assert.False(t, allowed(t, e), "a lookup error makes the rule fail")

	// Without a lookup the built-in still compiles, and is undefined.
	e, err = policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.t.decision"})
	require.NoError(t, err)
	assert.False(t, allowed(t, e))
}

func TestServerLookupTimeDoesNotCountAgainstTheTimeout(t *testing.T) {
	dir := writePolicy(t, `package t
decision if ecs.server(input.server_ids[0]).status == "ACTIVE"`)
	lookup := func(ctx context.Context, _ string) (map[string]any, error) {
		time.Sleep(60 * time.Millisecond)
		return map[string]any{"status": "ACTIVE"}, nil
	}
	e, err := policy.New(t.Context(), policy.Options{Policies: []string{dir}, Decision: "data.t.decision",
		ServerLookup: lookup, Timeout: 20 * time.Millisecond})
	require.NoError(t, err)
	d, err := e.Decide(t.Context(), unlockInput())
	require.NoError(t, err)
	assert.True(t, d.Allow)
}
