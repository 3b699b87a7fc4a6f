package identity

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testAK  = "QTWAOYTTINDUT2QVKYUC"
	testSig = "7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe"
)

func TestParseSDKHMACValid(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want SDKSignature
	}{
		"go sdk v3": {
			in:   "SDK-HMAC-SHA256 Access=" + testAK + ", SignedHeaders=x-project-id;x-sdk-date, Signature=" + testSig,
			want: SDKSignature{AccessKey: testAK, SignedHeaders: []string{"x-project-id", "x-sdk-date"}, Signature: testSig},
		},
		"host signed, no spaces after commas": {
			in:   "SDK-HMAC-SHA256 Access=" + testAK + ",SignedHeaders=content-type;host;x-sdk-date,Signature=" + testSig,
			want: SDKSignature{AccessKey: testAK, SignedHeaders: []string{"content-type", "host", "x-sdk-date"}, Signature: testSig},
		},
		"several spaces after a comma": {
			in:   "SDK-HMAC-SHA256 Access=ak1,   SignedHeaders=x-sdk-date,  Signature=" + testSig,
			want: SDKSignature{AccessKey: "ak1", SignedHeaders: []string{"x-sdk-date"}, Signature: testSig},
		},
		"other order": {
			in:   "SDK-HMAC-SHA256 Signature=" + testSig + ", Access=" + testAK + ", SignedHeaders=x-sdk-date",
			want: SDKSignature{AccessKey: testAK, SignedHeaders: []string{"x-sdk-date"}, Signature: testSig},
		},
		"token chars in header names": {
			in:   "SDK-HMAC-SHA256 Access=A, SignedHeaders=x-sdk-date;x_odd.name~1, Signature=" + testSig,
			want: SDKSignature{AccessKey: "A", SignedHeaders: []string{"x-sdk-date", "x_odd.name~1"}, Signature: testSig},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := ParseSDKHMAC(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			again, err := ParseSDKHMAC(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again)
		})
	}
}

func TestParseSDKHMACInvalid(t *testing.T) {
	const (
		a = "Access=" + testAK
		h = "SignedHeaders=x-project-id;x-sdk-date"
		s = "Signature=" + testSig
	)
	tooMany := strings.TrimSuffix(strings.Repeat("h;", maxSignedHeaders+1), ";")
	for name, in := range map[string]string{
		"empty":                   "",
		"scheme only":             "SDK-HMAC-SHA256",
		"scheme and space":        "SDK-HMAC-SHA256 ",
		"lowercase scheme":        "sdk-hmac-sha256 " + a + ", " + h + ", " + s,
		"wrong scheme":            "SDK-HMAC-SM3 " + a + ", " + h + ", " + s,
		"aws scheme":              "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=" + testSig,
		"bearer":                  "Bearer abc",
		"two spaces after scheme": "SDK-HMAC-SHA256  " + a + ", " + h + ", " + s,
		"tab after scheme":        "SDK-HMAC-SHA256\t" + a + ", " + h + ", " + s,
		"leading space":           " SDK-HMAC-SHA256 " + a + ", " + h + ", " + s,
		"trailing space":          "SDK-HMAC-SHA256 " + a + ", " + h + ", " + s + " ",
		"trailing comma":          "SDK-HMAC-SHA256 " + a + ", " + h + ", " + s + ",",
		"space before comma":      "SDK-HMAC-SHA256 " + a + " , " + h + ", " + s,
		"tab after comma":         "SDK-HMAC-SHA256 " + a + ",\t" + h + ", " + s,
		"space around =":          "SDK-HMAC-SHA256 Access = " + testAK + ", " + h + ", " + s,
		"semicolon separated":     "SDK-HMAC-SHA256 " + a + "; " + h + "; " + s,
		"missing access":          "SDK-HMAC-SHA256 " + h + ", " + s,
		"missing signed headers":  "SDK-HMAC-SHA256 " + a + ", " + s,
		"missing signature":       "SDK-HMAC-SHA256 " + a + ", " + h,
		"duplicate access":        "SDK-HMAC-SHA256 " + a + ", Access=OTHER, " + h + ", " + s,
		"duplicate same access":   "SDK-HMAC-SHA256 " + a + ", " + a + ", " + h + ", " + s,
		"duplicate headers":       "SDK-HMAC-SHA256 " + a + ", " + h + ", SignedHeaders=host, " + s,
		"duplicate signature":     "SDK-HMAC-SHA256 " + a + ", " + h + ", " + s + ", " + s,
		"extra param":             "SDK-HMAC-SHA256 " + a + ", " + h + ", " + s + ", Date=20261128T042854Z",
		"lower-case param name":   "SDK-HMAC-SHA256 access=" + testAK + ", " + h + ", " + s,
		"empty param":             "SDK-HMAC-SHA256 " + a + ", , " + h + ", " + s,
		"param without =":         "SDK-HMAC-SHA256 " + a + ", " + h + ", " + s + ", x",
		"empty access":            "SDK-HMAC-SHA256 Access=, " + h + ", " + s,
		"access with dash":        "SDK-HMAC-SHA256 Access=AK-1, " + h + ", " + s,
		"access with =":           "SDK-HMAC-SHA256 Access=AK=, " + h + ", " + s,
		"access non-ascii":        "SDK-HMAC-SHA256 Access=AKé, " + h + ", " + s,
		"empty signed headers":    "SDK-HMAC-SHA256 " + a + ", SignedHeaders=, " + s,
		"empty header entry":      "SDK-HMAC-SHA256 " + a + ", SignedHeaders=host;;x-sdk-date, " + s,
		"trailing semicolon":      "SDK-HMAC-SHA256 " + a + ", SignedHeaders=host;, " + s,
		"upper-case header":       "SDK-HMAC-SHA256 " + a + ", SignedHeaders=X-Project-Id;x-sdk-date, " + s,
		"header with space":       "SDK-HMAC-SHA256 " + a + ", SignedHeaders=x-sdk-date; host, " + s,
		"header with colon":       "SDK-HMAC-SHA256 " + a + ", SignedHeaders=host:x, " + s,
		"repeated header entry":   "SDK-HMAC-SHA256 " + a + ", SignedHeaders=host;x-sdk-date;host, " + s,
		"too many headers":        "SDK-HMAC-SHA256 " + a + ", SignedHeaders=" + tooMany + ", " + s,
		"short signature":         "SDK-HMAC-SHA256 " + a + ", " + h + ", Signature=" + testSig[:63],
		"long signature":          "SDK-HMAC-SHA256 " + a + ", " + h + ", Signature=" + testSig + "0",
		"upper-case hex":          "SDK-HMAC-SHA256 " + a + ", " + h + ", Signature=" + strings.ToUpper(testSig),
		"non-hex signature":       "SDK-HMAC-SHA256 " + a + ", " + h + ", Signature=" + testSig[:63] + "g",
		"empty signature":         "SDK-HMAC-SHA256 " + a + ", " + h + ", Signature=",
		"quoted value":            "SDK-HMAC-SHA256 Access=\"" + testAK + "\", " + h + ", " + s,
		"newline":                 "SDK-HMAC-SHA256 " + a + ",\n" + h + ", " + s,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSDKHMAC(in)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMalformedAuthorization)
			assert.NotContains(t, err.Error(), testSig)
			assert.NotContains(t, err.Error(), testAK)
		})
	}
}

func TestSDKSignatureSigns(t *testing.T) {
	sig, err := ParseSDKHMAC("SDK-HMAC-SHA256 Access=" + testAK + ", SignedHeaders=host;x-project-id;x-sdk-date, Signature=" + testSig)
	require.NoError(t, err)
	assert.True(t, sig.Signs("X-Project-Id"))
	assert.True(t, sig.Signs("x-project-id"))
	assert.True(t, sig.Signs("Host"))
	assert.False(t, sig.Signs("X-Project"))
	assert.False(t, sig.Signs("Content-Type"))
	assert.False(t, sig.Signs(""))
	assert.Equal(t, "SDK-HMAC-SHA256 Access="+testAK+", SignedHeaders=host;x-project-id;x-sdk-date, Signature="+testSig, sig.String())

	goSDK, err := ParseSDKHMAC("SDK-HMAC-SHA256 Access=" + testAK + ", SignedHeaders=x-sdk-date, Signature=" + testSig)
	require.NoError(t, err)
	assert.False(t, goSDK.Signs("X-Project-Id"), "an unsigned X-Project-Id must not be trusted")
}

func TestAKSKIdentity(t *testing.T) {
	sig, err := ParseSDKHMAC("SDK-HMAC-SHA256 Access=" + testAK + ", SignedHeaders=x-sdk-date, Signature=" + testSig)
	require.NoError(t, err)
	id := AKSKIdentity(sig)
	assert.Equal(t, &Identity{Method: MethodAKSK, AccessKey: testAK}, id)
	assert.Nil(t, id.Roles)
	assert.True(t, id.ExpiresAt.IsZero())

	js, err := json.Marshal(id)
	require.NoError(t, err)
	assert.JSONEq(t, `{"method": "aksk", "access_key": "`+testAK+`", "roles": null, "system": false,
	  "user": {"id": "", "name": "", "domain": {"id": "", "name": ""}},
	  "project": {"id": "", "name": "", "domain": {"id": "", "name": ""}},
	  "domain_scope": {"id": "", "name": ""}}`, string(js))
}

func FuzzParseSDKHMAC(f *testing.F) {
	f.Add("SDK-HMAC-SHA256 Access=" + testAK + ", SignedHeaders=x-project-id;x-sdk-date, Signature=" + testSig)
	f.Add("SDK-HMAC-SHA256 Access=a,SignedHeaders=host,Signature=" + testSig)
	f.Add("SDK-HMAC-SHA256 Signature=" + testSig + ",   Access=Z9, SignedHeaders=a;b;c")
	f.Add("SDK-HMAC-SHA256 Access=a, Access=b, SignedHeaders=host, Signature=" + testSig)
	f.Add("SDK-HMAC-SHA256 Access=a, SignedHeaders=host;;x, Signature=" + testSig)
	f.Add("sdk-hmac-sha256 Access=a, SignedHeaders=host, Signature=" + testSig)
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		sig, err := ParseSDKHMAC(in)
		if err != nil {
			if !strings.HasPrefix(err.Error(), ErrMalformedAuthorization.Error()) {
				t.Fatalf("error does not wrap ErrMalformedAuthorization: %v", err)
			}
			return
		}
		// Accepted ⇒ well-formed parts, and formatting them round-trips.
		if !isAccessKey(sig.AccessKey) || !isLowerHex64(sig.Signature) || len(sig.SignedHeaders) == 0 {
			t.Fatalf("accepted malformed parts: %#v", sig)
		}
		for _, h := range sig.SignedHeaders {
			if !isLowerToken(h) || !sig.Signs(h) {
				t.Fatalf("bad signed header %q", h)
			}
		}
		out := sig.String()
		again, err := ParseSDKHMAC(out)
		if err != nil {
			t.Fatalf("re-formatted %q does not parse: %v", out, err)
		}
		if again.AccessKey != sig.AccessKey || again.Signature != sig.Signature ||
			strings.Join(again.SignedHeaders, ";") != strings.Join(sig.SignedHeaders, ";") {
			t.Fatalf("round trip changed %#v into %#v", sig, again)
		}
		// The canonical form differs from the input only by the spaces after
		// commas and the parameter order.
		if len(strings.ReplaceAll(out, " ", "")) != len(strings.ReplaceAll(in, " ", "")) {
			t.Fatalf("canonical form %q is not a re-spacing of %q", out, in)
		}
	})
}
