package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nothing here", "nothing here"},
		{"https://us.i.posthog.com/batch/", "https://us.i.posthog.com/batch/"},
		{"https://h.example/p?token=abc&x=1", "https://h.example/p?token=REDACTED&x=REDACTED"},
		{`Post "https://user:pw@h.example/p?sig=s3": dial tcp 1.2.3.4:443: connection refused`,
			`Post "https://REDACTED@h.example/p?sig=REDACTED": dial tcp 1.2.3.4:443: connection refused`},
		{"kafka://admin:hunter2@broker:9092", "kafka://REDACTED@broker:9092"},
		{`api_key="phc_abc123" host=x`, `api_key="REDACTED" host=x`},
		{`auth_token=s3cr3t`, `auth_token="REDACTED"`},
		{`sasl.password = hunter2`, `sasl.password = "REDACTED"`},
		{`{"api_key":"phc_abc","event":"e"}`, `{"api_key":"REDACTED","event":"e"}`},
		{`token: "abc"`, `token: "REDACTED"`},
		{"api_key: must be set", "api_key: must be set"},
		{"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "Authorization: Bearer REDACTED"},
		{"Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic REDACTED"},
		{"missing or wrong bearer token (api.auth_token)", "missing or wrong bearer token (api.auth_token)"},
	} {
		if got := Text(tc.in); got != tc.want {
			t.Errorf("Text(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestIsSecretKey(t *testing.T) {
	for key, want := range map[string]bool{
		"api_key": true, "API-KEY": true, "auth_token": true, "token": true, "sasl.password": true,
		"sinks.out.auth.password": true, "client_secret": true, "chain[0].config.apiKey": true,
		"host": false, "url": false, "brokers": false, "sasl.username": false, "address": false,
	} {
		if got := IsSecretKey(key); got != want {
			t.Errorf("IsSecretKey(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestProblem(t *testing.T) {
	got := Problem("chain[0].config.api_key", `must be one of "a", "b", got "phc_secret"`)
	if strings.Contains(got, "phc_secret") || !strings.Contains(got, `got "REDACTED"`) {
		t.Errorf("secret key: %s", got)
	}
	got = Problem("host", `must not have a query, got "https://h.example/?key=abc"`)
	if strings.Contains(got, "abc") {
		t.Errorf("url in a problem: %s", got)
	}
	if got := Problem("format", `must be "json", got "xml"`); got != `must be "json", got "xml"` {
		t.Errorf("ordinary key changed: %s", got)
	}
}

func TestErrorKeepsChain(t *testing.T) {
	inner := &url.Error{Op: "Post", URL: "https://h.example/?token=abc", Err: fs.ErrPermission}
	err := Error(fmt.Errorf("deliver: %w", inner))
	if strings.Contains(err.Error(), "abc") {
		t.Fatalf("not masked: %v", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("chain lost: %v", err)
	}
	plain := errors.New("plain")
	if Error(plain) != plain || Error(nil) != nil {
		t.Fatal("unchanged errors must stay the same value")
	}
}

func TestReplaceAttr(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: ReplaceAttr}))
	u, _ := url.Parse("https://u:p@h.example/x?k=v")
	log.Error("posting to https://h.example/?api_key=phc_1 failed",
		"api_key", "phc_2", "url", u, "error", errors.New(`Post "https://h.example/?token=t3": EOF`),
		slog.Group("auth", "password", "pw4"), "count", 3, "sink", "posthog")
	out := buf.String()
	for _, secret := range []string{"phc_1", "phc_2", "u:p", "t3", "pw4", "k=v"} {
		if strings.Contains(out, secret) {
			t.Errorf("log shows %q:\n%s", secret, out)
		}
	}
	for _, keep := range []string{"count=3", "sink=posthog", "h.example"} {
		if !strings.Contains(out, keep) {
			t.Errorf("log lost %q:\n%s", keep, out)
		}
	}
}
