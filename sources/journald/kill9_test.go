package journald

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/buffer"
)

// TestKill9 runs the real hogtail binary on a journal that grows while the
// agent is SIGKILLed and restarted, and checks that every entry entered the
// buffer exactly once. The sink points at a closed port, so every record
// stays in the buffer where the test counts them: deterministic uuids would
// hide a re-read entry from a receiver, but not from a count of records.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	j := newTestJournal(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "hogtail")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/hogtail/hogtail/cmd/hogtail").CombinedOutput(); err != nil {
		t.Skipf("cannot build cmd/hogtail: %v\n%s", err, out)
	}
	// A port nothing listens on: deliveries fail and are retried forever.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close()
	dataDir := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "hogtail.toml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir = %q
[api]
enabled = false
[sources.journal]
type = "journald"
journal_directory = %q
batch_max_events = 50
[sinks.out]
type = "http"
inputs = ["journal"]
url = "http://%s/"
`, dataDir, j.dir, deadAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	errLog, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer errLog.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--config", cfgPath)
		cmd.Stderr = errLog
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	const total, chunk = 3000, 100
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; i < total; i += chunk {
			entries := make([]fields, chunk)
			for k := range entries {
				entries[k] = fields{"MESSAGE": "seq=" + strconv.Itoa(i+k), "SEQ": i + k}
			}
			j.append(entries...)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	for k := 0; k < 6; k++ {
		cmd := start()
		time.Sleep(time.Duration(200+rand.IntN(300)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
	}
	<-writerDone
	cmd := start()
	// Wait until the checkpoint reaches the last entry, then stop.
	lastCursor := cursorOf(t, j, "seq="+strconv.Itoa(total-1))
	deadline := time.Now().Add(60 * time.Second)
	for {
		time.Sleep(200 * time.Millisecond)
		if storedCursor(t, dataDir) == lastCursor {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			b, _ := os.ReadFile(errLog.Name())
			t.Fatalf("the checkpoint did not reach the last entry\n%s", tail(string(b), 3000))
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()

	count := map[int]int{}
	for _, rec := range queueRecords(t, filepath.Join(dataDir, "buffer.db"), "out") {
		var ev struct {
			Properties struct {
				SEQ string `json:"SEQ"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(rec, &ev); err != nil {
			t.Fatalf("record %q: %v", rec, err)
		}
		n, err := strconv.Atoi(ev.Properties.SEQ)
		if err != nil {
			t.Fatalf("record without SEQ: %s", rec)
		}
		count[n]++
	}
	var missing, dup []int
	for i := 0; i < total; i++ {
		switch count[i] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 || len(dup) > 0 {
		b, _ := os.ReadFile(errLog.Name())
		t.Fatalf("%d lost (first %v), %d stored twice (first %v)\nagent log tail:\n%s",
			len(missing), first(missing), len(dup), first(dup), tail(string(b), 3000))
	}
}

func first(s []int) []int { return s[:min(len(s), 10)] }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// storedCursor reads the journald source's checkpoint from a buffer file
// that the running agent holds: a read-only bbolt open with a timeout would
// wait for its lock, so the file is copied first.
func storedCursor(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "buffer.db"))
	if err != nil {
		return ""
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	buf, err := buffer.Open(cp, buffer.Options{OpenTimeout: time.Second})
	if err != nil {
		return "" // a copy taken mid-write; try again
	}
	defer buf.Close()
	cps, err := buf.Checkpoints("journal").LoadCheckpoints()
	if err != nil {
		return ""
	}
	return string(cps[checkpointKey])
}

// queueRecords returns every record of a queue in a stopped agent's buffer.
func queueRecords(t *testing.T, path, queue string) [][]byte {
	t.Helper()
	buf, err := buffer.Open(path, buffer.Options{OpenTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	if err := buf.Queue(queue, buffer.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	st, _ := buf.Stats(queue)
	r, err := buf.Reader(queue)
	if err != nil {
		t.Fatal(err)
	}
	// Read exactly as many records as the queue holds: a time-out would
	// take a slow read on a loaded machine for the end of the queue.
	var out [][]byte
	for int64(len(out)) < st.Records {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		lease, err := r.Next(ctx, 10000, 64<<20, 0)
		cancel()
		if err != nil {
			t.Fatalf("after %d of %d records: %v", len(out), st.Records, err)
		}
		for _, rec := range lease.Records {
			out = append(out, append([]byte(nil), rec...))
		}
	}
	return out
}
