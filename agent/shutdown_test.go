package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/component/componenttest"
	"github.com/hogtail/hogtail/agent/config"
	"github.com/hogtail/hogtail/sinks/sinktest"
)

// newDeliveryAgent builds an agent on toml with the delivery registry
// (demo source, posthog and webhook sinks); it returns it and its data dir.
func newDeliveryAgent(t *testing.T, shutdownTimeout, toml string) (*Agent, string) {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf("data_dir = %q\nshutdown_timeout = %q\n[api]\nenabled = false\n%s", dir, shutdownTimeout, toml)
	cfg, err := config.Parse(filepath.Join(dir, "hogtail.toml"), []byte(text), deliveryRegistry(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, Options{Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	return a, dir
}

// TestDeadLetterNotAcknowledgedWhenStoppedFirst: the receiver refuses every
// event (400) and the buffer cannot store dead letters (as on a full disk).
// A stop while the agent retries storing them must leave the records in
// their queue: acknowledging them would delete records stored nowhere.
func TestDeadLetterNotAcknowledgedWhenStoppedFirst(t *testing.T) {
	rcv := sinktest.NewReceiver(func(*sinktest.Request) sinktest.Answer { return sinktest.Answer{Status: 400} })
	defer rcv.Close()
	a, dir := newDeliveryAgent(t, "1s", demoSource(5)+posthogSink(rcv.URL, ""))
	var attempts atomic.Int64
	a.storeDeadLetters = func([]component.DeadLetter) error {
		attempts.Add(1)
		return errors.New("write buffer.db: no space left on device")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	componenttest.Eventually(t, 10*time.Second, "an attempt to store a dead letter", func() bool { return attempts.Load() > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, err := openBuffer(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Queue("ph", bufferQueueConfig())
	st, _ := b.Stats("ph")
	if st.Records != 5 {
		t.Fatalf("queue holds %d records after the stop, want all 5 (none was stored as a dead letter)", st.Records)
	}
}

// TestBackoffWakesWhenSinkRecovers: the first request fails and its batch
// backs off for at least 30 s; the other batches of the same sink are
// accepted meanwhile, which must end that wait: every event arrives within
// seconds.
func TestBackoffWakesWhenSinkRecovers(t *testing.T) {
	var n atomic.Int64
	rcv := sinktest.NewReceiver(func(*sinktest.Request) sinktest.Answer {
		if n.Add(1) == 1 {
			return sinktest.Answer{Status: 503}
		}
		return sinktest.Answer{}
	})
	defer rcv.Close()
	sink := strings.NewReplacer(`"10ms"`, `"60s"`, `"100ms"`, `"60s"`).Replace(posthogSink(rcv.URL, ""))
	a, _ := newDeliveryAgent(t, "20s", demoSource(400)+sink)
	stop := startAgent(t, a)
	defer stop()
	if !rcv.WaitUnique(400, 10*time.Second) {
		t.Fatalf("receiver has %d of 400 events after 10 s: a batch still waits in backoff after later batches were accepted", rcv.Unique())
	}
	if n.Load() < 2 {
		t.Fatal("the receiver never failed a request")
	}
}
