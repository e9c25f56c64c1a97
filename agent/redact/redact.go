// Package redact hides credentials in text hogtail logs or prints: URL
// user info and query values, values of secret-looking keys, and bearer or
// basic credentials. Logs, config problems, health problems and delivery
// errors all go through it, so a secret in the config or in a receiver's
// URL does not end up in journald, a support ticket or a dead letter.
package redact

import (
	"log/slog"
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a hidden value.
const Mask = "REDACTED"

// secretWords make a key secret when its last segment contains one.
var secretWords = []string{"password", "passwd", "secret", "token", "api_key", "apikey", "private_key", "authorization", "credential", "sasl_pass"}

// IsSecretKey reports whether a config key or log attribute (the last
// segment of a dotted path) names a secret: api_key, auth_token, token,
// sasl.password, client_secret, ...
func IsSecretKey(key string) bool {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		key = key[i+1:]
	}
	key = strings.ReplaceAll(strings.ToLower(key), "-", "_")
	for _, w := range secretWords {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}

// URL returns raw with its user info and every query value masked. A
// string that does not parse as a URL with a scheme is returned masked
// after its scheme, since it cannot be shown safely in part.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		if i := strings.Index(raw, "://"); i >= 0 {
			return raw[:i+3] + Mask
		}
		return raw
	}
	changed := false
	if u.User != nil {
		u.User = url.User(Mask)
		changed = true
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			for i := range vs {
				vs[i] = Mask
			}
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		changed = true
	}
	if !changed {
		return raw
	}
	return u.String()
}

var (
	// urlRE finds URLs in free text (error messages quote them with "").
	urlRE = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)
	// pairRE finds key=value, key="value" and "key":"value" with a
	// secret-looking key.
	pairRE = regexp.MustCompile(`(?i)([a-z0-9_.-]*(?:password|passwd|secret|token|api_?key|private_key|credential)[a-z0-9_]*)("?\s*[=:]\s*)("[^"]*"|[^\s,&;}"]+)`)
	// authRE finds credentials of an Authorization header.
	authRE = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]{8,}`)
	// quotedRE finds quoted values in a message.
	quotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

// Text masks URLs, secret key/value pairs and Authorization credentials in
// free text, such as an error message.
func Text(s string) string {
	if strings.Contains(s, "://") {
		s = urlRE.ReplaceAllStringFunc(s, URL)
	}
	if strings.ContainsAny(s, "=:") {
		s = pairRE.ReplaceAllStringFunc(s, func(m string) string {
			p := pairRE.FindStringSubmatch(m)
			if strings.Trim(p[3], `"`) == Mask {
				return m
			}
			if strings.HasPrefix(p[2], ":") && !strings.HasPrefix(p[3], `"`) {
				// "api_key: must be set" is a message about the key,
				// not its value.
				return m
			}
			return p[1] + p[2] + `"` + Mask + `"`
		})
	}
	return authRE.ReplaceAllString(s, "$1 "+Mask)
}

// Problem masks msg, a message about the config key key: every quoted
// value is masked when key names a secret, and Text applies in any case.
func Problem(key, msg string) string {
	if IsSecretKey(key) {
		msg = quotedRE.ReplaceAllString(msg, `"`+Mask+`"`)
	}
	return Text(msg)
}

// Error returns err with its message masked by Text. errors.Is and
// errors.As still see err.
func Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if m := Text(msg); m != msg {
		return &masked{msg: m, err: err}
	}
	return err
}

type masked struct {
	msg string
	err error
}

func (m *masked) Error() string { return m.msg }
func (m *masked) Unwrap() error { return m.err }

// ReplaceAttr is a slog.HandlerOptions.ReplaceAttr that masks the message,
// attributes named like secrets, and URLs and secrets in string and error
// values.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	if IsSecretKey(a.Key) {
		return slog.String(a.Key, Mask)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		s := a.Value.String()
		if m := Text(s); m != s {
			return slog.String(a.Key, m)
		}
	case slog.KindAny:
		var s string
		switch v := a.Value.Any().(type) {
		case error:
			s = v.Error()
		case *url.URL:
			return slog.String(a.Key, URL(v.String()))
		default:
			return a
		}
		if m := Text(s); m != s {
			return slog.String(a.Key, m)
		}
	}
	return a
}
