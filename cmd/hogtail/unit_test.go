package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestSystemdUnit checks the shipped unit keeps the settings the agent
// relies on, and lets systemd-analyze verify it where available.
func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("../../deploy/hogtail.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(data)
	for _, want := range []string{
		"Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=hogtail",
		"ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes", "PrivateTmp=yes",
		"ReadWritePaths=/var/lib/hogtail", "CapabilityBoundingSet=\n", "DynamicUser=yes",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Log("systemd-analyze not installed; syntax not verified")
		return
	}
	out, _ := exec.Command("systemd-analyze", "verify", "../../deploy/hogtail.service").CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// The binary is not installed on a build machine; anything else is a real problem.
		if line != "" && !strings.Contains(line, "is not executable") && !strings.Contains(line, "No such file") {
			t.Errorf("systemd-analyze: %s", line)
		}
	}
}
