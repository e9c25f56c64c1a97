package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hogtail/hogtail/agent"
	"github.com/hogtail/hogtail/agent/buffer"
)

// bufferAdmin is what the dead-letters and buffer commands do, on the
// buffer file directly (hogtail stopped) or through the running agent's
// API (the agent holds the file's lock).
type bufferAdmin interface {
	// list writes the dead letters as JSON lines to w.
	list(w io.Writer, component string, limit int) error
	replay(ids []uint64, sink string) (buffer.ReplayResult, error)
	purge(ids []uint64) (int, error)
	check() (*buffer.Report, error)
	close() error
}

// localAdmin works on an open buffer file.
type localAdmin struct{ b *buffer.Buffer }

func (l localAdmin) list(w io.Writer, component string, limit int) error {
	return l.b.WriteDeadLetters(w, component, limit)
}

func (l localAdmin) replay(ids []uint64, sink string) (buffer.ReplayResult, error) {
	return l.b.ReplayDeadLetters(context.Background(), buffer.Replay{IDs: ids, Queue: sink})
}

func (l localAdmin) purge(ids []uint64) (int, error) { return l.b.PurgeDeadLetters(ids) }
func (l localAdmin) check() (*buffer.Report, error)  { return l.b.Check() }
func (l localAdmin) close() error                    { return l.b.Close() }

// remoteAdmin sends the commands to a running agent's API.
type remoteAdmin struct {
	addr   string
	token  string
	client *http.Client
}

// adminTimeout bounds one API call; a replay into a full queue waits for
// room at most this long.
const adminTimeout = 2 * time.Minute

func newRemoteAdmin(addr, token string) *remoteAdmin {
	return &remoteAdmin{addr: addr, token: token, client: &http.Client{Timeout: adminTimeout}}
}

func (r *remoteAdmin) do(method, path string, query url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := url.URL{Scheme: "http", Host: r.addr, Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequest(method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the agent's API at %s: %w", r.addr, err)
	}
	return resp, nil
}

// decode reads a JSON answer into v; a non-2xx answer is an error with the
// agent's message.
func decodeAnswer(resp *http.Response, v any) error {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the agent's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("agent answered %s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("agent answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("the agent's answer is not what this hogtail expects: %w", err)
	}
	return nil
}

func (r *remoteAdmin) list(w io.Writer, component string, limit int) error {
	q := url.Values{}
	if component != "" {
		q.Set("component", component)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	resp, err := r.do(http.MethodGet, "/dead-letters", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeAnswer(resp, nil)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

func (r *remoteAdmin) replay(ids []uint64, sink string) (buffer.ReplayResult, error) {
	var res buffer.ReplayResult
	resp, err := r.do(http.MethodPost, "/dead-letters/replay", nil, agent.ReplayRequest{IDs: ids, Sink: sink})
	if err != nil {
		return res, err
	}
	return res, decodeAnswer(resp, &res)
}

func (r *remoteAdmin) purge(ids []uint64) (int, error) {
	var res agent.PurgeResponse
	resp, err := r.do(http.MethodPost, "/dead-letters/purge", nil, agent.PurgeRequest{IDs: ids, All: len(ids) == 0})
	if err != nil {
		return 0, err
	}
	if err := decodeAnswer(resp, &res); err != nil {
		return 0, err
	}
	return res.Purged, nil
}

func (r *remoteAdmin) check() (*buffer.Report, error) {
	var rep buffer.Report
	resp, err := r.do(http.MethodGet, "/buffer/check", nil, nil)
	if err != nil {
		return nil, err
	}
	if err := decodeAnswer(resp, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

func (r *remoteAdmin) close() error { return nil }
