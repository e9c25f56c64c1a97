package httpsource

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
)

// budget is the memory all requests in flight may hold at once: their
// bodies (as received and decompressed) and the events being built. A
// request that would take it over the limit is answered 503, so memory
// stays bounded however many large requests arrive together.
type budget struct {
	limit int64
	used  atomic.Int64
}

// lease is one request's share of the budget. Not safe for concurrent use.
type lease struct {
	b    *budget
	held int64
}

// take reserves n more bytes, or reports false (and reserves nothing) when
// the budget has no room for them.
func (l *lease) take(n int64) bool {
	if n <= 0 {
		return true
	}
	if l.b.used.Add(n) > l.b.limit {
		l.b.used.Add(-n)
		return false
	}
	l.held += n
	return true
}

// give returns n bytes of the lease (the memory they stood for is garbage).
func (l *lease) give(n int64) {
	if l == nil || n <= 0 {
		return
	}
	n = min(n, l.held)
	l.held -= n
	l.b.used.Add(-n)
}

// release returns the whole lease.
func (l *lease) release() { l.give(l.held) }

// clientLimiter caps the requests one client address has in flight, so
// that a few slow or hostile clients cannot take every connection the
// server is willing to read from. IPv6 clients are grouped by /64, the
// block a single host usually holds.
type clientLimiter struct {
	max int
	mu  sync.Mutex
	n   map[netip.Prefix]int
}

func newClientLimiter(max int) *clientLimiter {
	return &clientLimiter{max: max, n: map[netip.Prefix]int{}}
}

// acquire counts a request of client; false means the client is at its
// limit (and nothing was counted).
func (c *clientLimiter) acquire(client netip.Prefix) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[client] >= c.max {
		return false
	}
	c.n[client]++
	return true
}

func (c *clientLimiter) release(client netip.Prefix) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[client] <= 1 {
		delete(c.n, client)
		return
	}
	c.n[client]--
}

// clientKey is the address a request is counted under: the client address
// (ip_header behind a trusted proxy, the peer otherwise), IPv6 cut to its
// /64. An address that does not parse counts as the zero prefix, so such
// requests share one limit rather than escape it.
func (s *source) clientKey(r *http.Request) netip.Prefix {
	var ip string
	if s.cfg.IPHeader != "" {
		ip = s.clientIP(r)
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ip = host
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// counts returns the requests in flight per client (tests and debugging).
func (c *clientLimiter) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k.String()] = v
	}
	return out
}
