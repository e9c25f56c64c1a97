package connectors

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The errors of cache operations carry Redis's wording: PostHog's
// meta.cache is Redis, and plugins may match on these messages.
var (
	errCacheNotInteger = errors.New("ERR value is not an integer or out of range")
	errCacheWrongType  = errors.New("WRONGTYPE Operation against a key holding the wrong kind of value")
	errCacheNegative   = errors.New("ERR value is out of range, must be positive")
)

// cacheEntry is one key: a string, or a list when isList.
type cacheEntry struct {
	str     string
	list    []string
	isList  bool
	expires time.Time // zero = never
}

// cache is what backs meta.cache: an in-memory subset of the Redis
// commands PostHog exposes (strings with TTLs, counters, lists), shared by
// every runtime of one connector across lanes and reloads. Values are
// strings; the JS binding (cacheObject) does the JSON encoding. It is safe
// for concurrent use.
type cache struct {
	mu sync.Mutex
	m  map[string]*cacheEntry
	// now is the clock TTLs are measured on (a fake one in tests).
	now func() time.Time
}

func newCache() *cache { return &cache{m: map[string]*cacheEntry{}, now: time.Now} }

// entry returns the live entry under key, dropping it if expired. Callers
// hold c.mu.
func (c *cache) entry(key string) *cacheEntry {
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

// list returns the list under key, nil when there is none or the key holds
// a string. Callers hold c.mu.
func (c *cache) list(key string) []string {
	if e := c.entry(key); e != nil && e.isList {
		return e.list
	}
	return nil
}

// set stores the string value under key (replacing a list too); a ttl of
// zero or less keeps it until it is removed.
func (c *cache) set(key, value string, ttl time.Duration) {
	e := &cacheEntry{str: value}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ttl > 0 {
		e.expires = c.now().Add(ttl)
	}
	c.m[key] = e
}

// get returns the string under key; false when the key is missing,
// expired or holds a list.
func (c *cache) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entry(key); e != nil && !e.isList {
		return e.str, true
	}
	return "", false
}

// incr adds one to the integer under key (a missing key counts as 0) and
// returns the new value; the TTL of an existing key is kept.
func (c *cache) incr(key string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(key)
	var n int64
	if e != nil {
		if e.isList {
			return 0, errCacheNotInteger
		}
		// fmt.Sscan reads a leading integer in any Go notation
		// (" 7", "+3", "0x10", "5 apples").
		if _, err := fmt.Sscan(e.str, &n); err != nil {
			return 0, errCacheNotInteger
		}
	} else {
		e = &cacheEntry{}
		c.m[key] = e
	}
	n++
	e.str = strconv.FormatInt(n, 10)
	return n, nil
}

// expire gives key a new TTL from now; a ttl of zero or less removes the
// key. It reports whether the key existed.
func (c *cache) expire(key string, ttl time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(key)
	if e == nil {
		return false
	}
	if ttl <= 0 {
		delete(c.m, key)
	} else {
		e.expires = c.now().Add(ttl)
	}
	return true
}

// push adds items to the head (left, one after the other, as LPUSH does:
// the last item ends up first) or the tail of the list under key, creating
// it, and returns the list's new length.
func (c *cache) push(key string, items []string, left bool) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(key)
	if e == nil {
		e = &cacheEntry{isList: true}
		c.m[key] = e
	}
	if !e.isList {
		return 0, errCacheWrongType
	}
	if left {
		head := slices.Clone(items)
		slices.Reverse(head)
		e.list = append(head, e.list...)
	} else {
		e.list = append(e.list, items...)
	}
	return len(e.list), nil
}

// lrange returns a copy of the elements start to end (inclusive) of the
// list under key; negative indexes count from the end, as in LRANGE.
func (c *cache) lrange(key string, start, end int64) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.list(key)
	n := int64(len(l))
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start = max(start, 0)
	end = min(end, n-1)
	if start > end {
		return nil
	}
	return slices.Clone(l[start : end+1])
}

// llen returns the length of the list under key (0 without one).
func (c *cache) llen(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.list(key))
}

// lrem removes elements equal to elem from the list under key, as LREM
// does: count > 0 the first count from the head, count < 0 the first
// -count from the tail, 0 all of them. An emptied list is deleted. It
// returns how many were removed.
func (c *cache) lrem(key string, count int64, elem string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(key)
	if e == nil || !e.isList {
		return 0
	}
	limit := count
	if limit < 0 {
		limit = -limit
	}
	drop := make([]bool, len(e.list))
	removed := int64(0)
	for k := range e.list {
		i := k
		if count < 0 {
			i = len(e.list) - 1 - k
		}
		if limit != 0 && removed == limit {
			break
		}
		if e.list[i] == elem {
			drop[i] = true
			removed++
		}
	}
	keep := make([]string, 0, len(e.list)-int(removed))
	for i, it := range e.list {
		if !drop[i] {
			keep = append(keep, it)
		}
	}
	e.list = keep
	if len(e.list) == 0 {
		delete(c.m, key)
	}
	return removed
}

// lpop removes and returns the first count elements of the list under key
// (fewer when it is shorter); an emptied list is deleted.
func (c *cache) lpop(key string, count int64) ([]string, error) {
	if count < 0 {
		return nil, errCacheNegative
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(key)
	if e == nil || !e.isList {
		return nil, nil
	}
	count = min(count, int64(len(e.list)))
	out := slices.Clone(e.list[:count])
	e.list = e.list[count:]
	if len(e.list) == 0 {
		delete(c.m, key)
	}
	return out, nil
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
