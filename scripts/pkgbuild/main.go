// Command pkgbuild builds hogtail's .deb and .rpm packages with nfpm from
// binaries scripts/package.sh has already compiled. It lives in its own
// module so nfpm and its dependencies never enter the agent's module graph
// or binary.
//
// Usage (from scripts/package.sh):
//
//	go run . -root REPO -bin DIR -out DIR -version V -date RFC3339 ARCH...
//
// where DIR/linux-ARCH/hogtail is the binary of each GOARCH.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pkgbuild:", err)
		os.Exit(1)
	}
}

// options is what one run packages.
type options struct {
	root, bin, out   string
	version, release string
	maintainer       string
	mtime            time.Time
	arches           []string
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("pkgbuild", flag.ContinueOnError)
	var o options
	var date string
	fs.StringVar(&o.root, "root", "../..", "repository root")
	fs.StringVar(&o.bin, "bin", "", "directory holding linux-ARCH/hogtail (required)")
	fs.StringVar(&o.out, "out", "", "directory the packages are written to (required)")
	fs.StringVar(&o.version, "version", "", "package version, e.g. 1.2.3 or 1.2.3~git42.abcdef0 (required)")
	fs.StringVar(&o.release, "release", "1", "package release (revision)")
	fs.StringVar(&o.maintainer, "maintainer", "hogtail developers <https://github.com/hogtail/hogtail>", "package maintainer")
	fs.StringVar(&date, "date", "", "RFC 3339 time of the package metadata and generated entries (default now)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.arches = fs.Args()
	switch {
	case o.bin == "" || o.out == "" || o.version == "":
		return errors.New("-bin, -out and -version are required")
	case len(o.arches) == 0:
		return errors.New("no architecture given (e.g. amd64 arm64)")
	case strings.ContainsAny(o.version, "-_ /"):
		// dpkg reads the last "-" as the start of the revision; rpm refuses it.
		return fmt.Errorf("version %q: use ~ or + instead of -, _, space or /", o.version)
	}
	o.mtime = time.Now().UTC()
	if date != "" {
		t, err := time.Parse(time.RFC3339, date)
		if err != nil {
			return fmt.Errorf("-date: %w", err)
		}
		o.mtime = t
	}
	stage, err := os.MkdirTemp("", "hogtail-pkgbuild")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	unit, err := packagedUnit(o.root, stage)
	if err != nil {
		return err
	}
	for _, arch := range o.arches {
		for _, format := range []string{"deb", "rpm"} {
			path, err := build(o, arch, format, unit)
			if err != nil {
				return fmt.Errorf("%s %s: %w", format, arch, err)
			}
			fmt.Fprintln(stdout, path)
		}
	}
	return nil
}

// packagedUnit writes the repository's unit with ExecStart pointing at the
// packaged binary (/usr/bin, where the manual install uses /usr/local/bin).
func packagedUnit(root, stage string) (string, error) {
	src := filepath.Join(root, "deploy", "hogtail.service")
	data, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	const from, to = "ExecStart=/usr/local/bin/hogtail ", "ExecStart=/usr/bin/hogtail "
	if n := strings.Count(string(data), from); n != 1 {
		return "", fmt.Errorf("%s: want exactly one %q line, found %d", src, strings.TrimSpace(from), n)
	}
	path := filepath.Join(stage, "hogtail.service")
	return path, os.WriteFile(path, []byte(strings.Replace(string(data), from, to, 1)), 0o644)
}

// info describes the package of one architecture and format.
func info(o options, arch, format, unit string) *nfpm.Info {
	r := func(p string) string { return filepath.Join(o.root, p) }
	// Debian still ships units in /lib/systemd/system; RPM distributions
	// use /usr/lib/systemd/system (on both, one is a link to the other).
	unitDir := "/lib/systemd/system"
	if format == "rpm" {
		unitDir = "/usr/lib/systemd/system"
	}
	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode}}
	}
	dir := func(dst string) *files.Content {
		return &files.Content{Destination: dst, Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755}}
	}
	contents := files.Contents{
		// Owned, so that rpm removes them with the package.
		dir("/etc/hogtail"),
		dir("/usr/share/doc/hogtail"),
		file(filepath.Join(o.bin, "linux-"+arch, "hogtail"), "/usr/bin/hogtail", 0o755),
		file(unit, unitDir+"/hogtail.service", 0o644),
		// The service runs as a dynamic user, which must be able to read
		// its config: secrets belong in the unit's environment, not here.
		{Source: r("deploy/hogtail.toml"), Destination: "/etc/hogtail/hogtail.toml", Type: files.TypeConfigNoReplace,
			FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		file(r("README.md"), "/usr/share/doc/hogtail/README.md", 0o644),
		file(r("config.example.toml"), "/usr/share/doc/hogtail/config.example.toml", 0o644),
		{Source: r("examples"), Destination: "/usr/share/doc/hogtail/examples", Type: files.TypeTree},
	}
	return &nfpm.Info{
		Name:          "hogtail",
		Arch:          arch,
		Platform:      "linux",
		Version:       o.version,
		VersionSchema: "none",
		Release:       o.release,
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    o.maintainer,
		Homepage:      "https://github.com/hogtail/hogtail",
		Description: "Edge agent shipping logs and product events to PostHog and webhooks\n" +
			"hogtail tails files and listens for syslog and PostHog capture requests, runs events\n" +
			"through PostHog data connectors, buffers them on disk and delivers them with retries.",
		MTime: o.mtime,
		Overridables: nfpm.Overridables{
			Contents: contents,
			Umask:    0o022,
			Scripts: nfpm.Scripts{
				PostInstall: r("deploy/package/postinstall.sh"),
				PreRemove:   r("deploy/package/preremove.sh"),
				PostRemove:  r("deploy/package/postremove.sh"),
			},
			RPM: nfpm.RPM{Summary: "Edge agent shipping logs and product events to PostHog and webhooks"},
		},
	}
}

// build writes one package and returns its path.
func build(o options, arch, format, unit string) (string, error) {
	var p nfpm.Packager = deb.Default
	if format == "rpm" {
		p = rpm.DefaultRPM
	}
	in := nfpm.WithDefaults(info(o, arch, format, unit))
	if err := nfpm.PrepareForPackager(in, format); err != nil {
		return "", err
	}
	path := filepath.Join(o.out, p.ConventionalFileName(in))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := p.Package(in, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}
