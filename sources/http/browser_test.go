package httpsource

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// chromiumPath returns a Chromium or Chrome binary, or skips the test.
// Debian's package is chromium (apt-get install chromium).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (apt-get install chromium): skipping the posthog-js browser test")
	return ""
}

// browserPage loads posthog-js from the npm package (its array.full.js
// bundle, as a site would from a CDN), points it at the source and
// captures one event. The page comes from another origin than the source,
// as on a real site, so the browser applies CORS.
const browserPage = `<!doctype html>
<html><head><title>hogtail browser test</title></head><body>
<script src="/array.full.js"></script>
<script>
posthog.init(%q, {
  api_host: %q,
  persistence: "memory",
  autocapture: false,
  disable_session_recording: true,
  advanced_disable_decide: true,
  advanced_disable_flags: true,
  request_batching: false,
  // posthog-js drops events from user agents that look like bots, headless
  // Chromium among them; it recommends this option for end-to-end tests.
  opt_out_useragent_filter: true,
});
posthog.capture("browser test", {seq: 1});
</script></body></html>`

// TestPosthogJSInChromium runs the real posthog-js in headless Chromium
// against the source: the $pageview and the captured event are stored as
// the browser sent them (text/plain bodies, across origins), with the
// project's key. Skipped without
// chromium, node/npm or the npm registry.
func TestPosthogJSInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the posthog-js browser test")
	}
	chromium := chromiumPath(t)
	dir := npmPackage(t, "posthog-js@1", "posthog-js-1")
	bundle := filepath.Join(dir, "node_modules", "posthog-js", "dist", "array.full.js")
	if _, err := os.Stat(bundle); err != nil {
		t.Fatalf("posthog-js bundle: %v", err)
	}
	h := start(t, func(c *Config) { c.APIKeys = []string{"phc_browsertest"} })

	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/array.full.js":
			http.ServeFile(w, r, bundle)
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, browserPage, "phc_browsertest", h.url)
		default:
			http.NotFound(w, r)
		}
	}))
	defer site.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Chromium's helper processes may still write to its profile after the
	// browser is killed: the profile is removed best-effort, not by
	// t.TempDir (whose cleanup fails on a directory that is not empty).
	profile, err := os.MkdirTemp("", "hogtail-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile)
	cmd := exec.CommandContext(ctx, chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
		"--disable-dev-shm-usage", "--no-first-run", "--user-data-dir="+profile,
		"--remote-debugging-port=0", site.URL+"/")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to stop its helpers too
	logPath := filepath.Join(profile, "chromium.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	if err := h.emit.WaitFor(ctx, 2); err != nil {
		said, _ := os.ReadFile(logPath)
		t.Fatalf("posthog-js in chromium: %v; chromium said:\n%s", err, said)
	}
	byName := map[string]int{}
	for _, ev := range h.emit.Events() {
		byName[ev.Event]++
		if lib, _ := ev.Properties.GetString("$lib"); lib != "web" {
			t.Errorf("%s: $lib %q, want web (posthog-js)", ev.Event, lib)
		}
		if k, _ := ev.Properties.GetString("token"); k != "phc_browsertest" {
			t.Errorf("%s: properties.token %q (posthog-js sends the project key there)", ev.Event, k)
		}
		if ev.UUID == "" || ev.DistinctID == "" || ev.Timestamp == "" {
			t.Errorf("incomplete event: %s", ev.AppendJSON(nil))
		}
		if ev.Event == "browser test" {
			if seq, _ := ev.Properties.Get("seq"); fmt.Sprint(seq) != "1" {
				t.Errorf("browser test: seq %v", seq)
			}
		}
	}
	if byName["$pageview"] != 1 || byName["browser test"] != 1 {
		t.Fatalf("stored %v, want one $pageview and one browser test", byName)
	}
}
