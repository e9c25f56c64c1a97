package httpsource

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

type nopEmitter struct{}

func (nopEmitter) Emit(context.Context, []*event.Event, ...component.Checkpoint) error { return nil }

// nodeBatch is a posthog-node sized /batch/ body: 100 events.
func nodeBatch() []byte {
	var sb strings.Builder
	sb.WriteString(`{"api_key":"phc_bench","batch":[`)
	for i := 0; i < 100; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"distinct_id":"user-%d","event":"order placed","properties":{"total":%d.5,"currency":"EUR","sku":"sku-%d","$lib":"posthog-node","$lib_version":"5.7.0","$geoip_disable":true},"type":"capture","library":"posthog-node","library_version":"5.7.0","timestamp":"2026-11-27T01:00:00.000Z","uuid":"%s"}`, i%50, i, i, event.NewUUID())
	}
	sb.WriteString(`],"sent_at":"2026-11-27T01:00:01.000Z"}`)
	return []byte(sb.String())
}

func benchPost(b *testing.B, url string, body []byte, hdr map[string]string) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
			for k, v := range hdr {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkHTTPBaseline is the same-run baseline: a net/http server that
// only reads the body and answers 200, over the same client and body.
func BenchmarkHTTPBaseline(b *testing.B) {
	url := newTestServer(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(okBody)
	}))
	benchPost(b, url+"/batch/", nodeBatch(), nil)
}

// BenchmarkHTTPSource posts 100-event posthog-node batches into a no-op
// emitter: decode, build and validate events, answer.
func BenchmarkHTTPSource(b *testing.B) {
	h := startWith(b, nopEmitter{}, nil)
	benchPost(b, h.url+"/batch/", nodeBatch(), nil)
}

// BenchmarkHTTPSourceGzip is the same with a gzip body (posthog-node
// sends Content-Encoding: gzip).
func BenchmarkHTTPSourceGzip(b *testing.B) {
	h := startWith(b, nopEmitter{}, nil)
	benchPost(b, h.url+"/batch/", gz(b, nodeBatch()), map[string]string{"Content-Encoding": "gzip"})
}
