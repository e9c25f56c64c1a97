package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// exportTarget is the API an export connector posts to: it answers 503
// while down, 200 otherwise, and records the events of every 200.
type exportTarget struct {
	*httptest.Server
	down     atomic.Bool
	delay    atomic.Int64 // ns each accepted call takes
	mu       sync.Mutex
	accepted []exported // in the order of the 200 answers
	refused  int
}

type exported struct {
	UUID string `json:"uuid"`
	N    int    `json:"n"`
}

func newExportTarget(t *testing.T) *exportTarget {
	x := &exportTarget{}
	x.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		x.mu.Lock()
		defer x.mu.Unlock()
		if x.down.Load() {
			x.refused++
			w.WriteHeader(503)
			return
		}
		var e exported
		if err := json.Unmarshal(b, &e); err != nil {
			w.WriteHeader(400)
			return
		}
		x.accepted = append(x.accepted, e)
		if d := time.Duration(x.delay.Load()); d > 0 {
			x.mu.Unlock()
			time.Sleep(d)
			x.mu.Lock()
		}
	}))
	t.Cleanup(x.Close)
	return x
}

func (x *exportTarget) snapshot() ([]exported, int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]exported(nil), x.accepted...), x.refused
}

// exportConfig runs the events of an HTTP source at src through the
// exporter test connector, which posts each event to target from onEvent.
func exportConfig(t *testing.T, dataDir, src, target string) string {
	t.Helper()
	plugin, err := filepath.Abs("../../transforms/connectors/testdata/plugins/exporter")
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`data_dir = %q
log_level = "warn"
shutdown_timeout = "5s"

[api]
enabled = false

[sources.web]
type = "http"
address = %q

[transforms.enrich]
type = "connectors"
inputs = ["web"]
lanes = 1
fetch_allow_networks = ["127.0.0.1"]
exports.retry.initial_interval = "20ms"
exports.retry.max_interval = "200ms"

[[transforms.enrich.chain]]
path = %q
config = { url = %q }

[sinks.out]
type = "console"
inputs = ["enrich"]
target = "stdout"
batch_timeout = "0s"
`, dataDir, src, plugin, target)
}

// postUntilAccepted posts event n until the HTTP source answers 200 (it
// answers once the event is stored), across agent restarts.
func postUntilAccepted(t *testing.T, src string, n int, mode string, stop <-chan struct{}) bool {
	props := fmt.Sprintf(`{"n":%d,"mode":%q}`, n, mode)
	for {
		if code, err := capture(src, fmt.Sprintf("u%d", n), props); err == nil && code == 200 {
			return true
		}
		select {
		case <-stop:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestExportsThroughOutage: the export target answers 503 for a while,
// then 200. onEvent throws RetryError on a 503, so every event is retried
// with backoff and arrives exactly once per acknowledged call, in order.
// An event whose onEvent throws an Error goes to dead letters, with the
// message and the connector's JS stack, and does not hold up the others.
func TestExportsThroughOutage(t *testing.T) {
	target := newExportTarget(t)
	target.down.Store(true)
	dir := t.TempDir()
	src := freeAddr(t)
	cfgPath := filepath.Join(dir, "hogtail.toml")
	if err := os.WriteFile(cfgPath, []byte(exportConfig(t, filepath.Join(dir, "data"), src, target.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "run", "--config", cfgPath, "--watch-config=false")
	cmd.Stdout = new(lockedBuffer)
	logs := startAgent(t, cmd)

	const n = 40
	for i := 0; i < n; i++ {
		mode := ""
		if i == 20 {
			mode = "error"
		}
		if !postUntilAccepted(t, src, i, mode, nil) {
			t.Fatal("not accepted")
		}
	}
	componenttest.Eventually(t, 20*time.Second, "refused export calls", func() bool { _, r := target.snapshot(); return r >= 10 })
	target.down.Store(false)
	componenttest.Eventually(t, 60*time.Second, "every export", func() bool { got, _ := target.snapshot(); return len(got) >= n-1 })
	time.Sleep(300 * time.Millisecond) // room for an unwanted duplicate to show
	got, refused := target.snapshot()
	var order []int
	seen := map[string]bool{}
	for _, e := range got {
		if seen[e.UUID] {
			t.Errorf("event %d (%s) exported twice", e.N, e.UUID)
		}
		seen[e.UUID] = true
		order = append(order, e.N)
	}
	var want []int
	for i := 0; i < n; i++ {
		if i != 20 {
			want = append(want, i)
		}
	}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("exported in order %v, want %v", order, want)
	}
	t.Logf("%d calls answered 503 and retried; %d events exported once each", refused, len(got))

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agent: %v\n%s", err, logs.String())
	}
	out, err := exec.Command(binary(t), "dead-letters", "list", "--config", cfgPath).CombinedOutput()
	if err != nil {
		t.Fatalf("dead-letters list: %v\n%s", err, out)
	}
	text := string(out)
	for _, w := range []string{`"component":"enrich.exports"`, "cannot export this event", "at onEvent (index.ts:", `"properties":{"n":20,"mode":"error"`} {
		if !strings.Contains(text, w) {
			t.Errorf("dead letters lack %q:\n%s", w, text)
		}
	}
	if c := strings.Count(strings.TrimSpace(text), "\n") + 1; c != 1 {
		t.Errorf("%d dead letters, want 1:\n%s", c, text)
	}
}

// TestExportsSurviveKill runs the real binary while the export target is
// down, SIGKILLs it five times while events arrive and exports are being
// retried, restarts it, then brings the target back: every accepted event
// is exported (0 lost) and none twice. Then it kills the agent while
// exports succeed: an event whose 200 came just before the kill may be
// exported again, under its one uuid, and none is lost.
func TestExportsSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test skipped in -short mode")
	}
	target := newExportTarget(t)
	target.down.Store(true)
	dir := t.TempDir()
	src := freeAddr(t)
	cfgPath := filepath.Join(dir, "hogtail.toml")
	if err := os.WriteFile(cfgPath, []byte(exportConfig(t, filepath.Join(dir, "data"), src, target.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := binary(t)
	logs := new(lockedBuffer)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--config", cfgPath, "--watch-config=false")
		cmd.Stdout, cmd.Stderr = io.Discard, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	cmd := start()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()

	const perRound, rounds = 100, 5
	stop := make(chan struct{})
	defer close(stop)
	next := 0
	for r := 0; r < rounds; r++ {
		_, before := target.snapshot()
		for i := 0; i < perRound; i++ {
			if !postUntilAccepted(t, src, next, "", stop) {
				t.Fatal("not accepted")
			}
			next++
		}
		// Let this run's export sink run into the outage, then kill it
		// while it retries.
		componenttest.Eventually(t, 20*time.Second, "a refused export call", func() bool { _, r := target.snapshot(); return r > before+2 })
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		cmd = start()
	}
	target.down.Store(false)
	componenttest.Eventually(t, 90*time.Second, "every accepted event exported", func() bool {
		got, _ := target.snapshot()
		seen := map[int]bool{}
		for _, e := range got {
			seen[e.N] = true
		}
		return len(seen) == next
	})
	got, refused := target.snapshot()
	dup := len(got) - next
	t.Logf("outage: %d events accepted, %d exported (%d again after a kill), %d refused calls, 0 lost", next, len(got), dup, refused)
	// Only a call interrupted between the target's 200 and the ack may
	// repeat, and the target was down at every kill.
	if dup != 0 {
		t.Errorf("%d events exported twice although every kill happened during the outage", dup)
	}

	// Kill while exports succeed, each taking 20 ms.
	target.delay.Store(int64(20 * time.Millisecond))
	before := len(got)
	first := next
	for i := 0; i < perRound; i++ {
		if !postUntilAccepted(t, src, next, "", stop) {
			t.Fatal("not accepted")
		}
		next++
	}
	componenttest.Eventually(t, 30*time.Second, "exports under way", func() bool { g, _ := target.snapshot(); return len(g) >= before+10 })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	cmd = start()
	uuidOf := map[int]string{}
	componenttest.Eventually(t, 60*time.Second, "every event exported after the kill", func() bool {
		g, _ := target.snapshot()
		seen := map[int]bool{}
		for _, e := range g {
			seen[e.N] = true
		}
		return len(seen) == next
	})
	got, _ = target.snapshot()
	again := 0
	for _, e := range got {
		if u, ok := uuidOf[e.N]; ok {
			again++
			if u != e.UUID {
				t.Errorf("event %d exported under two uuids", e.N)
			}
		}
		uuidOf[e.N] = e.UUID
	}
	t.Logf("kill while exporting: events %d..%d, %d exported again (same uuid), 0 lost", first, next-1, again)
}

// TestExportEventsBatching runs exportEvents through the agent: a batch of
// 25 events stored at once reaches exportEvents as calls of
// exports.batch_max_events (10, 10), and the 5 left over wait for
// exports.batch_timeout before their call; so do 3 events sent later.
func TestExportEventsBatching(t *testing.T) {
	type call struct {
		at time.Time
		ns []int
	}
	var mu sync.Mutex
	var calls []call
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var evs []exported
		if err := json.NewDecoder(r.Body).Decode(&evs); err != nil {
			w.WriteHeader(400)
			return
		}
		c := call{at: time.Now()}
		for _, e := range evs {
			c.ns = append(c.ns, e.N)
		}
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
	}))
	defer target.Close()
	snapshot := func() []call {
		mu.Lock()
		defer mu.Unlock()
		return append([]call(nil), calls...)
	}
	plugin, err := filepath.Abs("../../transforms/connectors/testdata/plugins/batch-exporter")
	if err != nil {
		t.Fatal(err)
	}
	src := freeAddr(t)
	const linger = 1500 * time.Millisecond
	agentProc := startWithConfig(t, fmt.Sprintf(`log_level = "warn"
[api]
enabled = false
[sources.web]
type = "http"
address = %q
[transforms.enrich]
type = "connectors"
inputs = ["web"]
fetch_allow_networks = ["127.0.0.1"]
exports.batch_max_events = 10
exports.batch_timeout = %q
[[transforms.enrich.chain]]
path = %q
config = { url = %q }
[sinks.out]
type = "console"
inputs = ["enrich"]
target = "stdout"
`, src, linger.String(), plugin, target.URL))
	post := func(from, to int) time.Time {
		var evs []string
		for i := from; i < to; i++ {
			evs = append(evs, fmt.Sprintf(`{"event":"e","distinct_id":"u","properties":{"n":%d}}`, i))
		}
		body := `{"api_key":"phc_test","batch":[` + strings.Join(evs, ",") + `]}`
		for {
			resp, err := http.Post("http://"+src+"/batch", "application/json", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return time.Now()
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", agentProc.logs.String())
		}
	})
	sent := post(0, 25)
	componenttest.Eventually(t, 30*time.Second, "three exportEvents calls", func() bool { return len(snapshot()) >= 3 })
	got := snapshot()
	var sizes []int
	var order []int
	for _, c := range got {
		sizes = append(sizes, len(c.ns))
		order = append(order, c.ns...)
	}
	if fmt.Sprint(sizes) != "[10 10 5]" {
		t.Fatalf("batch sizes %v, want [10 10 5]", sizes)
	}
	for i, n := range order {
		if n != i {
			t.Fatalf("events out of order: %v", order)
		}
	}
	if wait := got[2].at.Sub(sent); wait < linger*8/10 {
		t.Errorf("the partial batch of 5 was exported %s after it was stored, before batch_timeout %s", wait, linger)
	}
	sent = post(25, 28)
	componenttest.Eventually(t, 30*time.Second, "the flush of 3 events", func() bool { return len(snapshot()) >= 4 })
	last := snapshot()[3]
	if fmt.Sprint(last.ns) != "[25 26 27]" {
		t.Errorf("last call %v, want [25 26 27]", last.ns)
	}
	if wait := last.at.Sub(sent); wait < linger*8/10 {
		t.Errorf("3 events exported %s after they were stored, before batch_timeout %s", wait, linger)
	}
}

// TestTestCommandShowsExports: `hogtail test` prints each onEvent call as
// {"export": {...}} on stderr with its outcome and its fetch requests.
// fetch verifies TLS with the system roots, so SSL_CERT_FILE naming a
// private CA lets it reach a server that CA signed; without it the
// request fails on the certificate.
func TestTestCommandShowsExports(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	const dir = "../../transforms/connectors/testdata/plugins/exporter"
	run := func(env ...string) []map[string]any {
		cmd := exec.Command(binary(t), "test", dir, "--config", dir+":url="+srv.URL+"/track", "--fetch-allow-network", "127.0.0.1")
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(`{"event":"a","distinct_id":"u","properties":{"n":1}}
{"event":"b","distinct_id":"u","properties":{"n":2,"mode":"retry"}}
{"event":"c","distinct_id":"u","properties":{"n":3,"mode":"error"}}
`)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		if n := strings.Count(string(out), "\n"); n != 3 {
			t.Errorf("%d events on stdout, want 3:\n%s", n, out)
		}
		var calls []map[string]any
		for _, line := range strings.Split(stderr.String(), "\n") {
			var m struct {
				Export map[string]any `json:"export"`
			}
			if json.Unmarshal([]byte(line), &m) == nil && m.Export != nil {
				calls = append(calls, m.Export)
			}
		}
		if len(calls) != 3 {
			t.Fatalf("%d export lines, want 3:\n%s", len(calls), stderr.String())
		}
		return calls
	}

	calls := run("SSL_CERT_FILE=" + caFile)
	for i, want := range []string{"ok", "retry", "error"} {
		if calls[i]["outcome"] != want || calls[i]["function"] != "onEvent" || calls[i]["connector"] != "exporter" {
			t.Errorf("call %d: %v, want outcome %s", i, calls[i], want)
		}
	}
	fetches, _ := calls[0]["fetches"].([]any)
	if len(fetches) != 1 || fmt.Sprint(fetches[0]) != fmt.Sprintf("map[method:POST status:200 url:%s/track]", srv.URL) {
		t.Errorf("fetches of the first call: %v", fetches)
	}
	if e, _ := calls[2]["error"].(string); !strings.Contains(e, "cannot export this event") || !strings.Contains(e, "at onEvent (index.ts:") {
		t.Errorf("error of the third call: %q", e)
	}
	if hits.Load() != 1 {
		t.Errorf("server got %d requests, want 1", hits.Load())
	}

	// Without the CA, the certificate is refused.
	calls = run("SSL_CERT_FILE=" + filepath.Join(t.TempDir(), "none.pem"))
	fetches, _ = calls[0]["fetches"].([]any)
	if calls[0]["outcome"] != "error" || len(fetches) != 1 || !strings.Contains(fmt.Sprint(fetches[0]), "certificate") {
		t.Errorf("without the CA: %v", calls[0])
	}
}
