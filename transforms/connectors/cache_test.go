package connectors

import (
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeClockCache returns a cache whose clock the test moves with advance.
func fakeClockCache() (c *cache, advance func(time.Duration)) {
	c = newCache()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	return c, func(d time.Duration) {
		c.mu.Lock()
		now = now.Add(d)
		c.mu.Unlock()
	}
}

func cacheList(c *cache, key string, items ...string) {
	if _, err := c.push(key, items, false); err != nil {
		panic(err)
	}
}

func TestCacheStrings(t *testing.T) {
	c, advance := fakeClockCache()
	if _, ok := c.get("k"); ok {
		t.Fatal("missing key found")
	}
	c.set("k", "v1", 0)
	c.set("k", "v2", 10*time.Second) // replaces value and TTL
	c.set("forever", "f", 0)
	c.set("negative-ttl", "n", -time.Second) // no TTL, as ttlArg gives for ≤ 0
	advance(9 * time.Second)
	if v, ok := c.get("k"); !ok || v != "v2" {
		t.Errorf("get at 9s = %q, %v; want v2", v, ok)
	}
	advance(time.Second)
	if v, ok := c.get("k"); ok {
		t.Errorf("get at 10s = %q: the TTL did not expire it", v)
	}
	for _, k := range []string{"forever", "negative-ttl"} {
		if _, ok := c.get(k); !ok {
			t.Errorf("%s expired", k)
		}
	}
	cacheList(c, "list", "a")
	if _, ok := c.get("list"); ok {
		t.Error("get of a list found a string")
	}
	c.set("list", "now a string", 0)
	if v, ok := c.get("list"); !ok || v != "now a string" {
		t.Errorf("set over a list: get = %q, %v", v, ok)
	}
}

func TestCacheIncr(t *testing.T) {
	tests := []struct {
		name    string
		stored  *string // nil: missing key
		list    bool
		want    int64
		wantErr error
	}{
		{name: "missing key starts at 0", want: 1},
		{name: "integer", stored: ptr("41"), want: 42},
		{name: "negative", stored: ptr("-3"), want: -2},
		{name: "leading spaces and sign", stored: ptr(" +7"), want: 8},
		{name: "leading integer of a longer string", stored: ptr("5 apples"), want: 6},
		{name: "not a number", stored: ptr("abc"), wantErr: errCacheNotInteger},
		{name: "empty string", stored: ptr(""), wantErr: errCacheNotInteger},
		{name: "list", list: true, wantErr: errCacheNotInteger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := fakeClockCache()
			if tt.stored != nil {
				c.set("n", *tt.stored, 0)
			}
			if tt.list {
				cacheList(c, "n", "1")
			}
			got, err := c.incr("n")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("incr error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if tt.stored != nil {
					if v, _ := c.get("n"); v != *tt.stored {
						t.Errorf("a failed incr changed the value to %q", v)
					}
				}
				return
			}
			if got != tt.want {
				t.Errorf("incr = %d, want %d", got, tt.want)
			}
			if v, _ := c.get("n"); v != strconv.FormatInt(tt.want, 10) {
				t.Errorf("stored %q after incr, want %d", v, tt.want)
			}
		})
	}
}

func TestCacheIncrKeepsTTL(t *testing.T) {
	c, advance := fakeClockCache()
	c.set("n", "1", 10*time.Second)
	advance(5 * time.Second)
	if n, err := c.incr("n"); err != nil || n != 2 {
		t.Fatalf("incr = %d, %v", n, err)
	}
	advance(5 * time.Second)
	if v, ok := c.get("n"); ok {
		t.Errorf("counter outlived its TTL: %q", v)
	}
	if n, err := c.incr("n"); err != nil || n != 1 {
		t.Errorf("incr of the expired counter = %d, %v; want a fresh 1", n, err)
	}
}

func TestCacheExpire(t *testing.T) {
	c, advance := fakeClockCache()
	if c.expire("missing", time.Second) {
		t.Error("expire of a missing key reported true")
	}
	c.set("k", "v", 0)
	if !c.expire("k", 3*time.Second) {
		t.Fatal("expire of an existing key reported false")
	}
	advance(2 * time.Second)
	if _, ok := c.get("k"); !ok {
		t.Fatal("expired before its new TTL")
	}
	advance(time.Second)
	if _, ok := c.get("k"); ok {
		t.Fatal("still there after its new TTL")
	}
	c.set("gone", "v", 0)
	if !c.expire("gone", 0) {
		t.Fatal("expire with ttl 0 reported false")
	}
	if _, ok := c.get("gone"); ok {
		t.Error("expire with ttl 0 kept the key")
	}
	cacheList(c, "l", "a")
	c.expire("l", time.Second)
	advance(time.Second)
	if n := c.llen("l"); n != 0 {
		t.Errorf("expired list has length %d", n)
	}
}

func TestCachePush(t *testing.T) {
	c, _ := fakeClockCache()
	steps := []struct {
		items []string
		left  bool
		want  []string
	}{
		{items: []string{"a", "b"}, left: true, want: []string{"b", "a"}}, // LPUSH a b
		{items: []string{"c"}, left: true, want: []string{"c", "b", "a"}},
		{items: []string{"y", "z"}, want: []string{"c", "b", "a", "y", "z"}},
		{items: nil, want: []string{"c", "b", "a", "y", "z"}},
	}
	for i, s := range steps {
		n, err := c.push("l", s.items, s.left)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := c.lrange("l", 0, -1); n != len(s.want) || !slices.Equal(got, s.want) {
			t.Fatalf("step %d: push = %d, list %q; want %q", i, n, got, s.want)
		}
	}
	c.set("s", "string", 0)
	if _, err := c.push("s", []string{"x"}, false); !errors.Is(err, errCacheWrongType) {
		t.Errorf("push onto a string: %v, want WRONGTYPE", err)
	}
}

func TestCacheLrange(t *testing.T) {
	c, _ := fakeClockCache()
	cacheList(c, "l", "a", "b", "c", "d", "e")
	tests := []struct {
		start, end int64
		want       []string
	}{
		{0, -1, []string{"a", "b", "c", "d", "e"}},
		{0, 0, []string{"a"}},
		{1, 3, []string{"b", "c", "d"}},
		{-2, -1, []string{"d", "e"}},
		{-100, 1, []string{"a", "b"}},
		{3, 100, []string{"d", "e"}},
		{3, 1, nil},
		{5, 10, nil},
		{-1, -2, nil},
	}
	for _, tt := range tests {
		if got := c.lrange("l", tt.start, tt.end); !slices.Equal(got, tt.want) {
			t.Errorf("lrange(%d, %d) = %q, want %q", tt.start, tt.end, got, tt.want)
		}
	}
	if got := c.lrange("missing", 0, -1); got != nil {
		t.Errorf("lrange of a missing key = %q", got)
	}
	got := c.lrange("l", 0, 0)
	got[0] = "changed"
	if again := c.lrange("l", 0, 0); again[0] != "a" {
		t.Error("lrange returned the cache's own slice")
	}
	if n := c.llen("l"); n != 5 {
		t.Errorf("llen = %d", n)
	}
	c.set("s", "string", 0)
	if n, got := c.llen("s"), c.lrange("s", 0, -1); n != 0 || got != nil {
		t.Errorf("a string as a list: llen %d, lrange %q", n, got)
	}
}

func TestCacheLrem(t *testing.T) {
	tests := []struct {
		count       int64
		wantRemoved int64
		want        []string
	}{
		{count: 0, wantRemoved: 3, want: []string{"a", "b"}},
		{count: 1, wantRemoved: 1, want: []string{"a", "x", "b", "x"}},
		{count: 2, wantRemoved: 2, want: []string{"a", "b", "x"}},
		{count: 10, wantRemoved: 3, want: []string{"a", "b"}},
		{count: -1, wantRemoved: 1, want: []string{"x", "a", "x", "b"}},
		{count: -2, wantRemoved: 2, want: []string{"x", "a", "b"}},
	}
	for _, tt := range tests {
		c, _ := fakeClockCache()
		cacheList(c, "l", "x", "a", "x", "b", "x")
		if got := c.lrem("l", tt.count, "x"); got != tt.wantRemoved {
			t.Errorf("lrem(%d) removed %d, want %d", tt.count, got, tt.wantRemoved)
		}
		if got := c.lrange("l", 0, -1); !slices.Equal(got, tt.want) {
			t.Errorf("lrem(%d) left %q, want %q", tt.count, got, tt.want)
		}
	}
	c, _ := fakeClockCache()
	cacheList(c, "l", "x", "x")
	if got := c.lrem("l", 0, "x"); got != 2 {
		t.Fatalf("removed %d", got)
	}
	if _, ok := c.m["l"]; ok {
		t.Error("an emptied list was kept")
	}
	c.set("s", "x", 0)
	if got := c.lrem("s", 0, "x"); got != 0 {
		t.Errorf("lrem on a string removed %d", got)
	}
	if got := c.lrem("missing", 0, "x"); got != 0 {
		t.Errorf("lrem on a missing key removed %d", got)
	}
}

func TestCacheLpop(t *testing.T) {
	c, _ := fakeClockCache()
	cacheList(c, "l", "a", "b", "c")
	steps := []struct {
		count   int64
		want    []string
		rest    []string
		wantErr error
	}{
		{count: 0, want: []string{}, rest: []string{"a", "b", "c"}},
		{count: -1, wantErr: errCacheNegative, rest: []string{"a", "b", "c"}},
		{count: 2, want: []string{"a", "b"}, rest: []string{"c"}},
		{count: 5, want: []string{"c"}, rest: nil},
		{count: 1, want: nil, rest: nil},
	}
	for i, s := range steps {
		got, err := c.lpop("l", s.count)
		if !errors.Is(err, s.wantErr) {
			t.Fatalf("step %d: lpop error %v, want %v", i, err, s.wantErr)
		}
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d: lpop(%d) = %q, want %q", i, s.count, got, s.want)
		}
		if rest := c.lrange("l", 0, -1); !slices.Equal(rest, s.rest) {
			t.Errorf("step %d: left %q, want %q", i, rest, s.rest)
		}
	}
	if _, ok := c.m["l"]; ok {
		t.Error("an emptied list was kept")
	}
}

func TestCacheSweep(t *testing.T) {
	c, advance := fakeClockCache()
	c.set("short", "v", time.Second)
	c.set("long", "v", time.Hour)
	c.set("forever", "v", 0)
	cacheList(c, "list", "a")
	c.expire("list", time.Second)
	advance(time.Minute)
	c.sweep()
	c.mu.Lock()
	defer c.mu.Unlock()
	var keys []string
	for k := range c.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"forever", "long"}; !slices.Equal(keys, want) {
		t.Errorf("after sweep: %q, want %q", keys, want)
	}
}

// TestCacheConcurrent: lanes share one cache; run under -race.
func TestCacheConcurrent(t *testing.T) {
	c := newCache()
	const workers, per = 8, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := c.incr("n"); err != nil {
					t.Error(err)
					return
				}
				if _, err := c.push("l", []string{"x"}, i%2 == 0); err != nil {
					t.Error(err)
					return
				}
				c.sweep()
			}
		}()
	}
	wg.Wait()
	if v, _ := c.get("n"); v != itoa(workers*per) {
		t.Errorf("counter = %s, want %d", v, workers*per)
	}
	if n := c.llen("l"); n != workers*per {
		t.Errorf("list length = %d, want %d", n, workers*per)
	}
}

func ptr[T any](v T) *T { return &v }
