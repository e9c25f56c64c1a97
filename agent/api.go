package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ServeAPI serves /health and /metrics on the configured address until ctx
// is cancelled. It returns once the listener is bound, so callers know the
// port is taken before the agent reports itself ready.
func (a *Agent) ServeAPI(ctx context.Context) (addr string, done <-chan error, err error) {
	ln, err := net.Listen("tcp", a.cfg.API.Address)
	if err != nil {
		return "", nil, fmt.Errorf("api: listen on %s: %w", a.cfg.API.Address, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health", a.serveHealth)
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
// reasons otherwise.
func (a *Agent) serveHealth(w http.ResponseWriter, _ *http.Request) {
	probs := a.health.problems()
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
