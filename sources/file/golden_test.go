package file

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden reads each testdata/golden/NAME.log with the options of its
// case and compares the events (without uuid and time, $file made relative)
// with NAME.golden. Run with -update to accept new output.
func TestGolden(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"text_basic", nil},
		{"json_codec", func(c *Config) { c.Codec = "json"; c.TimestampField = "ts"; c.DistinctID = "user-{.user}" }},
		{"invalid_utf8", nil},
		{"utf16le", func(c *Config) { c.Encoding = "utf-16" }},
		{"utf16be", func(c *Config) { c.Encoding = "utf-16be"; c.DistinctID = "{filename}@{host}" }},
		{"delimiter", func(c *Config) { c.LineDelimiter = "|" }},
		{"max_line", func(c *Config) { c.MaxLineBytes = 10 }},
		{"multiline", func(c *Config) {
			c.Multiline.StartPattern = `^\d{4}-\d{2}-\d{2} `
			c.Multiline.Timeout = component.Duration(50 * time.Millisecond)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, func(c *Config) {
				c.Include = []string{tc.name + ".log"} // relative to the config dir
				if tc.edit != nil {
					tc.edit(c)
				}
			})
			data, err := os.ReadFile(filepath.Join("testdata/golden", tc.name+".log"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(h.path(tc.name+".log"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			h.start()
			evs := h.settle(300 * time.Millisecond)
			h.stop()
			var got bytes.Buffer
			for _, ev := range evs {
				got.Write(goldenLine(t, ev, h.dir))
				got.WriteByte('\n')
			}
			gf := filepath.Join("testdata/golden", tc.name+".golden")
			if *update {
				if err := os.WriteFile(gf, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("events differ from %s:\ngot:\n%s\nwant:\n%s", gf, got.Bytes(), want)
			}
		})
	}
}

// goldenLine renders an event without its random and time-dependent parts.
func goldenLine(t *testing.T, ev *event.Event, dir string) []byte {
	t.Helper()
	c := ev.Clone()
	if len(c.UUID) != 36 || c.UUID[14] != '7' {
		t.Errorf("uuid %q is not a UUIDv7", c.UUID)
	}
	c.UUID = "-"
	if _, err := time.Parse(event.TimeFormat, c.Timestamp); err != nil {
		t.Errorf("timestamp %q: %v", c.Timestamp, err)
	}
	if c.Timestamp != "2026-01-02T03:04:05.000Z" {
		c.Timestamp = "now"
	}
	if f, ok := c.Properties.GetString("$file"); ok {
		rel, _ := filepath.Rel(dir, f)
		c.Properties.Set("$file", rel)
	}
	// The parser's wording belongs to agent/event; only our own is pinned.
	if e, ok := c.Properties.GetString("$parse_error"); ok && e != "not a JSON object" {
		if e == "" {
			t.Errorf("empty $parse_error")
		}
		c.Properties.Set("$parse_error", "(parser error)")
	}
	b := c.AppendJSON(nil)
	if !json.Valid(b) {
		t.Errorf("invalid JSON: %s", b)
	}
	return b
}
