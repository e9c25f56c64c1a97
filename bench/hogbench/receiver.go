package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Tally counts events by their unique seq: how many distinct seqs arrived,
// how many arrived again (and whether again under the same uuid, which
// PostHog would deduplicate), and how many arrived after a higher seq.
type Tally struct {
	mu        sync.Mutex
	n         int
	seen      []uint8  // arrivals per seq, saturating at 255
	uuids     []uint64 // hash of the uuid of the first arrival (0 = none)
	unique    int
	dups      int // arrivals beyond the first
	dupsOther int // of those, arrivals under another uuid (or without one)
	outOfSeq  int
	maxSeq    int
	foreign   int // seqs outside [0, n)
	lastNew   time.Time
}

// NewTally makes a tally for seqs 0..n-1.
func NewTally(n int) *Tally {
	return &Tally{n: n, seen: make([]uint8, n), uuids: make([]uint64, n), maxSeq: -1}
}

// TallySnapshot is a copy of a tally's counters.
type TallySnapshot struct {
	N, Unique, Dups, DupsOtherUUID, OutOfOrder, Foreign int
	LastNew                                             time.Time
}

// Lost is the number of seqs that never arrived.
func (s TallySnapshot) Lost() int { return s.N - s.Unique }

// Snapshot returns the counters.
func (t *Tally) Snapshot() TallySnapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	return TallySnapshot{N: t.n, Unique: t.unique, Dups: t.dups, DupsOtherUUID: t.dupsOther,
		OutOfOrder: t.outOfSeq, Foreign: t.foreign, LastNew: t.lastNew}
}

// seqRec is one event found in a body: its seq and the hash of its uuid.
type seqRec struct {
	seq  int
	uuid uint64
}

func (t *Tally) add(recs []seqRec) {
	if len(recs) == 0 {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range recs {
		if r.seq < 0 || r.seq >= t.n {
			t.foreign++
			continue
		}
		if r.seq < t.maxSeq {
			t.outOfSeq++
		} else {
			t.maxSeq = r.seq
		}
		c := t.seen[r.seq]
		if c == 0 {
			t.unique++
			t.uuids[r.seq] = r.uuid
			t.lastNew = now
		} else {
			t.dups++
			if r.uuid == 0 || r.uuid != t.uuids[r.seq] {
				t.dupsOther++
			}
		}
		if c < 255 {
			t.seen[r.seq] = c + 1
		}
	}
}

// scanBody appends the events found in body: one record per seq field. A
// line holding exactly one seq and one uuid pairs them (NDJSON); lines with
// several seqs (a JSON array on one line) count them without uuids.
func scanBody(body []byte, recs []seqRec) []seqRec {
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		recs = scanLine(line, recs)
	}
	return recs
}

var (
	seqKey  = []byte(`seq`)
	uuidKey = []byte(`"uuid":"`)
	// uuidSeed keys the uuid hashes of one hogbench process. maphash
	// rather than an FNV hash.Hash64: no allocation and a few ns per uuid,
	// so shippers that send uuids do not cost the shared machine more.
	uuidSeed = maphash.MakeSeed()
)

func scanLine(line []byte, recs []seqRec) []seqRec {
	start := len(recs)
	rest := line
	for {
		i := bytes.Index(rest, seqKey)
		if i < 0 {
			break
		}
		if n, ok := seqValue(rest, i); ok {
			recs = append(recs, seqRec{seq: n})
		}
		rest = rest[i+len(seqKey):]
	}
	if len(recs)-start == 1 {
		if i := bytes.Index(line, uuidKey); i >= 0 {
			u := line[i+len(uuidKey):]
			if j := bytes.IndexByte(u, '"'); j > 0 {
				recs[start].uuid = maphash.Bytes(uuidSeed, u[:j]) | 1
			}
		}
	}
	return recs
}

// seqValue reads the number of a seq key found at s[i:]: "seq":N,
// \"seq\":N, "seq": N, "seq":"N" (a re-serialised string) and the like.
func seqValue(s []byte, i int) (int, bool) {
	// The key must be quoted: "seq" or \"seq\".
	if i == 0 || s[i-1] != '"' {
		return 0, false
	}
	p := i + 3
	if p < len(s) && s[p] == '\\' {
		p++
	}
	if p >= len(s) || s[p] != '"' {
		return 0, false
	}
	p++
	for p < len(s) && s[p] == ' ' {
		p++
	}
	if p >= len(s) || s[p] != ':' {
		return 0, false
	}
	p++
	for p < len(s) && s[p] == ' ' {
		p++
	}
	if p < len(s) && s[p] == '\\' {
		p++
	}
	if p < len(s) && s[p] == '"' {
		p++
	}
	n, digits := 0, 0
	for p < len(s) && s[p] >= '0' && s[p] <= '9' && digits < 12 {
		n = n*10 + int(s[p]-'0')
		p++
		digits++
	}
	return n, digits > 0
}

// Receiver is the counting endpoint: HTTP (POST any path) and a TCP line
// listener. It can fail a share of HTTP requests with 503 and go down
// (listeners closed, connections cut) for a window.
type Receiver struct {
	Tally    *Tally
	HTTPAddr string
	TCPAddr  string

	// Marker, when set before use, is counted in accepted bodies (the
	// reload scenario counts events that carry an edited connector's mark).
	Marker []byte
	marked atomic.Int64

	failShare atomic.Int64 // per mille of requests answered 503
	reqs      atomic.Int64
	failed    atomic.Int64
	bytesIn   atomic.Int64

	mu      sync.Mutex
	down    bool
	httpSrv *http.Server
	tcpLn   net.Listener
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	bufs    sync.Pool
}

// NewReceiver starts a receiver on loopback ports chosen by the kernel.
func NewReceiver(n int) (*Receiver, error) {
	r := &Receiver{Tally: NewTally(n), conns: map[net.Conn]struct{}{}}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		hl.Close()
		return nil, fmt.Errorf("receiver: %w", err)
	}
	r.HTTPAddr, r.TCPAddr = hl.Addr().String(), tl.Addr().String()
	r.serve(hl, tl)
	return r, nil
}

func (r *Receiver) serve(hl, tl net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 10 * time.Second}
	r.httpSrv, r.tcpLn = srv, tl
	r.wg.Add(2)
	go func() { defer r.wg.Done(); srv.Serve(hl) }()
	go func() { defer r.wg.Done(); r.acceptTCP(tl) }()
}

// SetFailShare makes share (0..1) of the HTTP requests fail with 503.
func (r *Receiver) SetFailShare(share float64) { r.failShare.Store(int64(share * 1000)) }

// Down closes the listeners and every open connection.
func (r *Receiver) Down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return
	}
	r.down = true
	r.httpSrv.Close()
	r.tcpLn.Close()
	for c := range r.conns {
		c.Close()
	}
}

// Up listens again on the same addresses.
func (r *Receiver) Up() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.down {
		return nil
	}
	var hl, tl net.Listener
	var err error
	// The port may linger briefly; retry for a bounded time.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if hl == nil {
			hl, err = net.Listen("tcp", r.HTTPAddr)
		}
		if hl != nil && tl == nil {
			tl, err = net.Listen("tcp", r.TCPAddr)
		}
		if hl != nil && tl != nil {
			break
		}
	}
	if err != nil || hl == nil || tl == nil {
		if hl != nil {
			hl.Close()
		}
		return fmt.Errorf("receiver up: %w", err)
	}
	r.down = false
	r.serve(hl, tl)
	return nil
}

// Close stops the receiver and waits for its goroutines.
func (r *Receiver) Close() {
	r.Down()
	r.wg.Wait()
}

// Marked is how many times Marker was seen in accepted bodies.
func (r *Receiver) Marked() int64 { return r.marked.Load() }

// Stats returns requests served, requests failed on purpose and bytes read.
func (r *Receiver) Stats() (reqs, failed, bytesIn int64) {
	return r.reqs.Load(), r.failed.Load(), r.bytesIn.Load()
}

func (r *Receiver) getBuf() *bytes.Buffer {
	if b, ok := r.bufs.Get().(*bytes.Buffer); ok {
		b.Reset()
		return b
	}
	return new(bytes.Buffer)
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	n := r.reqs.Add(1)
	// Request k fails when (k*7919 mod 1000) < share: a deterministic,
	// well-spread share of the requests.
	if share := r.failShare.Load(); share > 0 && (n*7919)%1000 < share {
		io.Copy(io.Discard, req.Body)
		r.failed.Add(1)
		http.Error(w, "induced failure", http.StatusServiceUnavailable)
		return
	}
	buf := r.getBuf()
	defer r.bufs.Put(buf)
	if _, err := buf.ReadFrom(req.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body := buf.Bytes()
	r.bytesIn.Add(int64(len(body)))
	if len(body) > 2 && body[0] == 0x1f && body[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = plain
	}
	if r.Marker != nil {
		r.marked.Add(int64(bytes.Count(body, r.Marker)))
	}
	recs := scanBody(body, make([]seqRec, 0, 1024))
	r.Tally.add(recs)
	w.WriteHeader(http.StatusOK)
}

func (r *Receiver) acceptTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.down {
			r.mu.Unlock()
			c.Close()
			return
		}
		r.conns[c] = struct{}{}
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() {
				r.mu.Lock()
				delete(r.conns, c)
				r.mu.Unlock()
				c.Close()
			}()
			r.readLines(c)
		}()
	}
}

// readLines counts the events of newline-framed messages (rsyslog omfwd).
func (r *Receiver) readLines(c io.Reader) {
	br := bufio.NewReaderSize(c, 256<<10)
	recs := make([]seqRec, 0, 256)
	flush := time.Now()
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// An oversized line: count what it holds, skip the rest.
			recs = scanLine(line, recs)
			continue
		}
		r.bytesIn.Add(int64(len(line)))
		recs = scanLine(line, recs)
		if len(recs) >= 200 || err != nil || br.Buffered() == 0 || time.Since(flush) > 50*time.Millisecond {
			r.Tally.add(recs)
			recs = recs[:0]
			flush = time.Now()
		}
		if err != nil {
			return
		}
	}
}

// waitTCP dials addr until it accepts or ctx ends.
func waitTCP(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
