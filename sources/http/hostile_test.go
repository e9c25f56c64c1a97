package httpsource

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
)

// runEmitter records the size of every run a source hands over.
type runEmitter struct {
	*componenttest.Emitter
	mu    sync.Mutex
	sizes []int
}

func (e *runEmitter) note(n int) {
	e.mu.Lock()
	e.sizes = append(e.sizes, n)
	e.mu.Unlock()
}

func (e *runEmitter) Emit(ctx context.Context, evs []*event.Event, cps ...component.Checkpoint) error {
	e.note(len(evs))
	return e.Emitter.Emit(ctx, evs, cps...)
}

func (e *runEmitter) EmitAsync(ctx context.Context, after component.Pending, evs []*event.Event, cps ...component.Checkpoint) (component.Pending, error) {
	e.note(len(evs))
	return e.Emitter.EmitAsync(ctx, after, evs, cps...)
}

func tinyBatch(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"batch":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"event":"t","distinct_id":"u","properties":{"i":%d}}`, i)
	}
	// The batch-level fields come after the batch: they must still apply
	// to every event.
	b.WriteString(`],"api_key":"phc_k","sent_at":"2026-01-02T03:04:05.000Z"}`)
	return b.Bytes()
}

// TestManyTinyEventsInRuns: a large request of tiny events is stored
// whole and in order, in bounded runs rather than in one piece.
func TestManyTinyEventsInRuns(t *testing.T) {
	const n = 3*chunkMaxEvents + 17
	re := &runEmitter{Emitter: componenttest.NewEmitter()}
	h := startWith(t, re, nil)
	resp, body := post(t, h.url+"/batch/", map[string]string{"Content-Encoding": "gzip"}, gz(t, tinyBatch(n)))
	if resp.StatusCode != 200 || string(body) != `{"status":1}` {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	evs := re.Events()
	if len(evs) != n {
		t.Fatalf("%d events stored, want %d", len(evs), n)
	}
	for i, ev := range evs {
		if v, _ := ev.Properties.Get("i"); v != int64(i) {
			t.Fatalf("event %d has i=%v: order lost", i, v)
		}
		if tok, _ := ev.Extra.Get("api_key"); tok != "phc_k" || ev.SentAt != "2026-01-02T03:04:05.000Z" {
			t.Fatalf("event %d: api_key %v sent_at %q", i, tok, ev.SentAt)
		}
	}
	if len(re.sizes) < 4 {
		t.Fatalf("stored in %d runs %v, want bounded runs", len(re.sizes), re.sizes)
	}
	for _, sz := range re.sizes {
		if sz > chunkMaxEvents {
			t.Fatalf("a run of %d events, more than %d", sz, chunkMaxEvents)
		}
	}

	// A small request stays one run.
	re.sizes = nil
	resp, body = post(t, h.url+"/batch/", nil, tinyBatch(10))
	if resp.StatusCode != 200 || len(re.sizes) != 1 {
		t.Fatalf("small request: status %d, runs %v: %s", resp.StatusCode, re.sizes, body)
	}
}

// TestRunFailureAnswers503: when a later run cannot be stored the request
// gets 503 (retryable) and says how many events were stored.
func TestRunFailureAnswers503(t *testing.T) {
	fe := &failAfterEmitter{Emitter: componenttest.NewEmitter(), ok: 1}
	h := startWith(t, fe, func(c *Config) { c.FullWait = component.Duration(50 * time.Millisecond) })
	resp, body := post(t, h.url+"/batch/", nil, tinyBatch(2*chunkMaxEvents+1))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	// The first run is as large as the request's reserve allows.
	var stored int
	i := bytes.Index(body, []byte("after "))
	if i < 0 {
		t.Fatalf("body %s", body)
	}
	if _, err := fmt.Sscanf(string(body[i:]), "after %d of the request's events were stored", &stored); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if stored < chunkMaxEvents/2 || stored > chunkMaxEvents {
		t.Fatalf("the answer says %d events stored, want one run (at most %d)", stored, chunkMaxEvents)
	}
	if fe.Len() != stored {
		t.Fatalf("%d events stored, the answer says %d (the first run only)", fe.Len(), stored)
	}
}

// failAfterEmitter stores its first ok runs and reports the buffer full
// afterwards.
type failAfterEmitter struct {
	*componenttest.Emitter
	mu sync.Mutex
	ok int
}

func (e *failAfterEmitter) EmitAsync(ctx context.Context, after component.Pending, evs []*event.Event, cps ...component.Checkpoint) (component.Pending, error) {
	e.mu.Lock()
	e.ok--
	full := e.ok < 0
	e.mu.Unlock()
	e.SetFull(full)
	return e.Emitter.EmitAsync(ctx, after, evs, cps...)
}

// TestRejectedListBounded: a request of many bad events is answered with
// the first rejections and their total, not a list as long as the request.
func TestRejectedListBounded(t *testing.T) {
	h := start(t, nil)
	var b bytes.Buffer
	b.WriteString(`{"api_key":"phc_k","batch":[{"event":"ok","distinct_id":"u"}`)
	for range maxRejectionsListed + 500 {
		b.WriteString(`,{"event":"no distinct id"}`)
	}
	b.WriteString(`]}`)
	resp, body := post(t, h.url+"/batch/", nil, b.Bytes())
	var rb struct {
		Accepted      int               `json:"accepted"`
		RejectedCount int               `json:"rejected_count"`
		Rejected      []json.RawMessage `json:"rejected"`
	}
	if err := json.Unmarshal(body, &rb); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	if rb.Accepted != 1 || rb.RejectedCount != maxRejectionsListed+500 || len(rb.Rejected) != maxRejectionsListed {
		t.Fatalf("accepted %d, rejected_count %d, %d listed", rb.Accepted, rb.RejectedCount, len(rb.Rejected))
	}
}

// stall opens a connection from local address src (a loopback address:
// all of 127/8 is local on Linux), sends the head of a POST announcing
// size bytes and the first sent bytes of it, and then nothing.
func stall(t *testing.T, addr, src string, size int, sent []byte) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /batch/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
	if _, err := c.Write(sent); err != nil {
		t.Fatal(err)
	}
	return c
}

// answer reads the response on c (bounded by d).
func answer(t *testing.T, c net.Conn, d time.Duration) (*http.Response, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

// TestSlowBodiesDoNotStarve: more clients trickling bodies in than there
// are processing slots, and a normal client still gets its 200 at once.
func TestSlowBodiesDoNotStarve(t *testing.T) {
	h := start(t, func(c *Config) {
		c.MaxConcurrentRequests = 2
		c.ReadTimeout = component.Duration(20 * time.Second)
	})
	addr := h.src.Addr().String()
	const slow = 8
	for i := range slow {
		stall(t, addr, fmt.Sprintf("127.0.0.%d", 10+i), len(oneEvent), []byte(oneEvent[:5]))
	}
	// All slow clients are inside the handler, reading.
	componenttest.Eventually(t, 5*time.Second, "slow clients to be reading", func() bool {
		return h.src.budget.used.Load() > 0 && len(h.src.clients.counts()) == slow
	})
	start := time.Now()
	resp, body := post(t, h.url+"/batch/", nil, []byte(oneEvent))
	if resp.StatusCode != 200 {
		t.Fatalf("normal client: status %d: %s", resp.StatusCode, body)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("normal client waited %v", el)
	}
	if h.emit.Len() != 1 {
		t.Fatalf("%d events stored", h.emit.Len())
	}
}

// TestPerClientLimit: one address cannot hold more than
// max_requests_per_client requests; the next gets 429 with Retry-After at
// once, and other addresses are not affected.
func TestPerClientLimit(t *testing.T) {
	h := start(t, func(c *Config) {
		c.MaxRequestsPerClient = 3
		c.ReadTimeout = component.Duration(20 * time.Second)
	})
	addr := h.src.Addr().String()
	for range 3 {
		stall(t, addr, "127.0.0.2", len(oneEvent), []byte(oneEvent[:5]))
	}
	componenttest.Eventually(t, 5*time.Second, "three slow requests", func() bool {
		return h.src.clients.counts()["127.0.0.2/32"] == 3
	})
	c := stall(t, addr, "127.0.0.2", len(oneEvent), []byte(oneEvent[:5]))
	resp, body := answer(t, c, 5*time.Second)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !bytes.Contains(body, []byte(`"code":"rate_limited"`)) {
		t.Fatalf("fourth request from the same address: %d %q", resp.StatusCode, body)
	}
	resp, body = post(t, h.url+"/batch/", nil, []byte(oneEvent))
	if resp.StatusCode != 200 {
		t.Fatalf("other address: %d %s", resp.StatusCode, body)
	}
}

// TestBodyReadTimeout408: a client that stops sending its body gets 408
// (which SDKs retry), with no socket address in the message, and nothing
// is stored.
func TestBodyReadTimeout408(t *testing.T) {
	h := start(t, func(c *Config) { c.ReadTimeout = component.Duration(300 * time.Millisecond) })
	c := stall(t, h.src.Addr().String(), "127.0.0.3", len(oneEvent), []byte(oneEvent[:10]))
	resp, body := answer(t, c, 5*time.Second)
	if resp.StatusCode != http.StatusRequestTimeout || !bytes.Contains(body, []byte(`"code":"body_read_timeout"`)) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if bytes.Contains(body, []byte("127.0.0")) || bytes.Contains(body, []byte(strings.Split(h.src.Addr().String(), ":")[1])) {
		t.Fatalf("answer names a socket address: %s", body)
	}
	if h.emit.Len() != 0 {
		t.Fatal("stalled request stored events")
	}
	// The client limiter and the budget are given back.
	componenttest.Eventually(t, 5*time.Second, "the request to end", func() bool {
		return h.src.budget.used.Load() == 0 && len(h.src.clients.counts()) == 0
	})
}

// TestInflightBudget: bodies held by requests in flight draw on
// max_inflight_bytes; once it is spent new requests get 503 with
// Retry-After, and the budget comes back when those requests end.
func TestInflightBudget(t *testing.T) {
	const limit = 1 << 20
	h := start(t, func(c *Config) {
		c.MaxBodyBytes = limit
		c.MaxInflightBytes = 2*limit + minEventReserve
		c.ReadTimeout = component.Duration(20 * time.Second)
		c.RetryAfter = component.Duration(3 * time.Second)
	})
	addr := h.src.Addr().String()
	// Each slow client sends limit-1 bytes of a body of limit: the server
	// holds about limit for each.
	big := bytes.Repeat([]byte(" "), limit-1)
	var conns []net.Conn
	for i := 0; h.src.budget.used.Load() < h.src.budget.limit-limit; i++ {
		if i == 20 {
			t.Fatalf("budget at %d of %d after 20 slow clients", h.src.budget.used.Load(), h.src.budget.limit)
		}
		conns = append(conns, stall(t, addr, fmt.Sprintf("127.0.0.%d", 20+i), limit, big))
		want := int64(len(conns)) * (limit - 1)
		componenttest.Eventually(t, 5*time.Second, "the body to be read", func() bool { return h.src.budget.used.Load() >= want })
	}
	resp, body := post(t, h.url+"/batch/", nil, append([]byte(oneEvent), big[:limit-len(oneEvent)-1]...))
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3" {
		t.Fatalf("over the budget: status %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	for _, c := range conns {
		c.Close()
	}
	componenttest.Eventually(t, 5*time.Second, "the budget to come back", func() bool { return h.src.budget.used.Load() == 0 })
	resp, body = post(t, h.url+"/batch/", nil, []byte(oneEvent))
	if resp.StatusCode != 200 || h.emit.Len() != 1 {
		t.Fatalf("after: status %d, %d events: %s", resp.StatusCode, h.emit.Len(), body)
	}
}

// TestManyRunsBadJSONStoresNothing: a request too large for one run whose
// last event is not JSON is refused whole before its first run is stored,
// as a small one is.
func TestManyRunsBadJSONStoresNothing(t *testing.T) {
	for _, tc := range []struct{ name, tail string }{
		{"bad last event", `,{"event":"t","distinct_id":"u",}]}`},
		{"missing comma", ` {"event":"t","distinct_id":"u"}]}`},
		{"bad value after the batch", `,{"event":"t","distinct_id":"u"}],"sent_at":nope}`},
		// JSON by json.Valid, refused by the parser (and by capture's).
		{"number out of range", `,{"event":"t","distinct_id":"u","properties":{"x":1e400}}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, nil)
			body := tinyBatch(3 * chunkMaxEvents)
			body = append(body[:bytes.LastIndexByte(body, ']')], tc.tail...)
			resp, rb := post(t, h.url+"/batch/", map[string]string{"Content-Encoding": "gzip"}, gz(t, body))
			if resp.StatusCode != 400 || !bytes.Contains(rb, []byte(`"code":"invalid_json"`)) {
				t.Fatalf("status %d: %s", resp.StatusCode, rb)
			}
			if n := h.emit.Len(); n != 0 {
				t.Fatalf("%d events stored", n)
			}
		})
	}
}

// zerosEvent is a capture event whose properties hold an array of n zeros:
// its decoded values take about 60 times its text.
func zerosEvent(n int) []byte {
	return []byte(`{"event":"zeros","distinct_id":"u","api_key":"phc_k","properties":{"a":[` + strings.Repeat("0,", n-1) + `0]}}`)
}

// TestLargeItems: an item's decoded memory is bounded before it is
// decoded. One over max_event_bytes as received is refused (413) without
// being decoded; one under it is charged its values' memory, so a request
// that would take max_inflight_bytes over gets 503 and stores nothing.
func TestLargeItems(t *testing.T) {
	allocated := func(f func()) uint64 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		f()
		runtime.ReadMemStats(&m1)
		return m1.TotalAlloc - m0.TotalAlloc
	}
	t.Run("over max_event_bytes", func(t *testing.T) {
		h := start(t, func(c *Config) { c.MaxBodyBytes = 20 << 20 })
		body := zerosEvent(4 << 20) // 8 MiB of text; about 500 MB decoded
		var resp *http.Response
		var rb []byte
		n := allocated(func() { resp, rb = post(t, h.url+"/e/", map[string]string{"Content-Encoding": "gzip"}, gz(t, body)) })
		if resp.StatusCode != 413 || !bytes.Contains(rb, []byte("as received")) {
			t.Fatalf("status %d: %s", resp.StatusCode, rb)
		}
		// The body (raw and inflated) and the answer, not its values.
		if n > 64<<20 {
			t.Fatalf("%d MB allocated for an 8 MiB request", n>>20)
		}
		if h.emit.Len() != 0 {
			t.Fatalf("%d events stored", h.emit.Len())
		}
	})
	t.Run("over the budget", func(t *testing.T) {
		const limit = 1 << 20
		h := start(t, func(c *Config) {
			c.MaxBodyBytes = limit
			c.MaxInflightBytes = 2*limit + minEventReserve // about 14 MiB
		})
		body := zerosEvent(400_000) // 800 kB, about 51 MB to decode
		var resp *http.Response
		var rb []byte
		n := allocated(func() { resp, rb = post(t, h.url+"/batch/", nil, body) })
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d: %s", resp.StatusCode, rb)
		}
		if n > 16<<20 {
			t.Fatalf("%d MB allocated for a request refused before decoding", n>>20)
		}
		if h.emit.Len() != 0 || h.src.budget.used.Load() != 0 {
			t.Fatalf("%d events stored, %d bytes of budget kept", h.emit.Len(), h.src.budget.used.Load())
		}
	})
	t.Run("within the budget", func(t *testing.T) {
		h := start(t, nil)
		resp, rb := post(t, h.url+"/batch/", nil, zerosEvent(400_000))
		if resp.StatusCode != 200 || h.emit.Len() != 1 {
			t.Fatalf("status %d, %d events: %s", resp.StatusCode, h.emit.Len(), rb)
		}
		componenttest.Eventually(t, 5*time.Second, "the budget to come back", func() bool { return h.src.budget.used.Load() == 0 })
	})
}
