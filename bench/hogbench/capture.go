package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
)

// captureBatchSize is the number of events per /batch/ request, posthog-node's
// default flushAt is 20 and its maximum batch 100: the load sends full ones.
const captureBatchSize = 100

const captureSuffix = `"},"type":"capture","library":"posthog-node","library_version":"4.17.1","timestamp":"2026-11-27T01:50:09.123Z","uuid":"`

// appendCaptureEvent appends one event as posthog-node sends it in /batch/:
// nested properties, a uuid and a timestamp, 400 to 800 bytes of JSON.
func appendCaptureEvent(b []byte, seq int) []byte {
	start := len(b)
	b = append(b, `{"event":"order completed","distinct_id":"user-`...)
	b = strconv.AppendInt(b, int64(seq%9973), 10)
	b = append(b, `","properties":{"seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `,"$lib":"posthog-node","$lib_version":"4.17.1","$geoip_disable":true,"order":{"id":"o-`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `","total":129.9,"currency":"EUR","items":[{"sku":"A-1","qty":2,"price":39.95},{"sku":"B-7","qty":1,"price":50}]},"customer":{"plan":"pro","country":"DE","signup":"2025-03-02","flags":{"beta":true,"newsletter":false}},"$current_url":"https://shop.example.com/checkout/confirm?step=3&ref=newsletter&utm_source=mail","pad":"`...)
	// 400 to 800 bytes in all: the uuid and the suffix are 36 + 2 bytes.
	target := 400 + seq%401
	for len(b)-start+len(captureSuffix)+36+2 < target {
		b = append(b, 'x')
	}
	b = append(b, captureSuffix...)
	b = fmt.Appendf(b, "0193a0b4-0000-7000-8000-%012x", seq)
	return append(b, `"}`...)
}

// CaptureLoad posts n events to a PostHog capture endpoint in gzipped
// /batch/ requests of captureBatchSize events, from Concurrency clients at
// once, flat out. A refused request (non-2xx, connection error) is sent
// again after 100 ms, as the SDKs retry. The bodies are built before Run,
// so the load costs the same for every shipper.
type CaptureLoad struct {
	URL         string
	N           int
	Concurrency int

	bodies [][]byte

	mu        sync.Mutex
	latencies []time.Duration
	retries   atomic.Int64
}

// Prepare builds the gzipped request bodies.
func (l *CaptureLoad) Prepare() error {
	var raw []byte
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	for first := 0; first < l.N; first += captureBatchSize {
		raw = append(raw[:0], `{"api_key":"phc_bench","batch":[`...)
		for seq := first; seq < min(first+captureBatchSize, l.N); seq++ {
			if seq > first {
				raw = append(raw, ',')
			}
			raw = appendCaptureEvent(raw, seq)
		}
		raw = append(raw, `],"sent_at":"2026-11-27T01:50:09.200Z"}`...)
		gz.Reset()
		zw.Reset(&gz)
		if _, err := zw.Write(raw); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		l.bodies = append(l.bodies, bytes.Clone(gz.Bytes()))
	}
	return nil
}

// Run sends every body; it stops early when ctx ends.
func (l *CaptureLoad) Run(ctx context.Context) error {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: l.Concurrency}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, l.Concurrency)
	for w := 0; w < l.Concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(l.bodies) {
					return
				}
				if err := l.send(ctx, client, l.bodies[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (l *CaptureLoad) send(ctx context.Context, client *http.Client, body []byte) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("User-Agent", "posthog-node/4.17.1")
		start := time.Now()
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				d := time.Since(start)
				l.mu.Lock()
				l.latencies = append(l.latencies, d)
				l.mu.Unlock()
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		l.retries.Add(1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// P99 returns the 99th percentile latency of the accepted requests.
func (l *CaptureLoad) P99() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.latencies) == 0 {
		return 0
	}
	s := slices.Clone(l.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}
