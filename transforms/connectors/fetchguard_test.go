package connectors

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

func TestDialGuardCheck(t *testing.T) {
	local := func() ([]net.Addr, error) {
		return []net.Addr{&net.IPNet{IP: net.ParseIP("203.0.113.9"), Mask: net.CIDRMask(24, 32)}}, nil
	}
	cases := []struct {
		name  string
		allow []string
		api   string
		addr  string
		want  string // "" = allowed; else a substring of the refusal
	}{
		{name: "public v4", addr: "93.184.215.14:443"},
		{name: "public v6", addr: "[2001:4860:4860::8888]:443"},
		{name: "loopback", addr: "127.0.0.1:80", want: "loopback"},
		{name: "loopback other", addr: "127.8.9.10:80", want: "loopback"},
		{name: "loopback v6", addr: "[::1]:80", want: "loopback"},
		{name: "v4-mapped loopback", addr: "[::ffff:127.0.0.1]:80", want: "loopback"},
		{name: "nat64 loopback", addr: "[64:ff9b::7f00:1]:80", want: "loopback (NAT64)"},
		{name: "cloud metadata", addr: "169.254.169.254:80", want: "link-local"},
		{name: "link-local v6", addr: "[fe80::1]:80", want: "link-local"},
		{name: "rfc1918 10", addr: "10.1.2.3:80", want: "private"},
		{name: "rfc1918 172", addr: "172.16.0.1:80", want: "private"},
		{name: "rfc1918 192", addr: "192.168.1.1:80", want: "private"},
		{name: "ula (aws v6 metadata)", addr: "[fd00:ec2::254]:80", want: "private"},
		{name: "unspecified", addr: "0.0.0.0:80", want: "unspecified"},
		{name: "this network", addr: "0.1.2.3:80", want: "unspecified"},
		{name: "unspecified v6", addr: "[::]:80", want: "unspecified"},
		{name: "cgnat metadata", addr: "100.100.100.200:80", want: "shared address space"},
		{name: "multicast", addr: "239.1.2.3:80", want: "multicast"},
		{name: "link-local multicast", addr: "224.0.0.1:80", want: "multicast"},
		{name: "allowed network", allow: []string{"10.0.0.0/8"}, addr: "10.1.2.3:80"},
		{name: "allowed single ip", allow: []string{"127.0.0.1"}, addr: "127.0.0.1:80"},
		{name: "outside allowed network", allow: []string{"10.0.0.0/8"}, addr: "192.168.1.1:80", want: "fetch_allow_networks"},
		{name: "api", allow: []string{"127.0.0.0/8"}, api: "127.0.0.1:8686", addr: "127.0.0.1:8686", want: "agent's own API"},
		{name: "api other loopback", allow: []string{"127.0.0.0/8"}, api: "127.0.0.1:8686", addr: "127.0.0.2:8686", want: "agent's own API"},
		{name: "api by name", allow: []string{"127.0.0.0/8"}, api: "localhost:8686", addr: "127.0.0.1:8686", want: "agent's own API"},
		{name: "api on all interfaces, local ip", allow: []string{"0.0.0.0/0"}, api: ":8686", addr: "203.0.113.9:8686", want: "agent's own API"},
		{name: "api on all interfaces, other host", api: "0.0.0.0:8686", addr: "198.51.100.1:8686"},
		{name: "api other port", allow: []string{"127.0.0.0/8"}, api: "127.0.0.1:8686", addr: "127.0.0.1:8687"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			nets, errs := parseNetworks(tc.allow)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			g := newDialGuard(nets, tc.api)
			g.api.LocalAddrs = local
			err := g.check(tc.addr)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, errFetchRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a refusal containing %q", err, tc.want)
			}
		})
	}
}

func TestParseNetworks(t *testing.T) {
	got, errs := parseNetworks([]string{"10.0.0.0/8", "127.0.0.1", "fd00::/8", "10.1.2.3/8"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("10.0.0.0/8")}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, errs := parseNetworks([]string{"10.0.0.0/33", "example.com"}); len(errs) != 2 {
		t.Fatalf("want 2 errors, got %v", errs)
	}
}

// countingServer is a loopback server on ip that counts its requests.
func countingServer(t *testing.T, ip string, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

func okJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"fine":true}`)
}

// TestFetchRefusesInternalAddresses runs the fetcher connector against
// real loopback servers: refused by default, on every redirect hop, and
// when a name resolves to loopback; allowed only where configured.
func TestFetchRefusesInternalAddresses(t *testing.T) {
	target, targetHits := countingServer(t, "127.0.0.2", okJSON)
	redirect := func(to string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, to, http.StatusFound) }
	}
	toTarget, _ := countingServer(t, "127.0.0.1", redirect(target.URL+"/tap?component=x&token=abc"))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(target.URL, "http://"))
	byName, _ := countingServer(t, "127.0.0.1", redirect("http://localhost:"+port+"/"))
	toMetadata, _ := countingServer(t, "127.0.0.1", redirect("http://169.254.169.254/latest/meta-data/"))

	cases := []struct {
		name      string
		base      string
		allowNets []string
		allowHost []string
		api       string
		want      string // "" = fetched; else a substring of the dead letter reason
		wantHits  int64  // requests the target server must have seen
	}{
		{name: "loopback refused by default", base: target.URL, want: "127.0.0.2 is a loopback address", wantHits: 0},
		{name: "name resolving to loopback refused", base: "http://localhost:" + port, want: "is a loopback address", wantHits: 0},
		{name: "loopback allowed explicitly", base: target.URL, allowNets: []string{"127.0.0.2/32"}, wantHits: 1},
		{name: "redirect to refused address", base: toTarget.URL, allowNets: []string{"127.0.0.1/32"}, want: "127.0.0.2 is a loopback address", wantHits: 0},
		{name: "redirect to a host outside fetch_allow_hosts", base: byName.URL, allowNets: []string{"127.0.0.0/8"}, allowHost: []string{"127.0.0.1"}, want: `redirect to host "localhost"`, wantHits: 0},
		{name: "redirect to the agent's API", base: toTarget.URL, allowNets: []string{"127.0.0.0/8"}, api: strings.TrimPrefix(target.URL, "http://"), want: "agent's own API", wantHits: 0},
		{name: "redirect allowed", base: toTarget.URL, allowNets: []string{"127.0.0.0/8"}, wantHits: 1},
		// Refused before connect(2): no packet leaves the machine.
		{name: "private address", base: "http://10.255.255.1:9", want: "10.255.255.1 is a private address"},
		{name: "cloud metadata", base: "http://169.254.169.254", want: "169.254.169.254 is a link-local (cloud metadata) address"},
		{name: "redirect to cloud metadata", base: toMetadata.URL, allowNets: []string{"127.0.0.1/32"}, want: "169.254.169.254 is a link-local"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := targetHits.Load()
			tr := newTestTransform(t, testOpts{onError: OnErrorDeadLetter, apiAddress: tc.api, mutate: func(c *Config) {
				// A guard that let a refused address through would
				// fail on this timeout rather than hang.
				c.FetchTimeout = component.Duration(2 * time.Second)
				c.FetchAllowNetworks = tc.allowNets
				c.FetchAllowHosts = tc.allowHost
			}}, plugin("fetcher", map[string]any{"base": tc.base}))
			out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d"}`))
			if got := targetHits.Load() - before; got != tc.wantHits {
				t.Errorf("target saw %d requests, want %d", got, tc.wantHits)
			}
			if tc.want == "" {
				if len(out.Events) != 1 || len(out.DeadLetters) != 0 {
					t.Fatalf("want the event through, got %+v", out)
				}
				if got := string(event.AppendValue(nil, out.Events[0].Properties)); !strings.Contains(got, `"lookup":{"fine":true}`) {
					t.Fatalf("properties %s", got)
				}
				return
			}
			if len(out.DeadLetters) != 1 || !strings.Contains(out.DeadLetters[0].Reason, tc.want) {
				t.Fatalf("want a dead letter with %q, got %+v", tc.want, out)
			}
			if strings.Contains(out.DeadLetters[0].Reason, "abc") {
				t.Errorf("reason shows the query token: %s", out.DeadLetters[0].Reason)
			}
		})
	}
}
