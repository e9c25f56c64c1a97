package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateCompilesConnectors: `hogtail validate` bundles and compiles
// every connector and checks its plugin.json config, so a syntax error, a
// missing required key and a missing attachment file each exit 1 naming
// the file, the connector and the key.
func TestValidateCompilesConnectors(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("c/syntax/plugin.json", `{"name": "syntax"}`)
	write("c/syntax/index.ts", "export function processEvent(event: any) {\n    return event +\n}\n")
	// api_key is a secret: its messages are masked, the connector's name
	// must not be.
	write("c/needs-key/plugin.json", `{"name": "needs-key", "config": [{"key": "endpoint", "required": true}, {"key": "api_key", "required": true}]}`)
	write("c/needs-key/index.js", "export function processEvent(e) { return e }\n")
	write("c/needs-file/plugin.json", `{"name": "needs-file", "config": [{"key": "mapping", "type": "attachment", "required": true}]}`)
	write("c/needs-file/index.js", "export function processEvent(e, { attachments }) { return e }\n")
	cfg := filepath.Join(dir, "hogtail.toml")
	write("hogtail.toml", `data_dir = "`+filepath.Join(dir, "data")+`"

[sources.app]
type = "demo"

[transforms.enrich]
type = "connectors"
inputs = ["app"]

[[transforms.enrich.chain]]
path = "c/syntax"

[[transforms.enrich.chain]]
path = "c/needs-key"

[[transforms.enrich.chain]]
path = "c/needs-file"
attachments = { mapping = "mapping.json" }

[sinks.out]
type = "console"
inputs = ["enrich"]
`)
	out, err := exec.Command(bin, "validate", "--config", cfg).CombinedOutput()
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		`chain[0].path: connector "syntax": ` + filepath.Join(dir, "c/syntax/index.ts") + `:3:1: Unexpected "}"`,
		`chain[1].config.endpoint: connector 'needs-key' requires this key`,
		`chain[1].config.api_key: connector 'needs-key' requires this key`,
		`chain[2].attachments.mapping: reading attachment: open ` + filepath.Join(dir, "mapping.json") + `: no such file or directory`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Fixed, the same config validates and names no problem.
	write("c/syntax/index.ts", "export function processEvent(event: any) {\n    return event\n}\n")
	write("mapping.json", `{}`)
	write("hogtail.toml", strings.Replace(readFile(t, cfg), `path = "c/needs-key"`, "path = \"c/needs-key\"\nconfig = { endpoint = \"https://example.test\", api_key = \"k\" }", 1))
	if out, err := exec.Command(bin, "validate", "--config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("fixed config: %v\n%s", err, out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
