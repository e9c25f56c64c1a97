package syslogsource

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// drainTimeout bounds the final Emit of what was read before a shutdown.
const drainTimeout = 5 * time.Second

type source struct {
	cfg     *Config
	log     *slog.Logger
	metrics *metrics
	host    string
	addr    atomic.Pointer[net.Addr]
	ready   chan struct{}

	// budget bounds the messages read (tcp/tls) or queued (udp/unix) and
	// not stored yet (max_inflight_bytes).
	budget *semaphore.Weighted
	// blocks keeps the connections' released blocks for reuse.
	blocks blockPool
}

func newSource(cfg *Config, set component.Settings) (component.Source, error) {
	return create(cfg, set)
}

func create(cfg *Config, set component.Settings) (*source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.prepare(set.ConfigDir); err != nil {
		return nil, err
	}
	m, err := newMetrics(set.Metrics)
	if err != nil {
		return nil, fmt.Errorf("syslog source %s: metrics: %w", set.Name, err)
	}
	log := set.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &source{cfg: cfg, log: log, metrics: m, host: set.Hostname, ready: make(chan struct{}),
		budget: semaphore.NewWeighted(int64(cfg.MaxInflightBytes))}, nil
}

// Addr returns the listening address once Run has opened it, else nil.
func (s *source) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return nil
}

func (s *source) listening(a net.Addr) {
	s.addr.Store(&a)
	close(s.ready)
	s.log.Info("syslog source listening", "mode", s.cfg.Mode, "address", a.String(), "format", s.cfg.Format)
}

// Run serves until ctx is cancelled. What was already read is committed
// (within drainTimeout) before it returns.
func (s *source) Run(ctx context.Context, emit component.Emitter) error {
	switch s.cfg.Mode {
	case ModeTCP, ModeTLS:
		return s.runStream(ctx, emit)
	default:
		return s.runDatagram(ctx, emit)
	}
}

// newOut returns the ordered emitting of a connection or datagram worker.
// Syslog cannot ask the sender again, so a failed commit (disk full, I/O
// error) is retried (component.OrderedOptions.Retry) while ctx lives:
// meanwhile the connection is not read, which pushes back to the sender
// instead of losing what was already read. Only when ctx ends (shutdown
// past the drain timeout) are the messages lost, and counted. Stored
// events go back to b (nil: not reused) when the agent released them. A
// batch's tag is its weight in the budget (0 for datagrams), given back once
// the batch landed, stored or lost.
func (s *source) newOut(emit component.Emitter, b *blocks) *component.Ordered[int64] {
	return component.NewOrdered(emit, component.OrderedOptions[int64]{
		Retry:  true,
		Logger: s.log,
		Landed: func(l component.Landed[int64]) {
			s.giveBack(l.Tag)
			switch {
			case l.Err != nil:
				s.metrics.lost.Add(float64(l.Events))
			default:
				s.metrics.received.Add(float64(l.Events))
			}
			if b == nil {
				return
			}
			// A batch that is not released (kept by a transform, failed
			// and stored again, lost) breaks the order release counts on.
			if l.Err == nil && l.Released {
				b.release(l.Events)
			} else {
				b.poison()
			}
		},
	})
}

// count counts the event p built last: truncated, flagged with a
// $parse_error.
func (s *source) count(p *parser, truncated bool) {
	if truncated {
		s.metrics.truncated.Inc()
	}
	if p.flagged {
		s.metrics.parseErrors.Inc()
	}
}

// ---- tcp / tls ----

func (s *source) runStream(ctx context.Context, emit component.Emitter) error {
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("syslog source: listen on %s: %w", s.cfg.Address, err)
	}
	s.listening(ln.Addr())
	return s.serveStream(ctx, emit, ln)
}

// Bounds of the pause after a failed accept, as net/http's Server uses.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// serveStream accepts connections on ln until ctx is cancelled or ln is
// closed from elsewhere, and closes ln before it returns, so that a
// restarted source can bind the address again.
//
// A failed accept (EMFILE, ENFILE, ENOBUFS, an aborted connection, ...)
// does not end the source: connections waiting in the backlog would be
// accepted by nobody while the listener stays open. Instead the loop pauses
// (5 ms doubling to 1 s) and tries again, as net/http does; the pause lets
// connections end and free descriptors.
func (s *source) serveStream(parent context.Context, emit component.Emitter, ln net.Listener) error {
	defer ln.Close()
	// Cancelled also when ln is closed under the source, so that the
	// connections end as at a shutdown.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var closedErr error
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.closeConns(&mu, conns)
	})
	defer stop()
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(err, net.ErrClosed) {
				// Closed by someone else: nothing more can be accepted.
				closedErr = fmt.Errorf("syslog source: accept: %w", err)
				cancel()
				break
			}
			backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
			s.metrics.acceptErrors.Inc()
			s.log.Warn("accept failed; retrying", "err", err, "retry_in", backoff)
			if !component.Sleep(ctx, backoff) {
				break
			}
			continue
		}
		backoff = 0
		mu.Lock()
		if len(conns) >= s.cfg.MaxConnections || ctx.Err() != nil {
			mu.Unlock()
			s.metrics.refused.Inc()
			conn.Close()
			continue
		}
		conns[conn] = struct{}{}
		mu.Unlock()
		s.metrics.connections.Inc()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(conns, conn)
				mu.Unlock()
				s.metrics.connections.Dec()
				conn.Close()
			}()
			if s.cfg.tlsConf != nil {
				tc := tls.Server(conn, s.cfg.tlsConf)
				hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := tc.HandshakeContext(hctx)
				cancel()
				if err != nil {
					s.log.Debug("TLS handshake failed", "peer", conn.RemoteAddr().String(), "err", err)
					return
				}
				s.serveConn(ctx, emit, tc, conn)
				return
			}
			s.serveConn(ctx, emit, conn, conn)
		}()
	}
	wg.Wait()
	return closedErr
}

// closeConns wakes every connection's reader so that it commits what it
// read and ends.
func (s *source) closeConns(mu *sync.Mutex, conns map[net.Conn]struct{}) {
	mu.Lock()
	defer mu.Unlock()
	for c := range conns {
		c.SetReadDeadline(time.Now())
	}
}

// idleReader renews the read deadline before every read, so a connection
// that sends nothing for idle_timeout is closed.
type idleReader struct {
	r    io.Reader
	conn net.Conn
	idle time.Duration
	ctx  context.Context
}

func (r idleReader) Read(p []byte) (int, error) {
	if r.idle > 0 {
		r.conn.SetReadDeadline(time.Now().Add(r.idle))
	}
	// Checked after the deadline is set: the shutdown sets its own
	// deadline (now) after cancelling ctx, so one of the two wins.
	if r.ctx.Err() != nil {
		return 0, r.ctx.Err()
	}
	return r.r.Read(p)
}

// emitContext is ctx, or once ctx is done a short-lived context to commit
// what was already read.
func emitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
}

// serveConn reads messages until the connection ends. A committer
// goroutine takes everything read while its previous Emit was running (group
// commit), so parsing overlaps the buffer's fsync. Once batch_max_events are
// waiting and Emit blocks (full buffer), the reader blocks too and the
// connection is no longer read: the sender's kernel buffers fill
// (backpressure).
func (s *source) serveConn(ctx context.Context, emit component.Emitter, r io.Reader, conn net.Conn) {
	peer := ""
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		peer = ap.Addr().Unmap().String()
	}
	fr := newFramer(idleReader{r: r, conn: conn, idle: s.cfg.IdleTimeout.D(), ctx: ctx}, int(s.cfg.MaxMessageBytes))
	p := newParser(s.cfg, s.host)
	p.blocks.recycle = true // the committer releases what it stored
	p.blocks.pool = &s.blocks
	pend := newPending(s.cfg.BatchMaxEvents)
	committed := make(chan struct{})
	go func() {
		defer close(committed)
		out := s.newOut(emit, &p.blocks)
		for {
			batch, weight, ok := pend.take()
			if !ok {
				ectx, cancel := emitContext(ctx)
				// What is not stored is counted as lost by newOut's Landed.
				_ = out.Wait(ectx, 0)
				cancel()
				return
			}
			if !commit(ctx, out, batch, weight) {
				// The buffer refused: stop reading this connection.
				n, w := pend.fail()
				s.metrics.lost.Add(float64(n))
				s.giveBack(w)
				conn.Close()
				return
			}
		}
	}()
	// credit is budget taken and not yet spent on a message; local holds
	// events read and not handed to the committer, of weight localWeight.
	var credit, localWeight int64
	local := make([]*event.Event, 0, 64)
	handOver := func() bool {
		if !pend.put(local, localWeight) {
			s.metrics.lost.Add(float64(len(local)))
			s.giveBack(localWeight)
			local, localWeight = local[:0], 0
			return false
		}
		local, localWeight = make([]*event.Event, 0, 64), 0
		return true
	}
	defer func() {
		s.giveBack(credit)
		pend.close()
		<-committed
	}()
	for {
		// Hand over what was read once nothing more is buffered, so a quiet
		// connection adds no latency, and give back the credit a quiet
		// connection would otherwise sit on.
		if !fr.complete() {
			s.giveBack(credit)
			credit = 0
		}
		if len(local) > 0 && (len(local) >= s.cfg.BatchMaxEvents || !fr.complete()) && !handOver() {
			return
		}
		msg, fi, err := fr.next()
		if err != nil {
			if errors.Is(err, errFraming) {
				s.metrics.framingError.Inc()
				s.log.Warn("closing connection on a framing error", "peer", peer, "err", err)
			} else if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.log.Debug("connection ended", "peer", peer, "err", err)
			}
			handOver()
			return
		}
		w := int64(len(msg)) + messageOverhead
		if credit < w {
			taken, ok := s.takeBudget(w - credit)
			if !ok {
				// The budget is used up. What this connection holds reaches
				// the committer and its credit goes back before it waits, so
				// that waiting connections never hold what others wait for.
				if len(local) > 0 && !handOver() {
					return
				}
				s.giveBack(credit)
				credit = 0
				if !s.waitBudget(ctx, w) {
					// No room even within the drain timeout: the message
					// read is lost, and counted as such.
					s.metrics.lost.Inc()
					return
				}
				taken = w
			}
			credit += taken
		}
		if fi.cut != "" {
			s.metrics.cutFrames.Inc()
			s.log.Warn("connection ended inside a frame; keeping what arrived", "peer", peer, "err", fi.cut)
		}
		if ev := p.toEvent(msg, peer, fi, time.Now); ev != nil {
			credit -= w
			localWeight += w
			s.count(p, fi.truncated)
			local = append(local, ev)
		}
	}
}

// messageOverhead is what a message counts in max_inflight_bytes besides
// its length: about the memory of its event (fields, boxed strings, its
// share of the encoded batch).
const messageOverhead = 1 << 10

// creditChunk is how much budget a connection takes at a time, so that a
// busy connection does not go to the shared budget for every message.
const creditChunk = 32 << 10

// takeBudget takes creditChunk bytes of the budget, or n if that is more,
// without waiting. It returns what it took, and false when it took nothing.
func (s *source) takeBudget(n int64) (int64, bool) {
	if n < creditChunk && s.tryTake(creditChunk) {
		return creditChunk, true
	}
	if s.tryTake(n) {
		return n, true
	}
	return 0, false
}

// tryTake takes n bytes of the budget if they are free.
func (s *source) tryTake(n int64) bool {
	if !s.budget.TryAcquire(n) {
		return false
	}
	s.metrics.inflight.Add(float64(n))
	return true
}

// waitBudget takes n bytes of the budget, waiting for room until ctx ends,
// then for the drain timeout: at a shutdown the committers still store what
// was handed over, which gives room for a message already read.
func (s *source) waitBudget(ctx context.Context, n int64) bool {
	s.metrics.budgetWaits.Inc()
	err := s.budget.Acquire(ctx, n)
	if err != nil && ctx.Err() != nil {
		dctx, cancel := emitContext(ctx)
		err = s.budget.Acquire(dctx, n)
		cancel()
	}
	if err != nil {
		return false
	}
	s.metrics.inflight.Add(float64(n))
	return true
}

// giveBack returns n bytes to the budget.
func (s *source) giveBack(n int64) {
	if n > 0 {
		s.metrics.inflight.Sub(float64(n))
		s.budget.Release(n)
	}
}

// commitDepth is how many batches of a connection may be in flight at
// once: one written while the next is encoded and waits, and the buffer
// writes what waits in one transaction (group commit). Four gave no
// measurable gain on syslog-tcp (the CPU, not the fsync, was the limit)
// and cost 10 MB more RSS; each batch holds up to batch_max_events events.
const commitDepth = 2

// commit queues a connection's batch after the ones before it and waits
// for the oldest down to commitDepth-1 in flight. A batch that fails (and
// those chained after it) is stored again, in order, before anything
// newer (see newOut). False once the source gives up on the connection
// (shutdown past the drain timeout).
func commit(ctx context.Context, out *component.Ordered[int64], batch []*event.Event, weight int64) bool {
	ectx, cancel := emitContext(ctx)
	defer cancel()
	if _, err := out.Queue(ectx, weight, batch); err != nil {
		return false
	}
	return out.Wait(ectx, commitDepth-1) == nil
}

// pending is the hand-over between a connection's reader and its committer.
type pending struct {
	mu     sync.Mutex
	cond   *sync.Cond
	events []*event.Event
	weight int64 // of events, in the source's budget
	max    int
	closed bool
	failed bool
}

func newPending(max int) *pending {
	p := &pending{max: max}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// put appends evs (of weight w), waiting while that would make the next
// Emit larger than max. It reports false once the committer gave up.
func (p *pending) put(evs []*event.Event, w int64) bool {
	if len(evs) == 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.failed && len(p.events) > 0 && len(p.events)+len(evs) > p.max {
		p.cond.Wait()
	}
	if p.failed {
		return false
	}
	p.events = append(p.events, evs...)
	p.weight += w
	p.cond.Broadcast()
	return true
}

// take returns everything pending and its weight, waiting for something;
// false once closed and drained.
func (p *pending) take() ([]*event.Event, int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.events) == 0 && !p.closed {
		p.cond.Wait()
	}
	if len(p.events) == 0 {
		return nil, 0, false
	}
	evs, w := p.events, p.weight
	p.events, p.weight = make([]*event.Event, 0, len(evs)), 0
	p.cond.Broadcast()
	return evs, w, true
}

func (p *pending) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// fail makes put refuse from now on; it returns the number of events that
// were pending and are dropped, and their weight.
func (p *pending) fail() (int, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, w := len(p.events), p.weight
	p.events, p.weight = nil, 0
	p.failed = true
	p.cond.Broadcast()
	return n, w
}

// ---- udp / unix datagram ----

type datagram struct {
	data      []byte
	peer      string
	truncated bool
	weight    int64 // in the source's budget
}

func (s *source) listenPacket() (net.PacketConn, func(), error) {
	if s.cfg.Mode == ModeUnix {
		// A stale socket file from a previous run would make bind fail.
		if fi, err := os.Lstat(s.cfg.Path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			os.Remove(s.cfg.Path)
		}
		pc, err := net.ListenPacket("unixgram", s.cfg.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("syslog source: listen on %s: %w", s.cfg.Path, err)
		}
		if err := os.Chmod(s.cfg.Path, s.cfg.perm); err != nil {
			pc.Close()
			return nil, nil, fmt.Errorf("syslog source: socket_mode: %w", err)
		}
		return pc, func() { os.Remove(s.cfg.Path) }, nil
	}
	pc, err := net.ListenPacket("udp", s.cfg.Address)
	if err != nil {
		return nil, nil, fmt.Errorf("syslog source: listen on %s: %w", s.cfg.Address, err)
	}
	return pc, func() {}, nil
}

func (s *source) runDatagram(ctx context.Context, emit component.Emitter) error {
	pc, cleanup, err := s.listenPacket()
	if err != nil {
		return err
	}
	defer cleanup()
	s.setupPacketConn(pc)
	s.listening(pc.LocalAddr())
	return s.serveDatagram(ctx, emit, pc)
}

// setupPacketConn applies receive_buffer_bytes and, on UDP, asks the
// kernel for its count of datagrams dropped on a full receive queue.
func (s *source) setupPacketConn(pc net.PacketConn) {
	if n := int(s.cfg.ReceiveBufferBytes); n > 0 {
		if rb, ok := pc.(interface{ SetReadBuffer(int) error }); ok {
			if err := rb.SetReadBuffer(n); err != nil {
				s.log.Warn("cannot set receive_buffer_bytes", "err", err)
			}
		}
	}
	if udp, ok := pc.(*net.UDPConn); ok {
		if err := enableDropCount(udp); err != nil {
			s.log.Warn("kernel drops of udp datagrams will not be counted", "err", err)
		}
	}
}

// serveDatagram reads pc until ctx is cancelled or pc is closed from
// elsewhere, and closes pc before it returns.
func (s *source) serveDatagram(ctx context.Context, emit component.Emitter, pc net.PacketConn) error {
	defer pc.Close()
	queue := make(chan datagram, s.cfg.UDPQueue)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.processDatagrams(ctx, emit, queue)
	}()
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	err := s.readDatagrams(ctx, pc, queue)
	close(queue)
	<-done
	return err
}

// readDatagrams never blocks on the buffer: when the queue is full the
// datagram is dropped and counted, so the socket keeps being drained. A
// failed read other than a closed socket (ENOBUFS, ENOMEM, ...) pauses as a
// failed accept does and goes on.
func (s *source) readDatagrams(ctx context.Context, pc net.PacketConn, queue chan<- datagram) error {
	limit := int(s.cfg.MaxMessageBytes)
	buf := make([]byte, limit+1)
	udp, _ := pc.(*net.UDPConn)
	var drops dropCounter
	oob := make([]byte, oobSize)
	var backoff time.Duration
	for {
		var n int
		var peer string
		var err error
		if udp != nil {
			var ap netip.AddrPort
			var oobn int
			n, oobn, _, ap, err = udp.ReadMsgUDPAddrPort(buf, oob)
			if err == nil {
				peer = ap.Addr().Unmap().String()
				if d := drops.update(oob[:oobn]); d > 0 {
					s.metrics.kernelDropped.Add(float64(d))
				}
			}
		} else {
			n, _, err = pc.ReadFrom(buf)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("syslog source: read: %w", err)
			}
			backoff = min(max(2*backoff, minAcceptBackoff), maxAcceptBackoff)
			s.metrics.acceptErrors.Inc()
			s.log.Warn("read failed; retrying", "err", err, "retry_in", backoff)
			if !component.Sleep(ctx, backoff) {
				return nil
			}
			continue
		}
		backoff = 0
		// A datagram counts in max_inflight_bytes until stored, so that a
		// flood of large datagrams cannot fill udp_queue with 64 KiB each.
		w := int64(min(n, limit)) + messageOverhead
		if !s.tryTake(w) {
			s.metrics.queueDropped.Inc()
			continue
		}
		d := datagram{peer: peer, truncated: n > limit, weight: w}
		d.data = append([]byte(nil), buf[:min(n, limit)]...)
		select {
		case queue <- d:
		default:
			s.giveBack(w)
			s.metrics.queueDropped.Inc()
		}
	}
}

// processDatagrams parses queued datagrams and commits what is queued in
// one Emit (up to batch_max_events).
func (s *source) processDatagrams(ctx context.Context, emit component.Emitter, queue <-chan datagram) {
	p := newParser(s.cfg, s.host)
	out := s.newOut(emit, nil)
	batch := make([]*event.Event, 0, 64)
	var weight int64
	add := func(d datagram) {
		if ev := p.toEvent(d.data, d.peer, frameInfo{truncated: d.truncated}, time.Now); ev != nil {
			s.count(p, d.truncated)
			batch = append(batch, ev)
			weight += d.weight
		} else {
			s.giveBack(d.weight)
		}
	}
	for {
		d, ok := <-queue
		if !ok {
			return
		}
		add(d)
	gather:
		for len(batch) < s.cfg.BatchMaxEvents {
			select {
			case d, ok := <-queue:
				if !ok {
					break gather
				}
				add(d)
			default:
				break gather
			}
		}
		if len(batch) > 0 {
			ectx, cancel := emitContext(ctx)
			// What is not stored is counted as lost by newOut's Landed.
			_ = out.Store(ectx, weight, batch)
			cancel()
		}
		clear(batch)
		batch, weight = batch[:0], 0
	}
}
