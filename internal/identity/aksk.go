package identity

import (
	"errors"
	"fmt"
	"strings"
)

// SDKHMACScheme is the only AK/SK Authorization scheme accepted
// (docs/compute-api-facts.md, "AK/SK signing").
const SDKHMACScheme = "SDK-HMAC-SHA256"

// ErrMalformedAuthorization is wrapped by every [ParseSDKHMAC] error.
var ErrMalformedAuthorization = errors.New("identity: malformed SDK-HMAC-SHA256 authorization")

// SDKSignature is a parsed `Authorization: SDK-HMAC-SHA256 Access=<AK>,
// SignedHeaders=<h1;h2>, Signature=<hex>` header. ecsgate holds no SK and
// cannot verify the signature (APIG does); it only decides on signed
// material.
type SDKSignature struct {
	// AccessKey is the AK, [A-Za-z0-9]+.
	AccessKey string
	// SignedHeaders are the signed header names, lower-case, in the order
	// the client listed them.
	SignedHeaders []string
	// Signature is 64 lower-case hex digits.
	Signature string
}

// ParseSDKHMAC parses an AK/SK Authorization header strictly: the scheme
// exactly SDK-HMAC-SHA256 followed by one space, then exactly one Access=,
// one SignedHeaders= and one Signature= parameter in any order, separated by
// commas each optionally followed by spaces. Anything else (other or
// repeated parameters, spaces elsewhere, empty values, upper-case header
// names, repeated or more than 64 signed headers, a signature that is not 64 lower-case hex
// digits) is an error wrapping [ErrMalformedAuthorization]. Errors never
// echo the input.
func ParseSDKHMAC(authorization string) (SDKSignature, error) {
	var sig SDKSignature
	rest, ok := strings.CutPrefix(authorization, SDKHMACScheme+" ")
	if !ok {
		return sig, fmt.Errorf("%w: scheme is not %s", ErrMalformedAuthorization, SDKHMACScheme)
	}
	var seenAccess, seenHeaders, seenSignature bool
	for first := true; ; first = false {
		part, tail, more := strings.Cut(rest, ",")
		if !first {
			part = strings.TrimLeft(part, " ")
		}
		name, value, hasEq := strings.Cut(part, "=")
		if !hasEq {
			return SDKSignature{}, fmt.Errorf("%w: parameter without '='", ErrMalformedAuthorization)
		}
		switch name {
		case "Access":
			if seenAccess {
				return SDKSignature{}, fmt.Errorf("%w: repeated Access", ErrMalformedAuthorization)
			}
			seenAccess = true
			if !isAccessKey(value) {
				return SDKSignature{}, fmt.Errorf("%w: Access is not [A-Za-z0-9]+", ErrMalformedAuthorization)
			}
			sig.AccessKey = value
		case "SignedHeaders":
			if seenHeaders {
				return SDKSignature{}, fmt.Errorf("%w: repeated SignedHeaders", ErrMalformedAuthorization)
			}
			seenHeaders = true
			hs, err := parseSignedHeaders(value)
			if err != nil {
				return SDKSignature{}, err
			}
			sig.SignedHeaders = hs
		case "Signature":
			if seenSignature {
				return SDKSignature{}, fmt.Errorf("%w: repeated Signature", ErrMalformedAuthorization)
			}
			seenSignature = true
			if !isLowerHex64(value) {
				return SDKSignature{}, fmt.Errorf("%w: Signature is not 64 lower-case hex digits", ErrMalformedAuthorization)
			}
			sig.Signature = value
		default:
			return SDKSignature{}, fmt.Errorf("%w: unknown parameter", ErrMalformedAuthorization)
		}
		if !more {
			break
		}
		rest = tail
	}
	if !seenAccess || !seenHeaders || !seenSignature {
		return SDKSignature{}, fmt.Errorf("%w: Access, SignedHeaders and Signature are all required", ErrMalformedAuthorization)
	}
	return sig, nil
}

// maxSignedHeaders bounds the signed-header list (real clients sign a handful)
// so the duplicate check stays cheap on hostile input.
const maxSignedHeaders = 64

func parseSignedHeaders(v string) ([]string, error) {
	if v == "" {
		return nil, fmt.Errorf("%w: empty SignedHeaders", ErrMalformedAuthorization)
	}
	if strings.Count(v, ";") >= maxSignedHeaders {
		return nil, fmt.Errorf("%w: more than %d SignedHeaders", ErrMalformedAuthorization, maxSignedHeaders)
	}
	hs := strings.Split(v, ";")
	for i, h := range hs {
		if !isLowerToken(h) {
			return nil, fmt.Errorf("%w: SignedHeaders entry is not a lower-case header name", ErrMalformedAuthorization)
		}
		for _, prev := range hs[:i] {
			if prev == h {
				return nil, fmt.Errorf("%w: repeated SignedHeaders entry", ErrMalformedAuthorization)
			}
		}
	}
	return hs, nil
}

// String formats s as the Authorization value the Huawei SDKs send; it
// parses back to s.
func (s SDKSignature) String() string {
	return SDKHMACScheme + " Access=" + s.AccessKey + ", SignedHeaders=" +
		strings.Join(s.SignedHeaders, ";") + ", Signature=" + s.Signature
}

// Signs reports whether the header (any case) is covered by the signature,
// e.g. Signs("X-Project-Id") before trusting a project id. An AK/SK request
// is only ever judged on signed material (docs/compute-api-facts.md, "AK/SK
// signing").
func (s SDKSignature) Signs(header string) bool {
	for _, h := range s.SignedHeaders {
		if strings.EqualFold(h, header) {
			return true
		}
	}
	return false
}

// AKSKIdentity is the identity of an AK/SK request: the access key only.
// User, project and roles are unknown (mapping an AK to a user is a separate
// lookup); a project may come from X-Project-Id when [SDKSignature.Signs] it.
func AKSKIdentity(sig SDKSignature) *Identity {
	return &Identity{Method: MethodAKSK, AccessKey: sig.AccessKey}
}

func isAccessKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isLowerToken reports whether s is a non-empty RFC 9110 token without
// upper-case letters.
func isLowerToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
