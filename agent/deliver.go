package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/redact"
)

// runSink reads the sink's queue and delivers it with up to Concurrency
// batches in flight, until ctx is cancelled. A batch is acknowledged (and
// deleted from the buffer) only once it was delivered or dead-lettered; a
// batch interrupted by shutdown stays in the buffer.
func (a *Agent) runSink(ctx context.Context, s *runningSink) {
	d := s.delivery
	sem := make(chan struct{}, d.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	a.health.set("sinks."+s.name, nil)
	for {
		lease, err := s.reader.Next(ctx, d.BatchMaxEvents, int(d.BatchMaxBytes), d.BatchTimeout.D())
		if err != nil {
			if ctx.Err() == nil {
				a.log.Error("sink stopped reading its queue", "sink", s.name, "error", err)
				a.health.set("sinks."+s.name, err)
			}
			return
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if a.deliver(ctx, s, lease.Records) {
				s.reader.Ack(lease)
			}
		}()
	}
}

// deliver sends records until they are accepted or dead-lettered, and
// reports whether that happened (false: interrupted by shutdown).
//
// Retryable errors back off exponentially with jitter (backoff/v4), never
// shorter than the receiver's Retry-After. Too large: split in halves down
// to one record, then dead-letter it. Permanent: split to isolate the bad
// records, dead-letter them, deliver the rest. Paused (bad credentials):
// keep the records, mark the sink unhealthy and retry at max_interval.
func (a *Agent) deliver(ctx context.Context, s *runningSink, recs [][]byte) bool {
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(s.delivery.Retry.InitialInterval.D()),
		backoff.WithMaxInterval(s.delivery.Retry.MaxInterval.D()),
		backoff.WithMaxElapsedTime(s.delivery.Retry.MaxElapsed.D()),
	)
	for {
		start := time.Now()
		err := s.sink.Deliver(ctx, component.Batch{Records: recs})
		a.m.deliveryLatency.WithLabelValues(s.name).Observe(time.Since(start).Seconds())
		if err == nil {
			a.m.eventsDelivered.WithLabelValues(s.name).Add(float64(len(recs)))
			a.health.set("sinks."+s.name, nil)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		de := component.AsDeliveryError(err)
		if n := de.Delivered; n > 0 && n < len(recs) {
			// Never resend what the receiver already accepted.
			a.m.eventsDelivered.WithLabelValues(s.name).Add(float64(n))
			recs = recs[n:]
		}
		switch {
		case de.TooLarge || de.Permanent:
			if len(recs) == 1 {
				a.deadLetter(ctx, s, recs, err)
				return true
			}
			half := len(recs) / 2
			return a.deliver(ctx, s, recs[:half]) && a.deliver(ctx, s, recs[half:])
		case de.Paused:
			a.health.set("sinks."+s.name, fmt.Errorf("paused: %w", err))
			a.log.Error("sink paused: the receiver needs an operator (credentials, permissions, a wrong address or a missing topic); records are kept and retried", "sink", s.name, "error", err, "retry_in", s.delivery.Retry.MaxInterval.D())
			if !sleep(ctx, s.delivery.Retry.MaxInterval.D()) {
				return false
			}
			continue
		}
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			a.deadLetter(ctx, s, recs, fmt.Errorf("gave up after retry.max_elapsed %s: %w", s.delivery.Retry.MaxElapsed.D(), err))
			return true
		}
		if de.RetryAfter > wait {
			wait = de.RetryAfter
		}
		a.m.retries.WithLabelValues(s.name).Inc()
		a.log.Warn("delivery failed; retrying", "sink", s.name, "records", len(recs), "error", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return false
		}
	}
}

func (a *Agent) deadLetter(ctx context.Context, s *runningSink, recs [][]byte, cause error) {
	dls := make([]component.DeadLetter, len(recs))
	// The reason is shown by dead-letters list; it must not carry secrets.
	reason := redact.Text(cause.Error())
	for i, r := range recs {
		dls[i] = component.DeadLetter{Component: s.name, Reason: reason, Record: r}
	}
	for {
		err := a.buf.AddDeadLetters(dls)
		if err == nil {
			break
		}
		a.log.Error("cannot store dead letters; retrying", "sink", s.name, "error", err)
		if !sleep(ctx, time.Second) {
			return
		}
	}
	a.m.deadLetters.WithLabelValues(s.name).Add(float64(len(recs)))
	a.log.Error("records moved to dead letters", "sink", s.name, "records", len(recs), "reason", cause)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
