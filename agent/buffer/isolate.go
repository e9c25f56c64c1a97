package buffer

// Damage detection and salvage run in a child process. bbolt reads its file
// through a memory map and trusts the page structure it finds: a damaged
// page makes it panic inside goroutines of its own (the free page scan of a
// writable open) or fault on an address past the end of a truncated file.
// Neither can be recovered in the process that hit it, so a damaged
// buffer.db would crash the agent on every start. A child that crashes on
// the file only tells the parent that the file is damaged.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ChildCommand builds the command that runs ChildMain(args) in a new
// process: hogtail re-executes its own binary with a hidden subcommand.
type ChildCommand func(ctx context.Context, args ...string) *exec.Cmd

// ErrDamaged reports a buffer file that bbolt cannot read safely.
var ErrDamaged = errors.New("buffer file is damaged")

// Child subcommands.
const (
	childVerify  = "verify"
	childCheck   = "check"
	childSalvage = "salvage"
)

// verdict is what the verify child prints.
type verdict struct {
	// Status is "ok", "damaged", "locked" or "unusable" (an error of the
	// file system, not of the file's content).
	Status string   `json:"status"`
	Damage []string `json:"damage,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// ChildMain runs one isolated operation on a buffer file and prints its
// result as JSON on stdout; it returns the process exit code. It may crash
// on a damaged file: that is what the process is for.
//
//	verify PATH TIMEOUT_MS   page-level check of the whole file
//	check PATH TIMEOUT_MS    Check's report
//	salvage SRC DST          copy what can be read of SRC into a new file DST
func ChildMain(args []string, stdout, stderr io.Writer) int {
	if len(args) < 3 {
		fmt.Fprintln(stderr, "usage: verify|check PATH TIMEOUT_MS | salvage SRC DST")
		return 2
	}
	enc := json.NewEncoder(stdout)
	switch args[0] {
	case childVerify, childCheck:
		ms, err := strconv.Atoi(args[2])
		if err != nil {
			fmt.Fprintln(stderr, "bad timeout:", args[2])
			return 2
		}
		timeout := time.Duration(ms) * time.Millisecond
		if args[0] == childCheck {
			var res checkResult
			rep, err := Check(args[1], timeout)
			if err != nil {
				res.Error, res.Locked = err.Error(), errors.Is(err, ErrLocked)
			}
			res.Report = rep
			enc.Encode(res)
			return 0
		}
		enc.Encode(verifyFile(args[1], timeout))
		return 0
	case childSalvage:
		rep, err := salvage(args[1], args[2])
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		enc.Encode(rep)
		return 0
	}
	fmt.Fprintf(stderr, "unknown operation %q\n", args[0])
	return 2
}

// verifyFile opens path read-only (which bbolt does without walking the
// pages) and runs bbolt's consistency check over every page: the walk a
// writable open makes in a goroutine that would panic on damage.
func verifyFile(path string, timeout time.Duration) verdict {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return verdict{Status: "locked", Error: err.Error()}
		case isFSError(err):
			return verdict{Status: "unusable", Error: err.Error()}
		}
		return verdict{Status: "damaged", Damage: []string{"bbolt: " + err.Error()}}
	}
	defer db.Close()
	v := verdict{Status: "ok"}
	db.View(func(tx *bolt.Tx) error {
		if d := truncation(tx, path); d != "" {
			v.Damage = append(v.Damage, d)
		}
		for cerr := range tx.Check() {
			v.Damage = append(v.Damage, "bbolt: "+cerr.Error())
			if len(v.Damage) >= 20 {
				break
			}
		}
		return nil
	})
	if len(v.Damage) > 0 {
		v.Status = "damaged"
	}
	return v
}

// truncation describes a file shorter than the pages its meta page
// counts, or returns "". The check walks only the pages the tree reaches,
// so a file cut where only free pages lay passes it; a writable open then
// hands those missing pages out as free ones and reads them through a
// mapping that does not cover them (a fault, or another mapping's bytes
// read as pages).
func truncation(tx *bolt.Tx, path string) string {
	st, err := os.Stat(path)
	if err != nil {
		return "cannot stat the file: " + err.Error()
	}
	if st.Size() < tx.Size() {
		return fmt.Sprintf("the file is truncated: %d bytes, but its pages span %d bytes", st.Size(), tx.Size())
	}
	return ""
}

// checkResult is what the check child prints.
type checkResult struct {
	Report *Report `json:"report,omitempty"`
	Error  string  `json:"error,omitempty"`
	Locked bool    `json:"locked,omitempty"`
}

// isFSError reports an error of the file system or of permissions (the
// file could not be opened, locked or mapped), as opposed to content that
// is not a valid bbolt file.
func isFSError(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return true
	}
	var errno syscall.Errno
	return errors.As(err, &errno)
}

// childOutcome is a child's stdout, or why there is none.
type childOutcome struct {
	out []byte
	// crashed describes a child that died or failed (from its stderr).
	crashed string
}

// runChild runs one child operation. The error is for a child that could
// not be started at all; a child that ran and failed is an outcome.
// While it runs, waiting (if set) is called every childWaitTick.
func runChild(ctx context.Context, child ChildCommand, timeout time.Duration, waiting func(), args ...string) (childOutcome, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := child(ctx, args...)
	var stdout bytes.Buffer
	stderr := &headWriter{max: 4096}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Start(); err != nil {
		return childOutcome{}, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(childWaitTick)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-exited:
			break wait
		case <-tick.C:
			if waiting != nil {
				waiting()
			}
		}
	}
	if err == nil {
		return childOutcome{out: stdout.Bytes()}, nil
	}
	why := err.Error()
	if ctx.Err() != nil {
		why = fmt.Sprintf("did not finish within %s", timeout)
	}
	if msg := crashLine(stderr.String()); msg != "" {
		why += ": " + msg
	}
	return childOutcome{crashed: why}, nil
}

// crashLine picks the line of a Go crash that says what happened.
func crashLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") || strings.HasPrefix(l, "unexpected fault address") {
			return l
		}
	}
	if len(lines) > 0 {
		return lines[len(lines)-1]
	}
	return ""
}

// headWriter keeps the first max bytes written to it: a Go crash says
// what happened first, then prints the stacks.
type headWriter struct {
	max int
	b   []byte
}

func (w *headWriter) Write(p []byte) (int, error) {
	if room := w.max - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (w *headWriter) String() string { return string(w.b) }

// CheckIsolated is Check run in a child process, so that a file that makes
// bbolt crash is reported as damaged instead of crashing the caller.
func CheckIsolated(ctx context.Context, path string, timeout time.Duration, child ChildCommand) (*Report, error) {
	o, err := runChild(ctx, child, childTimeout, nil, childCheck, path, strconv.FormatInt(timeout.Milliseconds(), 10))
	if err != nil {
		return nil, err
	}
	if o.crashed == "" {
		var res checkResult
		if err := json.Unmarshal(o.out, &res); err != nil {
			return nil, fmt.Errorf("check %s: unreadable report from the check process: %w", path, err)
		}
		switch {
		case res.Locked:
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		case res.Error != "":
			return nil, errors.New(res.Error)
		case res.Report != nil:
			return res.Report, nil
		}
	}
	rep := &Report{Path: path, Queues: []QueueReport{}, Checkpoints: map[string]int{}, KV: map[string]int{}, Damage: verdictOf(o).Damage}
	if st, err := os.Stat(path); err == nil {
		rep.FileBytes = st.Size()
	}
	return rep, nil
}

// childWaitTick is how often Options.Waiting is called while a child runs.
const childWaitTick = 10 * time.Second

// childTimeout bounds a check or salvage child: long enough to read a
// large buffer on a slow disk, short enough that a child looping on a
// damaged page tree does not hold the start forever.
const childTimeout = 10 * time.Minute

// verify runs verifyFile in a child. A child that crashed is run once
// more: bbolt fails the same way on the same bytes, while a child killed
// from outside (the OOM killer, an operator) says nothing about the file,
// and setting a sound file aside for it would be wrong.
func verify(ctx context.Context, child ChildCommand, path string, lockTimeout time.Duration, waiting func()) (verdict, error) {
	args := []string{childVerify, path, strconv.FormatInt(lockTimeout.Milliseconds(), 10)}
	o, err := runChild(ctx, child, childTimeout, waiting, args...)
	if err == nil && o.crashed != "" {
		if again, err2 := runChild(ctx, child, childTimeout, waiting, args...); err2 == nil && again.crashed == "" {
			o = again
		}
	}
	if err != nil {
		return verdict{}, err
	}
	return verdictOf(o), nil
}

func verdictOf(o childOutcome) verdict {
	if o.crashed != "" {
		return verdict{Status: "damaged", Damage: []string{"reading the file crashes bbolt (" + o.crashed + ")"}}
	}
	var v verdict
	if err := json.Unmarshal(o.out, &v); err != nil || v.Status == "" {
		return verdict{Status: "damaged", Damage: []string{fmt.Sprintf("the check process gave no verdict (%q)", o.out)}}
	}
	return v
}
