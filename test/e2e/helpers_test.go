//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/stretchr/testify/require"
)

// ---- identities: one Keystone login per user for the whole run ------------

var (
	providersMu sync.Mutex
	providers   = map[string]*gophercloud.ProviderClient{}
)

// projectOf is the project each user's token is scoped to.
func projectOf(user string) string {
	switch user {
	case "admin":
		return "admin"
	case "eve":
		return "other"
	case "nova":
		return "service"
	}
	return "demo"
}

// provider authenticates user against the real Keystone with gophercloud
// (password <user>-secret) once and reuses the token for every later call.
func provider(t *testing.T, user string) *gophercloud.ProviderClient {
	t.Helper()
	providersMu.Lock()
	defer providersMu.Unlock()
	if p, ok := providers[user]; ok {
		return p
	}
	suffix := env["OS_PASSWORD_SUFFIX"]
	if suffix == "" {
		suffix = "-secret"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: env["KEYSTONE_URL"],
		Username:         user,
		Password:         user + suffix,
		DomainName:       "Default",
		TenantName:       projectOf(user),
	})
	require.NoError(t, err, "Keystone login as %s", user)
	providers[user] = p
	return p
}

// token is user's Keystone token (issued once per run).
func token(t *testing.T, user string) string {
	t.Helper()
	return provider(t, user).Token()
}

// computeVia is a gophercloud compute client for user whose endpoint (taken
// from the Keystone catalog, which points at nova-api) is overridden to the
// gateway at addr.
func computeVia(t *testing.T, user, addr string) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewComputeV2(provider(t, user), gophercloud.EndpointOpts{Region: "RegionOne"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(c.Endpoint, "http://"+novaAddr+"/"), "the catalog's compute endpoint is nova-api: %s", c.Endpoint)
	c.Endpoint = "http://" + addr + "/v2.1/"
	c.ResourceBase = ""
	return c
}

// ---- Nova's view of a server ------------------------------------------------

// serverState is what Nova's API (GET as admin at microversion 2.9, where
// `locked` shows) and its database (locked_by, which no API shows) say about
// a server. Equal states mean nothing happened to the server.
type serverState struct {
	Exists   bool
	Locked   bool
	LockedBy string // from the cell1 database: "", "owner" or "admin"
	Status   string
	Name     string
	Metadata string
	Updated  string
}

var novaHTTP = &http.Client{Timeout: 30 * time.Second}

func novaState(t *testing.T, id string) serverState {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+novaAddr+"/v2.1/servers/"+id, nil)
	require.NoError(t, err)
	req.Header.Set("X-Auth-Token", token(t, "admin"))
	req.Header.Set("X-OpenStack-Nova-API-Version", "2.9")
	req.Header.Set("Accept", "application/json")
	resp, err := novaHTTP.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode == http.StatusNotFound {
		return serverState{}
	}
	require.Equal(t, http.StatusOK, resp.StatusCode, "admin GET server %s: %s", id, body)
	var doc struct {
		Server struct {
			Locked   bool              `json:"locked"`
			Status   string            `json:"status"`
			Name     string            `json:"name"`
			Metadata map[string]string `json:"metadata"`
			Updated  string            `json:"updated"`
		} `json:"server"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	s := serverState{Exists: true, Locked: doc.Server.Locked, Status: doc.Server.Status, Name: doc.Server.Name, Updated: doc.Server.Updated}
	keys := make([]string, 0, len(doc.Server.Metadata))
	for k, v := range doc.Server.Metadata {
		keys = append(keys, k+"="+v)
	}
	sort.Strings(keys)
	s.Metadata = strings.Join(keys, ",")
	s.LockedBy = lockedBy(t, id)
	return s
}

// lockedBy reads instances.locked_by from Nova's cell1 database (the API
// never shows it).
func lockedBy(t *testing.T, id string) string {
	t.Helper()
	db := filepath.Join(stateDir, "data", "nova_cell1.sqlite")
	for _, c := range id {
		require.True(t, c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), "server id %q", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sqlite3", "-readonly", "-batch", "-cmd", ".timeout 10000", db,
		"SELECT ifnull(locked_by,'') FROM instances WHERE uuid='"+id+"' AND deleted=0;").CombinedOutput()
	require.NoError(t, err, "sqlite3: %s", out)
	return strings.TrimSpace(string(out))
}

// dbState is a server's fingerprint read straight from Nova's cell1
// database (a few ms, where the admin GET takes ~100 ms): the instance row
// (locked, locked_by, vm and task state, name, updated_at), its
// locked_reason and its metadata. Equal fingerprints mean Nova changed
// nothing about the server; Row is the whole fingerprint.
type dbState struct {
	ID                     string
	Exists                 bool
	Locked                 bool
	LockedBy, LockedReason string
	VMState, TaskState     string
	Metadata, Name         string
	Row                    string
}

func (s dbState) short() string {
	switch {
	case !s.Exists:
		return "deleted"
	case s.Name != seededName(s.ID):
		return "renamed"
	case s.LockedReason != "":
		return "locked(" + s.LockedBy + ",reason)"
	case s.Locked:
		return "locked(" + s.LockedBy + ")"
	}
	return "unlocked"
}

// pristine: what reset-servers.sh leaves (lock state aside).
func (s dbState) pristine(id string) bool {
	return s.Exists && s.VMState == "active" && s.TaskState == "" && s.LockedReason == "" && s.Metadata == "" &&
		s.Name == seededName(id)
}

var seededNames map[string]string

// seededName is the name up.sh gave server id ($STATE/servers.json).
func seededName(id string) string {
	if seededNames == nil {
		seededNames = map[string]string{}
		var servers []struct{ UUID, Name string }
		if data, err := os.ReadFile(filepath.Join(stateDir, "servers.json")); err == nil {
			_ = json.Unmarshal(data, &servers)
		}
		for _, s := range servers {
			seededNames[s.UUID] = s.Name
		}
	}
	return seededNames[id]
}

func novaDBState(t *testing.T, id string) dbState {
	t.Helper()
	for _, c := range id {
		require.True(t, c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'), "server id %q", id)
	}
	db := filepath.Join(stateDir, "data", "nova_cell1.sqlite")
	q := `SELECT i.locked, ifnull(i.locked_by,''), ifnull(i.terminated_at,''), ` +
		`ifnull((SELECT s.value FROM instance_system_metadata s WHERE s.instance_uuid=i.uuid AND s.deleted=0 AND s.key='locked_reason'),''), ` +
		`ifnull(i.vm_state,''), ifnull(i.task_state,''), ` +
		`ifnull((SELECT group_concat(m.key||'='||m.value) FROM instance_metadata m WHERE m.instance_uuid=i.uuid AND m.deleted=0),''), ` +
		`i.display_name, ifnull(i.updated_at,''), i.power_state ` +
		`FROM instances i WHERE i.uuid='` + id + `' AND i.deleted=0;`
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sqlite3", "-readonly", "-batch", "-separator", "\x1f", "-cmd", ".timeout 10000", db, q).CombinedOutput()
	require.NoError(t, err, "sqlite3: %s", out)
	row := strings.TrimRight(string(out), "\n")
	if row == "" {
		return dbState{ID: id}
	}
	f := strings.Split(row, "\x1f")
	require.Len(t, f, 10, "sqlite3 row %q", row)
	return dbState{ID: id, Exists: true, Locked: f[0] == "1", LockedBy: f[1], LockedReason: f[3], VMState: f[4], TaskState: f[5],
		Metadata: f[6], Name: f[7], Row: strings.ReplaceAll(row, "\x1f", "|")}
}

// resetServers runs test/openstack/reset-servers.sh: every seeded server
// back to ACTIVE, unlocked, no reason, no metadata (recreating deleted ones).
func resetServers(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", env["ECSGATE_OS_RESET_SERVERS"]).CombinedOutput()
	require.NoError(t, err, "reset-servers.sh: %s", out)
}

// novaDo sends one request straight to nova-api as user.
func novaDo(t *testing.T, user, method, path, body string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	return httpDo(t, novaAddr, user, method, path, body, headers...)
}

// httpDo sends a well-formed request with net/http to addr ("host:port") as
// user ("" for no token). headers are "Name: value" lines.
func httpDo(t *testing.T, addr, user, method, path, body string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.Header.Set("X-Auth-Token", token(t, user))
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		require.True(t, ok, h)
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := novaHTTP.Do(req)
	require.NoError(t, err, "%s %s via %s", method, path, addr)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, data
}

// lockAs locks id straight at Nova as user and checks that it took.
func lockAs(t *testing.T, user, id string) {
	t.Helper()
	status, _, body := novaDo(t, user, http.MethodPost, "/v2.1/servers/"+id+"/action", `{"lock": null}`)
	require.Equal(t, http.StatusAccepted, status, "lock as %s: %s", user, body)
}

// ---- raw requests -----------------------------------------------------------

// rawResponse is one response read off a raw connection.
type rawResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// sendRaw writes raw to addr exactly as given (no library normalisation) and
// reads every response until the connection closes.
func sendRaw(addr, raw string, timeout time.Duration) ([]rawResponse, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(conn, raw); err != nil {
		return nil, err
	}
	method, _, _ := strings.Cut(raw, " ")
	br := bufio.NewReader(conn)
	var out []rawResponse
	for {
		resp, err := http.ReadResponse(br, &http.Request{Method: strings.ToUpper(method)})
		if err != nil {
			if len(out) > 0 {
				return out, nil
			}
			return nil, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, rawResponse{Status: resp.StatusCode, Header: resp.Header, Body: body})
		method = "GET"
		if resp.Close {
			return out, nil
		}
	}
}

// ---- what reached nova-api ----------------------------------------------------

// novaLog counts the requests nova-api handled, from its uwsgi request log
// (one line per request, written in order: one worker, one thread). A marker
// request (GET /?ecsgate-e2e-mark=N, version discovery, no token needed)
// delimits each window.
type novaLog struct {
	path string
	seq  atomic.Int64
}

var nlog = &novaLog{}

func (l *novaLog) file() string {
	if l.path == "" {
		l.path = filepath.Join(stateDir, "logs", "nova-api-uwsgi.log")
	}
	return l.path
}

// mark sends a marker and returns the log offset just past its line.
func (l *novaLog) mark(t *testing.T) int64 {
	t.Helper()
	n := l.seq.Add(1)
	marker := fmt.Sprintf("GET /?ecsgate-e2e-mark=%d-%d ", os.Getpid(), n)
	resp, err := novaHTTP.Get("http://" + novaAddr + strings.TrimSuffix(strings.TrimPrefix(marker, "GET "), " "))
	require.NoError(t, err)
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile(l.file())
		require.NoError(t, err)
		if i := bytes.LastIndex(data, []byte(marker)); i >= 0 {
			if j := bytes.IndexByte(data[i:], '\n'); j >= 0 {
				return int64(i + j + 1)
			}
		}
		require.True(t, time.Now().Before(deadline), "marker %q never reached %s", marker, l.file())
		time.Sleep(5 * time.Millisecond)
	}
}

// since returns the requests nova-api logged after offset from (a mark)
// up to a new mark, as "METHOD /path => status" lines.
func (l *novaLog) since(t *testing.T, from int64) []string {
	t.Helper()
	to := l.mark(t)
	f, err := os.Open(l.file())
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, to-from)
	_, err = f.ReadAt(buf, from)
	require.NoError(t, err)
	var reqs []string
	for _, line := range strings.Split(string(buf), "\n") {
		if !strings.HasPrefix(line, "[pid:") || strings.Contains(line, "ecsgate-e2e-mark=") {
			continue
		}
		// "... [date] METHOD /path => generated N bytes in M msecs (HTTP/1.1 202) ..."
		if i := strings.Index(line, "] "); i >= 0 {
			if k := strings.LastIndex(line, "] "); k > i {
				line = line[k+2:]
			}
		}
		if i := strings.Index(line, " => generated"); i >= 0 {
			status := ""
			if j := strings.Index(line, "(HTTP/1.1 "); j >= 0 && len(line) >= j+13 {
				status = line[j+10 : j+13]
			}
			line = line[:i] + " => " + status
		}
		reqs = append(reqs, line)
	}
	return reqs
}

// ---- decision records -------------------------------------------------------

// decisionRec is the part of a decision record (tracing/record.go, OPA's
// decision-log event) these tests read.
type decisionRec struct {
	DecisionID string `json:"decision_id"`
	Input      *struct {
		Operation string `json:"operation"`
		API       struct {
			Microversion string `json:"microversion"`
		} `json:"api"`
		Identity *struct {
			Method string `json:"method"`
			User   struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"user"`
			Project *struct {
				ID string `json:"id"`
			} `json:"project"`
			AccessKey string `json:"access_key"`
		} `json:"identity"`
	} `json:"input"`
	Result *struct {
		Allow   bool     `json:"allow"`
		Reasons []string `json:"reasons"`
	} `json:"result"`
	Status   int    `json:"status"`
	Rejected string `json:"rejected"`
	DryRun   bool   `json:"dry_run"`
	Bundles  map[string]struct {
		Revision string `json:"revision"`
	} `json:"bundles"`
}

// revision is the policy revision that decided (a bundle's manifest
// revision, or a digest of the policy files).
func (d decisionRec) revision() string { return d.Bundles["ecsgate"].Revision }

// who names the caller a record was decided for: "alice/<project id>",
// "ak:<AK>" or "anonymous".
func (d decisionRec) who() string {
	if d.Input == nil || d.Input.Identity == nil {
		return "anonymous"
	}
	id := d.Input.Identity
	if id.Method == "aksk" {
		return "ak:" + id.AccessKey
	}
	project := ""
	if id.Project != nil {
		project = id.Project.ID
	}
	return id.User.Name + "/" + project
}

// decisionFor finds the record of the decision named by the response's
// X-Ecsgate-Decision-Id in the decision log of site addr. The sink writes off
// the request path, so it waits for the line.
func decisionFor(t *testing.T, addr string, hdr http.Header) decisionRec {
	t.Helper()
	id := hdr.Get("X-Ecsgate-Decision-Id")
	require.NotEmpty(t, id, "the gateway names its decision")
	path := decisionLogs[addr]
	require.NotEmpty(t, path, "site %s keeps no decision log", addr)
	needle := []byte(`"decision_id":"` + id + `"`)
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			for line := range bytes.Lines(data) {
				if !bytes.Contains(line, needle) {
					continue
				}
				var rec decisionRec
				require.NoError(t, json.Unmarshal(line, &rec), "%s", line)
				return rec
			}
		}
		require.True(t, time.Now().Before(deadline), "no record of decision %s in %s", id, path)
		time.Sleep(20 * time.Millisecond)
	}
}
