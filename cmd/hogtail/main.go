// Command hogtail is an edge agent that ships logs and product events to
// PostHog and to webhooks through PostHog data connectors.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/agent/redact"
)

// Build stamps, set by scripts/package.sh with
// -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
// When empty, the version command falls back to what the Go toolchain
// recorded in the binary (module version, VCS revision and time).
var (
	version = ""
	commit  = ""
	date    = ""
)

const usage = `hogtail ships logs and product events to PostHog and webhooks.

Usage:
  hogtail run      [--config FILE]   run the agent
  hogtail validate [--config FILE]   check a config and print every problem
  hogtail test DIR [DIR ...] [--config DIR:key=value ...]
                                     run JSON-lines events from stdin through connectors
  hogtail tap --component NAME       stream the events leaving a component (live)
  hogtail dead-letters list|replay|purge [--config FILE]
                                     inspect, replay or delete dead letters (offline, or
                                     through the running agent's API)
  hogtail buffer check [--config FILE]
                                     check the buffer file (offline, or through the API)
  hogtail buffer drop-queue NAME [--config FILE]
                                     delete the queue of a removed sink (agent stopped)
  hogtail version                    print version, commit, build date and Go version

Run "hogtail COMMAND --help" for a command's flags.
The default config is ` + config.DefaultPath + `.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(rest, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "dead-letters":
		return cmdDeadLetters(rest, stdout, stderr)
	case "buffer":
		return cmdBuffer(rest, stdout, stderr)
	case bufferChildCommand: // hidden: see bufferChild
		return buffer.ChildMain(rest, stdout, stderr)
	case "test":
		return cmdTest(rest, stdin, stdout, stderr)
	case "tap":
		return cmdTap(rest, stdout, stderr)
	case "version", "--version":
		bi, _ := debug.ReadBuildInfo()
		fmt.Fprintln(stdout, versionLine(buildStamp{version, commit, date}, bi))
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "hogtail: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// buildStamp is what the linker flags set.
type buildStamp struct {
	version, commit, date string
}

// versionLine describes the binary in one line: version, commit, build
// date and Go version. Linker-set stamps win; missing ones come from the
// build info the Go toolchain embeds, so a plain "go build" in a git
// checkout still names its commit.
func versionLine(s buildStamp, bi *debug.BuildInfo) string {
	goVersion := runtime.Version()
	stamped := s.commit != ""
	var modified bool
	if bi != nil {
		if s.version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			s.version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				if s.commit == "" {
					s.commit = kv.Value
				}
			case "vcs.time":
				if s.date == "" {
					s.date = kv.Value
				}
			case "vcs.modified":
				// Only describes the commit when it came from here too.
				modified = !stamped && kv.Value == "true"
			}
		}
	}
	if s.version == "" {
		s.version = "dev"
	}
	if s.commit == "" {
		s.commit = "unknown"
	} else if modified {
		s.commit += "-dirty"
	}
	if s.date == "" {
		s.date = "unknown"
	}
	return fmt.Sprintf("hogtail %s (commit %s, built %s, %s %s/%s)", s.version, s.commit, s.date, goVersion, runtime.GOOS, runtime.GOARCH)
}

func newFlags(name, synopsis string, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", config.DefaultPath, "path of the TOML config file")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: hogtail %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs, path
}

// parseFlags parses args; it returns the exit code to use when the command
// must stop (help or a bad flag), or -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	return -1
}

// loadFlags parses args and loads the config file they name. It returns
// the exit code to use when the command must stop (help or a bad flag as
// parseFlags; 1 for a config with errors, printed to stderr), or the
// config and -1 to go on.
func loadFlags(fs *flag.FlagSet, path *string, args []string, stderr io.Writer) (*config.Config, int) {
	if code := parseFlags(fs, args); code >= 0 {
		return nil, code
	}
	cfg, err := config.Load(*path, components())
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, 1
	}
	return cfg, -1
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs, path := newFlags("validate", "Checks a config: TOML syntax, unknown keys, component options, wiring, and\nevery connector (plugin.json, required keys and attachments, bundle, compile,\ntop-level code). Exits 0 when valid, 1 with every problem otherwise.", stderr)
	cfg, code := loadFlags(fs, path, args, stderr)
	if code >= 0 {
		return code
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", cfg.File, redact.Text(w))
	}
	fmt.Fprintf(stdout, "%s: valid (%d sources, %d transforms, %d sinks)\n", cfg.File, len(cfg.Sources), len(cfg.Transforms), len(cfg.Sinks))
	return 0
}
