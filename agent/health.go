package agent

import (
	"sort"
	"sync"

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
