package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/sinks/sinktest"
)

// TestHistoricalMigrationEndToEnd runs the real binary with the http source
// feeding the posthog sink: a capture /batch/ sent with
// "historical_migration": true (as posthog-node and posthog-js send
// back-fills) reaches PostHog in /batch/ requests with that flag, and
// realtime events sent beside it in requests without it.
func TestHistoricalMigrationEndToEnd(t *testing.T) {
	rcv := sinktest.NewReceiver(nil)
	defer rcv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hogtail.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir = "data"
log_level = "warn"
shutdown_timeout = "5s"

[api]
enabled = false

[sources.web]
type = "http"
address = %q

[sinks.ph]
type = "posthog"
inputs = ["web"]
host = %q
api_key = "phc_out"
batch_timeout = "200ms"
`, addr, rcv.URL)), 0o644)
	var logs lockedBuffer
	cmd := exec.Command(binary(t), "run", "--config", cfg, "--watch-config=false")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("hogtail output:\n%s", logs.String())
		}
	}()
	componenttest.Eventually(t, 20*time.Second, "the http source", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	send := func(body string) {
		t.Helper()
		resp, err := http.Post("http://"+addr+"/batch/", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	const (
		h1 = "01900000-0000-7000-8000-000000000001"
		h2 = "01900000-0000-7000-8000-000000000002"
		r1 = "01900000-0000-7000-8000-000000000003"
		r2 = "01900000-0000-7000-8000-000000000004"
	)
	send(`{"api_key":"phc_in","historical_migration":true,"batch":[` +
		`{"event":"old","distinct_id":"u","uuid":"` + h1 + `","timestamp":"2020-01-01T00:00:00.000Z"},` +
		`{"event":"old","distinct_id":"u","uuid":"` + h2 + `","timestamp":"2020-01-02T00:00:00.000Z"}]}`)
	// A realtime batch; its event's own historical_migration key is not
	// the batch-level flag, and capture ignores it.
	send(`{"api_key":"phc_in","batch":[` +
		`{"event":"new","distinct_id":"u","uuid":"` + r1 + `"},` +
		`{"event":"new","distinct_id":"u","uuid":"` + r2 + `","historical_migration":true}]}`)
	if !rcv.WaitUnique(4, 20*time.Second) {
		t.Fatalf("%d of 4 events delivered", rcv.Unique())
	}
	got := map[string]bool{}
	for _, r := range rcv.Requests() {
		for _, e := range r.Events {
			got[e.UUID] = r.HistoricalMigration
		}
	}
	want := map[string]bool{h1: true, h2: true, r1: false, r2: false}
	for id, hist := range want {
		if h, ok := got[id]; !ok || h != hist {
			t.Errorf("event %s: delivered %v, in a historical_migration request %v; want %v", id, ok, h, hist)
		}
	}
}
