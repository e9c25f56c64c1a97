package connectors

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// TestCryptoHashes runs createHash/createHmac as plugins use them (chained,
// two hashes at once, Buffer input and output, HMAC) against Go's own
// digests, and checks that a method detached from its hash throws a
// TypeError, as in Node.
func TestCryptoHashes(t *testing.T) {
	s256 := sha256.Sum256([]byte("hogtail"))
	s1 := sha1.Sum([]byte("onethree"))
	m5 := md5.Sum([]byte("two"))
	mac := hmac.New(sha512.New, []byte("secret"))
	mac.Write([]byte("payload"))
	s384 := sha512.Sum384([]byte{1, 2, 3})
	cases := []struct {
		expr, result, error string
	}{
		{expr: "chained", result: hex.EncodeToString(s256[:])},
		{expr: "interleaved", result: hex.EncodeToString(s1[:]) + "," + base64.StdEncoding.EncodeToString(m5[:])},
		{expr: "hmac", result: base64.RawURLEncoding.EncodeToString(mac.Sum(nil))},
		{expr: "buffer", result: hex.EncodeToString(s384[:])},
		{expr: "detached", error: "TypeError: Illegal invocation: not called on a Hash"},
		{expr: "other_this", error: "TypeError: Illegal invocation: not called on a Hash"},
		{expr: "extra", result: "mine|update,digest,label|function|undefined"},
	}
	tr := newTestTransform(t, testOpts{}, plugin("hashes", nil))
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			out := applyAll(t, tr, mustEvent(t, fmt.Sprintf(`{"event":"e","distinct_id":"d","properties":{"expr":%q}}`, tc.expr)))
			if len(out.Events) != 1 {
				t.Fatalf("got %d events", len(out.Events))
			}
			ev := out.Events[0]
			res, _ := ev.Properties.Get("result")
			errText, _ := ev.Properties.Get("error")
			if tc.error != "" {
				if s, _ := errText.(string); !strings.HasPrefix(s, tc.error) {
					t.Errorf("error %v, want %q (result %v)", errText, tc.error, res)
				}
				return
			}
			if res != tc.result || errText != nil {
				t.Errorf("got %v (error %v), want %s", res, errText, tc.result)
			}
		})
	}
}
