package syslogsource

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/event"
)

type msgCase struct {
	Name     string         `json:"name"`
	Format   string         `json:"format"`
	Input    string         `json:"input"`
	InputHex string         `json:"input_hex"`
	Skip     bool           `json:"skip"`
	Checks   map[string]any `json:"checks"`
}

func loadMsgCases(t testing.TB) []msgCase {
	raw, err := os.ReadFile("testdata/messages.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []msgCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

func (c msgCase) bytes(t testing.TB) []byte {
	if c.InputHex != "" {
		b, err := hex.DecodeString(c.InputHex)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return []byte(c.Input)
}

func testConfig(format string) *Config {
	c := defaultConfig()
	c.Timezone = "UTC"
	if format != "" {
		c.Format = format
	}
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

// lookupPath walks "properties.a.b" through the event's JSON.
func lookupPath(t *testing.T, ev *event.Event, path string) (any, bool) {
	t.Helper()
	v, err := event.ParseValue(ev.AppendJSON(nil))
	if err != nil {
		t.Fatalf("event does not round-trip: %v", err)
	}
	// Structured data ids contain dots only after "@"; split carefully.
	for _, k := range splitPath(path) {
		m, ok := v.(event.Map)
		if !ok {
			return nil, false
		}
		if v, ok = m.Get(k); !ok {
			return nil, false
		}
	}
	return v, true
}

func splitPath(p string) []string {
	var out []string
	for p != "" {
		i := strings.IndexByte(p, '.')
		if i < 0 {
			return append(out, p)
		}
		// keep "exampleSDID@32473" whole even if it were dotted
		out = append(out, p[:i])
		p = p[i+1:]
	}
	return out
}

func checkField(t *testing.T, path string, got any, present bool, want any) {
	t.Helper()
	switch w := want.(type) {
	case nil:
		if present {
			t.Errorf("%s: want absent, got %v", path, got)
		}
		return
	case string:
		if w == "<set>" {
			if !present || got == "" {
				t.Errorf("%s: want a value, got %v", path, got)
			}
			return
		}
		if suf, ok := strings.CutPrefix(w, "<suffix:"); ok {
			s, _ := got.(string)
			if !strings.HasSuffix(s, strings.TrimSuffix(suf, ">")) {
				t.Errorf("%s = %q, want suffix %s", path, s, suf)
			}
			return
		}
	case float64:
		if i, ok := got.(int64); ok {
			got = float64(i)
		}
	}
	if !present || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %#v (present %v), want %#v", path, got, present, want)
	}
}

func TestParseMessages(t *testing.T) {
	for _, c := range loadMsgCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			p := newParser(testConfig(c.Format), "testhost")
			ev := p.toEvent(c.bytes(t), "192.0.2.7", frameInfo{}, time.Now)
			if c.Skip {
				if ev != nil {
					t.Fatalf("want no event, got %s", ev.AppendJSON(nil))
				}
				return
			}
			if ev == nil {
				t.Fatal("no event")
			}
			for path, want := range c.Checks {
				got, ok := lookupPath(t, ev, path)
				checkField(t, path, got, ok, want)
			}
			if t.Failed() {
				t.Logf("event: %s", ev.AppendJSON(nil))
			}
		})
	}
}

// TestBlocksReuseOnlyReleased: a block is used again only once every event
// handed out from it was released; events still out, and their text, are
// never touched, and after poison nothing is reused.
func TestBlocksReuseOnlyReleased(t *testing.T) {
	var b blocks
	b.recycle = true
	b.pool = &blockPool{}
	var out []*event.Event
	var tags []string
	hand := func(n int, tag string) {
		for i := 0; i < n; i++ {
			ev := b.event()
			// In the block's text, as message text is.
			ev.UUID = b.text([]byte(tag + strconv.Itoa(len(out))))
			out = append(out, ev)
			tags = append(tags, tag)
		}
	}
	// Events from index from on are not released (nor reused).
	intact := func(from int) {
		t.Helper()
		for i := from; i < len(out); i++ {
			if want := tags[i] + strconv.Itoa(i); out[i].UUID != want {
				t.Fatalf("event %d, not released, changed to %q, want %q", i, out[i].UUID, want)
			}
		}
	}
	hand(5*blockEvents, "a")
	b.release(blockEvents + blockEvents/2) // block 0 and half of block 1
	hand(1, "b")                           // needs a block: block 0 comes back
	if out[len(out)-1] != out[0] {
		t.Fatal("the released block was not used again")
	}
	hand(2*blockEvents, "b") // the rest of block 0, then a new one: block 1 is half out
	intact(blockEvents + blockEvents/2)
	for _, ev := range out[5*blockEvents+blockEvents:] {
		for _, old := range out[blockEvents : 5*blockEvents] {
			if ev == old {
				t.Fatal("a block with events still out was used again")
			}
		}
	}

	b.poison()
	b.release(10 * blockEvents)
	before := len(out)
	hand(2*blockEvents, "b")
	for _, ev := range out[before:] {
		for _, old := range out[:before] {
			if ev == old {
				t.Fatal("a block was used again after poison")
			}
		}
	}
}

// TestBlockPoolSharedAndBounded: a block one connection released is used
// again by another, and the source keeps at most maxFree free blocks
// however many connections released theirs.
func TestBlockPoolSharedAndBounded(t *testing.T) {
	pool := &blockPool{}
	conns := make([]*blocks, 4)
	for i := range conns {
		conns[i] = &blocks{recycle: true, pool: pool}
		for j := 0; j < 10*blockEvents; j++ {
			conns[i].event()
		}
	}
	// Connection 0 releases its oldest block (the current one is kept).
	released := conns[0].inUse[0].bl
	conns[0].release(blockEvents)
	if len(pool.free) != 1 {
		t.Fatalf("free blocks after one release: %d, want 1", len(pool.free))
	}
	// Connection 1's current block is full: its next event needs a block.
	conns[1].event()
	if cur := conns[1].inUse[len(conns[1].inUse)-1].bl; cur != released {
		t.Fatal("connection 1 got a new block, not the one connection 0 released")
	}
	if len(pool.free) != 0 {
		t.Fatalf("%d blocks still free after connection 1 took one", len(pool.free))
	}
	// Every connection releases everything but its current block.
	for _, b := range conns {
		b.release(20 * blockEvents)
	}
	if len(pool.free) != maxFree {
		t.Fatalf("free blocks kept: %d, want the bound %d", len(pool.free), maxFree)
	}
}

// TestBlocksBoundLongStrings: a block's slots keep what they point to alive
// until it is reused, after its events were stored: past maxBlockBig of
// long strings, a block is closed early (and scrubbed when released), so
// that the messages of a connection that sends 64 KiB lines do not stay
// alive 128 at a time per connection.
func TestBlocksBoundLongStrings(t *testing.T) {
	pool := &blockPool{}
	b := &blocks{recycle: true, pool: pool}
	long := strings.Repeat("x", 64<<10)
	const n = 40
	for range n {
		b.event()
		b.box(long)
	}
	// 64 KiB each: a block takes 5 (the fifth passes 256 KiB), not 128.
	if len(b.inUse) != n/5 {
		t.Fatalf("%d blocks for %d long messages, want %d", len(b.inUse), n, n/5)
	}
	for _, e := range b.inUse[:len(b.inUse)-1] {
		if e.n != 5 || e.big != 5*len(long) {
			t.Fatalf("block entry %+v, want 5 events of %d bytes", e, 5*len(long))
		}
	}
	// Released blocks are scrubbed: the pool keeps no long string alive.
	b.release(n)
	if len(pool.free) != n/5-1 {
		t.Fatalf("%d free blocks, want %d", len(pool.free), n/5-1)
	}
	for _, bl := range pool.free {
		for _, s := range bl.Strings {
			if s != "" && s != event.Poison {
				t.Fatal("a free block still points to a message")
			}
		}
	}
	// Short messages still fill whole blocks.
	b2 := &blocks{recycle: true, pool: &blockPool{}}
	for range 2 * blockEvents {
		b2.event()
		b2.box("short")
	}
	if len(b2.inUse) != 2 {
		t.Fatalf("%d blocks for %d short messages", len(b2.inUse), 2*blockEvents)
	}
}
