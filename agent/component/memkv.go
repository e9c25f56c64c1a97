package component

import "sync"

// MemoryKV is a KV kept in memory only: for a component run without the
// agent's buffer (hogtail test, validate) and for tests.
type MemoryKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

// NewMemoryKV returns an empty in-memory store.
func NewMemoryKV() *MemoryKV { return &MemoryKV{m: map[string][]byte{}} }

// Get implements KV.
func (k *MemoryKV) Get(key string) ([]byte, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}

// Set implements KV. The value is copied.
func (k *MemoryKV) Set(key string, value []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[key] = append([]byte(nil), value...)
	return nil
}

// Delete implements KV.
func (k *MemoryKV) Delete(key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}
