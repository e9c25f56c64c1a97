package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc runs one shipper process, restarts it after kills, and sums the
// rusage of every run.
type Proc struct {
	Argv []string
	Dir  string
	Log  string // stdout and stderr of every run are appended here

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	waitErr  error
	cpu      time.Duration
	maxRSSKB int64 // ru_maxrss: inflated by hogbench's own RSS at fork time
	hwmKB    int64 // VmHWM of the shipper's own address space, sampled
	anonKB   int64 // largest RssAnon sampled (heap, stacks)
	fileKB   int64 // largest RssFile or RssShmem sampled (mapped files: bbolt's mmap, binary)
	starts   int
	crashes  []string // exits nobody asked for
}

// Start starts a run.
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.startLocked()
}

func (p *Proc) startLocked() error {
	logf, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", p.Argv[0], err)
	}
	cmd := exec.Command(p.Argv[0], p.Argv[1:]...)
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// If hogbench dies, its shippers die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.Argv[0], err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	p.starts++
	// ru_maxrss of a child counts the parent's RSS at fork (Linux keeps the
	// high-water mark of the pre-exec address space), so peak memory comes
	// from sampling VmHWM of the exec'd process instead.
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			p.sampleHWM(cmd.Process.Pid)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.waitErr = err
		if st := cmd.ProcessState; st != nil {
			if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
				p.cpu += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
				if ru.Maxrss > p.maxRSSKB {
					p.maxRSSKB = ru.Maxrss
				}
			}
		}
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Pid is the pid of the current run (0 when none).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Crashed reports whether the current run ended without being asked to,
// and records it once.
func (p *Proc) Crashed() (string, bool) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return "", false
	}
	select {
	case <-done:
	default:
		return "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := fmt.Sprintf("exited on its own: %v", p.waitErr)
	if p.waitErr == nil {
		msg = "exited on its own with status 0"
	}
	p.crashes = append(p.crashes, msg)
	p.cmd, p.done = nil, nil
	return msg, true
}

// Kill9 sends SIGKILL to the current run and waits for it to end.
func (p *Proc) Kill9() {
	p.signalAndWait(syscall.SIGKILL, 0)
}

// Stop sends SIGTERM, waits up to grace, then SIGKILL.
func (p *Proc) Stop(grace time.Duration) {
	p.signalAndWait(syscall.SIGTERM, grace)
}

func (p *Proc) signalAndWait(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	p.sampleHWM(cmd.Process.Pid)
	_ = cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-done:
			return
		case <-time.After(grace):
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	<-done
}

// Restart starts a new run after a kill.
func (p *Proc) Restart() error { return p.Start() }

// Usage is CPU time summed over every run, the largest max RSS of any run in
// bytes, the number of runs, and exits nobody asked for.
func (p *Proc) Usage() (cpu time.Duration, maxRSS int64, starts int, crashes []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rss := p.hwmKB
	if rss == 0 {
		rss = p.maxRSSKB
	}
	return p.cpu, rss * 1024, p.starts, append([]string(nil), p.crashes...)
}

// sampleHWM records the VmHWM (peak resident set) of pid, and the largest
// anonymous and file-backed parts seen.
func (p *Proc) sampleHWM(pid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	var hwm, anon, file int64
	for _, line := range strings.Split(string(b), "\n") {
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmHWM":
			hwm = kb
		case "RssAnon":
			anon = kb
		case "RssFile", "RssShmem":
			// Both are mapped files: on disk, or on tmpfs (disk-full).
			file += kb
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hwmKB, p.anonKB, p.fileKB = max(p.hwmKB, hwm), max(p.anonKB, anon), max(p.fileKB, file)
}

// RSSParts returns the largest anonymous and file-backed resident sizes
// sampled, in bytes.
func (p *Proc) RSSParts() (anon, file int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.anonKB * 1024, p.fileKB * 1024
}

// tailFile returns the last n bytes of a file, for error reports.
func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := st.Size() - n
	if off < 0 {
		off = 0
	}
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, os.ErrClosed) {
		return string(b)
	}
	return string(b)
}
