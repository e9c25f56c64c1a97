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
// batches in flight. A batch is acknowledged (and deleted from the buffer)
// only once it was delivered or dead-lettered.
//
// Two contexts stop it, for a clean stop: when drain ends it takes no new
// batch and stops waiting in backoff, while the requests in flight go on
// until they are answered (and acknowledged) or ctx ends. runSink returns
// once no delivery of it runs.
func (a *Agent) runSink(ctx, drain context.Context, s *runningSink) {
	d := s.delivery
	sem := make(chan struct{}, d.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	a.health.set("sinks."+s.name, nil)
	for {
		lease, err := s.reader.Next(drain, d.BatchMaxEvents, int(d.BatchMaxBytes), d.BatchTimeout.D())
		if err != nil {
			if drain.Err() == nil {
				a.log.Error("sink stopped reading its queue", "sink", s.name, "error", err)
				a.health.set("sinks."+s.name, err)
			}
			return
		}
		select {
		case sem <- struct{}{}:
		case <-drain.Done():
			return // the lease stays in the buffer
		}
		if drain.Err() != nil {
			<-sem
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if a.deliver(ctx, drain, s, lease.Records) {
				s.reader.Ack(lease)
			}
		}()
	}
}

// deliver sends records until they are accepted or dead-lettered, and
// reports whether that happened (false: interrupted by a stop, the records
// stay in the buffer). Requests run under ctx; waits between attempts end
// with drain.
//
// Retryable errors back off exponentially with jitter (backoff/v4), never
// shorter than the receiver's Retry-After, and retry at once when another
// batch of the same sink was accepted meanwhile (the receiver is back).
// Too large: split in halves down to one record, then dead-letter it.
// Permanent: split to isolate the bad records, dead-letter them, deliver
// the rest. Paused (bad credentials): keep the records, mark the sink
// unhealthy and retry at max_interval.
func (a *Agent) deliver(ctx, drain context.Context, s *runningSink, recs [][]byte) bool {
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(s.delivery.Retry.InitialInterval.D()),
		backoff.WithMaxInterval(s.delivery.Retry.MaxInterval.D()),
		backoff.WithMaxElapsedTime(s.delivery.Retry.MaxElapsed.D()),
	)
	for {
		// Taken before the attempt: a success of another batch during it
		// also cuts the wait that may follow.
		wake := s.status.accepted()
		start := time.Now()
		err := s.sink.Deliver(ctx, component.Batch{Records: recs})
		a.m.deliveryLatency.WithLabelValues(s.name).Observe(time.Since(start).Seconds())
		if err == nil {
			a.m.eventsDelivered.WithLabelValues(s.name).Add(float64(len(recs)))
			s.status.succeeded()
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
		case de.Permanent && de.Rejected > 0:
			// The sink named the records the failure concerns (a
			// connector's exportEvents batch): dead-letter them as one,
			// deliver the rest.
			n := min(de.Rejected, len(recs))
			if !a.deadLetter(drain, s, recs[:n], err) {
				return false
			}
			if n == len(recs) {
				return true
			}
			recs = recs[n:]
			bo.Reset()
			continue
		case de.TooLarge || de.Permanent:
			if len(recs) == 1 {
				return a.deadLetter(drain, s, recs, err)
			}
			half := len(recs) / 2
			return a.deliver(ctx, drain, s, recs[:half]) && a.deliver(ctx, drain, s, recs[half:])
		case de.Paused:
			s.status.failed(err, true)
			a.log.Error("sink paused: the receiver needs an operator (credentials, permissions, a wrong address or a missing topic); records are kept and retried", "sink", s.name, "error", err, "retry_in", s.delivery.Retry.MaxInterval.D())
			if !component.SleepOrWake(drain, s.delivery.Retry.MaxInterval.D(), wake) {
				return false
			}
			continue
		}
		s.status.failed(err, false)
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			return a.deadLetter(drain, s, recs, fmt.Errorf("gave up after retry.max_elapsed %s: %w", s.delivery.Retry.MaxElapsed.D(), err))
		}
		if de.RetryAfter > wait {
			wait = de.RetryAfter
			wake = nil // the receiver asked for this pause
		}
		a.m.retries.WithLabelValues(s.name).Inc()
		a.log.Warn("delivery failed; retrying", "sink", s.name, "records", len(recs), "error", err, "retry_in", wait)
		if !component.SleepOrWake(drain, wait, wake) {
			return false
		}
	}
}

// deadLetter stores recs as dead letters of s, retrying while the buffer
// refuses (a full disk), and reports whether they were stored: false when
// ctx ended first, and then the records must not be acknowledged.
func (a *Agent) deadLetter(ctx context.Context, s *runningSink, recs [][]byte, cause error) bool {
	dls := make([]component.DeadLetter, len(recs))
	// The reason is shown by dead-letters list; it must not carry secrets.
	reason := redact.Text(cause.Error())
	for i, r := range recs {
		dls[i] = component.DeadLetter{Component: s.name, Reason: reason, Record: r}
	}
	for {
		err := a.storeDeadLetters(dls)
		if err == nil {
			break
		}
		a.log.Error("cannot store dead letters; retrying", "sink", s.name, "error", err)
		if !component.Sleep(ctx, time.Second) {
			a.log.Warn("stopping before dead letters could be stored; the records stay in the queue", "sink", s.name, "records", len(recs))
			return false
		}
	}
	a.m.deadLetters.WithLabelValues(s.name).Add(float64(len(recs)))
	a.log.Error("records moved to dead letters", "sink", s.name, "records", len(recs), "reason", cause)
	return true
}

// sinkStatus follows a sink's deliveries: when it last succeeded, since
// when it fails, and a channel closed at each success so that batches
// waiting in backoff retry at once.
type sinkStatus struct {
	mu           sync.Mutex
	ok           chan struct{}
	failingSince time.Time // zero while deliveries succeed
	lastErr      error
	paused       bool
}

func newSinkStatus() *sinkStatus { return &sinkStatus{ok: make(chan struct{})} }

// accepted returns a channel closed at the next success.
func (st *sinkStatus) accepted() <-chan struct{} {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.ok
}

func (st *sinkStatus) succeeded() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.failingSince, st.lastErr, st.paused = time.Time{}, nil, false
	close(st.ok)
	st.ok = make(chan struct{})
}

func (st *sinkStatus) failed(err error, paused bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.failingSince.IsZero() {
		st.failingSince = time.Now()
	}
	st.lastErr, st.paused = err, paused
}

// failing returns since when deliveries fail and the last error (zero
// time: they succeed).
func (st *sinkStatus) failing() (since time.Time, paused bool, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.failingSince, st.paused, st.lastErr
}
