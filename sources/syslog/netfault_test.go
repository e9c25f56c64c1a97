package syslogsource

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/prometheus/client_golang/prometheus"
)

// flakyListener fails its first accepts with errno, as a listener does when
// the process is out of file descriptors, then accepts for real.
type flakyListener struct {
	net.Listener
	fails atomic.Int64
	errno syscall.Errno
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", l.errno)}
	}
	return l.Listener.Accept()
}

// newBare creates a source without running it, for tests that hand it a
// wrapped listener or socket.
func newBare(t testing.TB, mutate func(*Config)) (*source, *prometheus.Registry) {
	t.Helper()
	f := NewFactory()
	cfg := f.NewConfig().(*Config)
	cfg.Address = "127.0.0.1:0"
	cfg.Timezone = "UTC"
	if mutate != nil {
		mutate(cfg)
	}
	set := componenttest.Settings("syslog_in", t.TempDir())
	src, err := f.CreateSource(cfg, set)
	if err != nil {
		t.Fatalf("CreateSource: %v", err)
	}
	return src.(*source), set.Metrics.(*prometheus.Registry)
}

// TestAcceptErrorsBackOffAndContinue: failed accepts (EMFILE, ENFILE,
// ECONNABORTED) pause and retry; the connections waiting meanwhile are
// served once accept works again.
func TestAcceptErrorsBackOffAndContinue(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED} {
		t.Run(errno.Error(), func(t *testing.T) {
			s, reg := newBare(t, func(c *Config) { c.Mode = ModeTCP })
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := &flakyListener{Listener: inner, errno: errno}
			ln.fails.Store(6) // 5+10+20+40+80+160 ms of pauses
			emit := componenttest.NewEmitter()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.serveStream(ctx, emit, ln) }()

			conn, err := net.Dial("tcp", inner.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte("<13>1 - - - - - - waited in the backlog\n")); err != nil {
				t.Fatal(err)
			}
			wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer wcancel()
			if err := emit.WaitFor(wctx, 1); err != nil {
				t.Fatal(err)
			}
			if m := messagesOf(emit.Events()); m[0] != "waited in the backlog" {
				t.Fatalf("%q", m)
			}
			if v := metricValue(t, reg, "hogtail_syslog_source_accept_errors_total"); v != 6 {
				t.Fatalf("accept_errors_total %v, want 6", v)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serveStream: %v", err)
			}
			// A stopped source closed its listener.
			if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
				c.Close()
				t.Fatal("the listener is still open after the source stopped")
			}
		})
	}
}

// TestListenerClosedElsewhere: when the listener is closed under the
// source (not by its shutdown), Run ends with an error instead of leaving
// an open socket that nobody accepts on, and open connections commit.
func TestListenerClosedElsewhere(t *testing.T) {
	s, _ := newBare(t, func(c *Config) { c.Mode = ModeTCP })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	emit := componenttest.NewEmitter()
	done := make(chan error, 1)
	go func() { done <- s.serveStream(context.Background(), emit, ln) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("<13>1 - - - - - - before the close\n"))
	componenttest.Eventually(t, 10*time.Second, "the message", func() bool { return emit.Len() == 1 })
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("serveStream: %v, want a closed-listener error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serveStream did not return")
	}
}

// TestRestartRebinds: a source that stopped frees its address, so the
// source a reload creates binds the same address and serves (tcp and the
// unix socket).
func TestRestartRebinds(t *testing.T) {
	dir, err := os.MkdirTemp("", "hts") // short path: sun_path is 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "log.sock")
	for _, mode := range []string{ModeTCP, ModeUnix} {
		t.Run(mode, func(t *testing.T) {
			addr := "127.0.0.1:0"
			for round := 0; round < 3; round++ {
				h := start(t, func(c *Config) { c.Mode = mode; c.Address = addr; c.Path = sock })
				network, target := "tcp", h.src.Addr().String()
				if mode == ModeUnix {
					network, target = "unixgram", sock
				}
				addr = target
				conn, err := net.Dial(network, target)
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				conn.Write([]byte("<13>1 - - - - - - hello\n"))
				h.wait(t, 1)
				conn.Close()
				h.stop()
			}
		})
	}
}

// flakyPacketConn fails its first reads with errno.
type flakyPacketConn struct {
	net.PacketConn
	fails atomic.Int64
	errno syscall.Errno
}

func (c *flakyPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c.fails.Add(-1) >= 0 {
		return 0, nil, &net.OpError{Op: "read", Net: "unixgram", Err: os.NewSyscallError("recvfrom", c.errno)}
	}
	return c.PacketConn.ReadFrom(p)
}

// TestDatagramReadErrorsBackOffAndContinue: a failed read on the unix
// socket (ENOBUFS, ENOMEM) pauses and goes on instead of ending the source.
func TestDatagramReadErrorsBackOffAndContinue(t *testing.T) {
	dir, err := os.MkdirTemp("", "hts")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "log.sock")
	s, reg := newBare(t, func(c *Config) { c.Mode = ModeUnix; c.Path = sock })
	pc, cleanup, err := s.listenPacket()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	fp := &flakyPacketConn{PacketConn: pc, errno: syscall.ENOBUFS}
	fp.fails.Store(4)
	emit := componenttest.NewEmitter()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serveDatagram(ctx, emit, fp) }()
	conn, err := net.Dial("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("<13>1 - - - - - - after the errors"))
	componenttest.Eventually(t, 10*time.Second, "the message", func() bool { return emit.Len() == 1 })
	if v := metricValue(t, reg, "hogtail_syslog_source_accept_errors_total"); v != 4 {
		t.Fatalf("accept_errors_total %v, want 4", v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestTCPZeroLengthAndCutFrames: zero-length frames are skipped without
// closing the connection, and a last frame cut off by the end of the
// connection is kept, flagged and counted.
func TestTCPZeroLengthAndCutFrames(t *testing.T) {
	h := start(t, func(c *Config) { c.Mode = ModeTCP })
	conn, err := net.Dial("tcp", h.src.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("0 "))
	conn.Write(octetFrame([]byte("<13>1 2026-11-27T01:00:00Z h app - - - first")))
	conn.Write([]byte("0 0 "))
	conn.Write(octetFrame([]byte("<13>1 2026-11-27T01:00:00Z h app - - - second")))
	conn.Write([]byte("60 <13>1 2026-11-27T01:00:00Z h app - - - cut"))
	conn.Close()
	got := h.wait(t, 3)
	if m := messagesOf(got); len(m) != 3 || m[0] != "first" || m[1] != "second" || m[2] != "cut" {
		t.Fatalf("%q", m)
	}
	for i, ev := range got {
		tr, _ := ev.Properties.Get("$truncated")
		pe, _ := ev.Properties.GetString("$parse_error")
		if (i == 2) != (tr == true) || (i == 2) != strings.Contains(pe, "42 of 60 bytes arrived") {
			t.Fatalf("event %d: %s", i, ev.AppendJSON(nil))
		}
	}
	if v := metricValue(t, h.reg, "hogtail_syslog_source_cut_frames_total"); v != 1 {
		t.Fatalf("cut_frames_total %v", v)
	}
	if v := metricValue(t, h.reg, "hogtail_syslog_source_framing_errors_total"); v != 0 {
		t.Fatalf("framing_errors_total %v", v)
	}
}

// TestUDPKernelDrops: datagrams the kernel drops on a full receive queue
// (small SO_RCVBUF, a burst while the source is not reading yet) are
// counted in udp_dropped_total{reason="kernel"}, exactly: every datagram
// sent is either received or counted.
func TestUDPKernelDrops(t *testing.T) {
	s, reg := newBare(t, func(c *Config) { c.ReceiveBufferBytes = 4096 })
	pc, cleanup, err := s.listenPacket()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	s.setupPacketConn(pc)
	conn, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The burst: nothing reads the socket yet, so the queue overflows.
	const burst = 500
	msg := []byte("<13>1 - - - - - - " + strings.Repeat("x", 200))
	for i := 0; i < burst; i++ {
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
	}
	emit := componenttest.NewEmitter()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.serveDatagram(ctx, emit, pc) }()
	// The kernel reports the drops on the datagrams queued after them:
	// send one at a time until it is received.
	sent := burst
	kernel := func() float64 { return counterVecValue(t, reg, "hogtail_syslog_source_udp_dropped_total", "kernel") }
	componenttest.Eventually(t, 10*time.Second, "every datagram received or counted", func() bool {
		if float64(emit.Len())+kernel() == float64(sent) {
			return true
		}
		conn.Write(msg)
		sent++
		return false
	})
	if kernel() == 0 {
		t.Fatal("no kernel drop counted")
	}
	if q := counterVecValue(t, reg, "hogtail_syslog_source_udp_dropped_total", "queue"); q != 0 {
		t.Fatalf("queue drops %v", q)
	}
	t.Logf("%d sent, %d received, %v dropped by the kernel", sent, emit.Len(), kernel())
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func counterVecValue(t *testing.T, reg *prometheus.Registry, name, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestAcceptEMFILE runs the source out of file descriptors for real: a
// subprocess (this test binary again) runs the source and lowers
// RLIMIT_NOFILE to what it has open, so that every accept fails with
// EMFILE; this process connects clients and sends one message each. Once
// the child has seen accepts fail it raises the limit again and must then
// receive every client's message.
func TestAcceptEMFILE(t *testing.T) {
	if os.Getenv("HOGTAIL_TEST_EMFILE_CHILD") == "1" {
		emfileChild(t)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestAcceptEMFILE$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "HOGTAIL_TEST_EMFILE_CHILD=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if addr, ok := strings.CutPrefix(line, "EMFILE-ADDR "); ok {
			for i := 0; i < emfileClients; i++ {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				if _, err := c.Write([]byte("<13>1 - - - - - - client\n")); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s%s", err, out.String(), stderr.String())
	}
	if !strings.Contains(out.String(), "EMFILE-OK") {
		t.Fatalf("child did not run the check:\n%s", out.String())
	}
	t.Logf("%s", out.String())
}

const emfileClients = 6

func emfileChild(t *testing.T) {
	h := start(t, func(c *Config) { c.Mode = ModeTCP })
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("no /proc/self/fd: %v", err)
	}
	// No descriptor left (ReadDir's own is closed again): accepts fail.
	lim := syscall.Rlimit{Cur: uint64(len(fds) - 1), Max: old.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	fmt.Println("EMFILE-ADDR", h.src.Addr().String())
	componenttest.Eventually(t, 10*time.Second, "accepts to fail with EMFILE", func() bool {
		return metricValue(t, h.reg, "hogtail_syslog_source_accept_errors_total") >= 2
	})
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	h.wait(t, emfileClients)
	fmt.Println("EMFILE-OK accept errors retried:", metricValue(t, h.reg, "hogtail_syslog_source_accept_errors_total"))
}
