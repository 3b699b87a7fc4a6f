package identity

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSelectCredential(t *testing.T) {
	const sig = "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" +
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for name, tc := range map[string]struct {
		h      http.Header
		want   Credential
		reason string // CredentialError.Reason, "" for no error
	}{
		"none":          {h: http.Header{}},
		"auth token":    {h: http.Header{"X-Auth-Token": {"t1"}}, want: Credential{Kind: CredentialToken, Token: "t1", Header: "X-Auth-Token"}},
		"python strip":  {h: http.Header{"X-Auth-Token": {"\x1ct1\xa0"}}, want: Credential{Kind: CredentialToken, Token: "t1", Header: "X-Auth-Token"}},
		"storage token": {h: http.Header{"X-Storage-Token": {"t2"}}, want: Credential{Kind: CredentialToken, Token: "t2", Header: "X-Storage-Token"}},
		"same token in both": {h: http.Header{"X-Auth-Token": {"t1"}, "X-Storage-Token": {"t1"}},
			want: Credential{Kind: CredentialToken, Token: "t1", Header: "X-Auth-Token"}},
		"empty auth token alone":   {h: http.Header{"X-Auth-Token": {""}}},
		"blank storage token":      {h: http.Header{"X-Storage-Token": {"\x1c"}}},
		"aksk":                     {h: http.Header{"Authorization": {sig}}, want: Credential{Kind: CredentialAKSK, Authorization: sig}},
		"two different tokens":     {h: http.Header{"X-Auth-Token": {"t1"}, "X-Storage-Token": {"t2"}}, reason: "ambiguous_credentials"},
		"empty auth hides storage": {h: http.Header{"X-Auth-Token": {""}, "X-Storage-Token": {"t2"}}, reason: "ambiguous_credentials"},
		"empty in both":            {h: http.Header{"X-Auth-Token": {""}, "X-Storage-Token": {""}}, reason: "ambiguous_credentials"},
		"token and signature":      {h: http.Header{"X-Auth-Token": {"t1"}, "Authorization": {sig}}, reason: "ambiguous_credentials"},
		"empty token and signature": {h: http.Header{"X-Auth-Token": {""}, "Authorization": {sig}},
			reason: "ambiguous_credentials"},
		"storage token and signature": {h: http.Header{"X-Storage-Token": {"t2"}, "Authorization": {sig}}, reason: "ambiguous_credentials"},
		"service token":               {h: http.Header{"X-Auth-Token": {"t1"}, "X-Service-Token": {"s"}}, reason: "service_token"},
		"service token alone":         {h: http.Header{"X-Service-Token": {"s"}}, reason: "service_token"},
		"repeated auth token":         {h: http.Header{"X-Auth-Token": {"t1", "t1"}}, reason: "repeated_credential"},
		"repeated storage token":      {h: http.Header{"X-Storage-Token": {"t1", "t3"}}, reason: "repeated_credential"},
		"repeated authorization":      {h: http.Header{"Authorization": {sig, sig}}, reason: "repeated_credential"},
		"repeated service token":      {h: http.Header{"X-Service-Token": {"s", "s"}}, reason: "repeated_credential"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := SelectCredential(tc.h)
			if tc.reason != "" {
				var ce *CredentialError
				if assert.ErrorAs(t, err, &ce) {
					assert.Equal(t, tc.reason, ce.Reason)
					assert.NotContains(t, ce.Message, "t1")
				}
				assert.Equal(t, Credential{}, got)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
