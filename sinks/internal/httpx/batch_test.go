package httpx

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestWriteBody(t *testing.T) {
	write := func(w io.Writer) { io.WriteString(w, `{"a":1}`) }
	var plain bytes.Buffer
	if err := WriteBody(&plain, nil, 7, write); err != nil || plain.String() != `{"a":1}` {
		t.Fatalf("plain: %q, %v", plain.String(), err)
	}
	var zipped bytes.Buffer
	if err := WriteBody(&zipped, NewGzipPool(gzip.BestSpeed), 7, write); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&zipped)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(zr); err != nil || string(got) != `{"a":1}` {
		t.Fatalf("gzip: %q, %v", got, err)
	}
}

// SendBatch sends the headers and body it is given, counts the body, and
// turns a missing endpoint into a pause with the sink's prefix.
func TestSendBatch(t *testing.T) {
	var gotBody, gotType string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotType = string(b), r.Header.Get("Content-Type")
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	reg := prometheus.NewRegistry()
	e, err := NewEndpoint("test", 0, 1, component.Settings{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(context.Background())
	header := http.Header{"Content-Type": {"application/x-ndjson"}}
	var pool BufferPool

	buf := pool.Get()
	buf.WriteString("line\n")
	if err := e.SendBatch(context.Background(), "test", 1, http.MethodPost, srv.URL+"/ok", header, buf, &pool); err != nil {
		t.Fatal(err)
	}
	if gotBody != "line\n" || gotType != "application/x-ndjson" {
		t.Errorf("receiver got %q with Content-Type %q", gotBody, gotType)
	}
	if n := testutil.ToFloat64(e.metrics.bytes); n != 5 {
		t.Errorf("sent bytes = %v, want 5", n)
	}

	buf = pool.Get()
	buf.WriteString("x")
	err = e.SendBatch(context.Background(), "test", 3, http.MethodPost, srv.URL+"/missing", header, buf, &pool)
	if de := component.AsDeliveryError(err); de == nil || !de.Paused || !strings.HasPrefix(de.Err.Error(), "test: 3 events: ") {
		t.Errorf("404: got %v, want a pause starting \"test: 3 events: \"", err)
	}

	err = e.SendBatch(context.Background(), "test", 1, "BAD METHOD", srv.URL, header, pool.Get(), &pool)
	if de := component.AsDeliveryError(err); de == nil || !de.Permanent || !strings.HasPrefix(de.Err.Error(), "test: ") {
		t.Errorf("unbuildable request: got %v, want a permanent error starting \"test: \"", err)
	}
}
