package httpsource

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
)

const emfileChildEnv = "HOGTAIL_HTTP_EMFILE_CHILD"

// emfileChild serves the source with its file descriptors limited to those
// open now plus two, so that accepting a third connection fails with
// EMFILE. Its debug log goes to stderr for the parent to read.
func emfileChild(dir string) {
	f := NewFactory()
	cfg := f.NewConfig().(*Config)
	cfg.Address = "127.0.0.1:0"
	set := componenttest.Settings("web", dir)
	set.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src, err := f.CreateSource(cfg, set)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	s := src.(*source)
	go func() {
		<-s.ready
		fds, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		// ReadDir's own descriptor is closed again: len(fds) is one more
		// than what stays open.
		n := uint64(len(fds)) + 1
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		publishAddr(dir, s.Addr())
	}()
	s.Run(context.Background(), componenttest.NewEmitter())
	os.Exit(4)
}

// TestAcceptEMFILE runs the source in a child process that runs out of file
// descriptors (accept4: too many open files, a real RLIMIT_NOFILE): the
// server must back off and keep accepting once descriptors are free again,
// never stop serving for good.
func TestAcceptEMFILE(t *testing.T) {
	if dir := os.Getenv(emfileChildEnv); dir != "" {
		emfileChild(dir)
		return
	}
	cmd, dir := childCommand(t, emfileChildEnv, "TestAcceptEMFILE")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var mu sync.Mutex
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	logged := func(s string) bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(log.String(), s)
	}
	addr := childAddr(t, dir)
	// Idle connections take the child's last descriptors; the next accept
	// fails with EMFILE.
	var idle []net.Conn
	for range 6 {
		c, err := net.DialTimeout("tcp", string(addr), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// The failure is a warning, not only net/http's debug line.
	componenttest.Eventually(t, 10*time.Second, "accept to fail with EMFILE", func() bool {
		return logged("level=WARN msg=\"accept failed; retrying with backoff\"") && logged("too many open files")
	})
	if cmd.ProcessState != nil {
		t.Fatal("child exited")
	}
	// A request sent now waits in the listen backlog...
	got := make(chan string, 1)
	go func() {
		client := &http.Client{Timeout: 20 * time.Second}
		resp, err := client.Post("http://"+string(addr)+"/batch/", "application/json", strings.NewReader(oneEvent))
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	// ...and is served once descriptors are free again.
	for _, c := range idle {
		c.Close()
	}
	select {
	case g := <-got:
		if g != `200 {"status":1}` {
			mu.Lock()
			t.Fatalf("after EMFILE: %s\nchild log:\n%s", g, log.String())
		}
	case <-time.After(25 * time.Second):
		t.Fatal("no answer after the descriptors were freed")
	}
}

// TestStopClosesListener: a stopped source gives its port back, so a
// reloaded one can listen on the same address at once.
func TestStopClosesListener(t *testing.T) {
	h := start(t, nil)
	addr := h.src.Addr().String()
	resp, _ := post(t, h.url+"/batch/", nil, []byte(oneEvent))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	h.stop()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the stopped source still accepts connections")
	}
	h2 := start(t, func(c *Config) { c.Address = addr })
	// The client's kept-alive connection was to the stopped source.
	http.DefaultClient.CloseIdleConnections()
	resp, body := post(t, h2.url+"/batch/", nil, []byte(oneEvent))
	if resp.StatusCode != 200 || h2.emit.Len() != 1 {
		t.Fatalf("rebound source: status %d, %d events: %s", resp.StatusCode, h2.emit.Len(), body)
	}
}
