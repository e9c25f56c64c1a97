// Command httprss measures the peak memory (VmHWM) of a hogtail process
// that receives hostile-but-valid PostHog /batch/ requests: many tiny events
// gzipped into a small body, the shape that costs the most memory per
// request byte.
//
//	go build -o /tmp/hogtail ./cmd/hogtail
//	go run ./bench/httprss -hogtail /tmp/hogtail [-events 623000] [-parallel 1]
//
// It starts hogtail on a generated config (http source → posthog sink whose
// receiver is a closed loopback port, so every accepted event stays in the
// buffer), sends the requests at once, and prints each answer and the
// process's VmHWM and VmRSS read from /proc/PID/status.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
)

func main() {
	bin := flag.String("hogtail", "", "hogtail binary (required)")
	events := flag.Int("events", 623000, `events per request, each {"event":"t","distinct_id":"u"}`)
	parallel := flag.Int("parallel", 1, "requests sent at once")
	extra := flag.String("source-extra", "", "TOML lines added to the http source table")
	keep := flag.Bool("keep", false, "keep the temp dir")
	allocs := flag.String("allocs", "", "write hogtail's allocation profile (/debug/pprof/allocs) here after the requests")
	flag.Parse()
	if *bin == "" {
		log.Fatal("httprss: -hogtail is required")
	}
	if err := run(*bin, *events, *parallel, *extra, *keep, *allocs); err != nil {
		log.Fatalf("httprss: %v", err)
	}
}

func run(bin string, events, parallel int, extra string, keep bool, allocs string) error {
	dir, err := os.MkdirTemp("", "httprss-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return err
	}
	dead, err := freeAddr() // nothing listens there: the sink keeps retrying
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`data_dir = %q
log_level = "warn"
shutdown_timeout = "2s"

[api]
enabled = %v
address = %q

[sources.web]
type = "http"
address = %q
%s

[sinks.ph]
type = "posthog"
inputs = ["web"]
host = "http://%s"
api_key = "phc_bench"
retry.initial_interval = "10s"
`, filepath.Join(dir, "data"), allocs != "", apiAddr, addr, extra, dead)
	cfgPath := filepath.Join(dir, "hogtail.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	body, raw, err := payload(events)
	if err != nil {
		return err
	}
	fmt.Printf("request: %d events, %d bytes gzipped, %d bytes decompressed, %d at once\n", events, len(body), raw, parallel)

	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	if err := waitListening(addr, 30*time.Second); err != nil {
		return err
	}
	idle, _ := memStatus(cmd.Process.Pid)
	fmt.Printf("before: %s\n", idle)

	client := &http.Client{Timeout: 5 * time.Minute}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://"+addr+"/batch/", bytes.NewReader(body))
			if err != nil {
				fmt.Printf("request %d: %v\n", i, err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Content-Encoding", "gzip")
			resp, err := client.Do(req)
			if err != nil {
				fmt.Printf("request %d: %v\n", i, err)
				return
			}
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			resp.Body.Close()
			fmt.Printf("request %d: %d %s (%.1fs)\n", i, resp.StatusCode, strings.TrimSpace(string(msg)), time.Since(start).Seconds())
		}()
	}
	wg.Wait()
	st, err := memStatus(cmd.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Printf("after: %s\n", st)
	if allocs != "" {
		return saveProfile("http://"+apiAddr+"/debug/pprof/allocs", allocs)
	}
	return nil
}

// payload is a gzipped /batch/ body of n tiny events, and its raw size.
func payload(n int) ([]byte, int, error) {
	var raw bytes.Buffer
	raw.WriteString(`{"api_key":"phc_bench","batch":[`)
	for i := range n {
		if i > 0 {
			raw.WriteByte(',')
		}
		raw.WriteString(`{"event":"t","distinct_id":"u"}`)
	}
	raw.WriteString(`]}`)
	var z bytes.Buffer
	zw, err := gzip.NewWriterLevel(&z, gzip.DefaultCompression)
	if err != nil {
		return nil, 0, err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, 0, err
	}
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	return z.Bytes(), raw.Len(), nil
}

func saveProfile(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("hogtail did not listen on " + addr)
}

// memStatus returns the VmHWM and VmRSS lines of a process.
func memStatus(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") || strings.HasPrefix(l, "VmRSS:") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(out, ", "), nil
}
