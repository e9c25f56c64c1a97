package agent

import (
	"sync"
	"sync/atomic"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/event"
)

// taps lets operators watch the events leaving a component. Publishing
// costs one atomic load when nobody taps; a slow watcher loses events (it
// is told how many) rather than slowing the pipeline.
type taps struct {
	active atomic.Int64
	mu     sync.Mutex
	subs   map[string]map[*Tap]struct{}
}

// Tap is one watcher of a component.
type Tap struct {
	// C receives the JSON of each event.
	C chan []byte
	// Missed counts events dropped because C was full.
	Missed    atomic.Int64
	component string
}

func newTaps() *taps { return &taps{subs: map[string]map[*Tap]struct{}{}} }

// tapCapabilities declares what taps.publish does with events: it encodes
// each one before it returns and keeps none. A tap that buffered events
// would have to say so here, and sources would stop reusing their memory.
func tapCapabilities() component.Capabilities {
	return component.Capabilities{KeepsEvents: false}
}

func (t *taps) publish(component string, events []*event.Event) {
	if t.active.Load() == 0 || len(events) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for tap := range t.subs[component] {
		for _, e := range events {
			select {
			case tap.C <- e.AppendJSON(nil):
			default:
				tap.Missed.Add(1)
			}
		}
	}
}

// Tap subscribes to the events leaving component (a source or transform).
// Call Untap when done.
func (a *Agent) Tap(component string) *Tap {
	tp := &Tap{C: make(chan []byte, 1024), component: component}
	a.taps.mu.Lock()
	if a.taps.subs[component] == nil {
		a.taps.subs[component] = map[*Tap]struct{}{}
	}
	a.taps.subs[component][tp] = struct{}{}
	a.taps.mu.Unlock()
	a.taps.active.Add(1)
	return tp
}

// Untap ends a subscription.
func (a *Agent) Untap(tp *Tap) {
	a.taps.mu.Lock()
	if _, ok := a.taps.subs[tp.component][tp]; ok {
		delete(a.taps.subs[tp.component], tp)
		a.taps.active.Add(-1)
	}
	a.taps.mu.Unlock()
}

// Tappable reports whether component names a source or transform.
func (a *Agent) Tappable(component string) bool {
	cfg := a.cfg.Load()
	_, s := cfg.Sources[component]
	_, t := cfg.Transforms[component]
	return s || t
}
