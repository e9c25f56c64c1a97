package agent

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/hogtail/hogtail/agent/config"
)

// serveAPI starts the API of an agent with one demo source on a loopback
// port, with api set as given (Address is overridden).
func serveAPI(t *testing.T, api config.APIConfig) (*Agent, string) {
	t.Helper()
	a := newAgent(t, `
[sources.gen]
type = "demo"
[sinks.out]
type = "capture"
inputs = ["gen"]
`, map[string]*recorder{"out": {}})
	api.Enabled = true
	api.Address = "127.0.0.1:0"
	a.cfg.Load().API = api
	ctx, cancel := context.WithCancel(context.Background())
	addr, done, err := a.ServeAPI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		a.Buffer().Close()
	})
	return a, addr
}

type apiCase struct {
	name   string
	method string // "" = GET
	header map[string]string
	path   string
	host   string // Host header; "" = the address dialled
	token  string // bearer token sent; "" = none
	auth   string // raw Authorization header, instead of token
	status int
	body   string // substring of the body
}

func runAPICases(t *testing.T, addr string, cases []apiCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, "http://"+addr+tc.path, strings.NewReader(`{"ids":[1]}`))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			if resp.StatusCode != tc.status {
				t.Fatalf("%s: status %d (%s), want %d", tc.path, resp.StatusCode, b, tc.status)
			}
			if !strings.Contains(string(b), tc.body) {
				t.Fatalf("%s: body %q, want it to contain %q", tc.path, b, tc.body)
			}
		})
	}
}

// TestAPIDefaults: without settings the API serves /health and /metrics;
// /tap and /debug/pprof say how to turn them on.
func TestAPIDefaults(t *testing.T) {
	_, addr := serveAPI(t, config.APIConfig{})
	runAPICases(t, addr, []apiCase{
		{name: "health", path: "/health", status: 200, body: `"ok"`},
		{name: "metrics", path: "/metrics", status: 200, body: "go_goroutines"},
		{name: "tap off", path: "/tap?component=gen", status: 403, body: "api.tap = true"},
		{name: "pprof off", path: "/debug/pprof/", status: 403, body: "api.pprof = true"},
		{name: "pprof profile off", path: "/debug/pprof/profile?seconds=1", status: 403, body: "api.pprof"},
		{name: "pprof heap off", path: "/debug/pprof/heap", status: 403, body: "api.pprof"},
	})
}

// TestAPIHostHeader: a name the agent does not answer to (DNS rebinding:
// attacker.example resolving to 127.0.0.1) gets 421 on every endpoint.
func TestAPIHostHeader(t *testing.T) {
	_, addr := serveAPI(t, config.APIConfig{AllowedHosts: []string{"hogtail.internal"}})
	runAPICases(t, addr, []apiCase{
		{name: "rebinding health", path: "/health", host: "attacker.example:8686", status: 421, body: "unexpected Host"},
		{name: "rebinding metrics", path: "/metrics", host: "attacker.example", status: 421},
		{name: "rebinding tap", path: "/tap?component=gen", host: "attacker.example", status: 421},
		{name: "localhost suffix", path: "/health", host: "localhost.attacker.example", status: 421},
		{name: "empty", path: "/health", host: " ", status: 421},
		{name: "localhost", path: "/health", host: "localhost:8686", status: 200},
		{name: "LOCALHOST", path: "/health", host: "LOCALHOST", status: 200},
		{name: "ipv4 literal", path: "/health", host: "127.0.0.1:8686", status: 200},
		{name: "ipv6 literal", path: "/health", host: "[::1]:8686", status: 200},
		{name: "other ip literal", path: "/health", host: "192.0.2.7:8686", status: 200},
		{name: "allowed name", path: "/metrics", host: "hogtail.internal:8686", status: 200},
		{name: "allowed name, trailing dot", path: "/metrics", host: "Hogtail.Internal.", status: 200},
	})
}

// TestAPIRefusesWebPages: a page on any site can make the browser POST to
// 127.0.0.1 without a preflight; requests that change something are
// refused when a browser sent them (Origin or Sec-Fetch-Site), reads and
// hogtail's own commands (neither header) are not.
func TestAPIRefusesWebPages(t *testing.T) {
	_, addr := serveAPI(t, config.APIConfig{})
	evil := map[string]string{"Origin": "https://evil.example", "Content-Type": "text/plain"}
	runAPICases(t, addr, []apiCase{
		{name: "purge from a page", method: "POST", path: "/dead-letters/purge", header: evil, status: 403, body: "web pages"},
		{name: "replay from a page", method: "POST", path: "/dead-letters/replay", header: evil, status: 403},
		{name: "purge, fetch metadata only", method: "POST", path: "/dead-letters/purge", header: map[string]string{"Sec-Fetch-Site": "cross-site"}, status: 403},
		{name: "purge, null origin", method: "POST", path: "/dead-letters/purge", header: map[string]string{"Origin": "null"}, status: 403},
		{name: "health read from a page", path: "/health", header: evil, status: 200},
		{name: "purge from the command", method: "POST", path: "/dead-letters/purge", header: map[string]string{"Content-Type": "application/json"}, status: 200, body: `"purged":0`},
	})
}

// TestAPIToken: with auth_token set, every endpoint but /health needs it,
// and /health keeps its details for holders of the token.
func TestAPIToken(t *testing.T) {
	a, addr := serveAPI(t, config.APIConfig{AuthToken: "s3cret", Tap: true, Pprof: true})
	runAPICases(t, addr, []apiCase{
		{name: "metrics without token", path: "/metrics", status: 401, body: "bearer token"},
		{name: "metrics wrong token", path: "/metrics", token: "s3cret2", status: 401},
		{name: "metrics prefix of token", path: "/metrics", token: "s3cre", status: 401},
		{name: "metrics", path: "/metrics", token: "s3cret", status: 200, body: "go_goroutines"},
		{name: "metrics, scheme in lower case", path: "/metrics", auth: "bearer s3cret", status: 200},
		{name: "metrics, basic scheme", path: "/metrics", auth: "Basic s3cret", status: 401},
		{name: "metrics, token alone", path: "/metrics", auth: "s3cret", status: 401},
		{name: "tap without token", path: "/tap?component=gen", status: 401},
		{name: "tap", path: "/tap?component=nope", token: "s3cret", status: 404, body: "unknown component"},
		{name: "pprof without token", path: "/debug/pprof/", status: 401},
		{name: "pprof heap without token", path: "/debug/pprof/heap", status: 401},
		{name: "pprof", path: "/debug/pprof/", token: "s3cret", status: 200, body: "goroutine"},
		{name: "health without token", path: "/health", status: 200, body: `"ok"`},
		{name: "host checked before token", path: "/metrics", host: "attacker.example", token: "s3cret", status: 421},
	})

	a.health.set("sinks.out", errors.New(`paused: Post "https://posthog.example/batch/?api_key=phc_hidden": 401`))
	runAPICases(t, addr, []apiCase{
		{name: "unhealthy without token", path: "/health", status: 503, body: `{"status":"unhealthy"}`},
		{name: "unhealthy with token", path: "/health", token: "s3cret", status: 503, body: `https://posthog.example/batch/?api_key=REDACTED`},
	})
}

// TestSettingsCarryAPIAddress: components learn the API address (connectors
// refuse to fetch from it), and nothing when the API is off.
func TestSettingsCarryAPIAddress(t *testing.T) {
	a := newAgent(t, "[sources.gen]\ntype = \"demo\"\n[sinks.out]\ntype = \"capture\"\ninputs = [\"gen\"]\n", map[string]*recorder{"out": {}})
	defer a.Buffer().Close()
	cfg := *a.cfg.Load()
	if got := a.settings(&cfg, "transform", "t").APIAddress; got != "" {
		t.Fatalf("API off, APIAddress = %q", got)
	}
	cfg.API = config.APIConfig{Enabled: true, Address: "127.0.0.1:8686"}
	if got := a.settings(&cfg, "transform", "t").APIAddress; got != "127.0.0.1:8686" {
		t.Fatalf("APIAddress = %q", got)
	}
}
