package file

import (
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
)

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
		want []string // each a prefix of one error line
	}{
		{"defaults", func(c *Config) {}, nil},
		{"no include", func(c *Config) { c.Include = nil }, []string{"include: "}},
		{"bad pattern", func(c *Config) { c.Exclude = []string{"/a/[x"} }, []string{"exclude: pattern "}},
		{"double star inside segment", func(c *Config) { c.Include = []string{"/a/x**/b"} }, []string{"include: pattern "}},
		{"read_from", func(c *Config) { c.ReadFrom = "middle" }, []string{"read_from: "}},
		{"max_line_bytes", func(c *Config) { c.MaxLineBytes = 0 }, []string{"max_line_bytes: must be at least 1"}},
		{"delimiter", func(c *Config) { c.LineDelimiter = "" }, []string{"line_delimiter: "}},
		{"encoding", func(c *Config) { c.Encoding = "latin1" }, []string{"encoding: "}},
		{"codec", func(c *Config) { c.Codec = "xml" }, []string{"codec: "}},
		{"timestamp_field needs json", func(c *Config) { c.TimestampField = "ts" }, []string{"timestamp_field: "}},
		{"distinct_id", func(c *Config) { c.DistinctID = "{user}" }, []string{"distinct_id: "}},
		{"multiline", func(c *Config) { c.Multiline.StartPattern = "("; c.Multiline.MaxLines = 0 },
			[]string{"multiline.start_pattern: ", "multiline.max_lines: "}},
		{"several at once", func(c *Config) { c.ReadFrom = "x"; c.Codec = "y"; c.BatchLines = 0 },
			[]string{"read_from: ", "batch_lines: ", "codec: "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultConfig()
			c.Include = []string{"/var/log/*.log"}
			tc.edit(c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d errors %q, want %d", len(lines), lines, len(tc.want))
			}
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || strings.HasPrefix(l, w)
				}
				if !found {
					t.Errorf("no error starting with %q in %q", w, lines)
				}
			}
		})
	}
}

func TestSample(t *testing.T) {
	cfg := componenttest.CheckSample(t, "sources", NewFactory(), func(want component.Config) {
		w := want.(*Config)
		w.Include = []string{"/var/log/app/*.log"}
		if w.Exclude == nil {
			w.Exclude = []string{}
		}
	})
	if err := cfg.Validate(); err != nil {
		t.Errorf("sample does not validate: %v", err)
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		pat, path string
		want      bool
	}{
		{"/var/log/*.log", "/var/log/a.log", true},
		{"/var/log/*.log", "/var/log/sub/a.log", false},
		{"/var/log/**/*.log", "/var/log/a.log", true},
		{"/var/log/**/*.log", "/var/log/x/y/z/a.log", true},
		{"/var/log/**/*.log", "/var/log/x/a.txt", false},
		{"/var/log/**", "/var/log/x/a.txt", true},
		{"/var/**/app/*.log", "/var/log/app/a.log", true},
		{"/var/**/app/*.log", "/var/app/a.log", true},
		{"/var/log/app.log", "/var/log/app.log", true},
		{"/var/log/app.log", "/var/log/app.log.1", false},
		{"/var/log/app.log*", "/var/log/app.log.1", true},
		{"/var/log/[ab].log", "/var/log/c.log", false},
		{"/var/log/*.log", "/etc/a.log", false},
	}
	for _, tc := range cases {
		p := compilePattern(tc.pat)
		if got := p.match(tc.path); got != tc.want {
			t.Errorf("%s matches %s = %v, want %v", tc.pat, tc.path, got, tc.want)
		}
	}
}
