// Package netguard tells whether a connection would reach the agent's own
// API. The API can replay and purge dead letters and shows every event
// (/tap), so requests that plugin code chooses the address of (a
// connector's fetch, the webhooks composeWebhook returns) must never reach
// it, whatever else they are allowed to reach.
package netguard

import (
	"net"
	"net/netip"
	"strconv"
)

// thisNetwork is 0.0.0.0/8: Linux connects 0.x.y.z to the local host.
var thisNetwork = netip.MustParsePrefix("0.0.0.0/8")

// API recognises the agent's API address.
type API struct {
	// port is the API's port (0: no API); ip its address, or invalid when
	// it listens on every interface (or by name).
	port uint16
	ip   netip.Addr
	// LocalAddrs lists the machine's addresses (net.InterfaceAddrs); a
	// field so that tests can give their own.
	LocalAddrs func() ([]net.Addr, error)
}

// NewAPI returns the check for an API listening on apiAddress ("" or an
// address that does not parse: no API, nothing is refused).
func NewAPI(apiAddress string) *API {
	a := &API{LocalAddrs: net.InterfaceAddrs}
	host, port, err := net.SplitHostPort(apiAddress)
	if err != nil {
		return a
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return a
	}
	a.port = uint16(p)
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		a.ip = ip.Unmap()
	}
	return a
}

// Reaches reports whether a connection to ip:port reaches the API.
func (a *API) Reaches(ip netip.Addr, port uint16) bool {
	ip = ip.Unmap()
	if a.port == 0 || port != a.port {
		return false
	}
	if a.ip.IsValid() {
		return ip == a.ip || (a.ip.IsLoopback() && ip.IsLoopback())
	}
	// On every interface (or a name): any address of this machine.
	if ip.IsLoopback() || ip.IsUnspecified() || thisNetwork.Contains(ip) {
		return true
	}
	addrs, err := a.LocalAddrs()
	if err != nil {
		return true // cannot tell: refuse
	}
	for _, la := range addrs {
		if n, ok := la.(*net.IPNet); ok {
			if l, ok := netip.AddrFromSlice(n.IP); ok && l.Unmap() == ip {
				return true
			}
		}
	}
	return false
}
