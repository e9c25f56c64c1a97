package httpsource

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
)

// bufferEmitter commits events to a real disk buffer, as the agent does.
type bufferEmitter struct{ b *buffer.Buffer }

func (e bufferEmitter) Emit(ctx context.Context, evs []*event.Event, cps ...component.Checkpoint) error {
	recs := make([][]byte, len(evs))
	for i, ev := range evs {
		recs[i] = ev.AppendJSON(nil)
	}
	return e.b.Commit(ctx, &buffer.Commit{Appends: []buffer.Append{{Queue: "events", Records: recs}}, Source: "web", Checkpoints: cps})
}

const crashChildEnv = "HOGTAIL_HTTP_CRASH_CHILD"

// crashChild runs the source on a real buffer until it is killed.
func crashChild(dir string) {
	b, err := buffer.Open(filepath.Join(dir, "buffer.db"), buffer.Options{Sync: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if err := b.Queue("events", buffer.QueueConfig{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	f := NewFactory()
	cfg := f.NewConfig().(*Config)
	cfg.Address = "127.0.0.1:0"
	src, err := f.CreateSource(cfg, componenttest.Settings("web", dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	s := src.(*source)
	go func() {
		<-s.ready
		publishAddr(dir, s.Addr())
	}()
	s.Run(context.Background(), bufferEmitter{b})
	os.Exit(4)
}

// TestCrashAfter200 kills the process (SIGKILL) right after it answered
// 200 and finds every acknowledged event in the buffer file.
func TestCrashAfter200(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	cmd, dir := childCommand(t, crashChildEnv, "TestCrashAfter200")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addr := childAddr(t, dir)
	acked := map[string]bool{}
	for r := 0; r < 20; r++ {
		var sb strings.Builder
		sb.WriteString(`{"api_key":"phc_x","batch":[`)
		ids := make([]string, 10)
		for i := range ids {
			ids[i] = event.NewUUID()
			if i > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"event":"e","distinct_id":"u","uuid":%q}`, ids[i])
		}
		sb.WriteString(`]}`)
		resp, err := http.Post("http://"+string(addr)+"/batch/", "application/json", strings.NewReader(sb.String()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for _, id := range ids {
			acked[id] = true
		}
	}
	// Kill right after the last 200: no graceful shutdown, no flush.
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	b, err := buffer.Open(filepath.Join(dir, "buffer.db"), buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Queue("events", buffer.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	rd, err := b.Reader("events")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	found := 0
	for found < len(acked) {
		lease, err := rd.Next(ctx, 1000, 1<<30, 0)
		if err != nil {
			t.Fatalf("found %d of %d acknowledged events: %v", found, len(acked), err)
		}
		for _, rec := range lease.Records {
			var ev event.Event
			if err := ev.UnmarshalJSON(rec); err != nil {
				t.Fatal(err)
			}
			if !acked[ev.UUID] {
				t.Fatalf("unexpected event %s", rec)
			}
			found++
		}
	}
}
