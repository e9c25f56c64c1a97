package main

import (
	"bufio"
	"bytes"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/agent/redact"
)

func TestNextSteps(t *testing.T) {
	const sink = "\n[sinks.out]\ntype = \"console\"\ninputs = [\"in\"]\n"
	for _, tc := range []struct {
		name, config, path, apiAddr string
		want                        string // the log line's attributes, as the text handler writes them
	}{
		{"syslog udp and capture", `
[api]
address = "127.0.0.1:8686"
tap = true
[sources.in]
type = "syslog"
address = "0.0.0.0:5514"
[sources.web]
type = "http"
address = "127.0.0.1:8010"
` + sink, "/etc/hogtail/hogtail.toml", "127.0.0.1:8686",
			`health=http://127.0.0.1:8686/health metrics=http://127.0.0.1:8686/metrics tap="hogtail tap --component in" ` +
				`send_to.in="logger -n 127.0.0.1 -P 5514 --udp hello from logger" ` +
				`send_to.web="point posthog-js or posthog-node at http://127.0.0.1:8010 (their api_host)"`},
		{"tcp, generic endpoint with a token, tap off, API token", `
[api]
auth_token = "t0ken"
[sources.in]
type = "syslog"
mode = "tcp"
address = "[::]:6514"
[sources.web]
type = "http"
address = "127.0.0.1:9000"
capture = false
auth_token = "s3cret"
` + sink, "/srv/h.toml", "127.0.0.1:8686",
			`health=http://127.0.0.1:8686/health metrics="curl -H 'Authorization: Bearer <api.auth_token>' http://127.0.0.1:8686/metrics" ` +
				`tap="set [api] tap = true to watch events with hogtail tap" ` +
				`send_to.in="logger -n ::1 -P 6514 --tcp hello from logger" ` +
				`send_to.web="curl -H 'Authorization: Bearer <auth_token>' -d '{\"message\":\"hello\"}' http://127.0.0.1:9000/ingest"`},
		{"api on a system-chosen port, other config path, transform tapped, ports 0 skipped", `
[api]
address = "127.0.0.1:0"
tap = true
[sources.in]
type = "syslog"
address = "127.0.0.1:0"
[transforms.chain]
type = "connectors"
inputs = ["in"]
[[transforms.chain.chain]]
path = "examples/connectors/hello"
[sinks.out]
type = "console"
inputs = ["chain"]
`, "/srv/h.toml", "127.0.0.1:41234",
			`health=http://127.0.0.1:41234/health metrics=http://127.0.0.1:41234/metrics tap="hogtail tap --component chain --api 127.0.0.1:41234 --config /srv/h.toml"`},
		{"api off, unix socket relative to the config", `
[api]
enabled = false
[sources.in]
type = "syslog"
mode = "unix"
path = "run/log.sock"
` + sink, "/etc/hogtail/hogtail.toml", "",
			`send_to.in="logger -u {root}/run/log.sock -d hello from logger"`},
		{"nothing to suggest", `
[api]
enabled = false
[sources.in]
type = "demo"
` + sink, "/etc/hogtail/hogtail.toml", "", ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noEnv := func(string) (string, bool) { return "", false }
			// Parsed as if at the repository root, where the example connector is.
			cfg, err := config.Parse("../../test.toml", []byte("data_dir = \"/tmp/unused\"\n"+tc.config), components(), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			// As newLogger writes it (secrets redacted), without the time.
			log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{
				ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return redact.ReplaceAttr(groups, a)
				},
			}))
			logNextSteps(log, cfg, tc.path, tc.apiAddr)
			root, _ := filepath.Abs("../..")
			want := ""
			if tc.want != "" {
				want = `level=INFO msg="running; to see events flow, try" ` + strings.ReplaceAll(tc.want, "{root}", root) + "\n"
			}
			if out.String() != want {
				t.Errorf("got  %s\nwant %s", out.String(), want)
			}
		})
	}
}

// freePort returns a port nothing listens on right now, for network
// ("tcp" or "udp") on 127.0.0.1.
func freePort(t *testing.T, network string) string {
	t.Helper()
	var addr net.Addr
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = c.LocalAddr()
		c.Close()
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr()
		l.Close()
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return port
}

// TestExampleNextStepsWork runs the example config, reads the hint line it
// logs, and runs its logger command: the message must come out on stdout.
// (The example leaves /tap off; TestNextSteps covers the tap command.)
func TestExampleNextStepsWork(t *testing.T) {
	logger, err := exec.LookPath("logger")
	if err != nil {
		t.Skip("logger (util-linux) not installed")
	}
	bin := binary(t)
	api, syslogPort := "127.0.0.1:"+freePort(t, "tcp"), freePort(t, "udp")
	env := append(os.Environ(), "HOGTAIL_DATA_DIR="+t.TempDir(), "HOGTAIL_API_ADDRESS="+api,
		"HOGTAIL_HTTP_ADDRESS=127.0.0.1:"+freePort(t, "tcp"), "HOGTAIL_SYSLOG_ADDRESS=127.0.0.1:"+syslogPort)
	cmd := exec.Command(bin, "run", "--config", "config.example.toml")
	cmd.Dir, cmd.Env = "../..", env
	stdout, _ := cmd.StdoutPipe()
	stderr := startAgent(t, cmd)
	seen := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "hello from logger") {
				seen <- sc.Text()
			}
		}
	}()

	hint := regexp.MustCompile(`msg="running; to see events flow, try" .*`)
	componenttest.Eventually(t, 30*time.Second, "the hint line", func() bool { return hint.MatchString(stderr.String()) })
	line := hint.FindString(stderr.String())
	for _, want := range []string{
		"health=http://" + api + "/health",
		`tap="set [api] tap = true to watch events with hogtail tap"`,
		`send_to.syslog_in="logger -n 127.0.0.1 -P ` + syslogPort + ` --udp hello from logger"`,
		`send_to.web_events="point posthog-js or posthog-node at http://127.0.0.1:`,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("hint lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "send_to.app_logs") || strings.Contains(line, "send_to.demo_logs") {
		t.Errorf("hint for a source nobody sends to:\n%s", line)
	}
	command := func(key string) []string {
		m := regexp.MustCompile(regexp.QuoteMeta(key) + `="([^"]*)"`).FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("no %s in %s", key, line)
		}
		return strings.Fields(m[1])
	}

	// UDP may drop a datagram, so the logged command is repeated until the
	// message comes out (bounded).
	logArgs := command("send_to.syslog_in")
	deadline := time.After(20 * time.Second)
	for got := false; !got; {
		if out, err := exec.Command(logger, logArgs[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", logArgs, err, out)
		}
		select {
		case l := <-seen:
			got = true
			if !strings.Contains(l, "syslog") {
				t.Errorf("stdout line is not the syslog event: %s", l)
			}
		case <-time.After(500 * time.Millisecond):
		case <-deadline:
			t.Fatalf("the logger message never came out; stderr:\n%s", stderr.String())
		}
	}
}
