package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestTestCommandFlags covers the argument reading of `hogtail test` that
// ends before any connector runs: each flag's value, separate or after =,
// and the messages of the mistakes.
func TestTestCommandFlags(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		code     int
		stdout   string
		stderrIs string
	}{
		{args: []string{"--help"}, code: 0, stdout: "Example:"},
		{args: []string{"-h"}, code: 0, stdout: "Example:"},
		{args: nil, code: 2, stderrIs: "hogtail test: name at least one connector folder\n"},
		// Every valued flag, in both forms, reads its value and leaves no folder.
		{args: []string{"--config", "d:k=v", "-geoip=x.mmdb", "--fetch-allow-network=10.0.0.0/8", "-config=d:a=b", "--geoip", "y", "-fetch-allow-network", "::1"},
			code: 2, stderrIs: "hogtail test: name at least one connector folder\n"},
		{args: []string{"dir", "--config"}, code: 2, stderrIs: "hogtail test: --config needs DIR:key=value\n"},
		{args: []string{"dir", "-geoip"}, code: 2, stderrIs: "hogtail test: -geoip needs a .mmdb file\n"},
		{args: []string{"dir", "--fetch-allow-network"}, code: 2, stderrIs: "hogtail test: --fetch-allow-network needs a CIDR or an address\n"},
		{args: []string{"dir", "--bogus", "x"}, code: 2, stderrIs: "hogtail test: unknown flag --bogus\n"},
		{args: []string{"dir", "-"}, code: 2, stderrIs: "hogtail test: unknown flag -\n"},
		{args: []string{"dir", "---config", "x"}, code: 2, stderrIs: "hogtail test: unknown flag ---config\n"},
		{args: []string{"dir", "--help=1"}, code: 2, stderrIs: "hogtail test: unknown flag --help=1\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := cmdTest(tc.args, strings.NewReader(""), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q does not hold %q", stdout.String(), tc.stdout)
			}
			if first, _, _ := strings.Cut(stderr.String(), "\n"); first+"\n" != tc.stderrIs && tc.stderrIs != "" {
				t.Errorf("stderr starts %q, want %q", first, tc.stderrIs)
			}
		})
	}
}
