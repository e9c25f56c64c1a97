package file

import (
	"bufio"
	"fmt"
	"os"
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
			run := newAgentRun(t, dir, bin, filepath.Join(logs, "*.log"))

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
				cmd := run.start(t)
				deadline := time.Now().Add(60 * time.Second)
				for len(readKill9Output(t, run.outPath)) < seq && time.Now().Before(deadline) {
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

			stderr := run.checkOnce(t, seq)
			t.Logf("%d lines, each delivered under one uuid; agent log tail:\n%s", seq, tail(stderr, 1200))
		})
	}
}
