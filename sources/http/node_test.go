package httpsource

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// npmPackage installs an npm package (spec, e.g. "posthog-node@5") once
// per machine, in the user cache under name, and returns the directory
// holding its node_modules. It skips the test without node and npm, or when
// the registry cannot be reached.
func npmPackage(t *testing.T, spec, name string) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH: skipping the %s test", tool, spec)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = t.TempDir()
	}
	dir := filepath.Join(cache, "hogtail-test", name)
	pkg := spec // the name without its version
	if i := strings.LastIndex(spec, "@"); i > 0 {
		pkg = spec[:i]
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", dir, spec)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("npm install %s failed (registry unreachable?), skipping: %v\n%s", spec, err, out)
	}
	return dir
}

// TestPosthogNode points the real posthog-node client at the source.
func TestPosthogNode(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the posthog-node test")
	}
	dir := npmPackage(t, "posthog-node@5", "posthog-node-5")
	h := start(t, func(c *Config) { c.APIKeys = []string{"phc_nodetest"} })
	script, _ := filepath.Abs("testdata/posthog-node-driver.js")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, h.url, "phc_nodetest", "250")
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("posthog-node driver: %v\n%s", err, out)
	}
	events := h.emit.Events()
	if len(events) != 251 {
		t.Fatalf("%d events stored, want 251", len(events))
	}
	seen := map[string]bool{}
	for i, ev := range events {
		if seen[ev.UUID] {
			t.Fatalf("duplicate uuid %s", ev.UUID)
		}
		seen[ev.UUID] = true
		if lib, _ := ev.Properties.GetString("$lib"); lib != "posthog-node" {
			t.Fatalf("event %d: $lib %q", i, lib)
		}
		if ev.SentAt == "" || ev.Timestamp == "" || ev.DistinctID == "" {
			t.Fatalf("event %d incomplete: %s", i, ev.AppendJSON(nil))
		}
		if k, _ := ev.Extra.GetString("api_key"); k != "phc_nodetest" {
			t.Fatalf("event %d: api_key %q", i, k)
		}
	}
	if last := events[250]; last.Event != "$identify" || last.DistinctID != "user-1" {
		t.Fatalf("last event: %s", last.AppendJSON(nil))
	}
	// With a wrong key the client gets 401 and nothing is stored.
	h2 := start(t, func(c *Config) { c.APIKeys = []string{"phc_other"} })
	cmd = exec.CommandContext(ctx, "node", script, h2.url, "phc_nodetest", "5")
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("posthog-node reported no error on 401:\n%s", out)
	}
	if h2.emit.Len() != 0 {
		t.Fatalf("%d events stored with a wrong key", h2.emit.Len())
	}
}
