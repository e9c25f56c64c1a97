// Package sinktest provides a misbehaving HTTP receiver for the tests of
// hogtail's sinks and delivery: it decodes what it gets (gzip, PostHog
// /batch/ envelopes, JSON arrays, NDJSON), counts every event uuid it
// accepted, and answers what the test's Policy decides: an error status,
// a Retry-After, a slow answer or a dropped connection.
package sinktest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/klauspost/compress/gzip"
)

// Event is an event as the receiver decoded it.
type Event struct {
	UUID       string         `json:"uuid"`
	Event      string         `json:"event"`
	DistinctID string         `json:"distinct_id"`
	Timestamp  string         `json:"timestamp"`
	Properties map[string]any `json:"properties"`
	// Raw is the event's JSON as received.
	Raw json.RawMessage `json:"-"`
}

// Seq returns properties.seq (the demo source's sequence), or -1.
func (e Event) Seq() int64 {
	if f, ok := e.Properties["seq"].(float64); ok {
		return int64(f)
	}
	return -1
}

// Request is one request as received.
type Request struct {
	// N numbers requests from 1.
	N      int
	Method string
	Path   string
	Header http.Header
	// Gzip tells whether the body was gzip (checked by decoding it).
	Gzip bool
	// Body is the decoded (decompressed) body.
	Body []byte
	// WireBytes is the body size on the wire.
	WireBytes int
	// Envelope fields of a PostHog /batch/ body.
	APIKey              string
	SentAt              string
	HistoricalMigration bool
	// Events are the events of the body (nil for a body that is not events).
	Events []Event
	// DecodeErr is set when the body could not be decoded as events (a
	// webhook body need not be); its events are then not counted.
	DecodeErr error
}

// Answer is what the receiver does with a request.
type Answer struct {
	// Status is the HTTP status; 0 means 200.
	Status int
	// Header is added to the response (Retry-After...).
	Header http.Header
	// Body of the response.
	Body string
	// Delay is waited before answering (a slow receiver).
	Delay time.Duration
	// Drop hijacks the connection and closes it without an answer.
	Drop bool
}

// Accepted reports whether the answer accepts the request's events.
func (a Answer) Accepted() bool {
	return !a.Drop && (a.Status == 0 || (a.Status >= 200 && a.Status < 300))
}

// Policy decides the answer to a request. It is called with the
// receiver's lock held: it must not call the receiver's methods.
type Policy func(r *Request) Answer

// Receiver is an httptest server recording what it accepted.
type Receiver struct {
	*httptest.Server

	mu       sync.Mutex
	policy   Policy
	requests []*Request
	accepted []Event
	counts   map[string]int
	notify   chan struct{}
	lean     bool
}

// SetLean makes the receiver keep less for big runs: requests lose their
// body and events, and accepted events keep only uuid and properties.seq.
func (r *Receiver) SetLean(lean bool) {
	r.mu.Lock()
	r.lean = lean
	r.mu.Unlock()
}

// NewReceiver starts a receiver; policy may be nil (accept everything).
// Close it with Close.
func NewReceiver(policy Policy) *Receiver {
	r := &Receiver{policy: policy, counts: map[string]int{}, notify: make(chan struct{}, 1)}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

// SetPolicy replaces the policy.
func (r *Receiver) SetPolicy(p Policy) {
	r.mu.Lock()
	r.policy = p
	r.mu.Unlock()
}

func (r *Receiver) serve(w http.ResponseWriter, hr *http.Request) {
	wire, err := io.ReadAll(hr.Body)
	req := &Request{Method: hr.Method, Path: hr.URL.Path, Header: hr.Header.Clone(), WireBytes: len(wire)}
	if err == nil {
		req.decode(wire)
	} else {
		req.DecodeErr = err
	}
	r.mu.Lock()
	req.N = len(r.requests) + 1
	r.requests = append(r.requests, req)
	var ans Answer
	if r.policy != nil {
		ans = r.policy(req)
	}
	if ans.Accepted() && req.DecodeErr == nil {
		for _, e := range req.Events {
			r.counts[e.UUID]++
			if r.lean {
				e = Event{UUID: e.UUID, Properties: map[string]any{"seq": e.Properties["seq"]}}
			}
			r.accepted = append(r.accepted, e)
		}
	}
	if r.lean {
		req.Body, req.Events = nil, nil
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	if ans.Delay > 0 {
		select {
		case <-time.After(ans.Delay):
		case <-hr.Context().Done():
			return
		}
	}
	if ans.Drop {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	for k, vs := range ans.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	status := ans.Status
	if status == 0 {
		status = http.StatusOK
	}
	body := ans.Body
	if body == "" && status == http.StatusOK {
		body = `{"status":1}`
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (req *Request) decode(wire []byte) {
	body := wire
	if len(wire) >= 3 && wire[0] == 0x1f && wire[1] == 0x8b && wire[2] == 8 {
		zr, err := gzip.NewReader(bytes.NewReader(wire))
		if err != nil {
			req.DecodeErr = fmt.Errorf("gzip: %w", err)
			return
		}
		body, err = io.ReadAll(zr)
		if err != nil {
			req.DecodeErr = fmt.Errorf("gzip: %w", err)
			return
		}
		req.Gzip = true
	}
	req.Body = body
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
	case trimmed[0] == '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			req.DecodeErr = fmt.Errorf("json array: %w", err)
			return
		}
		req.Events, req.DecodeErr = decodeEvents(raws)
	case trimmed[0] == '{' && bytes.Contains(trimmed, []byte(`"batch":[`)) && !strings.Contains(req.Header.Get("Content-Type"), "ndjson"):
		var env struct {
			APIKey              string            `json:"api_key"`
			SentAt              string            `json:"sent_at"`
			HistoricalMigration bool              `json:"historical_migration"`
			Batch               []json.RawMessage `json:"batch"`
		}
		if err := json.Unmarshal(trimmed, &env); err != nil {
			req.DecodeErr = fmt.Errorf("batch: %w", err)
			return
		}
		req.APIKey, req.SentAt, req.HistoricalMigration = env.APIKey, env.SentAt, env.HistoricalMigration
		req.Events, req.DecodeErr = decodeEvents(env.Batch)
	default:
		var raws []json.RawMessage
		sc := bufio.NewScanner(bytes.NewReader(trimmed))
		sc.Buffer(make([]byte, 64<<10), 32<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				raws = append(raws, append(json.RawMessage(nil), line...))
			}
		}
		if err := sc.Err(); err != nil {
			req.DecodeErr = err
			return
		}
		req.Events, req.DecodeErr = decodeEvents(raws)
	}
}

func decodeEvents(raws []json.RawMessage) ([]Event, error) {
	out := make([]Event, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		out[i].Raw = raw
	}
	return out, nil
}

// Requests returns the requests received so far.
func (r *Receiver) Requests() []*Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Request(nil), r.requests...)
}

// Accepted returns the events accepted so far, in arrival order.
func (r *Receiver) Accepted() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.accepted...)
}

// Counts returns how many times each uuid was accepted.
func (r *Receiver) Counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

// Unique returns the number of distinct uuids accepted.
func (r *Receiver) Unique() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.counts)
}

// WaitUnique waits until n distinct uuids were accepted or timeout passes,
// and reports whether they were.
func (r *Receiver) WaitUnique(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for {
		if r.Unique() >= n {
			return true
		}
		select {
		case <-r.notify:
		case <-deadline:
			return r.Unique() >= n
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Classify names how the agent's delivery loop would treat a sink's error:
// "ok", "permanent", "too_large", "paused" or "retry".
func Classify(err error) string {
	if err == nil {
		return "ok"
	}
	de := component.AsDeliveryError(err)
	switch {
	case de.Permanent:
		return "permanent"
	case de.TooLarge:
		return "too_large"
	case de.Paused:
		return "paused"
	}
	return "retry"
}
