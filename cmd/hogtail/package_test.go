package main

import (
	"os"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent/config"
)

// TestPackagedConfig loads the config the .deb and .rpm install, as shipped
// on a host with an empty environment, and with every commented-out option
// enabled, so neither drifts from the loader.
func TestPackagedConfig(t *testing.T) {
	const path = "../../deploy/hogtail.toml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Parse(path, data, components(), noEnv)
	if err != nil {
		t.Fatalf("as shipped: %v", err)
	}
	if cfg.DataDir != "/var/lib/hogtail" {
		t.Errorf("data_dir %q, want the unit's StateDirectory /var/lib/hogtail", cfg.DataDir)
	}
	if len(cfg.Warnings) > 0 {
		t.Errorf("warnings on a fresh host: %v", cfg.Warnings)
	}

	// "#key = ..." and "#[table]" are options; "# text" and "## text" are prose.
	var b strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "##"):
			continue
		case strings.HasPrefix(line, "#") && len(line) > 1 && line[1] != ' ':
			line = line[1:]
		}
		b.WriteString(line + "\n")
	}
	withKey := func(k string) (string, bool) {
		if k == "POSTHOG_API_KEY" {
			return "phc_test", true
		}
		return "", false
	}
	all, err := config.Parse(path, []byte(b.String()), components(), withKey)
	if err != nil {
		t.Fatalf("with the commented options enabled: %v\n%s", err, b.String())
	}
	for _, name := range []string{"sources.app_logs", "sources.journald", "sinks.posthog"} {
		if !strings.Contains(b.String(), "["+name+"]") {
			t.Errorf("uncommented config lacks [%s]", name)
		}
	}
	if len(all.Sources) != 4 || len(all.Sinks) != 2 {
		t.Errorf("uncommented config: %d sources, %d sinks; want 4 and 2", len(all.Sources), len(all.Sinks))
	}
}
