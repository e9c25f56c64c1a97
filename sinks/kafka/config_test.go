package kafka

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent/component/componenttest"

	"github.com/BurntSushi/toml"
	"github.com/hogtail/hogtail/agent/component"
)

// TestSample: sample.toml holds every option at its default, and nothing
// else, each with a comment.
func TestSample(t *testing.T) {
	f := NewFactory()
	cfg := componenttest.CheckSample(t, "sinks", f, nil)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// Every key of the sample is documented by a comment line above it.
	lines := strings.Split(f.Sample(), "\n")
	for i, l := range lines {
		if i > 0 && !strings.HasPrefix(l, "#") && strings.Contains(l, " = ") && !strings.HasPrefix(l, "type") && !strings.HasPrefix(l, "inputs") && !strings.HasPrefix(lines[i-1], "#") {
			t.Errorf("sample line %q has no comment", l)
		}
	}
}

var keyPrefix = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)?: `)

// TestValidate decodes each testdata/config/*.toml over the defaults and
// compares Validate's messages with the .err file (one per line, empty for
// a valid config).
func TestValidate(t *testing.T) {
	cases, _ := filepath.Glob(filepath.Join("testdata", "config", "*.toml"))
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, path := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".toml"), func(t *testing.T) {
			cfg := defaultConfig()
			md, err := toml.DecodeFile(path, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if u := md.Undecoded(); len(u) > 0 {
				t.Fatalf("unknown keys %v", u)
			}
			got := ""
			if err := cfg.Validate(); err != nil {
				got = err.Error() + "\n"
			}
			golden := strings.TrimSuffix(path, ".toml") + ".err"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
				if l != "" && !keyPrefix.MatchString(l) {
					t.Errorf("message %q does not start with its key", l)
				}
			}
		})
	}
}

// TestCreateResolvesTLSFiles: TLS files resolve against the config
// directory, and a bad one fails the sink's creation.
func TestCreateResolvesTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.TLS = TLSConfig{Enabled: true, CAFile: "ca.pem"}
	set := component.Settings{ConfigDir: dir}
	if _, err := New(cfg, set); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "ca.pem")) {
		t.Fatalf("want an error naming the resolved file, got %v", err)
	}
	os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("not a certificate"), 0o600)
	if _, err := New(cfg, set); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("got %v", err)
	}
}

// TestClientAcceptsValidConfigs: what Validate accepts, the client
// accepts too (Start would fail otherwise, at run time).
func TestClientAcceptsValidConfigs(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.MaxMessageBytes = 1024 },
		func(c *Config) { c.MaxMessageBytes = 100 << 20 },
		func(c *Config) { c.Acks, c.Idempotent = AcksNone, false },
		func(c *Config) { c.Acks, c.Idempotent, c.Compression = AcksLeader, false, "gzip" },
		func(c *Config) { c.SASL = SASLConfig{Mechanism: SASLPlain, Username: "u"}; c.Compression = "snappy" },
		func(c *Config) { c.TLS.Enabled, c.TLS.InsecureSkipVerify, c.Linger = true, true, 0 },
	} {
		cfg := defaultConfig()
		mod(cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		s, err := New(cfg, component.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(context.Background()); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
		s.Shutdown(context.Background())
	}
}
