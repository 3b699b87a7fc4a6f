package classify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var actionPath = "/v2.1/" + testProject + "/servers/" + testServer + "/action"

// TestActionBodyTable is the table of docs/compute-api-facts.md, "Action
// extraction", row by row, through the whole classifier.
func TestActionBodyTable(t *testing.T) {
	c := newTestClassifier(t)
	cases := []struct {
		name   string
		body   string
		status int    // 0 = accepted
		action string // when accepted
		args   string
		reason string
		msg    string
	}{
		// Object with one registered action key: dispatched.
		{name: "one action", body: `{"unlock": null}`, action: "unlock", args: "null"},
		{name: "object value", body: `{"unlock": {"x": 1}}`, action: "unlock", args: `{"x": 1}`},
		{name: "whitespace around", body: " \t\r\n{ \"lock\" : {\"locked_reason\": \"r\"} }\n ", action: "lock", args: `{"locked_reason": "r"}`},
		{name: "escaped key", body: `{"unl\u006fck": null}`, action: "unlock", args: "null"},
		{name: "escaped slash in key", body: `{"os\u002dstart": 1}`, action: "os-start", args: "1"},
		{name: "reboot", body: `{"reboot": {"type": "HARD"}}`, action: "reboot", args: `{"type": "HARD"}`},

		// {} or two or more distinct keys: 400 Malformed request body.
		{name: "empty object", body: `{}`, status: 400, reason: "action_key_count", msg: msgMalformed},
		{name: "two keys", body: `{"lock": null, "unlock": null}`, status: 400, reason: "action_key_count", msg: msgMalformed},
		{name: "three keys", body: `{"lock": null, "a": 1, "b": 2}`, status: 400, reason: "action_key_count", msg: msgMalformed},
		// Nova counts a repeated key once; we reject duplicates outright.
		{name: "duplicate key", body: `{"unlock": null, "unlock": null}`, status: 400, reason: "duplicate_key", msg: msgMalformed},
		{name: "duplicate after unescape", body: `{"unlock": null, "unl\u006fck": null}`, status: 400, reason: "duplicate_key", msg: msgMalformed},
		{name: "nested duplicate", body: `{"lock": {"locked_reason": "a", "locked_reason": "b"}}`, status: 400, reason: "duplicate_key", msg: msgMalformed},
		{name: "deep duplicate", body: `{"rebuild": {"metadata": {"x": [{"k": 1, "k": 2}]}}}`, status: 400, reason: "duplicate_key", msg: msgMalformed},

		// Empty body, invalid JSON, data after the value: 400.
		{name: "empty body", body: ``, status: 400, reason: "empty_body", msg: msgMalformed},
		{name: "whitespace body", body: "  \n", status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "invalid json", body: `{"unlock": }`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "single quotes", body: `{'unlock': null}`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "trailing comma", body: `{"unlock": null,}`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "trailing data", body: `{"unlock": null} {}`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "trailing garbage", body: `{"unlock": null}x`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "unterminated", body: `{"unlock": null`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "form body", body: `_method=DELETE&unlock=1`, status: 400, reason: "invalid_json", msg: msgMalformed},

		// Invalid UTF-8 anywhere, or a leading BOM: 400.
		{name: "invalid utf8 in value", body: "{\"unlock\": \"\xff\"}", status: 400, reason: "invalid_utf8", msg: msgMalformed},
		{name: "invalid utf8 in key", body: "{\"unl\xc3ck\": null}", status: 400, reason: "invalid_utf8", msg: msgMalformed},
		{name: "encoded surrogate", body: "{\"unlock\": \"\xed\xa0\x80\"}", status: 400, reason: "invalid_utf8", msg: msgMalformed},
		{name: "bom", body: "\xef\xbb\xbf{\"unlock\": null}", status: 400, reason: "bom", msg: msgMalformed},

		// One key that is not exactly a registered action: 400 no such action.
		{name: "wrong case", body: `{"Unlock": null}`, status: 400, reason: "unknown_action", msg: "There is no such action: Unlock"},
		{name: "upper", body: `{"UNLOCK": null}`, status: 400, reason: "unknown_action", msg: "There is no such action: UNLOCK"},
		{name: "extra char", body: `{"unlock ": null}`, status: 400, reason: "unknown_action", msg: "There is no such action: unlock "},
		{name: "escaped wrong case", body: `{"\u0055nlock": null}`, status: 400, reason: "unknown_action", msg: "There is no such action: Unlock"},
		{name: "nul suffix", body: `{"unlock\u0000": null}`, status: 400, reason: "unknown_action", msg: "There is no such action: unlock\x00"},
		{name: "unknown", body: `{"foo": null}`, status: 400, reason: "unknown_action", msg: "There is no such action: foo"},
		{name: "migration action on server", body: `{"force_complete": null}`, status: 400, reason: "unknown_action", msg: "There is no such action: force_complete"},
		{name: "native name on nova", body: `{"changeos": {}}`, status: 400, reason: "unknown_action", msg: "There is no such action: changeos"},

		// Top-level number, boolean, null, one-element array, one-character
		// string: 404.
		{name: "number", body: `5`, status: 404, reason: "action_body_shape", msg: msgNotFound},
		{name: "negative float", body: `-1.5e3`, status: 404, reason: "action_body_shape", msg: msgNotFound},
		{name: "true", body: `true`, status: 404, reason: "action_body_shape", msg: msgNotFound},
		{name: "false", body: `false`, status: 404, reason: "action_body_shape", msg: msgNotFound},
		{name: "null", body: `null`, status: 404, reason: "action_body_shape", msg: msgNotFound},
		{name: "one-element array", body: `["unlock"]`, status: 404, reason: "action_body_shape", msg: msgNotFound},
		{name: "one-element array object", body: `[{"unlock": null}]`, status: 404, reason: "action_body_shape", msg: msgNotFound},
		{name: "one-char string", body: `"u"`, status: 404, reason: "action_body_shape", msg: msgNotFound},
		{name: "one-char escaped string", body: `"\u00e9"`, status: 404, reason: "action_body_shape", msg: msgNotFound},
		{name: "one-char multibyte string", body: `"é"`, status: 404, reason: "action_body_shape", msg: msgNotFound},
		{name: "one surrogate pair string", body: `"\ud83d\ude00"`, status: 404, reason: "action_body_shape", msg: msgNotFound},

		// Top-level array or string of any other length: 400.
		{name: "empty array", body: `[]`, status: 400, reason: "action_body_shape", msg: msgMalformed},
		{name: "two-element array", body: `[1, 2]`, status: 400, reason: "action_body_shape", msg: msgMalformed},
		{name: "empty string", body: `""`, status: 400, reason: "action_body_shape", msg: msgMalformed},
		{name: "long string", body: `"unlock"`, status: 400, reason: "action_body_shape", msg: msgMalformed},
		{name: "two-char escapes", body: `"\n\t"`, status: 400, reason: "action_body_shape", msg: msgMalformed},

		// Deep nesting: Nova 500s near 1000 levels; we stop at maxDepth.
		{name: "too deep", body: `{"unlock": ` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`, status: 400, reason: "too_deep", msg: msgMalformed},
		{name: "very deep", body: strings.Repeat("[", 5000), status: 400, reason: "too_deep", msg: msgMalformed},

		// NaN, Infinity and overflowing numbers: Nova accepts, we reject.
		{name: "NaN", body: `{"unlock": NaN}`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "Infinity", body: `{"unlock": Infinity}`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "-Infinity", body: `{"unlock": -Infinity}`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "overflow", body: `{"unlock": 1e400}`, status: 400, reason: "number_overflow", msg: msgMalformed},
		{name: "negative overflow", body: `{"unlock": -1.5E+309}`, status: 400, reason: "number_overflow", msg: msgMalformed},
		{name: "long integer overflow", body: `{"unlock": 1` + strings.Repeat("0", 400) + `}`, status: 400, reason: "number_overflow", msg: msgMalformed},
		{name: "lone high surrogate", body: `{"unlock": "\ud800"}`, status: 400, reason: "lone_surrogate", msg: msgMalformed},
		{name: "lone low surrogate", body: `{"unlock": "\udc00"}`, status: 400, reason: "lone_surrogate", msg: msgMalformed},
		{name: "high then high", body: `{"unlock": "\ud800\ud800"}`, status: 400, reason: "lone_surrogate", msg: msgMalformed},
		{name: "surrogate in key", body: `{"unlock\udfff": null}`, status: 400, reason: "lone_surrogate", msg: msgMalformed},
		{name: "raw control char", body: "{\"unlock\": \"a\x01\"}", status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "leading zero", body: `{"unlock": 01}`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "plus number", body: `{"unlock": +1}`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "bad escape", body: `{"unlock": "\x"}`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "short unicode escape", body: `{"unlock": "\u12"}`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "comment", body: `{"unlock": null /* x */}`, status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "vertical tab ws", body: "{\"unlock\":\vnull}", status: 400, reason: "invalid_json", msg: msgMalformed},
		{name: "nbsp ws", body: "{\"unlock\":\u00a0null}", status: 400, reason: "invalid_json", msg: msgMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := mkReq("POST", actionPath, tc.body)
			if tc.status == 0 {
				op := classifyOK(t, c, req)
				require.NotNil(t, op.Action)
				assert.Equal(t, OpAction, op.Name)
				assert.Equal(t, tc.action, op.Action.Name)
				assert.Equal(t, tc.args, string(op.Action.Args))
				return
			}
			rej := classifyRejected(t, c, req)
			assert.Equal(t, tc.status, rej.Status)
			assert.Equal(t, tc.reason, rej.Reason)
			assert.Equal(t, tc.msg, rej.Message)
			assert.Equal(t, FamilyNova, rej.Family)
		})
	}
}

// TestEveryNovaAction accepts every Nova server action and refuses its case
// and suffix variants.
func TestEveryNovaAction(t *testing.T) {
	c := newTestClassifier(t)
	require.Len(t, NovaServerActions(), 41)
	for _, name := range NovaServerActions() {
		t.Run(name, func(t *testing.T) {
			for _, pfx := range novaPrefixes {
				for _, coll := range []string{"/servers/", "/os-volumes_boot/"} {
					path := pfx.prefix + coll + testServer + "/action"
					op := classifyOK(t, c, mkReq("POST", path, `{"`+name+`": null}`))
					require.NotNil(t, op.Action)
					assert.Equal(t, name, op.Action.Name)
					assert.Equal(t, []string{testServer}, op.ServerIDs)
				}
			}
			// Fully \u-escaped spelling is the same action.
			var esc strings.Builder
			for _, r := range name {
				fmt.Fprintf(&esc, `\u%04x`, r)
			}
			op := classifyOK(t, c, mkReq("POST", actionPath, `{"`+esc.String()+`": {"a": [1, "x"]}}`))
			assert.Equal(t, name, op.Action.Name)
			assert.Equal(t, `{"a": [1, "x"]}`, string(op.Action.Args))

			for _, variant := range []string{
				strings.ToUpper(name), strings.ToUpper(name[:1]) + name[1:], name + " ", " " + name, name + "s", name + `\u0000`,
			} {
				if variant == name {
					continue
				}
				rej := classifyRejected(t, c, mkReq("POST", actionPath, `{"`+variant+`": null}`))
				assert.Equal(t, http.StatusBadRequest, rej.Status, variant)
				assert.Equal(t, "unknown_action", rej.Reason, variant)
			}
		})
	}
}

func TestMigrationActionBody(t *testing.T) {
	c := newTestClassifier(t)
	path := "/v2.1/servers/" + testServer + "/migrations/7/action"
	op := classifyOK(t, c, mkReq("POST", path, `{"force_complete": null}`))
	assert.Equal(t, "force_complete", op.Action.Name)
	for body, reason := range map[string]string{
		`{"unlock": null}`:                 "unknown_action",
		`{"force_complete": null, "x": 1}`: "action_key_count",
		``:                                 "empty_body",
		`{"Force_complete": null}`:         "unknown_action",
		`{"force_complete": 1, "force_complete": 2}`: "duplicate_key",
	} {
		rej := classifyRejected(t, c, mkReq("POST", path, body))
		assert.Equal(t, reason, rej.Reason, body)
	}
}

// TestNonActionBodies: every POST/PUT body on a Nova route is held to the
// same strict JSON rules, because Nova deserialises it and policy may read it.
func TestNonActionBodies(t *testing.T) {
	c := newTestClassifier(t)
	path := "/v2.1/servers/" + testServer + "/metadata"
	classifyOK(t, c, mkReq("POST", path, `{"metadata": {"a": "b"}}`))
	classifyOK(t, c, mkReq("POST", path, ``))
	classifyOK(t, c, mkReq("POST", path, `[1, 2]`)) // shape is the schema's business
	for body, reason := range map[string]string{
		`{"metadata": {"a": "b", "a": "c"}}`: "duplicate_key",
		`{"metadata": {"a": NaN}}`:           "invalid_json",
		"\xef\xbb\xbf{}":                     "bom",
		`{"metadata": {"a": "\ud800"}}`:      "lone_surrogate",
		"{\"metadata\": \"\xc0\"}":           "invalid_utf8",
		`{"metadata": {}} x`:                 "invalid_json",
	} {
		rej := classifyRejected(t, c, mkReq("PUT", path, body))
		assert.Equal(t, http.StatusBadRequest, rej.Status, body)
		assert.Equal(t, reason, rej.Reason, body)
	}
}

func TestScannerLargeObjects(t *testing.T) {
	// Past dupMapThreshold keys the duplicate check switches to a map.
	var b strings.Builder
	b.WriteString(`{"metadata": {`)
	for i := range 200 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(`"k`)
		b.WriteString(strings.Repeat("x", i))
		b.WriteString(`": {"a": 1, "b": 2}`)
	}
	ok := b.String() + "}}"
	top, _, valid := validateBody([]byte(ok), true)
	assert.True(t, valid)
	assert.Equal(t, 1, top.count)

	dup := b.String() + `, "k": 3}}`
	_, reason, valid := validateBody([]byte(dup), false)
	assert.False(t, valid)
	assert.Equal(t, "duplicate_key", reason)

	// Escaped duplicate far into a large object.
	dup = b.String() + `, "\u006bxx": 3}}`
	_, reason, valid = validateBody([]byte(dup), false)
	assert.False(t, valid)
	assert.Equal(t, "duplicate_key", reason)

	// Same key names in sibling objects are not duplicates.
	_, _, valid = validateBody([]byte(`[{"a": 1}, {"a": 2}, {"\u0061": {"a": {"a": 1}}}]`), false)
	assert.True(t, valid)
	// Keys of an outer object survive escaped keys of inner objects.
	_, reason, valid = validateBody([]byte(`{"\u0061": {"\u0062": 1, "\u0063": 2}, "\u0064": 1, "a": 2}`), false)
	assert.False(t, valid)
	assert.Equal(t, "duplicate_key", reason)
}

func TestScannerNumbers(t *testing.T) {
	good := []string{`0`, `-0`, `1.5`, `-1.5e-3`, `1E+2`, `1e308`, `1e-400`, `123456789012345678901234567890`, `0.0`}
	for _, n := range good {
		_, _, ok := validateBody([]byte(n), false)
		assert.True(t, ok, n)
	}
	bad := []string{`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x10`, `1.5.2`, `--1`, `Infinity`, `NaN`, `1e309`}
	for _, n := range bad {
		_, _, ok := validateBody([]byte(n), false)
		assert.False(t, ok, n)
	}
}

func TestStringLen(t *testing.T) {
	for raw, n := range map[string]int{
		``: 0, `a`: 1, `ab`: 2, `é`: 1, `\u00e9`: 1, `\ud83d\ude00`: 1, `😀`: 1, `\n`: 1, `\\\"`: 2, `a\/b`: 3,
	} {
		assert.Equal(t, n, stringLen([]byte(raw)), raw)
	}
}

// TestUnescapeMatchesEncodingJSON: keys are compared after unescaping, so the
// unescaper must agree with a real decoder on every escape.
func TestUnescapeMatchesEncodingJSON(t *testing.T) {
	for _, raw := range []string{
		`plain`, `a\"b`, `a\\b`, `a\/b`, `\b\f\n\r\t`, `\u0041\u00e9\u20ac`, `\ud83d\ude00x`, `é😀`, `\u0000`, ``,
	} {
		var want string
		require.NoError(t, json.Unmarshal([]byte(`"`+raw+`"`), &want), raw)
		assert.Equal(t, want, string(appendUnescaped(nil, []byte(raw))), raw)
		end, esc, err := scanString([]byte(`"`+raw+`"`), 0)
		assert.Equal(t, scanOK, err, raw)
		assert.Equal(t, len(raw)+2, end, raw)
		assert.Equal(t, strings.Contains(raw, `\`), esc, raw)
		assert.True(t, keyEquals([]byte(raw), esc, want), raw)
	}
	assert.False(t, keyEquals([]byte(`\u0069\u0064`), true, "ID"))
	assert.True(t, keyEquals([]byte(`\u0069\u0064`), true, "id"))
}
