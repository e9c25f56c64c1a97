package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// freeAddr returns a loopback TCP address that nothing listens on right
// now.
func freeAddr(t *testing.T) string { return "127.0.0.1:" + freePort(t, "tcp") }

// runningAgent is `hogtail run` started by a test.
type runningAgent struct {
	cmd          *exec.Cmd
	stdout, logs *lockedBuffer
}

// startWithConfig writes config (data_dir is set to a temporary folder) and
// runs the binary on it through startAgent, which stops it when the test
// ends.
func startWithConfig(t *testing.T, config string) *runningAgent {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hogtail.toml")
	text := fmt.Sprintf("data_dir = %q\n", filepath.Join(dir, "data")) + config
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	a := &runningAgent{cmd: exec.Command(binary(t), "run", "--config", cfg, "--watch-config=false"), stdout: new(lockedBuffer)}
	a.cmd.Stdout = a.stdout
	a.logs = startAgent(t, a.cmd)
	return a
}

// capture posts one event to the PostHog /batch endpoint of an HTTP source
// and returns the status.
func capture(addr, distinctID, properties string) (int, error) {
	body := `{"api_key":"phc_test","batch":[{"event":"e","distinct_id":"` + distinctID + `","properties":` + properties + `}]}`
	resp, err := http.Post("http://"+addr+"/batch", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// connectorConfig is the config of an agent that runs the events of an HTTP
// source at src through the test connector testdata/plugins/NAME of the
// connectors package and prints them on stdout; head comes first (an [api]
// table), opts are options of the connectors transform.
func connectorConfig(t *testing.T, head, src, name, opts string) string {
	t.Helper()
	plugin, err := filepath.Abs(filepath.Join("../../transforms/connectors/testdata/plugins", name))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`%s

[sources.web]
type = "http"
address = %q

[transforms.enrich]
type = "connectors"
inputs = ["web"]
%s

[[transforms.enrich.chain]]
path = %q

[sinks.out]
type = "console"
inputs = ["enrich"]
target = "stdout"
batch_timeout = "0s"
`, head, src, opts, plugin)
}
