package ecssim

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is a small JSON decoder with the semantics of Python's json
// module as Nova uses it (oslo jsonutils.loads on the raw body), because Go's
// encoding/json disagrees with it in ways that matter to a proxy in front of
// Nova (docs/compute-api-facts.md, "Action extraction"):
//
//   - the input must be strict UTF-8 (Go substitutes U+FFFD); a leading
//     byte-order mark is an error;
//   - NaN, Infinity and -Infinity are accepted, numbers overflowing to
//     infinity too;
//   - duplicate keys: the last value wins, the key keeps the position of its
//     first occurrence;
//   - escapes decoding to lone surrogates are kept (encoded as WTF-8 bytes);
//   - whitespace is only space, tab, CR and LF;
//   - nesting beyond the interpreter's recursion limit is a RecursionError,
//     not a ValueError (Nova answers 500 instead of 400).
//
// Decoded values are nil, bool, string, pyNumber, []any and *pyObject.

// pyMaxDepth approximates CPython's recursion limit (1000 frames, some of
// them already used by the WSGI stack when the body is decoded).
const pyMaxDepth = 1000

// errPyRecursion is the decoder's RecursionError.
var errPyRecursion = errors.New("maximum recursion depth exceeded while decoding a JSON object from a unicode string")

// pyObject is a decoded JSON object.
type pyObject struct {
	keys []string
	vals map[string]any
}

func newPyObject() *pyObject { return &pyObject{vals: map[string]any{}} }

func (o *pyObject) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *pyObject) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

func (o *pyObject) len() int { return len(o.keys) }

// pyNumber is a decoded JSON number. Text is the literal as written
// (NaN, Infinity, -Infinity included).
type pyNumber struct {
	Text  string
	Float float64
	IsInt bool
}

// pyDecode decodes body like Python's json.loads(body.decode("utf-8")).
func pyDecode(body []byte) (any, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("invalid UTF-8")
	}
	d := &pyDecoder{s: body}
	d.ws()
	if d.i < len(d.s) && strings.HasPrefix(string(d.s[d.i:]), "\uFEFF") {
		return nil, errors.New("unexpected UTF-8 BOM (decode using utf-8-sig)")
	}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.ws()
	if d.i != len(d.s) {
		return nil, d.errorf("Extra data")
	}
	return v, nil
}

type pyDecoder struct {
	s []byte
	i int
}

func (d *pyDecoder) errorf(msg string) error {
	return errors.New(msg + " at char " + strconv.Itoa(d.i))
}

func (d *pyDecoder) ws() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *pyDecoder) hasPrefix(p string) bool {
	return strings.HasPrefix(string(d.s[d.i:]), p)
}

func (d *pyDecoder) value(depth int) (any, error) {
	if d.i >= len(d.s) {
		return nil, d.errorf("Expecting value")
	}
	switch c := d.s[d.i]; {
	case c == '{':
		if depth >= pyMaxDepth {
			return nil, errPyRecursion
		}
		return d.object(depth + 1)
	case c == '[':
		if depth >= pyMaxDepth {
			return nil, errPyRecursion
		}
		return d.array(depth + 1)
	case c == '"':
		return d.str()
	case d.hasPrefix("null"):
		d.i += 4
		return nil, nil
	case d.hasPrefix("true"):
		d.i += 4
		return true, nil
	case d.hasPrefix("false"):
		d.i += 5
		return false, nil
	case d.hasPrefix("NaN"):
		d.i += 3
		return pyNumber{Text: "NaN", Float: math.NaN()}, nil
	case d.hasPrefix("Infinity"):
		d.i += 8
		return pyNumber{Text: "Infinity", Float: math.Inf(1)}, nil
	case d.hasPrefix("-Infinity"):
		d.i += 9
		return pyNumber{Text: "-Infinity", Float: math.Inf(-1)}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	default:
		return nil, d.errorf("Expecting value")
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (d *pyDecoder) number() (any, error) {
	start := d.i
	if d.s[d.i] == '-' {
		d.i++
	}
	if d.i >= len(d.s) || !isDigit(d.s[d.i]) {
		d.i = start
		return nil, d.errorf("Expecting value")
	}
	if d.s[d.i] == '0' {
		d.i++
	} else {
		for d.i < len(d.s) && isDigit(d.s[d.i]) {
			d.i++
		}
	}
	isInt := true
	if d.i+1 < len(d.s) && d.s[d.i] == '.' && isDigit(d.s[d.i+1]) {
		isInt = false
		d.i++
		for d.i < len(d.s) && isDigit(d.s[d.i]) {
			d.i++
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		j := d.i + 1
		if j < len(d.s) && (d.s[j] == '+' || d.s[j] == '-') {
			j++
		}
		if j < len(d.s) && isDigit(d.s[j]) {
			isInt = false
			for j < len(d.s) && isDigit(d.s[j]) {
				j++
			}
			d.i = j
		}
	}
	text := string(d.s[start:d.i])
	f, _ := strconv.ParseFloat(text, 64) // overflow gives ±Inf, as in Python
	return pyNumber{Text: text, Float: f, IsInt: isInt}, nil
}

func hexVal(b []byte) (rune, bool) {
	if len(b) != 4 {
		return 0, false
	}
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}

// appendWTF8 appends r, encoding a lone surrogate as its three-byte
// generalised UTF-8 form so that it survives in a Go string.
func appendWTF8(b []byte, r rune) []byte {
	if r >= 0xD800 && r <= 0xDFFF {
		return append(b, byte(0xE0|(r>>12)), byte(0x80|((r>>6)&0x3F)), byte(0x80|(r&0x3F)))
	}
	return utf8.AppendRune(b, r)
}

func (d *pyDecoder) str() (string, error) {
	d.i++ // opening quote
	var out []byte
	for {
		if d.i >= len(d.s) {
			return "", d.errorf("Unterminated string starting")
		}
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return string(out), nil
		case c < 0x20:
			return "", d.errorf("Invalid control character")
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		}
		// escape
		d.i++
		if d.i >= len(d.s) {
			return "", d.errorf("Unterminated string starting")
		}
		e := d.s[d.i]
		d.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if d.i+4 > len(d.s) {
				return "", d.errorf("Invalid \\uXXXX escape")
			}
			r, ok := hexVal(d.s[d.i : d.i+4])
			if !ok {
				return "", d.errorf("Invalid \\uXXXX escape")
			}
			d.i += 4
			if r >= 0xD800 && r <= 0xDBFF && d.i+6 <= len(d.s) && d.s[d.i] == '\\' && d.s[d.i+1] == 'u' {
				if lo, ok := hexVal(d.s[d.i+2 : d.i+6]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
					d.i += 6
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				}
			}
			out = appendWTF8(out, r)
		default:
			return "", d.errorf("Invalid \\escape")
		}
	}
}

func (d *pyDecoder) object(depth int) (any, error) {
	d.i++ // {
	o := newPyObject()
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return o, nil
	}
	for {
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return nil, d.errorf("Expecting property name enclosed in double quotes")
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.ws()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return nil, d.errorf("Expecting ':' delimiter")
		}
		d.i++
		d.ws()
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		o.set(k, v)
		d.ws()
		if d.i >= len(d.s) {
			return nil, d.errorf("Expecting ',' delimiter")
		}
		switch d.s[d.i] {
		case ',':
			d.i++
			d.ws()
		case '}':
			d.i++
			return o, nil
		default:
			return nil, d.errorf("Expecting ',' delimiter")
		}
	}
}

func (d *pyDecoder) array(depth int) (any, error) {
	d.i++ // [
	arr := []any{}
	d.ws()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return arr, nil
	}
	for {
		v, err := d.value(depth)
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		d.ws()
		if d.i >= len(d.s) {
			return nil, d.errorf("Expecting ',' delimiter")
		}
		switch d.s[d.i] {
		case ',':
			d.i++
			d.ws()
		case ']':
			d.i++
			return arr, nil
		default:
			return nil, d.errorf("Expecting ',' delimiter")
		}
	}
}

// pyLen is Python's len() of a str: code points, a lone surrogate
// (three WTF-8 bytes) counting as one.
func pyLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == 0xED && i+2 < len(s) && s[i+1] >= 0xA0 {
			i += 3
		} else {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
		n++
	}
	return n
}

// pyRepr renders v the way Python's repr() would; used in Nova's schema
// error messages.
func pyRepr(v any) string {
	switch t := v.(type) {
	case nil:
		return "None"
	case bool:
		if t {
			return "True"
		}
		return "False"
	case string:
		return pyStrRepr(t)
	case pyNumber:
		switch t.Text {
		case "NaN":
			return "nan"
		case "Infinity":
			return "inf"
		case "-Infinity":
			return "-inf"
		}
		if t.IsInt {
			return t.Text
		}
		if math.IsInf(t.Float, 0) {
			if t.Float > 0 {
				return "inf"
			}
			return "-inf"
		}
		s := strconv.FormatFloat(t.Float, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eIN") {
			s += ".0"
		}
		return s
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case *pyObject:
		parts := make([]string, 0, t.len())
		for _, k := range t.keys {
			parts = append(parts, pyStrRepr(k)+": "+pyRepr(t.vals[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return "?"
	}
}

// pyStr renders v the way Python's str() would (strings unquoted).
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

func pyStrRepr(s string) string {
	q := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, "\"") {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for i := 0; i < len(s); {
		if s[i] == 0xED && i+2 < len(s) && s[i+1] >= 0xA0 { // lone surrogate (WTF-8)
			r := rune(s[i]&0x0F)<<12 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F)
			b.WriteString(`\u` + strconv.FormatInt(int64(r), 16))
			i += 3
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x` + strconv.FormatInt(int64(r)+0x100, 16)[1:])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}
