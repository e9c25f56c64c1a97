package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent"
	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/sinks/sinktest"
	bolt "go.etcd.io/bbolt"
)

// offlineSetup writes a config whose data_dir holds a buffer with a queue
// "out" (2 records) and three dead letters, and returns the config path and
// the buffer file.
func offlineSetup(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hogtail.toml")
	os.WriteFile(cfgPath, []byte(`data_dir = "data"

[sources.gen]
type = "demo"

[sinks.out]
type = "console"
inputs = ["gen"]
`), 0o644)
	file := filepath.Join(dir, "data", agent.BufferFile)
	os.MkdirAll(filepath.Dir(file), 0o700)
	b, err := buffer.Open(file, buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b.Queue("out", buffer.QueueConfig{})
	b.Commit(context.Background(), &buffer.Commit{Appends: []buffer.Append{{Queue: "out", Records: [][]byte{[]byte(`{"n":0}`), []byte(`{"n":1}`)}}}})
	b.AddDeadLetters([]component.DeadLetter{
		{Component: "out", Reason: "permanent: HTTP 400", Record: []byte(`{"uuid":"a"}`)},
		{Component: "chain", Reason: "no webhook sink reads this transform", Record: []byte(`{"url":"http://x"}`)},
		{Component: "out", Reason: "permanent: HTTP 400", Record: []byte(`{"uuid":"b"}`)},
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return cfgPath, file
}

// runOffline runs an offline command and returns its exit code, stdout
// and stderr.
func runOffline(cmd func([]string, io.Writer, io.Writer) int, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cmd(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDeadLettersListReplayPurge(t *testing.T) {
	cfg, file := offlineSetup(t)
	code, out, errs := runOffline(cmdDeadLetters, "list", "--config", cfg)
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("list printed %d lines:\n%s", len(lines), out)
	}
	var dl struct {
		ID        uint64          `json:"id"`
		Component string          `json:"component"`
		Reason    string          `json:"reason"`
		Record    json.RawMessage `json:"record"`
		Time      string          `json:"time"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &dl); err != nil || dl.ID != 1 || dl.Component != "out" || string(dl.Record) != `{"uuid":"a"}` || dl.Time == "" {
		t.Fatalf("first line %s: %+v %v", lines[0], dl, err)
	}
	if _, out, _ := runOffline(cmdDeadLetters, "list", "--config", cfg, "--component", "chain"); strings.Count(out, "\n") != 1 {
		t.Fatalf("--component chain:\n%s", out)
	}
	if _, out, _ := runOffline(cmdDeadLetters, "list", "--config", cfg, "--limit", "2"); strings.Count(out, "\n") != 2 {
		t.Fatalf("--limit 2:\n%s", out)
	}

	// Replay all: the transform's dead letter has no queue and stays.
	code, out, errs = runOffline(cmdDeadLetters, "replay", "--config", cfg)
	if code != 1 || !strings.Contains(out, `replayed 2 records into the queue of sink "out"`) || !strings.Contains(errs, "dead letter 2 not replayed") || !strings.Contains(errs, "--sink") {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runOffline(cmdDeadLetters, "replay", "--config", cfg, "--id", "2", "--sink", "out")
	if code != 0 || !strings.Contains(out, "replayed 1 records") {
		t.Fatalf("replay --sink: exit %d\n%s\n%s", code, out, errs)
	}
	if _, out, _ := runOffline(cmdDeadLetters, "list", "--config", cfg); out != "" {
		t.Fatalf("dead letters left after replay:\n%s", out)
	}
	// The queue now holds the original 2 records and the 3 replayed ones.
	rep, err := buffer.Check(file, lockTimeout)
	if err != nil || rep.Queues[0].Records != 5 {
		t.Fatalf("after replay: %+v %v", rep, err)
	}

	// Purge.
	b, _ := buffer.Open(file, buffer.Options{})
	b.AddDeadLetters([]component.DeadLetter{{Component: "out", Reason: "x", Record: []byte(`1`)}, {Component: "out", Reason: "x", Record: []byte(`2`)}})
	b.Close()
	if code, _, errs := runOffline(cmdDeadLetters, "purge", "--config", cfg); code != 2 || !strings.Contains(errs, "--all or --id") {
		t.Fatalf("purge without --all: exit %d %s", code, errs)
	}
	if code, out, _ := runOffline(cmdDeadLetters, "purge", "--config", cfg, "--id", "4"); code != 0 || out != "purged 1 dead letters\n" {
		t.Fatalf("purge --id 4: exit %d %q", code, out)
	}
	if code, out, _ := runOffline(cmdDeadLetters, "purge", "--data-dir", filepath.Dir(file), "--all"); code != 0 || out != "purged 1 dead letters\n" {
		t.Fatalf("purge --all: exit %d %q", code, out)
	}
}

func TestOfflineCommandsRefuseLockedBuffer(t *testing.T) {
	cfg, file := offlineSetup(t)
	b, err := buffer.Open(file, buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Port 1 on loopback refuses: the holder of the lock has no API there.
	for _, args := range [][]string{{"list"}, {"replay"}, {"purge", "--all"}} {
		code, _, errs := runOffline(cmdDeadLetters, append(args, "--config", cfg, "--api", "127.0.0.1:1")...)
		if code != 1 || !strings.Contains(errs, "locked by another process") || !strings.Contains(errs, "127.0.0.1:1") {
			t.Fatalf("%v on a locked buffer: exit %d %s", args, code, errs)
		}
	}
	code, _, errs := runOffline(cmdBuffer, "check", "--config", cfg, "--api", "127.0.0.1:1")
	if code != 1 || !strings.Contains(errs, "locked by another process") {
		t.Fatalf("check on a locked buffer: exit %d %s", code, errs)
	}
}

// TestDeadLettersWhileRunning runs an agent in this process (it holds the
// buffer's lock) and drives list, replay --id, purge and buffer check
// through its API: the replayed record reaches the receiver, and only it.
func TestDeadLettersWhileRunning(t *testing.T) {
	rcv := sinktest.NewReceiver(nil)
	defer rcv.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hogtail.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir = "data"
[api]
address = "127.0.0.1:0"
auth_token = "s3cret"
[sources.in]
type = "http"
address = "127.0.0.1:0"
[sinks.out]
type = "http"
inputs = ["in"]
url = %q
batch_timeout = "10ms"
`, rcv.URL)), 0o644)
	cfg, err := config.Load(cfgPath, components())
	if err != nil {
		t.Fatal(err)
	}
	// Dead letters from an earlier run.
	file := filepath.Join(dir, "data", agent.BufferFile)
	os.MkdirAll(filepath.Dir(file), 0o700)
	b, err := buffer.Open(file, buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var dls []component.DeadLetter
	for i := range 4 {
		dls = append(dls, component.DeadLetter{Component: "out", Reason: "permanent: HTTP 400", Record: []byte(fmt.Sprintf(`{"uuid":"u%d","event":"e","properties":{"seq":%d}}`, i+1, i+1))})
	}
	b.AddDeadLetters(dls)
	b.Close()

	a, err := agent.New(cfg, agent.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, _, err := a.ServeAPI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-a.Started()

	// The token comes from the config; a wrong one is refused.
	code, out, errs := runOffline(cmdDeadLetters, "list", "--config", cfgPath, "--api", addr, "--token", "wrong")
	if code != 1 || !strings.Contains(errs, "401") {
		t.Fatalf("list with a wrong token: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runOffline(cmdDeadLetters, "list", "--config", cfgPath, "--api", addr)
	if code != 0 || strings.Count(out, "\n") != 4 {
		t.Fatalf("list: exit %d\n%s%s", code, out, errs)
	}
	if _, out, _ := runOffline(cmdDeadLetters, "list", "--config", cfgPath, "--api", addr, "--limit", "1"); strings.Count(out, "\n") != 1 {
		t.Fatalf("list --limit 1:\n%s", out)
	}
	code, out, errs = runOffline(cmdDeadLetters, "replay", "--config", cfgPath, "--api", addr, "--id", "2")
	if code != 0 || !strings.Contains(out, `replayed 1 records into the queue of sink "out"`) {
		t.Fatalf("replay --id 2: exit %d\n%s%s", code, out, errs)
	}
	if !rcv.WaitUnique(1, 10*time.Second) {
		t.Fatal("the replayed record did not reach the receiver")
	}
	if got := rcv.Accepted(); len(got) != 1 || got[0].UUID != "u2" {
		t.Fatalf("receiver got %+v, want only u2", got)
	}
	code, out, errs = runOffline(cmdDeadLetters, "purge", "--config", cfgPath, "--api", addr, "--id", "3")
	if code != 0 || out != "purged 1 dead letters\n" {
		t.Fatalf("purge --id 3: exit %d %q %s", code, out, errs)
	}
	code, out, errs = runOffline(cmdBuffer, "check", "--config", cfgPath, "--api", addr, "--json")
	var rep buffer.Report
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		t.Fatalf("check: exit %d %v\n%s%s", code, err, out, errs)
	}
	if rep.DeadLetters != 2 || len(rep.Damage) != 0 || len(rep.Queues) != 1 || rep.Queues[0].Name != "out" {
		t.Fatalf("check report %+v", rep)
	}
	// A config with [api] address finds the agent without --api.
	cfgText, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, []byte(strings.Replace(string(cfgText), "127.0.0.1:0", addr, 1)), 0o644)
	if code, out, errs := runOffline(cmdDeadLetters, "list", "--config", cfgPath); code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("list through the config's API address: exit %d\n%s%s", code, out, errs)
	}
}

func TestBufferCheck(t *testing.T) {
	cfg, file := offlineSetup(t)
	code, out, errs := runOffline(cmdBuffer, "check", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	for _, want := range []string{"queues:\n  out", "records=2", "chunks=1", "dead letters: 3", "damage: none"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Damage the chunk.
	db, err := bolt.Open(file, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		qb := tx.Bucket([]byte("queues")).Bucket([]byte("out"))
		k, v := qb.Cursor().First()
		v = append([]byte(nil), v...)
		v[len(v)-1] ^= 1
		return qb.Put(k, v)
	})
	db.Close()
	code, out, _ = runOffline(cmdBuffer, "check", "--config", cfg, "--json")
	var rep buffer.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if code != 1 || len(rep.Damage) != 1 || len(rep.Queues[0].Corrupt) != 1 {
		t.Fatalf("damaged buffer: exit %d %+v", code, rep)
	}
	// Not a buffer at all: an error, and the file is left where it is.
	os.WriteFile(file, []byte(strings.Repeat("garbage ", 1000)), 0o600)
	code, _, errs = runOffline(cmdBuffer, "check", "--config", cfg)
	if code != 1 || !strings.Contains(errs, "cannot be opened") {
		t.Fatalf("garbage file: exit %d %s", code, errs)
	}
	code, _, errs = runOffline(cmdDeadLetters, "list", "--config", cfg)
	if _, err := os.Stat(file); code != 1 || err != nil {
		t.Fatalf("list on a garbage file: exit %d %s (file: %v)", code, errs, err)
	}
	if code, _, errs := runOffline(cmdBuffer, "check", "--data-dir", t.TempDir()); code != 1 || !strings.Contains(errs, "no such file") {
		t.Fatalf("missing buffer: exit %d %s", code, errs)
	}
}

func TestOfflineUsage(t *testing.T) {
	for _, tc := range []struct {
		cmd  func([]string, io.Writer, io.Writer) int
		args []string
		code int
	}{
		{cmdDeadLetters, nil, 2},
		{cmdDeadLetters, []string{"frobnicate"}, 2},
		{cmdDeadLetters, []string{"--help"}, 0},
		{cmdDeadLetters, []string{"list", "--help"}, 0},
		{cmdDeadLetters, []string{"replay", "--id", "x"}, 2},
		{cmdBuffer, nil, 2},
		{cmdBuffer, []string{"check", "--bogus"}, 2},
	} {
		if code, out, errs := runOffline(tc.cmd, tc.args...); code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s%s", tc.args, code, tc.code, out, errs)
		}
	}
}

// TestBufferCommandsIgnoreComponents: the buffer commands read only the
// config's settings: a connector with a syntax error (which a running agent
// keeps its old version of) does not stop them, and its code is not run.
func TestBufferCommandsIgnoreComponents(t *testing.T) {
	cfg, _ := offlineSetup(t)
	dir := filepath.Dir(cfg)
	conn := filepath.Join(dir, "broken")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(conn, 0o755))
	must(os.WriteFile(filepath.Join(conn, "plugin.json"), []byte(`{"name":"broken"}`), 0o644))
	// Runs at load time if the connector is built: it would take 5 s and
	// fail, and its syntax error fails the build anyway.
	must(os.WriteFile(filepath.Join(conn, "index.js"), []byte("while (true) {}\nexport function processEvent(e { return e }\n"), 0o644))
	text, err := os.ReadFile(cfg)
	must(err)
	text = append(text, []byte("\n[transforms.chain]\ntype = \"connectors\"\ninputs = [\"gen\"]\n\n[[transforms.chain.chain]]\npath = \"broken\"\n")...)
	must(os.WriteFile(cfg, text, 0o644))
	start := time.Now()
	code, out, errs := runOffline(cmdDeadLetters, "list", "--config", cfg)
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, errs)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("list took %v: the connector's code ran", d)
	}
}

// TestDropQueue: the queue of a removed sink can be dropped (offline); a
// queue a configured sink reads cannot, nor one that does not exist.
func TestDropQueue(t *testing.T) {
	cfg, file := offlineSetup(t)
	b, err := buffer.Open(file, buffer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Queue("gone", buffer.QueueConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(context.Background(), &buffer.Commit{Appends: []buffer.Append{{Queue: "gone", Records: [][]byte{[]byte(`{"n":0}`), []byte(`{"n":1}`), []byte(`{"n":2}`)}}}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runOffline(cmdBuffer, "drop-queue", "out", "--config", cfg); code != 1 || !strings.Contains(errs, `sink "out"`) {
		t.Fatalf("dropping a configured sink's queue: exit %d %s", code, errs)
	}
	if code, out, errs := runOffline(cmdBuffer, "drop-queue", "gone", "--config", cfg); code != 0 || !strings.HasPrefix(out, `dropped queue "gone": 3 records`) {
		t.Fatalf("drop-queue gone: exit %d %q %s", code, out, errs)
	}
	rep, err := buffer.Check(file, lockTimeout)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range rep.Queues {
		if q.Name == "gone" {
			t.Fatalf("queue gone still there: %+v", rep.Queues)
		}
	}
	if len(rep.Queues) != 1 || rep.Queues[0].Records != 2 {
		t.Fatalf("queue out changed: %+v", rep.Queues)
	}
	if code, _, errs := runOffline(cmdBuffer, "drop-queue", "gone", "--data-dir", filepath.Dir(file)); code != 1 || !strings.Contains(errs, `no queue "gone"`) {
		t.Fatalf("dropping it again: exit %d %s", code, errs)
	}
}
