// Package httpauth reads bearer credentials, alike for the agent's API and
// the sources that take an auth_token.
package httpauth

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

const scheme = "bearer "

// Bearer returns the credentials of r's "Authorization: Bearer ..." header;
// the scheme is matched in any case (RFC 9110).
func Bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return h[len(scheme):], true
}

// Equal compares credentials with the expected token in constant time.
func Equal(cred, token string) bool {
	return subtle.ConstantTimeCompare([]byte(cred), []byte(token)) == 1
}
