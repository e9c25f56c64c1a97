package syslogsource

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/event"
)

// gatedEmitter stores nothing until its gate opens: Emit waits, as the
// buffer's commit does when the disk is slow. It is not an AsyncEmitter, so
// a connection's committer waits in Emit with its batch.
type gatedEmitter struct {
	inner *componenttest.Emitter
	gate  chan struct{}
}

func (g *gatedEmitter) Emit(ctx context.Context, evs []*event.Event, cps ...component.Checkpoint) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.inner.Emit(ctx, evs, cps...)
}

// TestTCPInflightBudget: many connections sending flat out while nothing
// can be stored take at most max_inflight_bytes between them (they are no
// longer read: backpressure), and once storing resumes every message
// arrives and the whole budget is given back.
func TestTCPInflightBudget(t *testing.T) {
	const (
		conns   = 8
		perConn = 400
		budget  = 64 << 10
	)
	g := &gatedEmitter{inner: componenttest.NewEmitter(), gate: make(chan struct{})}
	s, reg := newBare(t, func(c *Config) {
		c.Mode = ModeTCP
		c.MaxMessageBytes = 4 << 10
		c.MaxInflightBytes = budget
	})
	componenttest.StartSource(t, s, g, s.ready)
	msg := func(c, i int) []byte {
		return octetFrame([]byte(fmt.Sprintf("<13>1 - host app - - - conn=%d seq=%d %s", c, i, strings.Repeat("x", 400))))
	}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
			for i := 0; i < perConn; i++ {
				if _, err := conn.Write(msg(c, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// The senders' 8 × 400 × ~450 bytes fit in loopback socket buffers, so
	// everything is readable: the source must stop at its budget.
	componenttest.Eventually(t, 10*time.Second, "connections waiting for the budget", func() bool {
		return metricValue(t, reg, "hogtail_syslog_source_inflight_waits_total") >= 1
	})
	for i := 0; i < 20; i++ {
		if v := metricValue(t, reg, "hogtail_syslog_source_inflight_bytes"); v > budget || v <= 0 {
			t.Fatalf("inflight_bytes = %v while nothing is stored, want within (0, %d]", v, budget)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := g.inner.Len(); n != 0 {
		t.Fatalf("%d events stored while the gate was shut", n)
	}
	close(g.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := g.inner.WaitFor(ctx, conns*perConn); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ev := range g.inner.Events() {
		m, _ := ev.Properties.Get("message")
		text, _ := m.(string)
		key := text[:strings.Index(text, " x")]
		if seen[key] {
			t.Fatalf("%q arrived twice", key)
		}
		seen[key] = true
	}
	if len(seen) != conns*perConn {
		t.Fatalf("%d distinct messages, want %d", len(seen), conns*perConn)
	}
	// Every path gives its share back: stored batches, and the credit of
	// connections that went quiet or ended.
	componenttest.Eventually(t, 10*time.Second, "the budget given back", func() bool {
		return metricValue(t, reg, "hogtail_syslog_source_inflight_bytes") == 0
	})
}

func TestInflightBudgetValidate(t *testing.T) {
	c := defaultConfig()
	c.MaxMessageBytes = 64 << 10
	c.MaxInflightBytes = 32 << 10
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "max_inflight_bytes: must hold at least one message of max_message_bytes") {
		t.Fatalf("Validate: %v", err)
	}
	c.MaxInflightBytes = 64<<10 + messageOverhead
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate with room for one message: %v", err)
	}
}

// TestUDPInflightBudget: while nothing can be stored, queued datagrams take
// at most max_inflight_bytes; the rest are dropped and counted (a flood of
// 64 KiB datagrams could otherwise hold udp_queue × 64 KiB). Once storing
// resumes, what was queued is stored and the budget comes back.
func TestUDPInflightBudget(t *testing.T) {
	const (
		budget = 64 << 10
		sent   = 200
	)
	g := &gatedEmitter{inner: componenttest.NewEmitter(), gate: make(chan struct{})}
	s, reg := newBare(t, func(c *Config) {
		c.Mode = ModeUDP
		c.MaxMessageBytes = 8 << 10
		c.MaxInflightBytes = budget
		c.ReceiveBufferBytes = 4 << 20
	})
	componenttest.StartSource(t, s, g, s.ready)
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := 0; i < sent; i++ {
		if _, err := conn.Write([]byte(fmt.Sprintf("<13>1 - host app - - - seq=%d %s", i, strings.Repeat("x", 4000)))); err != nil {
			t.Fatal(err)
		}
	}
	componenttest.Eventually(t, 10*time.Second, "datagrams over the budget dropped", func() bool {
		return metricValue(t, reg, `hogtail_syslog_source_udp_dropped_total`) > 0
	})
	for i := 0; i < 20; i++ {
		if v := metricValue(t, reg, "hogtail_syslog_source_inflight_bytes"); v > budget || v <= 0 {
			t.Fatalf("inflight_bytes = %v while nothing is stored, want within (0, %d]", v, budget)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(g.gate)
	componenttest.Eventually(t, 10*time.Second, "the budget given back", func() bool {
		return metricValue(t, reg, "hogtail_syslog_source_inflight_bytes") == 0
	})
	stored := g.inner.Len()
	dropped := int(metricValue(t, reg, `hogtail_syslog_source_udp_dropped_total`))
	if stored == 0 || stored+dropped > sent {
		t.Fatalf("stored %d, dropped %d of %d sent (budget %d bytes)", stored, dropped, sent, budget)
	}
}

// TestBudgetWaitDrainsAtShutdown: a connection that read a message and
// waits for budget when the source stops still gets room within the drain
// timeout (the committers store what was handed over and give theirs back),
// so the message is stored like everything else already read.
func TestBudgetWaitDrainsAtShutdown(t *testing.T) {
	s, _ := newBare(t, func(c *Config) { c.Mode = ModeTCP; c.MaxMessageBytes = 4 << 10; c.MaxInflightBytes = 64 << 10 })
	held := int64(64 << 10)
	if !s.tryTake(held) {
		t.Fatal("the budget is not free at the start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the source is stopping
	go func() {
		time.Sleep(50 * time.Millisecond) // a committer stores its batch
		s.giveBack(held)
	}()
	if !s.waitBudget(ctx, 2<<10) {
		t.Fatal("no room within the drain timeout, though the budget came back")
	}
	s.giveBack(2 << 10)
}
