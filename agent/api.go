package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ServeAPI serves /health and /metrics on the configured address until ctx
// is cancelled. It returns once the listener is bound, so callers know the
// port is taken before the agent reports itself ready.
func (a *Agent) ServeAPI(ctx context.Context) (addr string, done <-chan error, err error) {
	ln, err := net.Listen("tcp", a.cfg.Load().API.Address)
	if err != nil {
		return "", nil, fmt.Errorf("api: listen on %s: %w", a.cfg.Load().API.Address, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health", a.serveHealth)
	mux.HandleFunc("GET /tap", a.serveTap)
	// Profiles for diagnosing CPU or memory use in the field; the API
	// listens on localhost by default.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
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

// serveHealth answers 200 when every component is healthy, 503 with the
// reasons otherwise: the errors the agent saw (a source that failed, a sink
// that cannot deliver) and the problems components report themselves
// (component.HealthReporter).
func (a *Agent) serveHealth(w http.ResponseWriter, _ *http.Request) {
	probs := a.health.problems()
	for k, v := range a.topo.Load().componentProblems() {
		probs[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	if len(probs) == 0 {
		w.Write([]byte(`{"status":"ok"}` + "\n"))
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
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
