package tracing

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ecsgate/ecsgate/policy"
)

// secretKeys are the argument names whose values never reach a record,
// compared case-insensitively: Nova's adminPass (changePassword, rebuild,
// rescue, evacuate, server create), Huawei's adminpass / admin_pass
// (changeos, reinstallos, metadata), new_password (os-reset-password) and
// user_data (cloud-init scripts routinely embed credentials). Any key
// containing "password" is secret too, and so are personality file contents.
var secretKeys = map[string]bool{
	"adminpass":  true,
	"admin_pass": true,
	"user_data":  true,
	"userdata":   true,
}

// secretKey reports whether the value under key must be masked.
func secretKey(key string) bool {
	lower := strings.ToLower(key)
	return secretKeys[lower] || strings.Contains(lower, "password")
}

// mayHoldSecret is a cheap pre-check: most arguments (null, {"type":"SOFT"})
// cannot contain a secret key, and need not be decoded. A backslash forces
// the full check, since "admin\u0050ass" is adminPass to the upstream.
func mayHoldSecret(raw []byte) bool {
	if bytes.IndexByte(raw, '\\') >= 0 {
		return true
	}
	for _, needle := range [...][]byte{[]byte("pass"), []byte("user_data"), []byte("userdata"), []byte("contents")} {
		if containsFold(raw, needle) {
			return true
		}
	}
	return false
}

// containsFold is bytes.Contains ignoring ASCII case; needle is lower case.
func containsFold(s, needle []byte) bool {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

// maskValue replaces secret values in v (decoded JSON) in place, appending
// the JSON pointer of each to masked. inPersonality is true below a
// "personality" key, where file "contents" are secret.
func maskValue(v any, at string, inPersonality bool, masked *[]string) any {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys) // deterministic "masked" order
		for _, k := range keys {
			p := at + "/" + escapePointer(k)
			if secretKey(k) || inPersonality && strings.EqualFold(k, "contents") {
				x[k] = policy.Redacted
				*masked = append(*masked, p)
				continue
			}
			x[k] = maskValue(x[k], p, inPersonality || strings.EqualFold(k, "personality"), masked)
		}
	case []any:
		for i := range x {
			x[i] = maskValue(x[i], at+"/"+strconv.Itoa(i), inPersonality, masked)
		}
	}
	return v
}

// escapePointer escapes a JSON pointer reference token (RFC 6901).
func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Like encoding/json (without HTML
// escaping) it escapes quotes, backslashes, control characters, U+2028 and
// U+2029, and replaces invalid UTF-8 with U+FFFD.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
