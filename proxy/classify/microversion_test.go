package classify

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestMicroversion(t *testing.T) {
	c := newTestClassifier(t)
	c260, err := New(Options{MaxMicroversion: "2.60"})
	assert.NoError(t, err)

	const (
		std    = "OpenStack-API-Version"
		legacy = "X-OpenStack-Nova-API-Version"
	)
	cases := []struct {
		name    string
		c       *Classifier
		path    string
		hdr     []string
		want    string // accepted microversion
		status  int    // or rejection status
		reason  string
		message string
	}{
		{name: "default", hdr: nil, want: "2.1"},
		{name: "standard", hdr: []string{std, "compute 2.60"}, want: "2.60"},
		{name: "standard case-insensitive service", hdr: []string{std, "COMPUTE 2.73"}, want: "2.73"},
		{name: "standard extra spaces", hdr: []string{std, "  compute   2.5  "}, want: "2.5"},
		{name: "standard tab", hdr: []string{std, "compute\t2.5"}, want: "2.5"},
		{name: "other services ignored", hdr: []string{std, "volume 3.0, compute 2.10, placement 1.1"}, want: "2.10"},
		{name: "malformed entries skipped", hdr: []string{std, "compute, compute 2.7, junk"}, want: "2.7"},
		{name: "only other service falls back to legacy", hdr: []string{std, "volume 3.0", legacy, "2.20"}, want: "2.20"},
		{name: "empty standard falls back to legacy", hdr: []string{std, "", legacy, "2.20"}, want: "2.20"},
		{name: "only other service, no legacy", hdr: []string{std, "volume 3.0"}, want: "2.1"},
		{name: "legacy", hdr: []string{legacy, "2.42"}, want: "2.42"},
		{name: "legacy trimmed", hdr: []string{legacy, " 2.42 "}, want: "2.42"},
		{name: "both agree", hdr: []string{std, "compute 2.60", legacy, "2.60"}, want: "2.60"},
		{name: "latest", hdr: []string{std, "compute latest"}, want: "2.93"},
		{name: "latest legacy", hdr: []string{legacy, "latest"}, want: "2.93"},
		{name: "latest on 2.60 upstream", c: c260, hdr: []string{std, "compute latest"}, want: "2.60"},
		{name: "max", hdr: []string{std, "compute 2.93"}, want: "2.93"},
		{name: "minor zero format ok but out of range", hdr: []string{std, "compute 2.0"}, status: 406, reason: "microversion_out_of_range",
			message: "Version 2.0 is not supported by the API. Minimum is 2.1 and maximum is 2.93."},
		{name: "v2 ignores headers", path: "/v2/servers", hdr: []string{std, "compute 2.99"}, want: "2.1"},
		{name: "v2 ignores invalid headers", path: "/v2/servers", hdr: []string{legacy, "junk"}, want: "2.1"},

		{name: "above max", hdr: []string{std, "compute 2.94"}, status: 406, reason: "microversion_out_of_range",
			message: "Version 2.94 is not supported by the API. Minimum is 2.1 and maximum is 2.93."},
		{name: "above huawei max", c: c260, hdr: []string{std, "compute 2.73"}, status: 406, reason: "microversion_out_of_range",
			message: "Version 2.73 is not supported by the API. Minimum is 2.1 and maximum is 2.60."},
		{name: "major 3", hdr: []string{legacy, "3.0"}, status: 406, reason: "microversion_out_of_range"},
		{name: "major 1", hdr: []string{legacy, "1.99"}, status: 406, reason: "microversion_out_of_range"},
		{name: "huge", hdr: []string{legacy, "2.99999999999999999999999"}, status: 406, reason: "microversion_out_of_range"},

		{name: "invalid leading zero", hdr: []string{std, "compute 2.01"}, status: 400, reason: "bad_microversion",
			message: "API Version String 2.01 is of invalid format. Must be of format MajorNum.MinorNum."},
		{name: "invalid major zero", hdr: []string{legacy, "02.1"}, status: 400, reason: "bad_microversion"},
		{name: "invalid Latest", hdr: []string{std, "compute Latest"}, status: 400, reason: "bad_microversion"},
		{name: "invalid three parts", hdr: []string{legacy, "2.1.1"}, status: 400, reason: "bad_microversion"},
		{name: "invalid trailing text", hdr: []string{std, "compute 2.5 extra"}, status: 400, reason: "bad_microversion"},
		{name: "invalid empty legacy", hdr: []string{legacy, ""}, status: 400, reason: "bad_microversion"},
		{name: "invalid no minor", hdr: []string{legacy, "2."}, status: 400, reason: "bad_microversion"},
		{name: "invalid sign", hdr: []string{legacy, "+2.5"}, status: 400, reason: "bad_microversion"},
		{name: "non-ascii whitespace", hdr: []string{std, "compute\xa02.5"}, status: 400, reason: "bad_microversion"},
		{name: "control char", hdr: []string{legacy, "2.5\x1c"}, status: 400, reason: "bad_microversion"},

		{name: "two compute entries", hdr: []string{std, "compute 2.1, compute 2.73"}, status: 400, reason: "microversion_conflict"},
		{name: "two compute entries same", hdr: []string{std, "compute 2.5, Compute 2.5"}, status: 400, reason: "microversion_conflict"},
		{name: "legacy list", hdr: []string{legacy, "2.1, 2.73"}, status: 400, reason: "microversion_conflict"},
		{name: "headers disagree", hdr: []string{std, "compute 2.1", legacy, "2.73"}, status: 400, reason: "microversion_conflict"},
		{name: "repeated standard line", hdr: []string{std, "compute 2.1", std, "compute 2.73"}, status: 400, reason: "duplicate_header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := tc.c
			if cl == nil {
				cl = c
			}
			path := tc.path
			if path == "" {
				path = actionPath
			}
			method, body := "POST", `{"unlock": null}`
			if path != actionPath {
				method, body = "GET", ""
			}
			req := mkReq(method, path, body, tc.hdr...)
			if tc.status == 0 {
				op := classifyOK(t, cl, req)
				assert.Equal(t, tc.want, op.Microversion)
				return
			}
			rej := classifyRejected(t, cl, req)
			assert.Equal(t, tc.status, rej.Status)
			assert.Equal(t, tc.reason, rej.Reason)
			if tc.message != "" {
				assert.Equal(t, tc.message, rej.Message)
			}
		})
	}
}

// TestMicroversionOrder: Nova checks the microversion before Content-Type
// and both before the action; the router's 404 comes first of all.
func TestMicroversionOrder(t *testing.T) {
	c := newTestClassifier(t)
	req := mkReq("POST", actionPath, `{"Unlock": null}`, "OpenStack-API-Version", "compute 9.9", "Content-Type", "text/html")
	assert.Equal(t, http.StatusNotAcceptable, classifyRejected(t, c, req).Status)
	req = mkReq("POST", actionPath, `{"Unlock": null}`, "Content-Type", "text/html")
	assert.Equal(t, http.StatusUnsupportedMediaType, classifyRejected(t, c, req).Status)
	req = mkReq("POST", actionPath+"x", `{"unlock": null}`, "OpenStack-API-Version", "compute 9.9")
	assert.Equal(t, http.StatusNotFound, classifyRejected(t, c, req).Status)

	// Native routes have no microversion.
	op := classifyOK(t, c, mkReq("GET", "/v1/"+testProject+"/cloudservers/detail", "", "OpenStack-API-Version", "compute 9.9"))
	assert.Empty(t, op.Microversion)
}

func TestParseAPIVersion(t *testing.T) {
	for s, want := range map[string]apiVersion{"2.1": {2, 1}, "2.0": {2, 0}, "10.20": {10, 20}, "2.93": {2, 93}} {
		v, ok := parseAPIVersion(s)
		assert.True(t, ok, s)
		assert.Equal(t, want, v, s)
	}
	for _, s := range []string{"", ".", "2", "2.", ".1", "02.1", "2.01", "2.1.", "a.b", "2.1 ", "-2.1", "2,1", "٢.١"} {
		_, ok := parseAPIVersion(s)
		assert.False(t, ok, s)
	}
}

func TestAtMost(t *testing.T) {
	c, err := New(Options{MaxMicroversion: "2.60"})
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]string{"2.73": "2.60", "2.60": "2.60", "2.26": "2.26", "3.1": "2.60", "x": "2.60"} {
		if got := c.AtMost(v); got != want {
			t.Errorf("AtMost(%q) = %q, want %q", v, got, want)
		}
	}
}
