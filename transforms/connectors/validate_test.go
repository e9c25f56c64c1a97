package connectors

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
)

// TestValidateCompilesConnectors: Validate bundles, compiles and runs the
// top-level code of every connector, so that what would fail the start of
// the agent fails validation, naming the chain entry, connector and file.
func TestValidateCompilesConnectors(t *testing.T) {
	syntax := writeConnector(t, "syntax", "export function processEvent(event) {\n    return event\n").Path
	throws := writeConnector(t, "top-throws", "const table = null\nconst first = table.rows[0]\nexport function processEvent(e) { return e }\n").Path
	imports := writeConnector(t, "imports", "import _ from 'lodash'\nexport function processEvent(e) { return e }\n").Path
	loops := writeConnector(t, "top-loop", "while (true) {}\n").Path
	setup := writeConnector(t, "setup-throws", "export function setupPlugin() { throw new Error('no') }\n").Path
	cases := []struct {
		name string
		dir  string
		want []string // empty = valid
	}{
		{"syntax error", syntax, []string{`chain[0].path: connector "syntax": ` + filepath.Join(syntax, "index.js") + `:3:1: Unexpected end of file`}},
		{"top-level throw", throws, []string{`chain[0].path: connector "top-throws": running ` + filepath.Join(throws, "index.js") + `: TypeError: Cannot read property 'rows' of`, "at index.js:2:"}},
		{"unsupported import", imports, []string{`chain[0].path: connector "imports": ` + filepath.Join(imports, "index.js") + `:1:15: Cannot import 'lodash'! This package is not provided by PostHog in plugins.`}},
		{"top-level loop", loops, []string{`chain[0].path: connector "top-loop": running`, "script execution timed out after 200ms"}},
		// setupPlugin is retried by the agent, so it is not run here.
		{"throwing setupPlugin is valid", setup, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Timeout = component.Duration(200 * time.Millisecond)
			c.Chain = []ChainEntry{{Path: tc.dir}}
			err := c.Validate()
			componenttest.CheckError(t, err, tc.want...)
		})
	}
}

// TestValidateLeavesNoGoroutine: the runtime Validate creates, and the
// memory guard watching it, are gone when Validate returns.
func TestValidateLeavesNoGoroutine(t *testing.T) {
	c := DefaultConfig()
	c.Chain = []ChainEntry{{Path: "testdata/plugins/flaky"}}
	before := runtime.NumGoroutine()
	for i := 0; i < 5; i++ {
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	componenttest.Eventually(t, 5*time.Second, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
