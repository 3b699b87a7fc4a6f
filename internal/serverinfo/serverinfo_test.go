package serverinfo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sid = "c0ffee00-0000-4000-8000-000000000001"

func novaStub(t *testing.T, status *atomic.Int32, delay time.Duration) (*httptest.Server, *atomic.Int64, *sync.Map) {
	var calls atomic.Int64
	var seen sync.Map // path -> headers
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		seen.Store(r.URL.Path, r.Header.Clone())
		time.Sleep(delay)
		if s := status.Load(); s != 0 && s != http.StatusOK {
			w.WriteHeader(int(s))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"server": {"id": "` + sid + `", "tenant_id": "p1", "status": "ACTIVE", "locked": true,
			"metadata": {"protected": "true"}, "tags": ["db"], "caller": "` + r.Header.Get("X-Auth-Token") + `"}}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls, &seen
}

func TestLookupAsTheCallerWithTheRightMicroversion(t *testing.T) {
	var status atomic.Int32
	srv, _, seen := novaStub(t, &status, 0)
	c, err := New(Options{BaseURL: srv.URL, Microversion: "2.60"})
	require.NoError(t, err)
	s, err := c.Server(t.Context(), Caller{Token: "tok-a", ProjectID: "p1"}, sid)
	require.NoError(t, err)
	assert.Equal(t, "p1", s["project_id"], "tenant_id is also given as project_id")
	assert.Equal(t, "tok-a", s["caller"])
	h, ok := seen.Load("/v2.1/p1/servers/" + sid)
	require.True(t, ok)
	assert.Equal(t, "compute 2.60", h.(http.Header).Get("OpenStack-API-Version"))

	_, err = c.Server(t.Context(), Caller{Token: "tok-a", ProjectID: "p1", Native: true}, sid)
	require.NoError(t, err)
	_, ok = seen.Load("/v1/p1/cloudservers/" + sid)
	assert.True(t, ok, "native requests ask the native API")

	_, err = c.Server(t.Context(), Caller{}, sid)
	assert.ErrorIs(t, err, ErrNoCredential)
}

func TestCachePerCallerWithTTL(t *testing.T) {
	var status atomic.Int32
	srv, calls, _ := novaStub(t, &status, 0)
	c, err := New(Options{BaseURL: srv.URL, TTL: time.Minute, MaxEntries: 2})
	require.NoError(t, err)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	a := Caller{Token: "tok-a", ProjectID: "p1"}
	b := Caller{Token: "tok-b", ProjectID: "p1"}

	s1, err := c.Server(t.Context(), a, sid)
	require.NoError(t, err)
	_, err = c.Server(t.Context(), a, sid)
	require.NoError(t, err)
	assert.EqualValues(t, 1, calls.Load(), "cached for the same caller")
	s2, err := c.Server(t.Context(), b, sid)
	require.NoError(t, err)
	assert.EqualValues(t, 2, calls.Load(), "never shared between callers")
	assert.NotEqual(t, s1["caller"], s2["caller"])

	now = now.Add(time.Minute)
	_, err = c.Server(t.Context(), a, sid)
	require.NoError(t, err)
	assert.EqualValues(t, 3, calls.Load(), "expired after the TTL")

	// Errors are not cached.
	status.Store(http.StatusNotFound)
	now = now.Add(time.Hour)
	_, err = c.Server(t.Context(), a, sid)
	require.Error(t, err)
	_, err = c.Server(t.Context(), a, sid)
	require.Error(t, err)
	assert.EqualValues(t, 5, calls.Load())

	c.mu.Lock()
	assert.LessOrEqual(t, len(c.entries), 2, "bounded")
	c.mu.Unlock()
}

func TestConcurrentLookupsShareOneRequest(t *testing.T) {
	var status atomic.Int32
	srv, calls, _ := novaStub(t, &status, 50*time.Millisecond)
	c, err := New(Options{BaseURL: srv.URL})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := c.Server(context.Background(), Caller{Token: "tok-a"}, sid)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.EqualValues(t, 1, calls.Load())
}
