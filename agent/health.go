package agent

import (
	"sort"
	"sync"

	"github.com/hogtail/hogtail/agent/component"
	"github.com/hogtail/hogtail/agent/redact"
)

// health tracks the last error of each component; a component is healthy
// when its last error is nil.
type health struct {
	mu   sync.Mutex
	errs map[string]error
}

func newHealth() *health { return &health{errs: map[string]error{}} }

func (h *health) set(component string, err error) {
	h.mu.Lock()
	h.errs[component] = err
	h.mu.Unlock()
}

func (h *health) forget(component string) {
	h.mu.Lock()
	delete(h.errs, component)
	h.mu.Unlock()
}

// healthy reports whether no component has an error.
func (h *health) healthy() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, err := range h.errs {
		if err != nil {
			return false
		}
	}
	return true
}

// problems returns "component: error" for every unhealthy component.
func (h *health) problems() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]string{}
	for c, err := range h.errs {
		if err != nil {
			out[c] = redact.Text(err.Error())
		}
	}
	return out
}

func sortedNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// componentProblems asks every transform and sink of the topology in force
// that implements component.HealthReporter for its problems, keyed like
// health.problems ("transforms.NAME" or "transforms.NAME/SUBJECT").
func (t *topology) componentProblems() map[string]string {
	out := map[string]string{}
	if t == nil {
		return out
	}
	add := func(prefix string, c any) {
		hr, ok := c.(component.HealthReporter)
		if !ok {
			return
		}
		for _, p := range hr.Health() {
			key := prefix
			if p.Subject != "" {
				key += "/" + p.Subject
			}
			if prev, dup := out[key]; dup {
				p.Message = prev + "; " + p.Message
			}
			out[key] = redact.Text(p.Message)
		}
	}
	seenT := map[*runningTransform]bool{}
	for _, ts := range t.nextT {
		for _, rt := range ts {
			if !seenT[rt] {
				seenT[rt] = true
				add("transforms."+rt.name, rt.tr)
			}
		}
	}
	seenK := map[*runningSink]bool{}
	for _, m := range []map[string][]*runningSink{t.eventSinks, t.webhookSinks} {
		for _, ks := range m {
			for _, rk := range ks {
				if !seenK[rk] {
					seenK[rk] = true
					add("sinks."+rk.name, rk.sink)
				}
			}
		}
	}
	return out
}
