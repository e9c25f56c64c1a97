package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/agent/httpauth"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ServeAPI serves the admin API on the configured address until ctx is
// cancelled. It returns once the listener is bound, so callers know the
// port is taken before the agent reports itself ready.
//
// Every request must name an expected Host (see hostAllowed), so a web page
// cannot reach the API through DNS rebinding. With api.auth_token set, every
// endpoint but /health requires it as a bearer token. /tap and /debug/pprof
// are only served when enabled.
func (a *Agent) ServeAPI(ctx context.Context) (addr string, done <-chan error, err error) {
	cfg := a.cfg.Load().API
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return "", nil, fmt.Errorf("api: listen on %s: %w", cfg.Address, err)
	}
	srv := &http.Server{Handler: a.apiHandler(cfg), ReadHeaderTimeout: 10 * time.Second}
	ch := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		ch <- err
	}()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	return ln.Addr().String(), ch, nil
}

// apiHandler builds the API's routes for cfg.
func (a *Agent) apiHandler(cfg config.APIConfig) http.Handler {
	authed := func(h http.Handler) http.Handler {
		if cfg.AuthToken == "" {
			return h
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !tokenOK(r, cfg.AuthToken) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hogtail"`)
				http.Error(w, "missing or wrong bearer token (api.auth_token)", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", authed(promhttp.HandlerFor(a.metrics, promhttp.HandlerOpts{})))
	// /health stays open for systemd and load balancer probes, which rarely
	// carry credentials; without the token it says only ok or unhealthy.
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		a.serveHealth(w, r, cfg.AuthToken == "" || tokenOK(r, cfg.AuthToken))
	})
	a.adminRoutes(mux, authed)
	if cfg.Tap {
		mux.Handle("GET /tap", authed(http.HandlerFunc(a.serveTap)))
	} else {
		mux.HandleFunc("/tap", disabled("tap", "api.tap"))
	}
	if cfg.Pprof {
		pp := http.NewServeMux()
		pp.HandleFunc("/debug/pprof/", pprof.Index)
		pp.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pp.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pp.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/debug/pprof/", authed(pp))
	} else {
		mux.HandleFunc("/debug/pprof/", disabled("profiling", "api.pprof"))
	}
	return hostCheck(cfg, mux)
}

// disabled answers 403 for an endpoint the config leaves off, naming the
// setting that turns it on.
func disabled(what, key string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, fmt.Sprintf("%s is disabled on this agent: set %s = true in its config", what, key), http.StatusForbidden)
	}
}

// tokenOK reports whether r carries "Authorization: Bearer token".
func tokenOK(r *http.Request, token string) bool {
	cred, ok := httpauth.Bearer(r)
	return ok && httpauth.Equal(cred, token)
}

// hostCheck answers 421 to requests whose Host the API does not expect,
// and 403 to requests that change something when a web page sent them.
func hostCheck(cfg config.APIConfig, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(cfg, r.Host) {
			http.Error(w, fmt.Sprintf("unexpected Host %q: use an IP address, localhost, or a name in api.allowed_hosts", r.Host), http.StatusMisdirectedRequest)
			return
		}
		if fromWebPage(r) {
			http.Error(w, "the API does not take requests that change something from web pages (the request has an Origin header)", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// fromWebPage reports a request that would change something (not GET,
// HEAD or OPTIONS) sent by a browser on behalf of a page: browsers send
// Origin with every such request (and Sec-Fetch-Site), and hogtail's
// commands and curl send neither. A page on any site can send a simple
// POST to 127.0.0.1 without a preflight (cross-site request forgery); the
// Host check, which stops DNS rebinding, does not stop that, since the
// Host is then the API's own IP address.
func fromWebPage(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != ""
}

// hostAllowed accepts IP literals, localhost, the host of the listen
// address and api.allowed_hosts. DNS rebinding needs a name the attacker
// controls resolving to this machine; a browser sends that name as Host,
// whereas an IP literal Host means the page's own origin is that IP, so it
// cannot read anything it could not already reach.
func hostAllowed(cfg config.APIConfig, hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(host, "]"), "["), ".")
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if lh, _, err := net.SplitHostPort(cfg.Address); err == nil && lh != "" && strings.EqualFold(host, lh) {
		return true
	}
	for _, a := range cfg.AllowedHosts {
		if strings.EqualFold(host, a) {
			return true
		}
	}
	return false
}

// serveHealth answers 200 when every component is healthy, 503 otherwise,
// with the reasons when details is true: the errors the agent saw (a source
// that failed, a sink that cannot deliver) and the problems components
// report themselves (component.HealthReporter).
func (a *Agent) serveHealth(w http.ResponseWriter, _ *http.Request, details bool) {
	probs := a.Problems()
	w.Header().Set("Content-Type", "application/json")
	if len(probs) == 0 {
		w.Write([]byte(`{"status":"ok"}` + "\n"))
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	if !details {
		// Problems name receivers and their errors; they are for
		// whoever holds the token.
		w.Write([]byte(`{"status":"unhealthy"}` + "\n"))
		return
	}
	type problem struct {
		Component string `json:"component"`
		Error     string `json:"error"`
	}
	out := struct {
		Status   string    `json:"status"`
		Problems []problem `json:"problems"`
	}{Status: "unhealthy"}
	for _, c := range sortedNames(probs) {
		out.Problems = append(out.Problems, problem{c, probs[c]})
	}
	json.NewEncoder(w).Encode(out)
}

// serveTap streams the events leaving ?component= as JSON lines, up to
// ?limit= events (0 or absent: until the client goes away).
func (a *Agent) serveTap(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("component")
	if !a.Tappable(name) {
		http.Error(w, fmt.Sprintf("unknown component %q: tap a source or transform", name), http.StatusNotFound)
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	tp := a.Tap(name)
	defer a.Untap(tp)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	for n := 0; limit <= 0 || n < limit; n++ {
		select {
		case <-r.Context().Done():
			return
		case rec := <-tp.C:
			w.Write(append(rec, '\n'))
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}
