package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/hogtail/hogtail/agent/buffer"
)

// The admin endpoints let `hogtail dead-letters` and `hogtail buffer check`
// work while the agent runs and holds the buffer file's lock: the CLI sends
// the request here and the agent does the work on its open buffer.

// maxAdminBody bounds the JSON body of an admin request.
const maxAdminBody = 1 << 20

// ReplayRequest is the body of POST /dead-letters/replay.
type ReplayRequest struct {
	// IDs selects dead letters; empty selects all.
	IDs []uint64 `json:"ids"`
	// Sink is the queue to replay into; empty: each record's own sink.
	Sink string `json:"sink"`
}

// PurgeRequest is the body of POST /dead-letters/purge.
type PurgeRequest struct {
	IDs []uint64 `json:"ids"`
	All bool     `json:"all"`
}

// PurgeResponse answers POST /dead-letters/purge.
type PurgeResponse struct {
	Purged int `json:"purged"`
}

// adminRoutes adds the admin endpoints to mux, each wrapped by guard (the
// API's access check).
func (a *Agent) adminRoutes(mux *http.ServeMux, guard func(http.Handler) http.Handler) {
	mux.Handle("GET /dead-letters", guard(http.HandlerFunc(a.serveDeadLetters)))
	mux.Handle("POST /dead-letters/replay", guard(http.HandlerFunc(a.serveReplay)))
	mux.Handle("POST /dead-letters/purge", guard(http.HandlerFunc(a.servePurge)))
	mux.Handle("GET /buffer/check", guard(http.HandlerFunc(a.serveBufferCheck)))
}

// serveDeadLetters streams dead letters as JSON lines, filtered by
// ?component= and bounded by ?limit= (0 or absent: all).
func (a *Agent) serveDeadLetters(w http.ResponseWriter, r *http.Request) {
	component := r.URL.Query().Get("component")
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			http.Error(w, fmt.Sprintf("limit: %q is not a count", v), http.StatusBadRequest)
			return
		}
		limit = n
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if err := a.buf.WriteDeadLetters(w, component, limit); err != nil {
		// Headers may be sent already; a trailing line the client can
		// recognise says the listing is incomplete.
		a.log.Error("api: listing dead letters", "error", err)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
	}
}

func (a *Agent) serveReplay(w http.ResponseWriter, r *http.Request) {
	var req ReplayRequest
	if !decodeBody(w, r, &req) {
		return
	}
	res, err := a.buf.ReplayDeadLetters(r.Context(), buffer.Replay{IDs: req.IDs, Queue: req.Sink})
	if err != nil {
		writeJSON(w, http.StatusConflict, map[string]any{"error": err.Error(), "replayed": res.Replayed, "skipped": res.Skipped})
		return
	}
	a.log.Info("dead letters replayed", "replayed", res.Replayed, "skipped", len(res.Skipped))
	writeJSON(w, http.StatusOK, res)
}

func (a *Agent) servePurge(w http.ResponseWriter, r *http.Request) {
	var req PurgeRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.All == (len(req.IDs) > 0) {
		http.Error(w, "give either all or ids", http.StatusBadRequest)
		return
	}
	n, err := a.buf.PurgeDeadLetters(req.IDs)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	a.log.Info("dead letters purged", "purged", n)
	writeJSON(w, http.StatusOK, PurgeResponse{Purged: n})
}

func (a *Agent) serveBufferCheck(w http.ResponseWriter, _ *http.Request) {
	rep, err := a.buf.Check()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
