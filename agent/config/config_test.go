package config

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/sinks/console"
	"github.com/hogtail/hogtail/sources/demo"
)

var update = flag.Bool("update", false, "rewrite the golden .err files")

type passthroughConfig struct{}

func (*passthroughConfig) Validate() error { return nil }

type passthrough struct{}

func (passthrough) Apply(_ context.Context, in component.Input, out *component.Output) error {
	out.Events = append(out.Events, in.Events...)
	return nil
}

func testRegistry() *component.Registry {
	return component.NewRegistry().
		AddSource(demo.NewFactory()).
		AddTransform(component.NewTransformFactory("passthrough", "",
			func() *passthroughConfig { return &passthroughConfig{} },
			func(*passthroughConfig, component.Settings) (component.Transform, error) { return passthrough{}, nil })).
		AddSink(console.NewFactory())
}

func noEnv(string) (string, bool) { return "", false }

// TestBadConfigs loads each testdata/bad/*.toml and compares the complete
// error output with the golden .err file beside it (go test -update
// rewrites them).
func TestBadConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.toml")
	if len(files) == 0 {
		t.Fatal("no test configs")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(f, data, testRegistry(), noEnv)
			if err == nil {
				t.Fatal("config accepted, want errors")
			}
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error is %T, want Errors", err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".toml") + ".err"
			if *update {
				os.WriteFile(golden, []byte(got), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("missing golden file (run with -update): %v", err)
			}
			if got != string(want) {
				t.Errorf("errors differ\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

func TestThreeMistakesAllReported(t *testing.T) {
	data, _ := os.ReadFile("testdata/bad/three_mistakes.toml")
	_, err := Parse("three.toml", data, testRegistry(), noEnv)
	errs, ok := err.(Errors)
	if !ok || len(errs) != 3 {
		t.Fatalf("want 3 problems, got %v", err)
	}
	for _, p := range errs {
		if p.File != "three.toml" || p.Line == 0 || p.Component == "" || p.Key == "" {
			t.Errorf("problem lacks file, line, component or key: %+v", p)
		}
	}
}

func TestGoodConfigWithEnv(t *testing.T) {
	data, _ := os.ReadFile("testdata/good/env.toml")
	env := map[string]string{"HOGTAIL_TEST_EVENT": "from_env"}
	cfg, err := Parse("testdata/good/env.toml", data, testRegistry(), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/tmp/default-dir" {
		t.Errorf("data_dir = %q, want default from ${VAR:-default}", cfg.DataDir)
	}
	if cfg.ShutdownTimeout != 5*time.Second {
		t.Errorf("shutdown_timeout = %v", cfg.ShutdownTimeout)
	}
	src := cfg.Sources["app"].Config.(*demo.Config)
	if src.Event != "from_env" || src.Rate != 0 || src.BatchSize != 1000 {
		t.Errorf("source config = %+v", src)
	}
	d := cfg.Sinks["out"].Delivery
	if d.BatchMaxBytes != 64<<10 || d.Buffer.MaxSize != 1<<20 || d.BatchMaxEvents != 1000 {
		t.Errorf("delivery = %+v", d)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
}

func TestInterpolate(t *testing.T) {
	env := map[string]string{"A": "1", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cases := []struct{ in, want, err string }{
		{"x = \"${A}\"", "x = \"1\"", ""},
		{"x = \"${B:-two}\"", "x = \"two\"", ""},
		{"x = \"${EMPTY:-d}\"", "x = \"d\"", ""},
		{"x = \"${EMPTY}\"", "x = \"\"", ""},
		{"x = \"$$A $A\"", "x = \"$A $A\"", ""},
		{"x = \"${B}\"", "", "environment variable B is not set"},
		{"x = \"${1X}\"", "", "invalid variable name"},
		{"# ${B}", "# ${B}", ""},
	}
	for _, c := range cases {
		got, probs := interpolate(c.in, lookup)
		if c.err != "" {
			if len(probs) != 1 || !strings.Contains(probs[0].Msg, c.err) {
				t.Errorf("%q: problems %v, want %q", c.in, probs, c.err)
			}
			continue
		}
		if len(probs) != 0 || got != c.want {
			t.Errorf("%q: got %q %v, want %q", c.in, got, probs, c.want)
		}
	}
}

func TestIsLoopbackAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:8686", true},
		{"127.9.9.9:1", true},
		{"[::1]:8686", true},
		{"localhost:8686", true},
		{"LOCALHOST:8686", true},
		{"[::ffff:127.0.0.1]:8686", true},
		{"0.0.0.0:8686", false},
		{":8686", false},
		{"[::]:8686", false},
		{"10.0.0.5:8686", false},
		{"hogtail.example.com:8686", false},
	} {
		if got := IsLoopbackAddress(tc.addr); got != tc.want {
			t.Errorf("IsLoopbackAddress(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

// TestAPITokenOffLoopback: off loopback the API needs a token; with one it
// loads, and on loopback none is needed.
func TestAPITokenOffLoopback(t *testing.T) {
	const rest = "\n[sources.app]\ntype = \"demo\"\n[sinks.out]\ntype = \"console\"\ninputs = [\"app\"]\n"
	for _, tc := range []struct {
		name, api string
		wantErr   string
	}{
		{"loopback without token", `address = "127.0.0.1:8686"`, ""},
		{"off loopback with token", "address = \"0.0.0.0:8686\"\nauth_token = \"s3cret\"", ""},
		{"off loopback without token", `address = "10.1.2.3:8686"`, `api.toml:1: api: auth_token: must be set because api.address 10.1.2.3:8686 is not a loopback address`},
		{"disabled off loopback", "enabled = false\naddress = \"0.0.0.0:8686\"", ""},
		{"not host:port", `address = "8686"`, `api: address: must be host:port, got "8686"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("api.toml", []byte("[api]\n"+tc.api+"\n"+rest), testRegistry(), noEnv)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.API.Tap || cfg.API.Pprof {
					t.Fatalf("tap/pprof on by default: %+v", cfg.API)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestLoadSettings: the settings of a config whose components do not build
// (unknown type, bad options) are read, and their own problems reported.
func TestLoadSettings(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hogtail.toml")
	write := func(text string) {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("data_dir = \"d\"\n[api]\naddress = \"127.0.0.1:9999\"\nauth_token = \"s3cret\"\n[sources.x]\ntype = \"nope\"\nbogus = 1\n[sinks.out]\ntype = \"console\"\ninputs = [\"missing\"]\n")
	cfg, err := LoadSettings(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != filepath.Join(dir, "d") || cfg.API.Address != "127.0.0.1:9999" || cfg.API.AuthToken != "s3cret" || len(cfg.Sources)+len(cfg.Sinks) != 0 {
		t.Fatalf("settings %+v", cfg)
	}
	write("data_dir = \"d\"\n[api]\naddress = \":99999\"\n")
	if _, err := LoadSettings(p); err == nil || !strings.Contains(err.Error(), "api: address:") {
		t.Fatalf("bad API address: %v", err)
	}
}
