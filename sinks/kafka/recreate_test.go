package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/twmb/franz-go/pkg/kfake"
)

// recreateTopic deletes topic and creates it again with a new topic ID, as
// an operator resetting it does.
func recreateTopic(t testing.TB, c *kfake.Cluster, topic string, partitions int32) {
	t.Helper()
	if err := c.DeleteTopic(topic); err != nil {
		t.Fatalf("delete topic: %v", err)
	}
	if err := c.CreateTopic(topic, partitions, nil); err != nil {
		t.Fatalf("create topic: %v", err)
	}
}

// TestTopicRecreatedRecovers: the topic is deleted and created again while
// the sink runs (its client knows the old topic ID, so the broker answers
// UNKNOWN_TOPIC_ID). Deliveries must work again without restarting the
// sink, as the agent retries them.
func TestTopicRecreatedRecovers(t *testing.T) {
	c := cluster(t, kfake.SeedTopics(3, "hogtail_events"))
	s := newSink(t, c, nil)
	if err := s.Deliver(context.Background(), component.Batch{Records: records(5)}); err != nil {
		t.Fatal(err)
	}
	recreateTopic(t, c, "hogtail_events", 3)

	// The first try learns that the topic ID is gone. It must not pause
	// the sink (the agent would wait retry.max_interval) but ask for a
	// retry, which the new client delivers.
	err := s.Deliver(context.Background(), component.Batch{Records: records(7)})
	if err == nil || component.AsDeliveryError(err).Paused || !strings.Contains(err.Error(), "UNKNOWN_TOPIC_ID") {
		t.Fatalf("first try after the recreation: %v (want a retryable UNKNOWN_TOPIC_ID)", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	tries := 0
	for {
		tries++
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = s.Deliver(ctx, component.Batch{Records: records(7)})
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		t.Logf("try %d: %v (paused: %v)", tries, err, component.AsDeliveryError(err).Paused)
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("still failing 30 s after the topic was recreated: %v", err)
	}
	if got := consume(t, c, 7, 10*time.Second, "hogtail_events"); len(got) != 7 {
		t.Fatalf("the recreated topic holds %d records, want the 7 delivered after", len(got))
	}
}
