package httpsource

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/hogtail/hogtail/agent/component/componenttest"
)

// benchServe runs the handler on body without sockets, one request at a
// time: the CPU and allocations of decoding and building events alone.
func benchServe(b *testing.B, body []byte, hdr map[string]string) {
	f := NewFactory()
	cfg := f.NewConfig().(*Config)
	s, err := create(cfg, componenttest.Settings("web", b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	s.emit = nopEmitter{}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/batch/", bytes.NewReader(body))
		req.RemoteAddr = "127.0.0.1:5555"
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkServeNodeBatch: a 100-event posthog-node /batch/.
func BenchmarkServeNodeBatch(b *testing.B) { benchServe(b, nodeBatch(), nil) }

// BenchmarkServeNodeBatchGzip: the same, gzipped.
func BenchmarkServeNodeBatchGzip(b *testing.B) {
	benchServe(b, gz(b, nodeBatch()), map[string]string{"Content-Encoding": "gzip"})
}
