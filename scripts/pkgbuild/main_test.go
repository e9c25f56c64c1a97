package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPackagedUnit(t *testing.T) {
	dir := t.TempDir()
	path, err := packagedUnit("../..", dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\nExecStart=/usr/bin/hogtail run --config /etc/hogtail/hogtail.toml\n") {
		t.Errorf("packaged unit does not start /usr/bin/hogtail:\n%s", data)
	}
	if strings.Contains(string(data), "/usr/local/bin") {
		t.Errorf("packaged unit still names /usr/local/bin")
	}

	// A unit whose ExecStart moved must fail the build, not ship a unit
	// pointing at a binary the package does not install.
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "deploy"), 0o755)
	os.WriteFile(filepath.Join(root, "deploy", "hogtail.service"), []byte("[Service]\nExecStart=/opt/hogtail run\n"), 0o644)
	if _, err := packagedUnit(root, dir); err == nil || !strings.Contains(err.Error(), "ExecStart=/usr/local/bin/hogtail") {
		t.Errorf("unit without the expected ExecStart: err = %v", err)
	}
}

func TestRunRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no version", []string{"-bin", "b", "-out", "o", "amd64"}, "required"},
		{"no arch", []string{"-bin", "b", "-out", "o", "-version", "1.0.0"}, "no architecture"},
		{"dash in version", []string{"-bin", "b", "-out", "o", "-version", "1.0.0-5-gabc", "amd64"}, "use ~ or +"},
		{"bad date", []string{"-bin", "b", "-out", "o", "-version", "1.0.0", "-date", "yesterday", "amd64"}, "-date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestBuildDeb packages a stand-in binary and reads the .deb back with
// dpkg-deb: the files, their modes, the conffile and the maintainer scripts.
func TestBuildDeb(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	bin, out := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(bin, "linux-arm64"), 0o755)
	os.WriteFile(filepath.Join(bin, "linux-arm64", "hogtail"), []byte("#!/bin/sh\n"), 0o755)
	var paths strings.Builder
	if err := run([]string{"-root", "../..", "-bin", bin, "-out", out, "-version", "1.2.3~git4.abcdef0", "-date", "2026-12-01T00:00:00Z", "arm64"}, &paths); err != nil {
		t.Fatal(err)
	}
	deb := filepath.Join(out, "hogtail_1.2.3~git4.abcdef0-1_arm64.deb")
	if !strings.Contains(paths.String(), deb) || !strings.Contains(paths.String(), "hogtail-1.2.3~git4.abcdef0-1.aarch64.rpm") {
		t.Fatalf("built %q", paths.String())
	}
	contents, err := exec.Command("dpkg-deb", "-c", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -c: %v\n%s", err, contents)
	}
	for _, want := range []string{
		"-rwxr-xr-x root/root 10 ./usr/bin/hogtail",
		"-rw-r--r-- root/root ./lib/systemd/system/hogtail.service",
		"-rw-r--r-- root/root ./etc/hogtail/hogtail.toml",
		"-rw-r--r-- root/root ./usr/share/doc/hogtail/README.md",
		"-rw-r--r-- root/root ./usr/share/doc/hogtail/config.example.toml",
		"./usr/share/doc/hogtail/examples/connectors/hello/plugin.json",
	} {
		if !containsFields(string(contents), want) {
			t.Errorf("package lacks %q:\n%s", want, contents)
		}
	}
	for file, want := range map[string]string{
		"conffiles": "/etc/hogtail/hogtail.toml\n",
		"postinst":  "if [ -d /run/systemd/system ]; then\n\tsystemctl daemon-reload",
		"prerm":     "systemctl --no-reload disable hogtail.service",
		"postrm":    "if [ -d /run/systemd/system ]; then",
	} {
		got, err := exec.Command("sh", "-c", `dpkg-deb --ctrl-tarfile "$0" | tar -xOf - "./$1"`, deb, file).Output()
		if err != nil || !strings.Contains(string(got), want) {
			t.Errorf("%s: %v, want it to contain %q:\n%s", file, err, want, got)
		}
	}
	field, _ := exec.Command("dpkg-deb", "-f", deb, "Version", "Architecture").Output()
	if string(field) != "Version: 1.2.3~git4.abcdef0-1\nArchitecture: arm64\n" {
		t.Errorf("control fields:\n%s", field)
	}
}

// containsFields reports whether a line of listing holds every field of
// want, in order, ignoring the sizes and dates between them.
func containsFields(listing, want string) bool {
	fields := strings.Fields(want)
	for _, line := range strings.Split(listing, "\n") {
		rest, ok := line, true
		for _, f := range fields {
			i := strings.Index(rest, f)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(f):]
		}
		if ok && strings.HasSuffix(strings.TrimSpace(line), fields[len(fields)-1]) {
			return true
		}
	}
	return false
}
