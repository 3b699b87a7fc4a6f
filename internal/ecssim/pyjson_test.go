package ecssim

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPyDecode(t *testing.T) {
	ok := map[string]string{
		`{"a": 1, "b": [true, false, null], "a": "x"}`: `{'a': 'x', 'b': [True, False, None]}`,
		` [1.5, -0, 1e3, NaN, -Infinity] `:             `[1.5, -0, 1000.0, nan, -inf]`,
		`"\ud83d\ude00 \ud800"`:                        "'\U0001F600 \\ud800'",
		`{"k": "it's"}`:                                `{'k': "it's"}`,
		`"\u00e9\n"`:                                   `'é\n'`,
		"1e999":                                        "inf",
	}
	for in, want := range ok {
		v, err := pyDecode([]byte(in))
		require.NoError(t, err, in)
		assert.Equal(t, want, pyRepr(v), in)
	}
	bad := []string{
		``, ` `, `{`, `{"a" 1}`, `{"a": 1,}`, `[1,]`, `01`, `1.`, `.5`, `+1`, `nan`, `"a`, "\"\t\"", `"\x"`, `"\u12"`,
		`{'a': 1}`, `{"a": 1} {}`, "\xff", "\xef\xbb\xbf{}", "\"\xed\xa0\x80\"", "{\"a\":\f1}",
	}
	for _, in := range bad {
		_, err := pyDecode([]byte(in))
		assert.Error(t, err, "%q", in)
	}

	v, err := pyDecode([]byte(`-Infinity`))
	require.NoError(t, err)
	assert.True(t, math.IsInf(v.(pyNumber).Float, -1))

	_, err = pyDecode([]byte(strings.Repeat("[", pyMaxDepth+1) + strings.Repeat("]", pyMaxDepth+1)))
	assert.ErrorIs(t, err, errPyRecursion)
	_, err = pyDecode([]byte(strings.Repeat("[", pyMaxDepth) + strings.Repeat("]", pyMaxDepth)))
	assert.NoError(t, err)

	// A lone surrogate survives as one code point.
	v, err = pyDecode([]byte(`"\udc00x"`))
	require.NoError(t, err)
	assert.Equal(t, 2, pyLen(v.(string)))
}

func TestPeekAction(t *testing.T) {
	for body, want := range map[string]int{
		`{"lock": null}`: 0, `{"a": 1, "a": 2}`: 0, `{}`: 400, `[]`: 400, `["x"]`: 404, `"\ud800"`: 404, `""`: 400,
		`0`: 404, `{"a":1,"b":2}`: 400,
	} {
		_, status, _ := peekAction([]byte(body))
		assert.Equal(t, want, status, body)
	}
}
