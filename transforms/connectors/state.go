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

// ---- meta.cache: the JS binding of cache ----

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

// maxCachePush is the most items one lpush / rpush call may add.
const maxCachePush = 1000

// cacheObject is meta.cache: it converts arguments and results between
// JS and the connector's cache; every method returns a promise, as
// PostHog's do.
func (in *instance) cacheObject() *goja.Object {
	vm := in.vm
	c := in.c.sh.cache
	o := vm.NewObject()
	strs := func(s []string) goja.Value {
		items := make([]any, len(s))
		for i := range s {
			items[i] = s[i]
		}
		return vm.NewArray(items...)
	}
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
		c.set(key, s, ttlArg(call.Argument(2)))
		return in.resolved(goja.Undefined())
	})
	_ = o.Set("get", func(call goja.FunctionCall) goja.Value {
		s, found := c.get(call.Argument(0).String())
		if !found {
			return in.resolved(call.Argument(1))
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
		n, err := c.incr(call.Argument(0).String())
		if err != nil {
			return in.rejected(err)
		}
		return in.resolved(vm.ToValue(n))
	})
	_ = o.Set("expire", func(call goja.FunctionCall) goja.Value {
		return in.resolved(vm.ToValue(c.expire(call.Argument(0).String(), ttlArg(call.Argument(1)))))
	})
	push := func(left bool) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			key := call.Argument(0).String()
			var items []string
			if a, ok := call.Argument(1).(*goja.Object); ok && a.ClassName() == "Array" {
				n := int(a.Get("length").ToInteger())
				if n > maxCachePush {
					return in.rejected(fmt.Errorf("too many items to push (max %d)", maxCachePush))
				}
				items = make([]string, n)
				for i := range items {
					items[i] = a.Get(itoa(i)).String()
				}
			} else {
				items = []string{call.Argument(1).String()}
			}
			n, err := c.push(key, items, left)
			if err != nil {
				return in.rejected(err)
			}
			return in.resolved(vm.ToValue(n))
		}
	}
	_ = o.Set("lpush", push(true))
	_ = o.Set("rpush", push(false))
	_ = o.Set("lrange", func(call goja.FunctionCall) goja.Value {
		return in.resolved(strs(c.lrange(call.Argument(0).String(), call.Argument(1).ToInteger(), call.Argument(2).ToInteger())))
	})
	_ = o.Set("llen", func(call goja.FunctionCall) goja.Value {
		return in.resolved(vm.ToValue(c.llen(call.Argument(0).String())))
	})
	_ = o.Set("lrem", func(call goja.FunctionCall) goja.Value {
		return in.resolved(vm.ToValue(c.lrem(call.Argument(0).String(), call.Argument(1).ToInteger(), call.Argument(2).String())))
	})
	_ = o.Set("lpop", func(call goja.FunctionCall) goja.Value {
		count := int64(1)
		if a := call.Argument(1); !goja.IsUndefined(a) {
			count = a.ToInteger()
		}
		out, err := c.lpop(call.Argument(0).String(), count)
		if err != nil {
			return in.rejected(err)
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
