package connectors

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/hogtail/hogtail/agent/component"
)

// shared is what a connector's runtimes share across lanes and across
// reloads: meta.cache, meta.storage and the error-log rate limiter.
type shared struct {
	name  string
	cache *cache
	kv    component.KV
	// peers are the names of the other connectors of the chain, which
	// may share a legacy storage key with this one.
	peers []string
	// kvMu serialises storage writes, legacy key migration and cursor
	// read-modify-write.
	kvMu sync.Mutex

	logMu      sync.Mutex
	lastLog    time.Time
	suppressed int
}

// logError logs at most once per second per connector, counting the rest.
func (s *shared) logError(log *slog.Logger, msg string, err error, args ...any) {
	s.logMu.Lock()
	now := time.Now()
	if now.Sub(s.lastLog) < time.Second {
		s.suppressed++
		s.logMu.Unlock()
		return
	}
	n := s.suppressed
	s.suppressed = 0
	s.lastLog = now
	s.logMu.Unlock()
	args = append(args, "connector", s.name, "error", err.Error())
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Error(msg, args...)
}

// storageKeyOf is where connector name keeps meta.storage key in the
// transform's store: a NUL byte, the length of name, ":", name, then key.
// The length makes it unambiguous whatever the name and key contain (the
// earlier "name/key" let connector "a/b" read connector "a"'s key "b/k"),
// and the NUL byte sets it apart from those earlier keys, which start with
// the name (names never contain control characters).
func storageKeyOf(name, key string) string {
	return "\x00" + strconv.Itoa(len(name)) + ":" + name + key
}

func (s *shared) storageKey(key string) string { return storageKeyOf(s.name, key) }

// legacyKey is where hogtail kept key before storageKeyOf; it is read
// once and moved to the new key.
func (s *shared) legacyKey(key string) string { return s.name + "/" + key }

// legacyAmbiguous reports the peer that could have written the same legacy
// key as this connector: then nobody may read or move it.
func (s *shared) legacyAmbiguous(legacy string) (peer string, ok bool) {
	for _, p := range s.peers {
		if p != s.name && strings.HasPrefix(legacy, p+"/") {
			return p, true
		}
	}
	return "", false
}

// storageGet reads key, moving it from the legacy layout on first use.
func (s *shared) storageGet(log *slog.Logger, key string) ([]byte, bool, error) {
	if v, ok, err := s.kv.Get(s.storageKey(key)); err != nil || ok {
		return v, ok, err
	}
	// Only a key still in the legacy layout needs the lock to move it.
	if _, ok, err := s.kv.Get(s.legacyKey(key)); err != nil || !ok {
		return nil, false, err
	}
	s.kvMu.Lock()
	defer s.kvMu.Unlock()
	return s.getLocked(log, key)
}

func (s *shared) getLocked(log *slog.Logger, key string) ([]byte, bool, error) {
	k := s.storageKey(key)
	if v, ok, err := s.kv.Get(k); err != nil || ok {
		return v, ok, err
	}
	legacy := s.legacyKey(key)
	v, ok, err := s.kv.Get(legacy)
	if err != nil || !ok {
		return nil, false, err
	}
	if peer, amb := s.legacyAmbiguous(legacy); amb {
		s.logError(log, "meta.storage key from an older hogtail is left unread: it may belong to either connector", errors.New("ambiguous legacy key"), "key", key, "other_connector", peer)
		return nil, false, nil
	}
	if err := s.kv.Set(k, v); err != nil {
		return nil, false, fmt.Errorf("moving legacy key: %w", err)
	}
	if err := s.kv.Delete(legacy); err != nil {
		return nil, false, fmt.Errorf("moving legacy key: %w", err)
	}
	return v, true, nil
}

// storageSet writes key; a nil value deletes it.
func (s *shared) storageSet(key string, v []byte) error {
	s.kvMu.Lock()
	defer s.kvMu.Unlock()
	return s.setLocked(key, v)
}

func (s *shared) setLocked(key string, v []byte) error {
	var err error
	if v == nil {
		err = s.kv.Delete(s.storageKey(key))
	} else {
		err = s.kv.Set(s.storageKey(key), v)
	}
	if err != nil {
		return err
	}
	// A legacy copy would come back on the next get.
	legacy := s.legacyKey(key)
	if _, amb := s.legacyAmbiguous(legacy); amb {
		return nil
	}
	return s.kv.Delete(legacy)
}

// ---- meta.cache: in memory, shared by a connector's lanes, with TTLs ----

type cacheEntry struct {
	str     string
	list    []string
	isList  bool
	expires time.Time // zero = never
}

type cache struct {
	mu  sync.Mutex
	m   map[string]*cacheEntry
	now func() time.Time
}

func newCache() *cache { return &cache{m: map[string]*cacheEntry{}, now: time.Now} }

// get returns the live entry under key, dropping it if expired. Callers
// hold c.mu.
func (c *cache) get(key string) *cacheEntry {
	e := c.m[key]
	if e == nil {
		return nil
	}
	if !e.expires.IsZero() && !c.now().Before(e.expires) {
		delete(c.m, key)
		return nil
	}
	return e
}

// sweep drops expired entries so the map does not grow without bound.
func (c *cache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for k, e := range c.m {
		if !e.expires.IsZero() && !now.Before(e.expires) {
			delete(c.m, k)
		}
	}
}

func ttlArg(v goja.Value) time.Duration {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return 0
	}
	f := v.ToFloat()
	if f <= 0 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

func jsonSerialize(opts goja.Value) bool {
	o, ok := opts.(*goja.Object)
	if !ok {
		return true
	}
	v := o.Get("jsonSerialize")
	return v == nil || goja.IsUndefined(v) || v.ToBoolean()
}

func (in *instance) cacheObject() *goja.Object {
	vm := in.vm
	c := in.c.sh.cache
	o := vm.NewObject()
	_ = o.Set("set", func(call goja.FunctionCall) goja.Value {
		key := call.Argument(0).String()
		var s string
		if jsonSerialize(call.Argument(3)) {
			v, err := in.jsonStringify(goja.Undefined(), call.Argument(1))
			if err != nil {
				return in.rejected(err)
			}
			if goja.IsUndefined(v) {
				s = "undefined"
			} else {
				s = v.String()
			}
		} else {
			s = call.Argument(1).String()
		}
		e := &cacheEntry{str: s}
		ttl := ttlArg(call.Argument(2))
		c.mu.Lock()
		if ttl > 0 {
			e.expires = c.now().Add(ttl)
		}
		c.m[key] = e
		c.mu.Unlock()
		return in.resolved(goja.Undefined())
	})
	_ = o.Set("get", func(call goja.FunctionCall) goja.Value {
		key := call.Argument(0).String()
		def := call.Argument(1)
		c.mu.Lock()
		e := c.get(key)
		var s string
		var found bool
		if e != nil && !e.isList {
			s, found = e.str, true
		}
		c.mu.Unlock()
		if !found {
			return in.resolved(def)
		}
		if !jsonSerialize(call.Argument(2)) {
			return in.resolved(vm.ToValue(s))
		}
		v, err := in.jsonParse(goja.Undefined(), vm.ToValue(s))
		if err != nil {
			return in.resolved(goja.Null())
		}
		return in.resolved(v)
	})
	_ = o.Set("incr", func(call goja.FunctionCall) goja.Value {
		key := call.Argument(0).String()
		c.mu.Lock()
		defer c.mu.Unlock()
		e := c.get(key)
		var n int64
		if e != nil {
			if _, err := fmt.Sscan(e.str, &n); err != nil || e.isList {
				return in.rejected(fmt.Errorf("ERR value is not an integer or out of range"))
			}
		} else {
			e = &cacheEntry{}
			c.m[key] = e
		}
		n++
		e.str = fmt.Sprint(n)
		return in.resolved(vm.ToValue(n))
	})
	_ = o.Set("expire", func(call goja.FunctionCall) goja.Value {
		key := call.Argument(0).String()
		ttl := ttlArg(call.Argument(1))
		c.mu.Lock()
		defer c.mu.Unlock()
		e := c.get(key)
		if e == nil {
			return in.resolved(vm.ToValue(false))
		}
		if ttl <= 0 {
			delete(c.m, key)
		} else {
			e.expires = c.now().Add(ttl)
		}
		return in.resolved(vm.ToValue(true))
	})
	push := func(left bool) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			key := call.Argument(0).String()
			var items []string
			if a, ok := call.Argument(1).(*goja.Object); ok && a.ClassName() == "Array" {
				n := int(a.Get("length").ToInteger())
				if n > 1000 {
					return in.rejected(fmt.Errorf("too many items to push (max 1000)"))
				}
				for i := 0; i < n; i++ {
					items = append(items, a.Get(itoa(i)).String())
				}
			} else {
				items = []string{call.Argument(1).String()}
			}
			c.mu.Lock()
			defer c.mu.Unlock()
			e := c.get(key)
			if e == nil {
				e = &cacheEntry{isList: true}
				c.m[key] = e
			}
			if !e.isList {
				return in.rejected(fmt.Errorf("WRONGTYPE Operation against a key holding the wrong kind of value"))
			}
			for _, it := range items {
				if left {
					e.list = append([]string{it}, e.list...)
				} else {
					e.list = append(e.list, it)
				}
			}
			return in.resolved(vm.ToValue(len(e.list)))
		}
	}
	_ = o.Set("lpush", push(true))
	_ = o.Set("rpush", push(false))
	list := func(key string) []string {
		if e := c.get(key); e != nil && e.isList {
			return e.list
		}
		return nil
	}
	strs := func(s []string) goja.Value {
		items := make([]any, len(s))
		for i := range s {
			items[i] = s[i]
		}
		return vm.NewArray(items...)
	}
	_ = o.Set("lrange", func(call goja.FunctionCall) goja.Value {
		c.mu.Lock()
		l := list(call.Argument(0).String())
		n := int64(len(l))
		start, end := call.Argument(1).ToInteger(), call.Argument(2).ToInteger()
		if start < 0 {
			start += n
		}
		if end < 0 {
			end += n
		}
		start = max(start, 0)
		end = min(end, n-1)
		var out []string
		if start <= end {
			out = append(out, l[start:end+1]...)
		}
		c.mu.Unlock()
		return in.resolved(strs(out))
	})
	_ = o.Set("llen", func(call goja.FunctionCall) goja.Value {
		c.mu.Lock()
		n := len(list(call.Argument(0).String()))
		c.mu.Unlock()
		return in.resolved(vm.ToValue(n))
	})
	_ = o.Set("lrem", func(call goja.FunctionCall) goja.Value {
		key := call.Argument(0).String()
		count := call.Argument(1).ToInteger()
		elem := call.Argument(2).String()
		c.mu.Lock()
		defer c.mu.Unlock()
		e := c.get(key)
		if e == nil || !e.isList {
			return in.resolved(vm.ToValue(0))
		}
		removed := int64(0)
		limit := count
		if limit < 0 {
			limit = -limit
		}
		keep := make([]string, 0, len(e.list))
		if count >= 0 {
			for _, it := range e.list {
				if it == elem && (limit == 0 || removed < limit) {
					removed++
					continue
				}
				keep = append(keep, it)
			}
		} else {
			for i := len(e.list) - 1; i >= 0; i-- {
				if e.list[i] == elem && removed < limit {
					removed++
					continue
				}
				keep = append([]string{e.list[i]}, keep...)
			}
		}
		e.list = keep
		if len(e.list) == 0 {
			delete(c.m, key)
		}
		return in.resolved(vm.ToValue(removed))
	})
	_ = o.Set("lpop", func(call goja.FunctionCall) goja.Value {
		key := call.Argument(0).String()
		count := int64(1)
		if a := call.Argument(1); !goja.IsUndefined(a) {
			count = a.ToInteger()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		e := c.get(key)
		if e == nil || !e.isList {
			return in.resolved(strs(nil))
		}
		count = min(count, int64(len(e.list)))
		out := append([]string(nil), e.list[:count]...)
		e.list = e.list[count:]
		if len(e.list) == 0 {
			delete(c.m, key)
		}
		return in.resolved(strs(out))
	})
	return o
}

// ---- meta.storage: persisted through Settings.Store ----

func (in *instance) storageObject() *goja.Object {
	vm := in.vm
	sh := in.c.sh
	o := vm.NewObject()
	_ = o.Set("get", func(call goja.FunctionCall) goja.Value {
		b, ok, err := sh.storageGet(in.t.log, call.Argument(0).String())
		if err != nil {
			return in.rejected(fmt.Errorf("storage.get: %w", err))
		}
		if !ok {
			return in.resolved(call.Argument(1))
		}
		v, err := in.jsonParse(goja.Undefined(), vm.ToValue(string(b)))
		if err != nil {
			return in.resolved(call.Argument(1))
		}
		return in.resolved(v)
	})
	_ = o.Set("set", func(call goja.FunctionCall) goja.Value {
		key := call.Argument(0).String()
		val := call.Argument(1)
		if goja.IsUndefined(val) {
			if err := sh.storageSet(key, nil); err != nil {
				return in.rejected(fmt.Errorf("storage.set: %w", err))
			}
			return in.resolved(goja.Undefined())
		}
		s, err := in.jsonStringify(goja.Undefined(), val)
		if err != nil {
			return in.rejected(err)
		}
		if err := sh.storageSet(key, []byte(s.String())); err != nil {
			return in.rejected(fmt.Errorf("storage.set: %w", err))
		}
		return in.resolved(goja.Undefined())
	})
	_ = o.Set("del", func(call goja.FunctionCall) goja.Value {
		if err := sh.storageSet(call.Argument(0).String(), nil); err != nil {
			return in.rejected(fmt.Errorf("storage.del: %w", err))
		}
		return in.resolved(goja.Undefined())
	})
	return o
}

func (in *instance) cursorAdd(key string, by int64, initOnly bool) (int64, error) {
	sh := in.c.sh
	sh.kvMu.Lock()
	defer sh.kvMu.Unlock()
	b, ok, err := sh.getLocked(in.t.log, key)
	if err != nil {
		return 0, err
	}
	var n int64
	if ok {
		if _, err := fmt.Sscan(string(b), &n); err != nil {
			n = 0
		}
		if initOnly {
			return n, nil
		}
	}
	n += by
	return n, sh.setLocked(key, []byte(fmt.Sprint(n)))
}

func (in *instance) cursorInit(call goja.FunctionCall) goja.Value {
	initial := int64(0)
	if a := call.Argument(1); !goja.IsUndefined(a) {
		initial = a.ToInteger()
	}
	if _, err := in.cursorAdd(call.Argument(0).String(), initial, true); err != nil {
		return in.rejected(err)
	}
	return in.resolved(goja.Undefined())
}

func (in *instance) cursorIncrement(call goja.FunctionCall) goja.Value {
	by := int64(1)
	if a := call.Argument(1); !goja.IsUndefined(a) {
		by = a.ToInteger()
	}
	n, err := in.cursorAdd(call.Argument(0).String(), by, false)
	if err != nil {
		return in.rejected(err)
	}
	return in.resolved(in.vm.ToValue(n))
}

// memKV is the fallback meta.storage when no Store is given.
type memKV struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMemKV() *memKV { return &memKV{m: map[string][]byte{}} }

func (k *memKV) Get(key string) ([]byte, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}

func (k *memKV) Set(key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.m[key] = append([]byte(nil), v...)
	return nil
}

func (k *memKV) Delete(key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}
