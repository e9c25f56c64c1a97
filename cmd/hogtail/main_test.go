package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/config"
)

// binDir holds the binary built for the tests; TestMain removes it.
var binDir string

// buildBinary builds hogtail once per test binary run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "hogtail-bin")
	if err != nil {
		return "", err
	}
	binDir = dir
	bin := filepath.Join(dir, "hogtail")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// TestMain removes the binary built for the tests. Run in-process, the
// commands re-execute this test binary as their buffer child process: it
// then acts as hogtail does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == bufferChildCommand {
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func binary(t *testing.T) string {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return bin
}

// TestSamplesAndExampleLoad loads config.example.toml and every component's
// sample.toml through the real loader and registry, so docs cannot drift.
func TestSamplesAndExampleLoad(t *testing.T) {
	t.Setenv("HOGTAIL_DATA_DIR", t.TempDir())
	t.Setenv("POSTHOG_API_KEY", "phc_test")
	reg := components()
	if _, err := config.Load("../../config.example.toml", reg); err != nil {
		t.Fatalf("config.example.toml: %v", err)
	}
	const in = "\n[sources.in]\ntype = \"demo\"\n"
	// Webhook sinks read connector chains: "in" is then a chain fed by a demo source.
	const chainIn = "\n[sources.src]\ntype = \"demo\"\n[transforms.in]\ntype = \"connectors\"\ninputs = [\"src\"]\n[[transforms.in.chain]]\npath = \"examples/connectors/hello\"\n"
	check := func(kind, typ, sample string, wrap string) {
		t.Run(kind+"/"+typ, func(t *testing.T) {
			if strings.TrimSpace(sample) == "" {
				t.Fatalf("%s %q ships no sample.toml", kind, typ)
			}
			text := "data_dir = \"/tmp/unused\"\n" + sample + wrap
			// Parsed as if at the repository root, where relative paths in samples point.
			if _, err := config.Parse("../../"+kind+"-"+typ+"-sample.toml", []byte(text), reg, os.LookupEnv); err != nil {
				t.Fatal(err)
			}
		})
	}
	for typ, f := range reg.Sources {
		check("sources", typ, f.Sample(), "")
	}
	for typ, f := range reg.Transforms {
		check("transforms", typ, f.Sample(), in)
	}
	for typ, f := range reg.Sinks {
		if f.Kind() == component.KindWebhooks {
			check("sinks", typ, f.Sample(), chainIn)
		} else {
			check("sinks", typ, f.Sample(), in)
		}
	}
}

func TestValidateCommand(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte(`data_dir = "/tmp/x"

[sources.app]
type = "demo"
rat = 5.0

[sinks.out]
type = "console"
inputs = ["nowhere"]
format = "yaml"
`), 0o644)
	out, err := exec.Command(bin, "validate", "--config", bad).CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		bad + ":5: sources.app: rat: unknown key",
		bad + ":9: sinks.out: inputs: unknown input \"nowhere\"",
		bad + ":10: sinks.out: format: must be \"json\" or \"text\", got \"yaml\"",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	cmd := exec.Command(bin, "validate", "--config", "../../config.example.toml")
	cmd.Env = append(os.Environ(), "POSTHOG_API_KEY=phc_test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("example config invalid: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "validate", "--config", filepath.Join(dir, "missing.toml")).CombinedOutput(); exitCode(err) != 1 || !strings.Contains(string(out), "missing.toml") {
		t.Fatalf("missing file: exit %d\n%s", exitCode(err), out)
	}
	for _, args := range [][]string{{"run", "--help"}, {"validate", "--help"}, {"--help"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Usage") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "hogtail ") {
		t.Errorf("version: %v %s", err, out)
	}
}

// TestRunExampleConfig runs the README's command on config.example.toml,
// checks events come out on stdout, then stops it with SIGTERM and expects
// a clean exit.
func TestRunExampleConfig(t *testing.T) {
	bin := binary(t)
	cmd := exec.Command(bin, "run", "--config", "config.example.toml")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "HOGTAIL_DATA_DIR="+t.TempDir(), "HOGTAIL_API_ADDRESS=127.0.0.1:0", "HOGTAIL_HTTP_ADDRESS=127.0.0.1:0", "HOGTAIL_SYSLOG_ADDRESS=127.0.0.1:0", "POSTHOG_API_KEY=phc_test")
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	got := 0
	deadline := time.After(20 * time.Second)
	for got < 3 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stdout closed after %d lines; stderr:\n%s", got, stderr.String())
			}
			if strings.Contains(l, "demo_log") || strings.Contains(l, "log") {
				got++
			}
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("only %d events in 20s; stderr:\n%s", got, stderr.String())
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
		}
	case <-time.After(35 * time.Second):
		cmd.Process.Kill()
		t.Fatal("did not exit within shutdown_timeout after SIGTERM")
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestTestCommand runs `hogtail test` on two example connectors: events on
// stdout, webhooks on stderr, usage errors with exit 2.
func TestTestCommand(t *testing.T) {
	bin := binary(t)
	cmd := exec.Command(bin, "test", "../../examples/connectors/hello", "../../examples/connectors/property-filter",
		"--config", "../../examples/connectors/property-filter:properties=email", "--config=../../examples/connectors/hello:greeting=hi")
	cmd.Stdin = strings.NewReader(`{"event":"signup","distinct_id":"u1","properties":{"email":"a@b.c","plan":"pro"}}` + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v", err)
	}
	if !strings.Contains(string(out), `"properties":{"plan":"pro","greeting":"hi"}`) {
		t.Fatalf("stdout: %s", out)
	}
	cmd = exec.Command(bin, "test", "../../examples/connectors/slack-webhook", "--config", "../../examples/connectors/slack-webhook:webhook_url=https://hooks.slack.test/x")
	cmd.Stdin = strings.NewReader(`{"event":"$exception","distinct_id":"u1"}` + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), `{"webhook":{"connector":"test/slack-webhook","url":"https://hooks.slack.test/x"`) {
		t.Fatalf("stderr: %s", stderr.String())
	}
	for _, args := range [][]string{{"test"}, {"test", "--bogus", "x"}, {"test", "x", "--config"}} {
		if err := exec.Command(bin, args...).Run(); exitCode(err) != 2 {
			t.Errorf("%v: exit %d, want 2", args, exitCode(err))
		}
	}
}

// TestTestCommandSetupThrows: a throwing setupPlugin ends `hogtail test`
// at once with exit 1, the plugin's message and its TypeScript source line.
func TestTestCommandSetupThrows(t *testing.T) {
	bin := binary(t)
	const dir = "../../transforms/connectors/testdata/plugins/ts-throws"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "test", dir, "--config", dir+":mode=setup")
	cmd.Stdin = strings.NewReader(`{"event":"e","distinct_id":"u1"}` + "\n")
	out, err := cmd.CombinedOutput()
	if code := exitCode(err); code != 1 || ctx.Err() != nil {
		t.Fatalf("exit %d (ctx %v), want 1:\n%s", code, ctx.Err(), out)
	}
	for _, want := range []string{"setup refused: mode is setup", "at setupPlugin (src/index.ts:9:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestValidateRedactsSecrets: problems that quote a URL or a secret show
// neither credentials nor query values.
func TestValidateRedactsSecrets(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secrets.toml")
	os.WriteFile(path, []byte(`data_dir = "/tmp/x"
[api]
address = "0.0.0.0:8686"

[sources.app]
type = "demo"

[sinks.ph]
type = "posthog"
inputs = ["app"]
host = "https://user:hunter2@us.i.posthog.com/?token=abc123"
api_key = "phc_key"

[sinks.web]
type = "http"
inputs = ["app"]
url = "ftp://admin:s3cr3tpw@files.example/in?sig=zz9"
`), 0o644)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", "--config", path}, nil, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	out := stderr.String()
	for _, want := range []string{
		`sinks.ph: host: must not have a query or fragment, got "https://REDACTED@us.i.posthog.com/?token=REDACTED"`,
		`sinks.web: url: must be an http(s) URL, got "ftp://REDACTED@files.example/in?sig=REDACTED"`,
		`api: auth_token: must be set`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"hunter2", "abc123", "s3cr3tpw", "zz9"} {
		if strings.Contains(out, secret) {
			t.Errorf("output shows %q:\n%s", secret, out)
		}
	}
}

// TestRunLoggerRedacts: the agent's logger masks secrets in messages,
// errors and attributes, in both formats.
func TestRunLoggerRedacts(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log := newLogger(&config.Config{LogLevel: "info", LogFormat: format}, new(slog.LevelVar), &buf)
		log.Error("delivery failed to https://h.example/?token=t0ps3cret",
			"error", errors.New(`Post "https://u:pw0rd@h.example/": EOF`), "api_key", "phc_k3y", "sink", "out")
		out := buf.String()
		for _, secret := range []string{"t0ps3cret", "pw0rd", "phc_k3y"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s log shows %q: %s", format, secret, out)
			}
		}
		if !strings.Contains(out, "out") || !strings.Contains(out, "h.example") {
			t.Errorf("%s log lost context: %s", format, out)
		}
	}
}

// TestSourceThatCannotListen: a listener source whose address is taken
// fails; with no other source, hogtail stops with an error (exit 1) so
// that systemd restarts it, instead of exiting 0 as if its work were done.
func TestSourceThatCannotListen(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hogtail.toml")
	text := fmt.Sprintf("data_dir = %q\n[api]\nenabled = false\n[sources.web]\ntype = \"http\"\naddress = %q\ncapture = true\n[sinks.out]\ntype = \"console\"\ninputs = [\"web\"]\n", filepath.Join(dir, "data"), taken.Addr().String())
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "run", "--config", cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := exitCode(err); code != 1 || !strings.Contains(stderr.String(), "address already in use") || !strings.Contains(stderr.String(), "sources.web") {
			t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("still running; stderr:\n%s", stderr.String())
	}
}
