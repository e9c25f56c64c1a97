package agent

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hogtail/hogtail/agent/buffer"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/prometheus/client_golang/prometheus"
)

// emitter is the component.Emitter of one source: it runs the source's
// events through the transforms downstream of it, encodes what reaches each
// sink, and commits all of it with the source's checkpoints in one buffer
// transaction.
type emitter struct {
	a      *Agent
	source string
}

func (a *Agent) emitter(source string) component.Emitter {
	return &emitter{a: a, source: source}
}

// plan collects one Emit's writes.
type plan struct {
	appends map[string][][]byte
	dead    []component.DeadLetter
	// arenas hold the encoded events; recycled once the commit is queued
	// (the buffer copies records into its chunk).
	arenas [][]byte
}

// Emit implements component.Emitter.
func (e *emitter) Emit(ctx context.Context, events []*event.Event, cps ...component.Checkpoint) error {
	p, err := e.EmitAsync(ctx, nil, events, cps...)
	if err != nil {
		return err
	}
	return p.Wait()
}

// EmitAsync implements component.AsyncEmitter: the transforms run and the
// records are encoded and queued in the caller's goroutine; the buffer
// writes them while the caller prepares its next batch.
func (e *emitter) EmitAsync(ctx context.Context, after component.Pending, events []*event.Event, cps ...component.Checkpoint) (component.Pending, error) {
	a := e.a
	p := &plan{appends: map[string][][]byte{}}
	a.taps.publish(e.source, events)
	// The read lock spans only the transforms: a reload waits for batches
	// inside transforms, not for commits blocked on a full queue.
	a.flowMu.RLock()
	topo := a.topo.Load()
	released := topo.releases[e.source]
	err := a.flow(ctx, topo, e.source, e.source, events, p)
	a.flowMu.RUnlock()
	if err != nil {
		return nil, err
	}
	c := &buffer.Commit{Source: e.source, Checkpoints: cps, DeadLetters: p.dead}
	for q, recs := range p.appends {
		c.Appends = append(c.Appends, buffer.Append{Queue: q, Records: recs})
	}
	var prev *buffer.Pending
	if ap, ok := after.(*pendingCommit); ok && ap != nil {
		prev = ap.p
	}
	bp, err := a.buf.Start(ctx, c, prev)
	// Start copied the records into its chunks.
	for _, ar := range p.arenas {
		a.arenas.Put(ar)
	}
	// Counted once stored (see Wait): a source that reads again after a
	// failed commit (a full disk) would count the same events again and
	// again.
	pc := &pendingCommit{p: bp, n: len(events), source: e.source, released: released, sent: a.m.eventsOut.WithLabelValues(e.source)}
	if err != nil {
		return nil, pc.wrap(err)
	}
	return pc, nil
}

// pendingCommit is the component.Pending of EmitAsync.
type pendingCommit struct {
	p      *buffer.Pending
	n      int
	source string
	// released: nothing downstream declared it keeps events (they were
	// encoded, or handed to transforms that keep none), see
	// component.Recycler.
	released bool
	// sent counts the source's events once they are stored.
	sent prometheus.Counter
}

// Released implements component.Recycler.
func (pc *pendingCommit) Released() bool { return pc.released }

// Wait implements component.Pending.
func (pc *pendingCommit) Wait() error {
	if err := pc.p.Wait(); err != nil {
		return pc.wrap(err)
	}
	pc.sent.Add(float64(pc.n))
	return nil
}

func (pc *pendingCommit) wrap(err error) error {
	return fmt.Errorf("commit %d events of %s: %w", pc.n, pc.source, err)
}

// flow hands events produced by node (a source or transform) to its
// consumers. Sinks only read events (to encode them); every transform but
// the last gets its own copy, since transforms may change events in place.
func (a *Agent) flow(ctx context.Context, topo *topology, source, node string, events []*event.Event, p *plan) error {
	if len(events) == 0 {
		return nil
	}
	if sinks := topo.eventSinks[node]; len(sinks) > 0 {
		recs, ar := encodeEvents(a.arenas.Get(0), events)
		p.arenas = append(p.arenas, ar)
		for _, s := range sinks {
			if p.appends[s.name] == nil {
				p.appends[s.name] = recs[:len(recs):len(recs)] // appending more copies
				continue
			}
			p.appends[s.name] = append(p.appends[s.name], recs...)
		}
	}
	next := topo.nextT[node]
	for i, t := range next {
		in := events
		if i < len(next)-1 {
			in = cloneEvents(events)
		}
		a.m.eventsIn.WithLabelValues(t.name).Add(float64(len(in)))
		var out component.Output
		if err := t.tr.Apply(ctx, component.Input{Source: source, Events: in}, &out); err != nil {
			return fmt.Errorf("transforms.%s: %w", t.name, err)
		}
		a.m.eventsOut.WithLabelValues(t.name).Add(float64(len(out.Events)))
		a.taps.publish(t.name, out.Events)
		a.m.eventsDiscarded.WithLabelValues(t.name).Add(float64(max(0, len(in)-len(out.Events))))
		p.dead = append(p.dead, out.DeadLetters...)
		if len(out.Webhooks) > 0 {
			a.routeWebhooks(topo, t.name, out.Webhooks, p)
		}
		if len(out.Exports) > 0 {
			a.routeExports(topo, t.name, out.Exports, p)
		}
		if err := a.flow(ctx, topo, source, t.name, out.Events, p); err != nil {
			return err
		}
	}
	return nil
}

func (a *Agent) routeWebhooks(topo *topology, transform string, hooks []component.Webhook, p *plan) {
	recs := make([][]byte, len(hooks))
	for i := range hooks {
		b, err := json.Marshal(&hooks[i])
		if err != nil {
			b = []byte(fmt.Sprintf(`{"connector":%q,"error":%q}`, hooks[i].Connector, err.Error()))
		}
		recs[i] = b
	}
	sinks := topo.webhookSinks[transform]
	if len(sinks) == 0 {
		// Never silently lossy: with no webhook sink the requests are kept
		// as dead letters, replayable once one is configured.
		for _, r := range recs {
			p.dead = append(p.dead, component.DeadLetter{Component: transform, Reason: "no webhook sink reads this transform", Record: r})
		}
		return
	}
	for _, s := range sinks {
		p.appends[s.name] = append(p.appends[s.name], recs...)
	}
}

// routeExports queues a transform's export records for its export sink.
func (a *Agent) routeExports(topo *topology, transform string, recs [][]byte, p *plan) {
	s := topo.exportSinks[transform]
	if s == nil {
		// A connector that gained onEvent in a hot reload of a transform
		// started without export sink: keep the records, replayable once
		// the transform is rebuilt with its queue.
		for _, r := range recs {
			p.dead = append(p.dead, component.DeadLetter{Component: transform + exportsSuffix, Reason: "the transform has no export queue yet (a connector gained onEvent/exportEvents in a hot reload); restart hogtail, then replay", Record: r})
		}
		return
	}
	p.appends[s.name] = append(p.appends[s.name], recs...)
}

// encodeEvents encodes events into arena (emptied first) and returns a
// slice of it per event, and the arena, grown as needed.
func encodeEvents(arena []byte, events []*event.Event) ([][]byte, []byte) {
	buf := arena[:0]
	ends := make([]int, len(events))
	for i, e := range events {
		buf = e.AppendStoredJSON(buf)
		ends[i] = len(buf)
	}
	out := make([][]byte, len(events))
	start := 0
	for i, end := range ends {
		out[i] = buf[start:end:end]
		start = end
	}
	return out, buf
}

func cloneEvents(events []*event.Event) []*event.Event {
	out := make([]*event.Event, len(events))
	for i, e := range events {
		out[i] = e.Clone()
	}
	return out
}
