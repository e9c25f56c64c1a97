package component

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hogtail/hogtail/agent/event"
)

// Ordered stores one producer's batches in the order it queues them, and
// lets it prepare the next batch while earlier ones are written: Queue
// hands a batch over (with EmitAsync, chained after the batch queued
// before it, when the Emitter is an AsyncEmitter; with Emit otherwise) and
// Wait learns, oldest first, which batches are stored, reporting each one
// to OrderedOptions.Landed. One producer owns an Ordered (a file's tailer,
// a connection's committer): it is not safe for concurrent use.
//
// A batch that fails takes the batches chained after it down with it (the
// buffer refuses them), so a checkpoint never moves past events that were
// not stored. What happens then depends on OrderedOptions.Retry:
//
//   - without Retry, Wait returns the first error and every batch after it
//     is reported as it ended: the producer stops and starts again from
//     its last stored checkpoint (the file source reads the file again
//     from there);
//   - with Retry, for a producer that cannot read its input again (a
//     syslog connection), each failed batch is stored again with Emit,
//     oldest first, before anything newer, retrying with backoff
//     (retryInitial doubling to retryMax) until it is stored or ctx ends.
//
// This is the one place where a source's failed commits are retried; a
// sink's failed deliveries are retried by the agent's delivery loop, with
// the sink's retry options (DeliveryConfig.Retry).
type Ordered[T any] struct {
	emit  Emitter
	async AsyncEmitter // nil: every batch is stored synchronously with Emit
	opts  OrderedOptions[T]
	queue []queued[T] // queued and not yet known stored, oldest first
}

// OrderedOptions configure an Ordered.
type OrderedOptions[T any] struct {
	// Retry stores failed batches again instead of giving up on them (see
	// Ordered). Their events are then kept until they are stored.
	Retry bool
	// Landed, if set, is called once for every batch queued, in queue
	// order, when its outcome is known.
	Landed func(Landed[T])
	// Logger logs the retries; nil discards.
	Logger *slog.Logger
}

// Landed is the outcome of one batch handed to Ordered.Queue.
type Landed[T any] struct {
	// Tag is the value the producer queued the batch with (for example
	// the checkpoint it carries).
	Tag T
	// Events is the number of events of the batch.
	Events int
	// Released: the batch is stored and nothing in the agent refers to its
	// events any more (see Recycler), so their memory may be reused.
	Released bool
	// Err is nil when the batch is stored; otherwise none of it is.
	Err error
}

type queued[T any] struct {
	p        Pending
	tag      T
	n        int
	released bool
	// events and cps are kept for a retry (OrderedOptions.Retry).
	events []*event.Event
	cps    []Checkpoint
}

// Backoff of OrderedOptions.Retry: the first retry after retryInitial, each
// following one after twice as long, up to retryMax.
const (
	retryInitial = 100 * time.Millisecond
	retryMax     = 5 * time.Second
)

// NewOrdered returns an Ordered that stores batches through emit.
func NewOrdered[T any](emit Emitter, opts OrderedOptions[T]) *Ordered[T] {
	o := &Ordered[T]{emit: emit, opts: opts}
	o.async, _ = emit.(AsyncEmitter)
	if o.opts.Logger == nil {
		o.opts.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Queue hands events and checkpoints over to be stored after every batch
// queued before, under tag. With an AsyncEmitter it returns once the batch
// is queued (Wait learns the outcome); otherwise once it is stored (or
// not), and Landed has been called already.
//
// released reports that nothing refers to the events any more (they were
// encoded and nothing downstream keeps events, see Recycler): the caller may
// reuse their memory now. It is never set with Retry, which keeps the
// events for a retry until Landed reports the batch.
//
// An error means the batch was not stored and nothing of it is queued.
// Without Retry, the batches queued before it are still in flight: the
// caller waits for them (Wait) before it stops. With Retry, it comes only
// once ctx ended before the batch could be stored, after everything queued
// before was settled.
func (o *Ordered[T]) Queue(ctx context.Context, tag T, events []*event.Event, cps ...Checkpoint) (released bool, err error) {
	if o.async == nil {
		return false, o.store(ctx, tag, events, cps)
	}
	var after Pending
	if n := len(o.queue); n > 0 {
		after = o.queue[n-1].p
	}
	p, err := o.async.EmitAsync(ctx, after, events, cps...)
	if err != nil {
		if !o.opts.Retry {
			return false, err
		}
		return false, o.Store(ctx, tag, events, cps...)
	}
	q := queued[T]{p: p, tag: tag, n: len(events)}
	if r, ok := p.(Recycler); ok {
		q.released = r.Released()
	}
	if o.opts.Retry {
		q.events, q.cps = events, cps
	} else {
		released = q.released
	}
	o.queue = append(o.queue, q)
	return released, nil
}

// Wait waits, oldest first, until at most max batches are in flight, and
// reports each one to Landed. Once a batch failed it goes on through all
// of them (those after it fail too): without Retry it returns the first
// error; with Retry it stores the failed ones again and returns an error
// only once ctx ended before they could be stored (the rest is then
// reported as lost). A batch already queued is waited for whatever ctx
// says.
func (o *Ordered[T]) Wait(ctx context.Context, max int) error {
	var first error
	failed := false
	for len(o.queue) > 0 && (failed || len(o.queue) > max) {
		q := o.queue[0]
		// Shifted down rather than resliced, so the array is reused.
		n := copy(o.queue, o.queue[1:])
		o.queue[n] = queued[T]{}
		o.queue = o.queue[:n]
		err := q.p.Wait()
		switch {
		case err == nil:
			o.land(Landed[T]{Tag: q.tag, Events: q.n, Released: q.released})
			continue
		case !o.opts.Retry || first != nil:
			o.land(Landed[T]{Tag: q.tag, Events: q.n, Err: err})
		default:
			err = o.store(ctx, q.tag, q.events, q.cps)
		}
		failed = true
		if first == nil {
			first = err
		}
	}
	return first
}

// Store stores a batch synchronously with Emit, after everything queued
// before (see Wait), and reports it to Landed before it returns. With Retry
// it retries as Wait does. An error means the batch was not stored.
func (o *Ordered[T]) Store(ctx context.Context, tag T, events []*event.Event, cps ...Checkpoint) error {
	if err := o.Wait(ctx, 0); err != nil {
		// Stored after a batch that was not: a checkpoint would skip it.
		o.land(Landed[T]{Tag: tag, Events: len(events), Err: err})
		return err
	}
	return o.store(ctx, tag, events, cps)
}

// Last returns the tag of the newest batch in flight; ok is false when
// none is.
func (o *Ordered[T]) Last() (tag T, ok bool) {
	if n := len(o.queue); n > 0 {
		return o.queue[n-1].tag, true
	}
	return tag, false
}

// store commits a batch synchronously with Emit and reports it to Landed.
// With Retry it tries again with backoff until stored or ctx ends.
func (o *Ordered[T]) store(ctx context.Context, tag T, events []*event.Event, cps []Checkpoint) error {
	l := Landed[T]{Tag: tag, Events: len(events)}
	if !o.opts.Retry {
		l.Err = o.emit.Emit(ctx, events, cps...)
		o.land(l)
		return l.Err
	}
	bo := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(retryInitial),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0),
		backoff.WithMaxInterval(retryMax),
		backoff.WithMaxElapsedTime(0))
	err := o.emit.Emit(ctx, events, cps...)
	for err != nil {
		if ctx.Err() != nil {
			l.Err = fmt.Errorf("gave up storing %d events: %w", len(events), err)
			// The producer cannot read them again (the reason for Retry):
			// say so, not only in its lost-events metric.
			o.opts.Logger.Error("gave up storing events (stopping); they are lost", "error", err, "events", len(events))
			o.land(l)
			return l.Err
		}
		wait := bo.NextBackOff()
		o.opts.Logger.Warn("cannot store events; retrying", "error", err, "events", len(events), "retry_in", wait)
		Sleep(ctx, wait)
		err = o.emit.Emit(ctx, events, cps...)
	}
	o.land(l)
	return nil
}

func (o *Ordered[T]) land(l Landed[T]) {
	if o.opts.Landed != nil {
		o.opts.Landed(l)
	}
}
