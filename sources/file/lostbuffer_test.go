package file

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestLostBufferNoDuplicates runs the real binary (file source → console
// sink) until every line is delivered, SIGKILLs it, loses buffer.db
// (deleted, or truncated to half: set aside and salvaged at the next
// start), appends more lines and starts it again. The lines delivered
// before must not be read again: each seq arrives exactly once, under one
// uuid. Without the checkpoint copy every file was read again from 0
// under new uuids and timestamps, which PostHog cannot deduplicate.
func TestLostBufferNoDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildHogtail(t, t.TempDir())
	cases := []struct {
		name string
		lose func(t *testing.T, path string)
	}{
		{"deleted", func(t *testing.T, path string) { must(t, os.Remove(path)) }},
		{"truncated to half", func(t *testing.T, path string) {
			st, err := os.Stat(path)
			must(t, err)
			must(t, os.Truncate(path, st.Size()/2))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := filepath.Join(dir, "logs")
			must(t, os.MkdirAll(logs, 0o755))
			data := filepath.Join(dir, "data")
			cfgPath := filepath.Join(dir, "hogtail.toml")
			must(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir = %q
[api]
enabled = false
[sources.logs]
type = "file"
include = [%q]
poll_interval = "50ms"
[sinks.out]
type = "console"
inputs = ["logs"]
format = "json"
`, data, filepath.Join(logs, "*.log"))), 0o644))
			outPath := filepath.Join(dir, "out.jsonl")
			out, err := os.OpenFile(outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			must(t, err)
			defer out.Close()
			errLog, err := os.Create(filepath.Join(dir, "stderr.log"))
			must(t, err)
			defer errLog.Close()

			seq := 0
			write := func(n int) {
				for _, name := range []string{"a.log", "b.log"} {
					f, err := os.OpenFile(filepath.Join(logs, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
					must(t, err)
					w := bufio.NewWriter(f)
					for range n / 2 {
						fmt.Fprintf(w, "seq=%d\n", seq)
						seq++
					}
					must(t, w.Flush())
					must(t, f.Close())
				}
			}
			// runUntil starts the agent, waits until every seq written so
			// far was delivered, and SIGKILLs it.
			runUntil := func() {
				cmd := exec.Command(bin, "run", "--config", cfgPath)
				cmd.Stdout, cmd.Stderr = out, errLog
				must(t, cmd.Start())
				deadline := time.Now().Add(60 * time.Second)
				for len(readKill9Output(t, outPath)) < seq && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
				}
				must(t, cmd.Process.Signal(syscall.SIGKILL))
				_ = cmd.Wait()
			}

			write(20000)
			runUntil()
			tc.lose(t, filepath.Join(data, "buffer.db"))
			write(4000)
			runUntil()

			seen := readKill9Output(t, outPath)
			var missing, dup []int
			for i := range seq {
				switch len(seen[i]) {
				case 0:
					missing = append(missing, i)
				case 1:
				default:
					dup = append(dup, i)
				}
			}
			stderr, _ := os.ReadFile(errLog.Name())
			if len(missing) > 0 || len(dup) > 0 {
				t.Fatalf("%d lost (first %v), %d delivered under a second uuid (first %v)\nagent log tail:\n%s",
					len(missing), head(missing), len(dup), head(dup), tail(string(stderr), 3000))
			}
			t.Logf("%d lines, each delivered under one uuid; agent log tail:\n%s", seq, tail(string(stderr), 1200))
		})
	}
}
