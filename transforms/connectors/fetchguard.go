package connectors

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/hogtail/hogtail/agent/netguard"
)

// errFetchRefused marks a fetch refused by fetch_allow_hosts or by the
// address checks.
var errFetchRefused = errors.New("fetch refused")

// Ranges refused beside what netip.Addr classifies (loopback, private,
// link-local, unspecified, multicast).
var (
	// thisNetwork is 0.0.0.0/8: Linux connects 0.x.y.z to the local host.
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
	// sharedSpace is carrier-grade NAT space, where some clouds put their
	// metadata service (100.100.100.200).
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10")
	// nat64 embeds an IPv4 address in its last 32 bits.
	nat64 = netip.MustParsePrefix("64:ff9b::/96")
)

// refusedRange names the class of ip that fetch refuses by default, or ""
// for a public address.
func refusedRange(ip netip.Addr) string {
	ip = ip.Unmap()
	if nat64.Contains(ip) {
		b := ip.As16()
		if r := refusedRange(netip.AddrFrom4([4]byte(b[12:]))); r != "" {
			return r + " (NAT64)"
		}
	}
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsLinkLocalUnicast():
		return "link-local (cloud metadata)"
	case ip.IsPrivate():
		return "private"
	case ip.IsUnspecified(), thisNetwork.Contains(ip):
		return "unspecified"
	case ip.IsMulticast():
		return "multicast"
	case sharedSpace.Contains(ip):
		return "shared address space"
	}
	return ""
}

// dialGuard decides, for each connection fetch opens, whether the resolved
// address may be reached. It runs in net.Dialer.Control, after name
// resolution, so a name that resolves to a refused address (DNS rebinding
// included) is refused on every hop of a redirect chain.
type dialGuard struct {
	// allow are the networks of fetch_allow_networks.
	allow []netip.Prefix
	// api is the agent's API address, never a fetch target whatever
	// fetch_allow_networks says: /tap shows every event of every source.
	api *netguard.API
}

func newDialGuard(allow []netip.Prefix, apiAddress string) *dialGuard {
	return &dialGuard{allow: allow, api: netguard.NewAPI(apiAddress)}
}

// check returns an error wrapping errFetchRefused when address (ip:port)
// must not be reached.
func (g *dialGuard) check(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check address %q: %v", errFetchRefused, address, err)
	}
	ip := ap.Addr().Unmap()
	if g.api.Reaches(ip, ap.Port()) {
		return fmt.Errorf("%w: %s is the agent's own API", errFetchRefused, ap)
	}
	kind := refusedRange(ip)
	if kind == "" {
		return nil
	}
	for _, p := range g.allow {
		if p.Contains(ip) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s is a %s address; list its network in fetch_allow_networks to allow it", errFetchRefused, ip, kind)
}

func (g *dialGuard) control(_, address string, _ syscall.RawConn) error {
	return g.check(address)
}

// maxRedirects is how many redirects fetch follows, as node-fetch.
const maxRedirects = 20

// newFetchClient returns the HTTP client of fetch: every hop of a redirect
// chain must pass fetch_allow_hosts, and every connection the dial guard.
// It ignores HTTP(S)_PROXY, which would make the guard check the proxy
// rather than the target.
func newFetchClient(allowHosts []string, guard *dialGuard) *http.Client {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: guard.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect to a %s: URL", errFetchRefused, req.URL.Scheme)
			}
			if !hostAllowed(allowHosts, req.URL.Hostname()) {
				return fmt.Errorf("%w: redirect to host %q, which is not in fetch_allow_hosts", errFetchRefused, req.URL.Hostname())
			}
			return nil
		},
	}
}

// parseNetworks parses fetch_allow_networks: CIDRs, or single addresses.
func parseNetworks(list []string) ([]netip.Prefix, []error) {
	var out []netip.Prefix
	var errs []error
	for i, s := range list {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, err2 := netip.ParseAddr(s)
			if err2 != nil {
				errs = append(errs, fmt.Errorf("fetch_allow_networks[%d]: %q is not a CIDR (10.0.0.0/8) or an IP address", i, s))
				continue
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, errs
}
