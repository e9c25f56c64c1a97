package syslogsource

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/octetcounting"
)

// countEmitter drops events, counting them, and signals at target.
type countEmitter struct {
	n      atomic.Int64
	target int64
	done   chan struct{}
}

func (c *countEmitter) Emit(_ context.Context, evs []*event.Event, _ ...component.Checkpoint) error {
	if c.n.Add(int64(len(evs))) >= c.target {
		select {
		case c.done <- struct{}{}:
		default:
		}
	}
	return nil
}

const benchChunk = 1000

// benchStream is 1000 octet-counted RFC 5424 messages of ~200 bytes.
func benchStream() []byte {
	var buf bytes.Buffer
	for i := 0; i < benchChunk; i++ {
		msg := fmt.Sprintf(`<165>1 2026-11-27T01:00:00.%03dZ web-%02d.example.com checkout 4242 ID47 [req@32473 id="%d" route="/cart"] user ada added item %d to the cart`, i%1000, i%16, i, i)
		fmt.Fprintf(&buf, "%d %s", len(msg), msg)
	}
	return buf.Bytes()
}

func benchSend(b *testing.B, addr string, rounds int) {
	b.Helper()
	stream := benchStream()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < rounds; i++ {
		if _, err := conn.Write(stream); err != nil {
			b.Fatal(err)
		}
	}
	conn.Close()
}

func rounds(b *testing.B) int { return (b.N + benchChunk - 1) / benchChunk }

func report(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
	b.SetBytes(int64(len(benchStream()) / benchChunk))
}

// BenchmarkSyslogTCPBaselineDiscard is the ceiling of the same run: the same
// bytes over one loopback TCP connection into io.Discard.
func BenchmarkSyslogTCPBaselineDiscard(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
		close(done)
	}()
	r := rounds(b)
	b.ResetTimer()
	benchSend(b, ln.Addr().String(), r)
	<-done
	report(b, r*benchChunk)
}

// BenchmarkSyslogTCPGoSyslogParser is the second baseline: go-syslog's own
// octet-counting parser (RFC 5424, callback per message) on the same
// connection, building nothing.
func BenchmarkSyslogTCPGoSyslogParser(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err == nil {
			p := octetcounting.NewParser(syslog.WithListener(func(r *syslog.Result) {
				if r.Message != nil {
					n.Add(1)
				}
			}))
			p.Parse(c)
			c.Close()
		}
		close(done)
	}()
	r := rounds(b)
	b.ResetTimer()
	benchSend(b, ln.Addr().String(), r)
	<-done
	if int(n.Load()) != r*benchChunk {
		b.Fatalf("parsed %d of %d", n.Load(), r*benchChunk)
	}
	report(b, r*benchChunk)
}

// BenchmarkSyslogTCP drives the source over one TCP connection with
// octet-counted RFC 5424 messages into a no-op emitter: framing, parsing,
// event building, batching.
func BenchmarkSyslogTCP(b *testing.B) {
	r := rounds(b)
	ce := &countEmitter{target: int64(r * benchChunk), done: make(chan struct{}, 1)}
	h := startWith(b, ce, func(c *Config) { c.Mode = ModeTCP; c.Format = FormatAuto })
	b.ReportAllocs()
	b.ResetTimer()
	benchSend(b, h.src.Addr().String(), r)
	<-ce.done
	report(b, r*benchChunk)
}

// BenchmarkSyslogTCP5424 is the same with format = "rfc5424" (no
// auto-detection).
func BenchmarkSyslogTCP5424(b *testing.B) {
	r := rounds(b)
	ce := &countEmitter{target: int64(r * benchChunk), done: make(chan struct{}, 1)}
	h := startWith(b, ce, func(c *Config) { c.Mode = ModeTCP; c.Format = FormatRFC5424 })
	b.ReportAllocs()
	b.ResetTimer()
	benchSend(b, h.src.Addr().String(), r)
	<-ce.done
	report(b, r*benchChunk)
}
