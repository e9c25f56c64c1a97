package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMaintainerScripts runs the package scripts with a stand-in systemctl
// that records its arguments, once on a host where systemd runs (a private
// mount namespace with /run/systemd/system) and once where it does not, for
// the arguments dpkg and rpm pass on install, upgrade and removal.
func TestMaintainerScripts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace")
	}
	if err := exec.Command("unshare", "-m", "true").Run(); err != nil {
		t.Skipf("unshare -m: %v", err)
	}
	for _, tc := range []struct {
		name, script string
		args         []string
		running      string // systemctl calls when systemd runs
		stopped      string // and when it does not
	}{
		{"deb first install", "postinstall.sh", []string{"configure", ""}, "daemon-reload\n", ""},
		{"deb upgrade", "postinstall.sh", []string{"configure", "0.1.0-1"}, "daemon-reload\ntry-restart hogtail.service\n", ""},
		{"rpm first install", "postinstall.sh", []string{"1"}, "daemon-reload\n", ""},
		{"rpm upgrade", "postinstall.sh", []string{"2"}, "daemon-reload\ntry-restart hogtail.service\n", ""},
		{"deb remove", "preremove.sh", []string{"remove"}, "stop hogtail.service\n--no-reload disable hogtail.service\n", "--no-reload disable hogtail.service\n"},
		{"deb upgrade, old prerm", "preremove.sh", []string{"upgrade", "0.2.0-1"}, "", ""},
		{"rpm erase", "preremove.sh", []string{"0"}, "stop hogtail.service\n--no-reload disable hogtail.service\n", "--no-reload disable hogtail.service\n"},
		{"rpm upgrade, old preun", "preremove.sh", []string{"1"}, "", ""},
		{"deb purge", "postremove.sh", []string{"purge"}, "daemon-reload\n", ""},
	} {
		for _, running := range []bool{true, false} {
			want := tc.stopped
			name := tc.name + "/no systemd"
			if running {
				want, name = tc.running, tc.name+"/systemd running"
			}
			t.Run(name, func(t *testing.T) {
				bin := t.TempDir()
				calls := filepath.Join(bin, "calls")
				fake := "#!/bin/sh\necho \"$*\" >> " + calls + "\n"
				if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fake), 0o755); err != nil {
					t.Fatal(err)
				}
				script, _ := filepath.Abs(filepath.Join("../../deploy/package", tc.script))
				// In the namespace, /run is a fresh tmpfs: systemd "runs"
				// when /run/systemd/system exists there.
				setup := "mount -t tmpfs tmpfs /run"
				if running {
					setup += " && mkdir -p /run/systemd/system"
				}
				cmd := exec.Command("unshare", append([]string{"-m", "sh", "-c", setup + ` && exec sh "$0" "$@"`, script}, tc.args...)...)
				cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("%s %v: %v\n%s", tc.script, tc.args, err, out)
				}
				got, err := os.ReadFile(calls)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				if string(got) != want {
					t.Errorf("systemctl calls:\n%s\nwant:\n%s", strings.TrimSpace(string(got)), strings.TrimSpace(want))
				}
			})
		}
	}
}
