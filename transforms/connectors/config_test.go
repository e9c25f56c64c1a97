package connectors

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
)

func TestValidate(t *testing.T) {
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "plugin.json"), []byte(`{"name": "broken", "config": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	nomain := t.TempDir()
	if err := os.WriteFile(filepath.Join(nomain, "plugin.json"), []byte(`{"name": "nomain"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ex := "../../examples/connectors/"
	cases := []struct {
		name  string
		mut   func(*Config)
		wants []string // substrings; empty = valid
	}{
		{"valid", func(c *Config) {
			c.Chain = []ChainEntry{{Path: ex + "property-filter", Config: map[string]any{"properties": "$ip"}}}
		}, nil},
		{"missing required key", func(c *Config) {
			c.Chain = []ChainEntry{{Path: ex + "hello"}, {Path: ex + "property-filter"}}
		}, []string{`chain[1].config.properties: connector 'property-filter' requires this key`}},
		{"value outside choices", func(c *Config) {
			c.Chain = []ChainEntry{{Path: ex + "url-normalizer", Config: map[string]any{"strip_query": "Maybe", "strip_hash": "No"}}}
		}, []string{`chain[0].config.strip_query: connector 'url-normalizer': "Maybe" is not one of the choices ["Yes" "No"]`}},
		{"required attachment", func(c *Config) {
			c.Chain = []ChainEntry{{Path: "testdata/plugins/attachments"}}
		}, []string{`chain[0].attachments.countries: connector "attachments" requires this attachment`}},
		{"bad json config", func(c *Config) {
			c.Chain = []ChainEntry{{Path: "testdata/plugins/json-config", Config: map[string]any{"mapping": "{nope"}}}
		}, []string{`chain[0].config.mapping: connector "json-config": not valid JSON`}},
		{"missing folder", func(c *Config) {
			c.Chain = []ChainEntry{{Path: "testdata/plugins/does-not-exist"}}
		}, []string{"chain[0].path: connector testdata/plugins/does-not-exist: reading plugin.json"}},
		{"broken plugin.json", func(c *Config) {
			c.Chain = []ChainEntry{{Path: broken}}
		}, []string{"chain[0].path: connector " + broken + ": plugin.json: unexpected end of JSON input"}},
		{"no main file", func(c *Config) {
			c.Chain = []ChainEntry{{Path: nomain}}
		}, []string{`chain[0].path: connector "nomain": no main in plugin.json and neither index.js nor index.ts exists`}},
		{"everything at once", func(c *Config) {
			c.OnError = "explode"
			c.Timeout = 0
			c.Lanes = -1
			c.FetchAllowHosts = []string{"http://x"}
			c.FetchAllowNetworks = []string{"127.0.0.0/8", "localhost"}
			c.Chain = []ChainEntry{{}, {Path: ex + "hello"}, {Path: ex + "hello"}}
		}, []string{`on_error: must be "pass", "drop" or "dead_letter", got "explode"`, "timeout: must be positive", "lanes: must be 0",
			`fetch_allow_hosts[0]: "http://x" is not a host name`, `fetch_allow_networks[1]: "localhost" is not a CIDR`, "chain[0].path: must be set", `chain[2].path: connector "hello" is already chain[1]`}},
		{"empty chain", func(c *Config) {}, []string{"chain: needs at least one connector"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mut(c)
			err := c.Validate()
			componenttest.CheckError(t, err, tc.wants...)
		})
	}
}

func TestValidateResolvesAgainstConfigDir(t *testing.T) {
	c := DefaultConfig()
	c.Chain = []ChainEntry{{Path: "connectors/hello"}}
	c.SetConfigDir("../../examples")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSampleTOML(t *testing.T) {
	cfg := componenttest.CheckSample(t, "transforms", NewFactory(), func(want component.Config) {
		w := want.(*Config)
		w.Chain = []ChainEntry{{Path: "examples/connectors/hello", Config: map[string]any{"greeting": "Hello from the edge!"}, Attachments: map[string]string{}}}
		if w.FetchAllowHosts == nil {
			w.FetchAllowHosts = []string{}
		}
	}).(*Config)
	cfg.SetConfigDir("../..")
	if err := cfg.Validate(); err != nil {
		t.Errorf("sample.toml does not validate from the repo root: %v", err)
	}
}
