package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/config"
)

// lockedBuffer collects a subprocess's stderr safely.
type lockedBuffer = componenttest.SyncBuffer

// startAgent starts cmd, a "hogtail run", collecting its stderr, and stops
// it with SIGTERM when the test ends.
func startAgent(t *testing.T, cmd *exec.Cmd) *lockedBuffer {
	t.Helper()
	stderr := new(lockedBuffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	return stderr
}

// notifySocket is a fake systemd NOTIFY_SOCKET counting what it receives.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	ns := &notifySocket{path: filepath.Join(t.TempDir(), "notify.sock")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			ns.mu.Lock()
			ns.msgs = append(ns.msgs, string(buf[:n]))
			ns.mu.Unlock()
		}
	}()
	return ns
}

// messages returns what was received so far, in order.
func (ns *notifySocket) messages() []string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return append([]string(nil), ns.msgs...)
}

// count returns how many messages start with prefix.
func (ns *notifySocket) count(prefix string) int {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	n := 0
	for _, m := range ns.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// startNotified starts `hogtail run` on cfgPath under the fake systemd
// notify socket ns, with a 200 ms watchdog; the process is killed at the
// end of the test if still running.
func startNotified(t *testing.T, bin, cfgPath string, ns *notifySocket) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", cfgPath, "--watch-config=false")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+ns.path, "WATCHDOG_USEC=200000")
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, stderr
}

// stopCleanly sends SIGTERM to cmd and expects it to exit with status 0
// within timeout.
func stopCleanly(t *testing.T, cmd *exec.Cmd, stderr *lockedBuffer, timeout time.Duration) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(timeout):
		t.Fatalf("no exit after SIGTERM:\n%s", stderr.String())
	}
}

const opsConfig = `data_dir = %q
[api]
enabled = false
[sources.gen]
type = "demo"
rate = 100.0
[sinks.out]
type = "console"
inputs = ["gen"]
target = "stderr"
`

// TestSystemdNotifyAndReload runs the binary with a fake NOTIFY_SOCKET and
// watchdog, reloads it with a bad and then a good config by SIGHUP, and
// stops it with SIGTERM, checking the sd_notify messages and their order.
func TestSystemdNotifyAndReload(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	ns := newNotifySocket(t)
	seen := ns.count

	cfgPath := filepath.Join(dir, "hogtail.toml")
	good := []byte(strings.Replace(opsConfig, "%q", `"`+filepath.Join(dir, "data")+`"`, 1))
	os.WriteFile(cfgPath, good, 0o644)
	cmd, stderr := startNotified(t, bin, cfgPath, ns)
	componenttest.Eventually(t, 10*time.Second, "READY=1", func() bool { return seen("READY=1") == 1 })
	componenttest.Eventually(t, 5*time.Second, "WATCHDOG=1", func() bool { return seen("WATCHDOG=1") > 0 })

	// A bad config is rejected and the old one keeps running.
	os.WriteFile(cfgPath, []byte("[sources.gen]\ntype = \"demo\"\nbogus = 1\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	componenttest.Eventually(t, 10*time.Second, "rejection logged", func() bool { return strings.Contains(stderr.String(), "config rejected") })
	if !strings.Contains(stderr.String(), "bogus: unknown key") {
		t.Fatalf("rejection does not name the key:\n%s", stderr.String())
	}
	componenttest.Eventually(t, 5*time.Second, "READY=1 after the rejected reload", func() bool { return seen("READY=1") == 2 })
	before := strings.Count(stderr.String(), "demo_log")
	componenttest.Eventually(t, 10*time.Second, "events after the rejected reload", func() bool { return strings.Count(stderr.String(), "demo_log") > before+5 })

	// A good config with a change is applied.
	os.WriteFile(cfgPath, bytes.Replace(good, []byte(`type = "console"`), []byte("type = \"console\"\nformat = \"text\""), 1), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	componenttest.Eventually(t, 10*time.Second, "reload applied", func() bool { return strings.Contains(stderr.String(), "config reloaded") })
	componenttest.Eventually(t, 5*time.Second, "READY=1 after the reload", func() bool { return seen("READY=1") == 3 })

	stopCleanly(t, cmd, stderr, 30*time.Second)
	componenttest.Eventually(t, 2*time.Second, "STOPPING=1", func() bool { return seen("STOPPING=1") == 1 })

	// Order: READY, RELOADING, READY, RELOADING, READY, STOPPING (watchdog pings anywhere).
	var order []string
	for _, m := range ns.messages() {
		if !strings.HasPrefix(m, "WATCHDOG") {
			order = append(order, strings.SplitN(m, "\n", 2)[0])
		}
	}
	want := "READY=1 RELOADING=1 READY=1 RELOADING=1 READY=1 STOPPING=1"
	if got := strings.Join(order, " "); got != want {
		t.Fatalf("notify order:\n got %s\nwant %s", got, want)
	}
}

// TestTapCommandAndConfigWatch runs the agent with its API on a free port,
// streams events with `hogtail tap`, then edits the config file and expects
// the agent to reload it by itself.
func TestTapCommandAndConfigWatch(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	addr := "127.0.0.1:" + freePort(t, "tcp")
	cfgPath := filepath.Join(dir, "hogtail.toml")
	cfg := strings.Replace(opsConfig, "%q", `"`+filepath.Join(dir, "data")+`"`, 1)
	cfg = strings.Replace(cfg, "enabled = false", "address = \""+addr+"\"\nauth_token = \"t0k3n\"\ntap = true", 1)
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	stderr := startAgent(t, exec.Command(bin, "run", "--config", cfgPath))
	componenttest.Eventually(t, 10*time.Second, "agent started", func() bool { return strings.Contains(stderr.String(), "hogtail started") })

	// Address and token from the config file, as the first-run hint says.
	componenttest.Eventually(t, 10*time.Second, "the first-run hint", func() bool { return strings.Contains(stderr.String(), "to see events flow") })
	hint := regexp.MustCompile(`msg="running; to see events flow, try" .*tap="([^"]*)"`).FindStringSubmatch(stderr.String())
	if want := "hogtail tap --component gen --config " + cfgPath; hint == nil || hint[1] != want {
		t.Fatalf("tap hint %q, want %q:\n%s", hint, want, stderr.String())
	}
	out, err := exec.Command(bin, append(strings.Fields(hint[1])[1:], "--limit", "3")...).Output()
	if err != nil {
		t.Fatalf("tap: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"event":"demo_log"`) {
		t.Fatalf("tap output:\n%s", out)
	}
	// Token from the environment.
	env := exec.Command(bin, "tap", "--config", filepath.Join(dir, "absent.toml"), "--api", addr, "--component", "gen", "--limit", "1")
	env.Env = append(os.Environ(), "HOGTAIL_API_TOKEN=t0k3n")
	if out, err := env.Output(); err != nil || !strings.Contains(string(out), `"event":"demo_log"`) {
		t.Fatalf("tap with the token in the environment: %v\n%s", err, out)
	}
	noToken := exec.Command(bin, "tap", "--api", addr, "--component", "gen", "--limit", "1")
	noToken.Env = append(os.Environ(), "HOGTAIL_API_TOKEN=")
	if out, err := noToken.CombinedOutput(); err == nil || !strings.Contains(string(out), "401") || !strings.Contains(string(out), "--token") {
		t.Fatalf("tap without the token: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "tap", "--api", addr, "--token", "t0k3n", "--component", "nope").CombinedOutput(); err == nil || !strings.Contains(string(out), "unknown component") {
		t.Fatalf("tap of an unknown component: %v\n%s", err, out)
	}

	os.WriteFile(cfgPath, []byte(strings.Replace(cfg, "rate = 100.0", "rate = 50.0", 1)), 0o644)
	componenttest.Eventually(t, 10*time.Second, "reload on file change", func() bool { return strings.Contains(stderr.String(), "config reloaded") })
}

// TestTapDisabled: against an agent whose config leaves api.tap off, tap
// fails and says which setting turns it on.
func TestTapDisabled(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hogtail.toml")
	cfg := strings.Replace(opsConfig, "%q", `"`+filepath.Join(dir, "data")+`"`, 1)
	cfg = strings.Replace(cfg, "enabled = false", `address = "127.0.0.1:0"`, 1)
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	c, err := config.Load(cfgPath, components())
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(c, agent.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Buffer().Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, err := a.ServeAPI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"tap", "--config", cfgPath, "--api", addr, "--component", "gen"}, nil, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "403") || !strings.Contains(stderr.String(), "api.tap = true") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
}

func TestTapDialable(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8686": "127.0.0.1:8686",
		":8686":          "127.0.0.1:8686",
		"0.0.0.0:8686":   "127.0.0.1:8686",
		"[::]:8686":      "[::1]:8686",
		"10.0.0.5:8686":  "10.0.0.5:8686",
		"localhost:8686": "localhost:8686",
		"not an address": "not an address",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}
