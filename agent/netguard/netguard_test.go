package netguard

import (
	"net"
	"net/netip"
	"testing"
)

func TestAPIReaches(t *testing.T) {
	local := func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.ParseIP("203.0.113.9"), Mask: net.CIDRMask(24, 32)}}, nil
	}
	for _, tc := range []struct {
		name, api, addr string
		want            bool
	}{
		{"no API", "", "127.0.0.1:8686", false},
		{"the API", "127.0.0.1:8686", "127.0.0.1:8686", true},
		{"other loopback", "127.0.0.1:8686", "127.0.0.2:8686", true},
		{"v4-mapped", "127.0.0.1:8686", "[::ffff:127.0.0.1]:8686", true},
		{"by name", "localhost:8686", "127.0.0.1:8686", true},
		{"other port", "127.0.0.1:8686", "127.0.0.1:8687", false},
		{"every interface, local address", ":8686", "203.0.113.9:8686", true},
		{"every interface, 0.x", "0.0.0.0:8686", "0.1.2.3:8686", true},
		{"every interface, other host", "0.0.0.0:8686", "198.51.100.1:8686", false},
		{"specific address, other host", "10.0.0.5:8686", "10.0.0.6:8686", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAPI(tc.api)
			a.LocalAddrs = local
			ap := netip.MustParseAddrPort(tc.addr)
			if got := a.Reaches(ap.Addr(), ap.Port()); got != tc.want {
				t.Fatalf("Reaches(%s) with the API on %q = %v, want %v", tc.addr, tc.api, got, tc.want)
			}
		})
	}
}
