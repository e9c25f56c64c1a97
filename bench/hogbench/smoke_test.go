package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSmoke builds hogtail and runs every chaos scenario against it with
// small counts: any lost event (UDP aside) or any event delivered twice
// under two uuids fails. It needs neither syslog-ng nor rsyslog. disk-full
// needs root to mount a tmpfs and is skipped (reported) otherwise.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("smoke benchmark skipped in -short mode")
	}
	bin := filepath.Join(t.TempDir(), "hogtail")
	build := exec.Command("go", "build", "-o", bin, "github.com/hogtail/hogtail/cmd/hogtail")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build hogtail: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	o := Options{Smoke: true, Shippers: []string{"hogtail"}, Hogtail: bin,
		Connector: "../connectors/add-property", Sizes: SmokeSizes()}
	if os.Getuid() != 0 {
		t.Log("not root: disk-full cannot mount its tmpfs and will be skipped")
	}
	results, err := Bench(ctx, o, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, sc := range Scenarios(o.Sizes) {
		if sc.NotInSmoke == "" {
			want++
		}
	}
	if len(results) != want {
		t.Fatalf("%d results for %d scenarios", len(results), want)
	}
	for _, r := range results {
		switch {
		case r.Skipped != "":
			t.Logf("%s skipped: %s", r.Scenario, r.Skipped)
		case r.Failed():
			t.Errorf("%s: %d of %d lost, %d duplicated under another uuid (%s)", r.Scenario, r.Lost, r.N, r.DupOtherUUID, r.Notes)
		case r.Received == 0:
			t.Errorf("%s: nothing arrived (%s)", r.Scenario, r.Notes)
		}
	}
	if t.Failed() {
		t.Log("\n" + Markdown(results, o))
	}
}
