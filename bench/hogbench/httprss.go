package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

// HTTPRSS is the -http-rss measurement: the peak memory of hogtail while
// its http source takes gzipped capture /batch/ requests of many tiny
// events, the shape that costs the most memory per request byte.
type HTTPRSS struct {
	Hogtail  string
	Events   int    // events per request
	Parallel int    // requests sent at once
	Allocs   string // where to save hogtail's allocation profile ("" = none)
	Keep     bool   // keep the temp dir
}

// tinyBatch is a gzipped /batch/ body of n {"event":"t","distinct_id":"u"}
// events, and its size decompressed.
func tinyBatch(n int) ([]byte, int, error) {
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
	zw := gzip.NewWriter(&z)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, 0, err
	}
	if err := zw.Close(); err != nil {
		return nil, 0, err
	}
	return z.Bytes(), raw.Len(), nil
}

// Run starts hogtail (http source → posthog sink whose receiver is a closed
// loopback port, so every accepted event stays in the buffer), sends the
// requests at once and prints each answer and hogtail's VmHWM.
func (h HTTPRSS) Run(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "hogbench-httprss-")
	if err != nil {
		return err
	}
	if !h.Keep {
		defer os.RemoveAll(dir)
	}
	var ports [3]int // source, API, dead receiver
	for i := range ports {
		if ports[i], err = freePort("tcp"); err != nil {
			return err
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	apiAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	cfg := fmt.Sprintf(`data_dir = "data"
log_level = "warn"
shutdown_timeout = "2s"

[api]
enabled = %v
address = %q

[sources.web]
type = "http"
address = %q

[sinks.ph]
type = "posthog"
inputs = ["web"]
host = "http://127.0.0.1:%d"
api_key = "phc_bench"
retry.initial_interval = "10s"
`, h.Allocs != "", apiAddr, addr, ports[2])
	cfgPath := filepath.Join(dir, "hogtail.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	body, raw, err := tinyBatch(h.Events)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "request: %d events, %d bytes gzipped, %d bytes decompressed, %d at once\n", h.Events, len(body), raw, h.Parallel)
	p := &Proc{Argv: []string{h.Hogtail, "run", "--config", cfgPath}, Dir: dir, Log: filepath.Join(dir, "hogtail.log")}
	if err := p.Start(); err != nil {
		return err
	}
	defer p.Stop(10 * time.Second)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := waitTCP(wctx, addr); err != nil {
		return fmt.Errorf("%w\n%s", err, tailFile(p.Log, 2000))
	}
	p.sampleHWM(p.Pid())
	_, idle, _, _ := p.Usage()
	fmt.Fprintf(out, "idle: VmHWM %d kB\n", idle/1024)

	client := &http.Client{Timeout: 5 * time.Minute}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range h.Parallel {
		wg.Go(func() {
			msg := postBatch(ctx, client, "http://"+addr+"/batch/", body)
			mu.Lock()
			fmt.Fprintf(out, "request %d: %s (%.1fs)\n", i, msg, time.Since(start).Seconds())
			mu.Unlock()
		})
	}
	wg.Wait()
	p.sampleHWM(p.Pid())
	_, peak, _, _ := p.Usage()
	anon, file := p.RSSParts()
	fmt.Fprintf(out, "peak: VmHWM %d kB (RssAnon up to %d kB, RssFile up to %d kB)\n", peak/1024, anon/1024, file/1024)
	if h.Allocs != "" {
		return fetchProfile(ctx, apiAddr, "allocs", h.Allocs)
	}
	return nil
}

// postBatch sends one gzipped /batch/ and describes the answer.
func postBatch(ctx context.Context, client *http.Client, url string, body []byte) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(msg)))
}
