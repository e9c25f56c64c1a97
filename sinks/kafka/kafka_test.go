package kafka

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKeysKeepOrderPerPerson: with the default key, every person's events
// land in one partition, in the order they were delivered, across several
// concurrent batches.
func TestKeysKeepOrderPerPerson(t *testing.T) {
	c := cluster(t, kfake.NumBrokers(2), kfake.SeedTopics(6, "hogtail_events"))
	s := newSink(t, c, nil)
	const batches, per = 20, 250
	for i := range batches {
		if err := s.Deliver(context.Background(), component.Batch{Records: recordsFrom(i*per, per)}); err != nil {
			t.Fatal(err)
		}
	}
	got := consume(t, c, batches*per, 20*time.Second, "hogtail_events")
	if len(got) != batches*per {
		t.Fatalf("consumed %d records, want %d", len(got), batches*per)
	}
	partOf := map[string]int32{}
	last := map[string]int64{}
	parts := map[int32]bool{}
	for _, r := range got {
		key := string(r.Key)
		seq := seqOf(t, r.Value)
		if want := fmt.Sprintf("user-%d", seq%7); key != want {
			t.Fatalf("seq %d has key %q, want %q", seq, key, want)
		}
		if p, ok := partOf[key]; ok && p != r.Partition {
			t.Fatalf("%s in partitions %d and %d", key, p, r.Partition)
		}
		partOf[key] = r.Partition
		parts[r.Partition] = true
		if l, ok := last[key]; ok && seq <= l {
			t.Fatalf("%s: seq %d after %d: order lost", key, seq, l)
		}
		last[key] = seq
	}
	if len(parts) < 2 {
		t.Errorf("7 people all in partitions %v: keys do not spread", parts)
	}
	if n := testutil.ToFloat64(s.metrics.records); n != batches*per {
		t.Errorf("records metric %v, want %d", n, batches*per)
	}
}

// TestAcksAndCompressions: every acks and compression setting delivers
// records a consumer reads back unchanged.
func TestAcksAndCompressions(t *testing.T) {
	c := cluster(t, kfake.SeedTopics(2, "hogtail_events"))
	want := 0
	for _, acks := range []string{AcksAll, AcksLeader, AcksNone} {
		for _, comp := range compressions {
			t.Run(acks+"_"+comp, func(t *testing.T) {
				s := newSink(t, c, func(c *Config) { c.Acks, c.Idempotent, c.Compression = acks, acks == AcksAll, comp })
				recs := recordsFrom(want, 20)
				if err := s.Deliver(context.Background(), component.Batch{Records: recs}); err != nil {
					t.Fatal(err)
				}
				want += 20
			})
		}
	}
	got := consume(t, c, want, 10*time.Second, "hogtail_events")
	seen := map[int64]bool{}
	for _, r := range got {
		seen[seqOf(t, r.Value)] = true
	}
	if len(got) != want || len(seen) != want {
		t.Fatalf("consumed %d records, %d distinct, want %d", len(got), len(seen), want)
	}
}

// TestNoKeySpreads: key = "" sends records without a key.
func TestNoKeySpreads(t *testing.T) {
	c := cluster(t, kfake.SeedTopics(3, "hogtail_events"))
	s := newSink(t, c, func(c *Config) { c.Key = "" })
	if err := s.Deliver(context.Background(), component.Batch{Records: records(50)}); err != nil {
		t.Fatal(err)
	}
	for _, r := range consume(t, c, 50, 10*time.Second, "hogtail_events") {
		if r.Key != nil {
			t.Fatalf("record has key %q", r.Key)
		}
	}
}

// TestTopicRouting: the topic template routes by event name (made
// topic-safe) and by other fields; keys follow their template.
func TestTopicRouting(t *testing.T) {
	ev := func(name, distinct string, team int64) []byte {
		return (&event.Event{UUID: event.NewUUID(), Event: name, DistinctID: distinct, TeamID: team, Properties: event.Map{}}).AppendJSON(nil)
	}
	for _, tc := range []struct {
		name, topic, key string
		rec              []byte
		wantTopic        string
		wantKey          string
	}{
		{"event", "events.{event}", "{distinct_id}", ev("log", "u1", 0), "events.log", "u1"},
		{"dollar_event", "events.{event}", "{distinct_id}", ev("$pageview", "u2", 0), "events._pageview", "u2"},
		{"spaces", "events.{event}", "{distinct_id}", ev("signed up/now", "u3", 0), "events.signed_up_now", "u3"},
		{"team", "team-{team_id}", "{token}:{distinct_id}", ev("log", "u4", 42), "team-42", "phc_t:u4"},
		{"escaped_key", "constant", "{distinct_id}", ev("log", "é \"q\"", 0), "constant", "é \"q\""},
		{"uuid_key", "constant", "id-{uuid}", ev("log", "u5", 0), "constant", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cluster(t, kfake.SeedTopics(1, tc.wantTopic))
			s := newSink(t, c, func(c *Config) { c.Topic, c.Key, c.Token = tc.topic, tc.key, "phc_t" })
			if err := s.Deliver(context.Background(), component.Batch{Records: [][]byte{tc.rec}}); err != nil {
				t.Fatal(err)
			}
			got := consume(t, c, 1, 10*time.Second, tc.wantTopic)
			if len(got) != 1 {
				t.Fatalf("nothing in %s", tc.wantTopic)
			}
			want := tc.wantKey
			if tc.name == "uuid_key" {
				var e event.Event
				e.UnmarshalJSON(tc.rec)
				want = "id-" + e.UUID
			}
			if string(got[0].Key) != want || string(got[0].Value) != string(tc.rec) {
				t.Errorf("key %q value %s", got[0].Key, got[0].Value)
			}
		})
	}
}

// TestEveryEventOnceThroughLeaderChangesAndRestarts delivers from several
// goroutines while the cluster moves partition leaders, and a broker goes
// away and comes back on the same port. Every event arrives, and (the
// idempotent producer retrying inside the client) exactly once.
func TestEveryEventOnceThroughLeaderChangesAndRestarts(t *testing.T) {
	c := cluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "hogtail_events"))
	s := newSink(t, c, func(c *Config) { c.Linger = 0 })
	const workers, batches, per = 4, 15, 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	deliveryErrors := 0
	done := make(chan struct{})
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				var dead [][]byte
				errs := deliverLikeAgent(t, s, recordsFrom((w*batches+b)*per, per), &dead)
				if len(dead) > 0 {
					t.Errorf("%d records dead-lettered", len(dead))
				}
				mu.Lock()
				deliveryErrors += errs
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	chaos := 0
loop:
	for i := 0; ; i++ {
		select {
		case <-done:
			break loop
		case <-time.After(20 * time.Millisecond):
		}
		chaos++
		switch i % 3 {
		case 0:
			c.ShufflePartitionLeaders()
		case 1:
			if err := c.MoveTopicPartition("hogtail_events", int32(i%6), int32(i%3)); err != nil {
				t.Fatal(err)
			}
		case 2:
			// Restart a broker: it leaves the cluster (its connections
			// close, its partitions move) and comes back on its port.
			node := int32(i % 3)
			addr := c.ListenAddrs()[node]
			port := 0
			fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &port)
			if err := c.RemoveNode(node); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
			if _, _, err := c.AddNode(node, port); err != nil {
				t.Fatal(err)
			}
		}
	}
	total := workers * batches * per
	got := consume(t, c, total, 30*time.Second, "hogtail_events")
	seen := map[int64]int{}
	for _, r := range got {
		seen[seqOf(t, r.Value)]++
	}
	for i := range total {
		if seen[int64(i)] == 0 {
			t.Fatalf("seq %d never arrived (%d of %d records consumed)", i, len(got), total)
		}
	}
	dups := len(got) - len(seen)
	t.Logf("%d records, %d chaos actions, %d delivery errors retried, %d duplicates", len(got), chaos, deliveryErrors, dups)
	if dups > 0 && deliveryErrors == 0 {
		t.Errorf("%d duplicates although every delivery succeeded the first time", dups)
	}
	if dups > 0 {
		t.Logf("duplicates follow failed deliveries (at-least-once), dedupe by uuid")
	}
}

// TestAuthFailurePauses: wrong credentials pause the sink (the records
// stay in the agent's buffer); right ones deliver, for every mechanism.
func TestAuthFailurePauses(t *testing.T) {
	c := cluster(t, kfake.SeedTopics(1, "hogtail_events"), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin"),
		kfake.User("PLAIN", "plainuser", "plainpw", kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: "*", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationAll, Allow: true}),
		kfake.User("SCRAM-SHA-512", "scram512", "pw512", kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: "*", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationAll, Allow: true}),
	)
	for _, tc := range []struct {
		mech, user, pass string
		paused           bool
	}{
		{SASLScramSHA256, "admin", "admin", false},
		{SASLScramSHA256, "admin", "wrong", true},
		{SASLPlain, "plainuser", "plainpw", false},
		{SASLPlain, "plainuser", "wrong", true},
		{SASLScramSHA512, "scram512", "pw512", false},
		{SASLScramSHA512, "nobody", "pw512", true},
	} {
		t.Run(fmt.Sprintf("%s_%s_%s", tc.mech, tc.user, tc.pass), func(t *testing.T) {
			s := newSink(t, c, func(c *Config) { c.SASL = SASLConfig{Mechanism: tc.mech, Username: tc.user, Password: tc.pass} })
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := s.Deliver(ctx, component.Batch{Records: records(5)})
			if ctx.Err() != nil {
				t.Fatalf("Deliver did not return: %v", err)
			}
			de := component.AsDeliveryError(err)
			switch {
			case tc.paused && (err == nil || !de.Paused):
				t.Fatalf("want paused, got %v", err)
			case !tc.paused && err != nil:
				t.Fatalf("want delivered, got %v", err)
			}
			if tc.paused && !strings.Contains(err.Error(), "authentication failed") {
				t.Errorf("error does not say why: %v", err)
			}
		})
	}
}

// TestUnknownTopicPauses: a missing topic pauses; with auto creation
// allowed it is created instead.
func TestUnknownTopicPauses(t *testing.T) {
	c := cluster(t, kfake.AllowAutoTopicCreation())
	s := newSink(t, c, func(c *Config) { c.Topic = "missing" })
	err := s.Deliver(context.Background(), component.Batch{Records: records(3)})
	if de := component.AsDeliveryError(err); err == nil || !de.Paused || !strings.Contains(err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		t.Fatalf("want paused on the unknown topic, got %v", err)
	}
	if n := testutil.ToFloat64(s.metrics.errors.WithLabelValues("UNKNOWN_TOPIC_OR_PARTITION")); n != 3 {
		t.Errorf("error metric %v, want 3", n)
	}
	s2 := newSink(t, c, func(c *Config) { c.Topic = "created"; c.AllowAutoTopicCreation = true })
	if err := s2.Deliver(context.Background(), component.Batch{Records: records(3)}); err != nil {
		t.Fatal(err)
	}
	if got := consume(t, c, 3, 10*time.Second, "created"); len(got) != 3 {
		t.Fatalf("consumed %d", len(got))
	}
}

// TestOversize: a record over max_message_bytes fails its batch as
// permanent before anything is produced, so the agent's split dead-letters
// exactly it; the broker's own MESSAGE_TOO_LARGE (a topic with a smaller
// max.message.bytes) maps to too-large for a batch and permanent for one
// record.
func TestOversize(t *testing.T) {
	big := (&event.Event{UUID: "0190a0c0-0000-7000-8000-999999999999", Event: "log", DistinctID: "big",
		Properties: event.Map{{Key: "message", Value: strings.Repeat("x", 3000)}, {Key: "seq", Value: int64(999)}}}).AppendJSON(nil)

	t.Run("client_check", func(t *testing.T) {
		c := cluster(t, kfake.SeedTopics(2, "hogtail_events"))
		s := newSink(t, c, func(c *Config) { c.MaxMessageBytes = 2048 })
		recs := append(records(10), big)
		recs = append(recs, recordsFrom(10, 10)...)
		err := s.Deliver(context.Background(), component.Batch{Records: recs})
		if de := component.AsDeliveryError(err); err == nil || !de.Permanent || !strings.Contains(err.Error(), "0190a0c0-0000-7000-8000-999999999999") {
			t.Fatalf("want permanent naming the event, got %v", err)
		}
		var dead [][]byte
		deliverLikeAgent(t, s, recs, &dead)
		if len(dead) != 1 || string(dead[0]) != string(big) {
			t.Fatalf("dead letters: %d", len(dead))
		}
		got := consume(t, c, 20, 10*time.Second, "hogtail_events")
		seen := map[int64]int{}
		for _, r := range got {
			seen[seqOf(t, r.Value)]++
		}
		if len(got) != 20 || len(seen) != 20 {
			t.Fatalf("consumed %d records, %d distinct, want 20 (nothing produced twice)", len(got), len(seen))
		}
	})

	t.Run("broker_refuses", func(t *testing.T) {
		c := cluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "2048"}), kfake.SeedTopics(1, "hogtail_events"))
		// Uncompressed: the broker checks the batch as sent.
		s := newSink(t, c, func(c *Config) { c.Compression = "none" })
		err := s.Deliver(context.Background(), component.Batch{Records: [][]byte{big}})
		if de := component.AsDeliveryError(err); err == nil || !de.Permanent || !strings.Contains(err.Error(), "MESSAGE_TOO_LARGE") {
			t.Fatalf("one record: want permanent MESSAGE_TOO_LARGE, got %v", err)
		}
		err = s.Deliver(context.Background(), component.Batch{Records: append(records(2), big)})
		if de := component.AsDeliveryError(err); err == nil || !de.TooLarge {
			t.Fatalf("batch: want too large, got %v", err)
		}
	})
}

// TestPartialFailureNotProducedTwice: one partition refuses a produce
// once; the agent's retry of the batch does not produce the records Kafka
// already acknowledged again.
func TestPartialFailureNotProducedTwice(t *testing.T) {
	c := cluster(t, kfake.SeedTopics(4, "hogtail_events"))
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "hogtail_events", Partitions: []int32{2}, Err: kerr.InvalidRecord, Count: 1})
	s := newSink(t, c, nil)
	recs := records(200)
	var dead [][]byte
	errs := deliverLikeAgent(t, s, recs, &dead)
	if errs == 0 {
		t.Fatal("the fault did not fire")
	}
	if len(dead) != 0 {
		t.Fatalf("%d dead letters", len(dead))
	}
	got := consume(t, c, 200, 10*time.Second, "hogtail_events")
	seen := map[int64]int{}
	for _, r := range got {
		seen[seqOf(t, r.Value)]++
	}
	if len(seen) != 200 || len(got) != 200 {
		t.Fatalf("%d records, %d distinct, want 200 once each", len(got), len(seen))
	}
	if n := testutil.ToFloat64(s.metrics.skipped); n == 0 {
		t.Error("no record was skipped on the retry: the test did not exercise the acknowledged-record memory")
	}
}

// TestPartialFailureThenOversize: the retry of a partly acknowledged batch
// is refused for an oversize record the agent added meanwhile (a split);
// the acknowledged records are still not produced twice through the split.
func TestPartialFailureThenOversize(t *testing.T) {
	c := cluster(t, kfake.SeedTopics(4, "hogtail_events"))
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "hogtail_events", Partitions: []int32{2}, Err: kerr.InvalidRecord, Count: 1})
	s := newSink(t, c, func(c *Config) { c.MaxMessageBytes = 2048; c.Compression = "none" })
	recs := records(100)
	err := s.Deliver(context.Background(), component.Batch{Records: recs})
	if err == nil {
		t.Fatal("the fault did not fire")
	}
	recs = recs[component.AsDeliveryError(err).Delivered:] // the agent drops what was delivered
	big := (&event.Event{UUID: "0190a0c0-0000-7000-8000-999999999999", Event: "log", DistinctID: "big",
		Properties: event.Map{{Key: "message", Value: strings.Repeat("x", 3000)}}}).AppendJSON(nil)
	var dead [][]byte
	h := len(recs) / 2
	deliverLikeAgent(t, s, append(append([][]byte{}, recs[:h]...), append([][]byte{big}, recs[h:]...)...), &dead)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters, want the big one", len(dead))
	}
	got := consume(t, c, 100, 10*time.Second, "hogtail_events")
	seen := map[int64]int{}
	for _, r := range got {
		seen[seqOf(t, r.Value)]++
	}
	if len(seen) != 100 || len(got) != 100 {
		t.Fatalf("%d records, %d distinct, want 100 once each", len(got), len(seen))
	}
}

// TestDeliverBeforeStartAndAfterShutdown: not started is a retryable
// error; Shutdown is idempotent.
func TestDeliverBeforeStartAndAfterShutdown(t *testing.T) {
	c := cluster(t, kfake.SeedTopics(1, "hogtail_events"))
	s := newSink(t, c, nil)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := s.Deliver(context.Background(), component.Batch{Records: records(1)})
	if de := component.AsDeliveryError(err); err == nil || de.Permanent || de.Paused {
		t.Fatalf("want a retryable error, got %v", err)
	}
}

// TestCancelReturns: a cancelled delivery to an unreachable cluster
// returns promptly and leaves no goroutine behind after Shutdown.
func TestCancelReturns(t *testing.T) {
	c := cluster(t, kfake.SeedTopics(1, "hogtail_events"))
	addrs := c.ListenAddrs()
	c.Close()
	cfg := defaultConfig()
	cfg.Brokers = addrs
	s, err := New(cfg, component.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Deliver(ctx, component.Batch{Records: records(3)})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("Deliver returned %v after %v", err, time.Since(start))
	}
	shut, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	s.Shutdown(shut)
}

// TestWholeClusterRestart: the only broker stops (its log kept on disk) and
// starts again on the same port while deliveries run. Every event arrives;
// duplicates are possible only from deliveries that failed and were retried.
func TestWholeClusterRestart(t *testing.T) {
	dataDir := t.TempDir()
	first, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "hogtail_events"), kfake.DataDir(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	addr := first.ListenAddrs()[0]
	port := 0
	fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &port)
	s := newSink(t, first, func(c *Config) { c.Linger = 0 })

	const batches, per = 60, 100
	errsCh := make(chan int, 1)
	go func() {
		errs := 0
		for b := range batches {
			var dead [][]byte
			errs += deliverLikeAgent(t, s, recordsFrom(b*per, per), &dead)
			if len(dead) > 0 {
				t.Errorf("%d dead letters", len(dead))
			}
			time.Sleep(5 * time.Millisecond)
		}
		errsCh <- errs
	}()
	time.Sleep(100 * time.Millisecond)
	first.Close()
	time.Sleep(300 * time.Millisecond)
	second, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	var errs int
	select {
	case errs = <-errsCh:
	case <-time.After(40 * time.Second):
		t.Fatal("deliveries did not finish after the restart")
	}
	got := consume(t, second, batches*per, 20*time.Second, "hogtail_events")
	seen := map[int64]int{}
	for _, r := range got {
		seen[seqOf(t, r.Value)]++
	}
	for i := range batches * per {
		if seen[int64(i)] == 0 {
			t.Fatalf("seq %d lost across the restart (%d records)", i, len(got))
		}
	}
	dups := len(got) - len(seen)
	t.Logf("%d events, %d delivery errors retried, %d duplicates", len(seen), errs, dups)
	if dups > 0 && errs == 0 {
		t.Errorf("%d duplicates although no delivery failed", dups)
	}
}

// TestNotAuthorizedPauses: a user the cluster knows but whose ACLs do not
// allow writing the topic pauses the sink, with and without idempotence.
func TestNotAuthorizedPauses(t *testing.T) {
	c := cluster(t, kfake.SeedTopics(1, "hogtail_events"), kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin"),
		kfake.User("SCRAM-SHA-256", "reader", "pw", kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: "*", Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationDescribe, Allow: true}))
	for _, idempotent := range []bool{true, false} {
		t.Run(fmt.Sprintf("idempotent_%v", idempotent), func(t *testing.T) {
			s := newSink(t, c, func(c *Config) {
				c.SASL = SASLConfig{Mechanism: SASLScramSHA256, Username: "reader", Password: "pw"}
				if !idempotent {
					c.Idempotent, c.Acks = false, AcksLeader
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := s.Deliver(ctx, component.Batch{Records: records(3)})
			if ctx.Err() != nil {
				t.Fatalf("Deliver did not return: %v", err)
			}
			if de := component.AsDeliveryError(err); err == nil || !de.Paused || !strings.Contains(err.Error(), "AUTHORIZATION_FAILED") {
				t.Fatalf("want paused on the authorization failure, got %v", err)
			}
		})
	}
}
