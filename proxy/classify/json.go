package classify

import (
	"bytes"
	"math"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// The scanner is a strict JSON validator written for the differences between
// Python's json module (what Nova runs) and Go's:
//
//   - duplicate keys are an error at every depth (both parsers keep the last
//     one, but a reader that keeps the first would see another value);
//   - escapes that decode to a lone surrogate are an error (Python keeps
//     them, Go substitutes U+FFFD);
//   - numbers that overflow float64 are an error (Python makes them inf);
//   - nesting deeper than maxDepth is an error (Python fails near 1000);
//   - NaN and Infinity are not JSON, so they are errors too.
//
// Invalid UTF-8 and a byte-order mark are checked before scanning. It builds
// nothing: it only reports where values start and end.

// maxDepth bounds nesting; no ECS or Nova body comes near it.
const maxDepth = 64

// dupMapThreshold is the key count above which an object's duplicate check
// switches from a linear scan to a map, to keep large bodies linear.
const dupMapThreshold = 16

type scanErr uint8

const (
	scanOK scanErr = iota
	scanSyntax
	scanDuplicate
	scanDepth
	scanSurrogate
	scanOverflow
)

func (e scanErr) reason() string {
	switch e {
	case scanDuplicate:
		return "duplicate_key"
	case scanDepth:
		return "too_deep"
	case scanSurrogate:
		return "lone_surrogate"
	case scanOverflow:
		return "number_overflow"
	}
	return "invalid_json"
}

// topInfo describes the top-level value of a document.
type topInfo struct {
	kind byte // '{', '[', '"', '0' (number), 'l' (true, false, null)
	// count is the number of members, elements or (for strings) code points,
	// as Python's len() would count them.
	count int
	// For objects: the first member's raw key (without quotes), whether it
	// has escapes, and its value span.
	keyRaw     []byte
	keyEscaped bool
	valStart   int
	valEnd     int
}

type scanner struct {
	data []byte
	// keys holds the unescaped keys of every open object, for the duplicate
	// check; buf holds unescaped copies of keys that had escapes.
	keys [][]byte
	buf  []byte
	// top is filled in when wantTop is set. It lives in the scanner, not
	// behind a caller's pointer, so that the caller's copy stays on its stack.
	top     topInfo
	wantTop bool
}

var scannerPool = sync.Pool{New: func() any { return new(scanner) }}

// scanDocument validates data as one strict JSON document and, if wantTop,
// describes its top-level value.
func scanDocument(data []byte, wantTop bool) (topInfo, scanErr) {
	s := scannerPool.Get().(*scanner)
	s.data, s.wantTop, s.top = data, wantTop, topInfo{}
	s.keys, s.buf = s.keys[:0], s.buf[:0]
	i := skipWS(data, 0)
	end, err := s.value(i, 0)
	if err == scanOK && skipWS(data, end) != len(data) {
		err = scanSyntax
	}
	top := s.top
	s.data, s.top = nil, topInfo{}
	clear(s.keys[:cap(s.keys)])
	if cap(s.keys) <= 1024 && cap(s.buf) <= 64<<10 {
		scannerPool.Put(s)
	}
	return top, err
}

// validateBody applies the pre-scan checks and the scanner to a whole body.
func validateBody(body []byte, wantTop bool) (top topInfo, reason string, ok bool) {
	if bytes.HasPrefix(body, utf8BOM) {
		return top, "bom", false
	}
	if !utf8.Valid(body) {
		return top, "invalid_utf8", false
	}
	top, err := scanDocument(body, wantTop)
	if err != scanOK {
		return top, err.reason(), false
	}
	return top, "", true
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func skipWS(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (s *scanner) value(i, depth int) (int, scanErr) {
	d := s.data
	if i >= len(d) {
		return i, scanSyntax
	}
	top := depth == 0 && s.wantTop
	switch c := d[i]; {
	case c == '{':
		return s.object(i, depth+1, top)
	case c == '[':
		return s.array(i, depth+1, top)
	case c == '"':
		end, _, err := scanString(d, i)
		if top && err == scanOK {
			s.top.kind = '"'
			s.top.count = stringLen(d[i+1 : end-1])
		}
		return end, err
	case c == '-' || ('0' <= c && c <= '9'):
		if top {
			s.top.kind = '0'
		}
		return scanNumber(d, i)
	case c == 't':
		return s.literal(i, "true", top)
	case c == 'f':
		return s.literal(i, "false", top)
	case c == 'n':
		return s.literal(i, "null", top)
	}
	return i, scanSyntax
}

func (s *scanner) literal(i int, lit string, top bool) (int, scanErr) {
	if len(s.data)-i < len(lit) || string(s.data[i:i+len(lit)]) != lit {
		return i, scanSyntax
	}
	if top {
		s.top.kind = 'l'
	}
	return i + len(lit), scanOK
}

func (s *scanner) array(i, depth int, top bool) (int, scanErr) {
	if depth > maxDepth {
		return i, scanDepth
	}
	d := s.data
	i = skipWS(d, i+1)
	n := 0
	if i < len(d) && d[i] == ']' {
		i++
	} else {
		for {
			var err scanErr
			i, err = s.value(i, depth)
			if err != scanOK {
				return i, err
			}
			n++
			i = skipWS(d, i)
			if i >= len(d) {
				return i, scanSyntax
			}
			if d[i] == ',' {
				i = skipWS(d, i+1)
				continue
			}
			if d[i] == ']' {
				i++
				break
			}
			return i, scanSyntax
		}
	}
	if top {
		s.top.kind, s.top.count = '[', n
	}
	return i, scanOK
}

func (s *scanner) object(i, depth int, top bool) (int, scanErr) {
	if depth > maxDepth {
		return i, scanDepth
	}
	d := s.data
	i = skipWS(d, i+1)
	if top {
		s.top.kind, s.top.count = '{', 0
	}
	if i < len(d) && d[i] == '}' {
		return i + 1, scanOK
	}
	start, bufStart := len(s.keys), len(s.buf)
	var set map[string]struct{}
	n := 0
	for {
		if i >= len(d) || d[i] != '"' {
			return i, scanSyntax
		}
		end, esc, err := scanString(d, i)
		if err != scanOK {
			return end, err
		}
		raw := d[i+1 : end-1]
		key := raw
		if esc {
			b0 := len(s.buf)
			s.buf = appendUnescaped(s.buf, raw)
			key = s.buf[b0:len(s.buf):len(s.buf)]
		}
		if set != nil {
			if _, dup := set[string(key)]; dup {
				return i, scanDuplicate
			}
			set[string(key)] = struct{}{}
		} else {
			for _, k := range s.keys[start:] {
				if bytes.Equal(k, key) {
					return i, scanDuplicate
				}
			}
			s.keys = append(s.keys, key)
			if len(s.keys)-start > dupMapThreshold {
				set = make(map[string]struct{}, 2*dupMapThreshold)
				for _, k := range s.keys[start:] {
					set[string(k)] = struct{}{}
				}
				s.keys = s.keys[:start]
			}
		}
		i = skipWS(d, end)
		if i >= len(d) || d[i] != ':' {
			return i, scanSyntax
		}
		i = skipWS(d, i+1)
		vs := i
		i, err = s.value(i, depth)
		if err != scanOK {
			return i, err
		}
		if top && n == 0 {
			s.top.keyRaw, s.top.keyEscaped = raw, esc
			s.top.valStart, s.top.valEnd = vs, i
		}
		n++
		i = skipWS(d, i)
		if i >= len(d) {
			return i, scanSyntax
		}
		if d[i] == ',' {
			i = skipWS(d, i+1)
			continue
		}
		if d[i] == '}' {
			s.keys, s.buf = s.keys[:start], s.buf[:bufStart]
			if top {
				s.top.count = n
			}
			return i + 1, scanOK
		}
		return i, scanSyntax
	}
}

// scanString checks the string starting at d[i] == '"' and returns the index
// after its closing quote and whether it contains escapes. Bytes >= 0x80 are
// not checked here: the body was checked with utf8.Valid.
func scanString(d []byte, i int) (int, bool, scanErr) {
	i++
	esc := false
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			return i + 1, esc, scanOK
		case c < 0x20:
			return i, esc, scanSyntax
		case c != '\\':
			i++
			continue
		}
		esc = true
		if i+1 >= len(d) {
			return i, esc, scanSyntax
		}
		switch d[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			r, ok := hex4(d, i+2)
			if !ok {
				return i, esc, scanSyntax
			}
			i += 6
			switch {
			case utf16.IsSurrogate(r) && r < 0xDC00:
				if i+1 >= len(d) || d[i] != '\\' || d[i+1] != 'u' {
					return i, esc, scanSurrogate
				}
				r2, ok := hex4(d, i+2)
				if !ok {
					return i, esc, scanSyntax
				}
				if r2 < 0xDC00 || r2 > 0xDFFF {
					return i, esc, scanSurrogate
				}
				i += 6
			case utf16.IsSurrogate(r):
				return i, esc, scanSurrogate
			}
		default:
			return i, esc, scanSyntax
		}
	}
	return i, esc, scanSyntax
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		if !isHex(c) {
			return 0, false
		}
		r = r<<4 | rune(unhex(c))
	}
	return r, true
}

// scanNumber checks a JSON number starting at d[i].
func scanNumber(d []byte, i int) (int, scanErr) {
	start := i
	if d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	default:
		return i, scanSyntax
	}
	if i < len(d) && d[i] == '.' {
		i++
		j := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		if i == j {
			return i, scanSyntax
		}
	}
	exp := false
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		exp = true
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		j := i
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
		if i == j {
			return i, scanSyntax
		}
	}
	// Only an exponent or more than 308 digits can overflow float64.
	if exp || i-start > 300 {
		f, _ := strconv.ParseFloat(string(d[start:i]), 64)
		if math.IsInf(f, 0) {
			return i, scanOverflow
		}
	}
	return i, scanOK
}

// appendUnescaped appends the decoded contents of a validated JSON string
// (without quotes). Surrogate pairs are combined as Python does.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(raw, i+2)
			i += 6
			if utf16.IsSurrogate(r) {
				r2, _ := hex4(raw, i+2)
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

// stringLen counts the code points of a validated JSON string's contents,
// as Python's len() counts the decoded str.
func stringLen(raw []byte) int {
	n := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\' && raw[i+1] == 'u':
			r, _ := hex4(raw, i+2)
			i += 6
			if utf16.IsSurrogate(r) {
				i += 6
			}
		case c == '\\':
			i += 2
		default:
			if c&0xC0 != 0x80 {
				n++
			}
			i++
			continue
		}
		n++
	}
	return n
}

// keyEquals compares a raw (possibly escaped) key of a validated document
// with want, after unescaping.
func keyEquals(raw []byte, esc bool, want string) bool {
	if !esc {
		return string(raw) == want
	}
	if len(raw) > 6*len(want)+8 {
		return false
	}
	var tmp [256]byte
	return string(appendUnescaped(tmp[:0], raw)) == want
}

// skipValue returns the end of the validated value starting at d[i].
func skipValue(d []byte, i int) int {
	switch d[i] {
	case '"':
		end, _, _ := scanString(d, i)
		return end
	case '{', '[':
		depth := 0
		for i < len(d) {
			switch d[i] {
			case '"':
				i, _, _ = scanString(d, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(d) {
		switch d[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// memberIter walks the members of a validated object.
type memberIter struct {
	d []byte
	i int
}

func newMemberIter(d []byte, objStart int) memberIter {
	return memberIter{d: d, i: skipWS(d, objStart+1)}
}

func (it *memberIter) next() (keyRaw []byte, keyEsc bool, vs, ve int, ok bool) {
	d := it.d
	if it.i >= len(d) || d[it.i] != '"' {
		return nil, false, 0, 0, false
	}
	end, esc, _ := scanString(d, it.i)
	keyRaw = d[it.i+1 : end-1]
	vs = skipWS(d, skipWS(d, end)+1) // past ':'
	ve = skipValue(d, vs)
	i := skipWS(d, ve)
	if i < len(d) && d[i] == ',' {
		i = skipWS(d, i+1)
	}
	it.i = i
	return keyRaw, esc, vs, ve, true
}
