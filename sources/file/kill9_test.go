package file

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKill9 runs the real hogtail binary (file source → bbolt buffer →
// console sink) while a writer appends and rotates, SIGKILLs it several
// times, and checks that every line entered the buffer exactly once: each
// seq is seen under exactly one event uuid (a line read twice would get a
// second uuid; a sink redelivery repeats the same uuid and is allowed).
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	must(t, os.MkdirAll(logs, 0o755))
	run := newAgentRun(t, dir, buildHogtail(t, dir), filepath.Join(logs, "app.log*"))
	start := func() *exec.Cmd { return run.start(t) }
	outPath := run.outPath

	// The writer: 60k lines, rotated by rename every 10k, at a steady pace.
	const total, rotateEvery = 60000, 10000
	writerDone := make(chan error, 1)
	go func() {
		writerDone <- func() error {
			f, err := os.Create(filepath.Join(logs, "app.log"))
			if err != nil {
				return err
			}
			w := bufio.NewWriter(f)
			for i := 0; i < total; i++ {
				if i > 0 && i%rotateEvery == 0 {
					w.Flush()
					f.Close()
					if err := os.Rename(filepath.Join(logs, "app.log"), filepath.Join(logs, fmt.Sprintf("app.log.%d", i/rotateEvery))); err != nil {
						return err
					}
					if f, err = os.Create(filepath.Join(logs, "app.log")); err != nil {
						return err
					}
					w.Reset(f)
				}
				fmt.Fprintf(w, "seq=%d\n", i)
				if i%500 == 499 {
					w.Flush()
					time.Sleep(5 * time.Millisecond)
				}
			}
			w.Flush()
			return f.Close()
		}()
	}()

	for k := 0; k < 6; k++ {
		cmd := start()
		time.Sleep(time.Duration(150+rand.IntN(350)) * time.Millisecond)
		must(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
	}
	must(t, <-writerDone)
	cmd := start()
	deadline := time.Now().Add(40 * time.Second)
	var seen map[int]map[string]bool
	for {
		time.Sleep(300 * time.Millisecond)
		seen = readKill9Output(t, outPath)
		if len(seen) >= total || time.Now().After(deadline) {
			break
		}
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	run.checkOnce(t, total)
}

// agentRun is the real binary tailing include into a console sink whose
// JSON lines go to outPath.
type agentRun struct {
	bin, cfgPath, outPath string
	out, errLog           *os.File
}

func newAgentRun(t *testing.T, dir, bin, include string) *agentRun {
	t.Helper()
	r := &agentRun{bin: bin, cfgPath: filepath.Join(dir, "hogtail.toml"), outPath: filepath.Join(dir, "out.jsonl")}
	must(t, os.WriteFile(r.cfgPath, []byte(fmt.Sprintf(`data_dir = %q
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
`, filepath.Join(dir, "data"), include)), 0o644))
	var err error
	r.out, err = os.OpenFile(r.outPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	must(t, err)
	t.Cleanup(func() { r.out.Close() })
	r.errLog, err = os.Create(filepath.Join(dir, "stderr.log"))
	must(t, err)
	t.Cleanup(func() { r.errLog.Close() })
	return r
}

func (r *agentRun) start(t *testing.T) *exec.Cmd {
	cmd := exec.Command(r.bin, "run", "--config", r.cfgPath)
	cmd.Stdout, cmd.Stderr = r.out, r.errLog
	must(t, cmd.Start())
	return cmd
}

// checkOnce fails unless every seq below total was delivered under exactly
// one uuid, and returns the agent's log.
func (r *agentRun) checkOnce(t *testing.T, total int) string {
	t.Helper()
	seen := readKill9Output(t, r.outPath)
	var missing, dup []int
	for i := 0; i < total; i++ {
		switch len(seen[i]) {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			dup = append(dup, i)
		}
	}
	stderr, _ := os.ReadFile(r.errLog.Name())
	if len(missing) > 0 || len(dup) > 0 {
		t.Fatalf("%d lost (first %v), %d under more than one uuid (first %v)\nagent crash: %s\nagent log tail:\n%s",
			len(missing), head(missing), len(dup), head(dup), crashOf(string(stderr)), tail(string(stderr), 3000))
	}
	return string(stderr)
}

// buildHogtail builds the hogtail binary into dir, or skips the test when
// it cannot (no go tool, or the agent mid-change).
func buildHogtail(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binary")
	}
	bin := filepath.Join(dir, "hogtail")
	if out, err := exec.Command(goBin, "build", "-o", bin, "github.com/hogtail/hogtail/cmd/hogtail").CombinedOutput(); err != nil {
		t.Skipf("cannot build cmd/hogtail (the agent may be mid-change): %v\n%s", err, out)
	}
	return bin
}

// crashOf returns the lines around a Go crash in an agent's log (what
// happened, and the first stack), which a tail of the log would cut off.
func crashOf(log string) string {
	for _, marker := range []string{"fatal error: ", "panic: ", "unexpected fault address", "SIGQUIT", "SIGBUS", "SIGSEGV"} {
		if i := strings.Index(log, marker); i >= 0 {
			start := strings.LastIndexByte(log[:i], '\n') + 1
			return log[start:min(len(log), i+2000)]
		}
	}
	return "none"
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// readKill9Output maps seq to the uuids it was delivered under.
func readKill9Output(t *testing.T, path string) map[int]map[string]bool {
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	seen := map[int]map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			UUID       string `json:"uuid"`
			Properties struct {
				Message string `json:"message"`
			} `json:"properties"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue // cut by the kill
		}
		n, err := strconv.Atoi(strings.TrimPrefix(ev.Properties.Message, "seq="))
		if err != nil {
			continue
		}
		if seen[n] == nil {
			seen[n] = map[string]bool{}
		}
		seen[n][ev.UUID] = true
	}
	return seen
}
