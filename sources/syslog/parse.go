package syslogsource

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/common"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/hogtail/hogtail/agent/event"
)

// parser turns one framed message into an event. It is not safe for
// concurrent use (the go-syslog machines are not): each connection and each
// datagram worker has its own.
type parser struct {
	m          syslog.Machine
	ids        event.UUIDPool
	times      event.TimeFormatter
	event      string
	distinctID string
	host       string // the agent's host name, for $host
	hostValue  any    // host, boxed once
	peer       string // the last peer, boxed in peerValue
	peerValue  any
	blocks     blocks
	loose      []byte    // a message repaired by repairLoose
	fast       *fastPath // nil: every message goes to go-syslog
	// flagged: the last event toEvent built has a $parse_error.
	flagged bool
}

// blocks hands out events, property slices and boxed strings from blocks
// allocated once per blockEvents messages: an event then costs a few
// allocations per block instead of one per event and per string property.
//
// On a stream connection the committer hands back, in order, the events it
// stored and that the agent no longer refers to (release): events go out
// in the order they were handed out, so once a block's worth has come back
// the oldest block is free and is used again. A batch that cannot be
// released (a transform may keep its events, or it failed and is stored
// again) stops the reuse for the connection (poison): its blocks are left
// to the garbage collector, as datagram workers always do (recycle unset).
//
// Message text goes into the block of its event too (text), so a busy
// connection allocates nothing per message, and no garbage: the text of
// released events is overwritten with the block, which the same contract
// allows (nothing refers to a released event's strings any more).
type blocks struct {
	events []event.Event
	fields []event.Field
	strs   []string
	texts  []byte

	// curN counts the events handed out from the current block, curBig
	// the bytes of long strings its slots point to (see box); only the
	// reader uses them.
	curN, curBig int

	mu       sync.Mutex
	recycle  bool       // set by a stream connection, cleared by poison
	inUse    []useEntry // blocks handed out from, oldest first; the last is current
	pool     *blockPool // free blocks, shared by the source's connections
	released int        // events released from inUse[0] onwards
}

// useEntry is a block handed out from: n events (-1 while it is the
// current block), whose slots point to big bytes of long strings.
type useEntry struct {
	bl     *block
	n, big int
}

// blockPool keeps released blocks for reuse by any connection of a source,
// so that the memory kept for reuse is bounded per source (maxFree blocks)
// however many connections come and go.
type blockPool struct {
	mu   sync.Mutex
	free []*block
}

// get returns a free block, or nil.
func (p *blockPool) get() *block {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.free)
	if n == 0 {
		return nil
	}
	bl := p.free[n-1]
	p.free[n-1] = nil
	p.free = p.free[:n-1]
	return bl
}

// put keeps bl for reuse unless maxFree blocks are kept already.
func (p *blockPool) put(bl *block) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < maxFree {
		p.free = append(p.free, bl)
	}
}

// block is one allocation of blockEvents events and their values: its
// Strings are the boxed string values, its Text the messages' text.
type block = event.Slab

const (
	blockEvents = 128
	maxProps    = 15                 // properties of the richest event toEvent builds
	maxBoxes    = 6                  // strings toEvent boxes per event
	maxFree     = 2048 / blockEvents // free blocks kept per source (about 2.3 MB)
	// blockText is the room for message text per block: most messages
	// are well under 384 bytes; the others get an allocation of their own
	// once it is full.
	blockText = blockEvents * 384
	// bigString is the length from which a string a slot points to
	// counts in maxBlockBig.
	bigString = 384
	// maxBlockBig bounds the long strings one block's slots point to. A
	// block is reused only once all of its events are released, and its
	// slots keep what they point to alive until then (the current block
	// of every connection included): 128 messages of 64 KiB would be
	// 8 MiB per connection after they were stored, outside
	// max_inflight_bytes. Past this, the next event starts a new block.
	maxBlockBig = 256 << 10
)

func (b *blocks) event() *event.Event {
	if len(b.events) == 0 || b.curBig > maxBlockBig {
		b.next()
	}
	e := &b.events[0]
	b.events = b.events[1:]
	b.curN++
	return e
}

// next moves to a free block, or a new one.
func (b *blocks) next() {
	b.mu.Lock()
	if n := len(b.inUse); n > 0 {
		b.inUse[n-1].n, b.inUse[n-1].big = b.curN, b.curBig
	}
	b.curN, b.curBig = 0, 0
	bl := b.pool.get()
	if bl != nil {
		bl.Reuse()
	} else {
		bl = &block{
			Events:  make([]event.Event, blockEvents),
			Fields:  make([]event.Field, blockEvents*maxProps),
			Strings: make([]string, blockEvents*maxBoxes),
			Text:    make([]byte, 0, blockText),
		}
	}
	if b.recycle {
		b.inUse = append(b.inUse, useEntry{bl: bl, n: -1})
	}
	b.mu.Unlock()
	b.events, b.fields, b.strs, b.texts = bl.Events, bl.Fields, bl.Strings, bl.Text[:0]
}

// text returns s as a string in the current block's text, or in an
// allocation of its own when the block has no room left. Call it after
// event for the event the text belongs to, so that both are in the same
// block and reused together.
func (b *blocks) text(s []byte) string {
	if len(s) == 0 {
		return ""
	}
	if cap(b.texts)-len(b.texts) < len(s) {
		return string(s)
	}
	start := len(b.texts)
	b.texts = append(b.texts, s...)
	return event.UnsafeString(b.texts[start:])
}

// release hands back the next n events handed out: the agent no longer
// refers to them. Safe for use beside the reader.
func (b *blocks) release(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.recycle {
		return
	}
	b.released += n
	// The last block is the one being filled: never taken back.
	for len(b.inUse) > 1 && b.released >= b.inUse[0].n {
		e := b.inUse[0]
		b.inUse[0] = useEntry{}
		b.inUse = b.inUse[1:]
		b.released -= e.n
		// Only the events are cleared: toEvent sets some of their fields,
		// and the others must be zero again. Property slots and boxes are
		// written before they are read, so they are left as they are
		// (clearing them cost about 3 % of a busy connection's CPU); what
		// they still point to (at most maxFree blocks' worth) stays alive
		// until they are overwritten. A block that points to long strings
		// is scrubbed: the pool would keep them alive. Built with -tags
		// hogtailpoison, all of it is poisoned, kept or not.
		e.bl.Release(e.big > 0)
		b.pool.put(e.bl)
	}
}

// poison stops the reuse of blocks (see blocks).
func (b *blocks) poison() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recycle = false
	b.inUse = nil
}

// props returns an empty Map with room for maxProps fields; appending more
// reallocates it rather than running into its neighbour.
func (b *blocks) props() event.Map {
	if len(b.fields) < maxProps {
		b.fields = make([]event.Field, blockEvents*maxProps)
	}
	m := b.fields[:0:maxProps]
	b.fields = b.fields[maxProps:]
	return m
}

// box returns s as an interface value without a per-string allocation.
func (b *blocks) box(s string) any {
	if len(b.strs) == 0 {
		b.strs = make([]string, blockEvents*maxBoxes)
	}
	p := &b.strs[0]
	*p = s
	b.strs = b.strs[1:]
	if len(s) >= bigString {
		b.curBig += len(s)
	}
	return event.BoxString(p)
}

func newParser(cfg *Config, host string) *parser {
	opts3164 := []syslog.MachineOption{
		rfc3164.WithYear(rfc3164.CurrentYear{}),
		rfc3164.WithLocaleTimezone(cfg.tz),
		rfc3164.WithRFC3339(),
		rfc3164.WithLenientDay(),
		rfc3164.WithSecondFractions(),
	}
	var m syslog.Machine
	switch cfg.Format {
	case FormatRFC5424:
		m = rfc5424.NewMachine()
	case FormatRFC3164:
		m = rfc3164.NewMachine(opts3164...)
	default:
		m = auto.NewMachine(auto.WithRFC3164Options(opts3164...))
	}
	p := &parser{m: m, event: cfg.Event, distinctID: cfg.DistinctID, host: host, hostValue: host}
	if cfg.Format != FormatRFC3164 {
		p.fast = &fastPath{text: &p.blocks}
	}
	return p
}

// trimFrame drops the trailer a sender may leave on a message.
func trimFrame(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case '\n', '\r', 0:
			b = b[:len(b)-1]
			continue
		}
		break
	}
	return b
}

// toEvent parses msg (which is only valid during the call). peer is the
// sender's address ("" for unix sockets); fi says whether the framing cut
// it; now gives the arrival time, asked only for a message without a
// timestamp. It returns nil for an empty message.
func (p *parser) toEvent(msg []byte, peer string, fi frameInfo, now func() time.Time) *event.Event {
	msg = trimFrame(msg)
	if len(msg) == 0 {
		return nil
	}
	ev := p.blocks.event()
	ev.UUID, ev.Event = p.ids.Next(), p.event
	p.flagged = false
	props := p.blocks.props()
	var f fields
	var err error
	ok := p.fast != nil && p.fast.parse(msg, &f)
	if !ok {
		ok, err = p.parseGoSyslog(msg, &f)
	}
	if !ok {
		// Keep what arrived, with the reason, and what the <PRI> says.
		text := msg
		if pri, rest, ok := leadingPRI(msg); ok {
			props = appendPRI(props, pri)
			text = rest
		}
		props = append(props, event.Field{Key: "message", Value: p.blocks.box(validUTF8(string(text)))})
		errText := "unparsable syslog message"
		if err != nil {
			errText = err.Error()
		}
		errText = joinFlags(fi.cut, errText)
		props = append(props, event.Field{Key: "$parse_error", Value: errText})
		p.flagged = true
		ev.Timestamp = p.times.Format(now())
	} else {
		if f.hasPri {
			props = appendPRI(props, f.pri)
		}
		props = p.appendOpt(props, "hostname", f.hostname)
		props = p.appendOpt(props, "appname", f.appname)
		props = p.appendOpt(props, "procid", f.procid)
		props = p.appendOpt(props, "msgid", f.msgid)
		if len(f.sd) > 0 {
			props = append(props, event.Field{Key: "structured_data", Value: sdMap(f.sd)})
		}
		props = append(props, event.Field{Key: "message", Value: p.blocks.box(validUTF8(f.message))})
		props = append(props, event.Field{Key: "$syslog_format", Value: f.format})
		flag := fi.cut
		if f.format == format5424 && bomInvalid(f.message) {
			flag = joinFlags(flag, bomInvalidError)
		}
		if flag != "" {
			props = append(props, event.Field{Key: "$parse_error", Value: flag})
			p.flagged = true
		}
		if f.hasTS {
			ev.Timestamp = p.times.Format(f.ts)
		} else {
			ev.Timestamp = p.times.Format(now())
		}
		ev.DistinctID = f.hostname
	}
	if fi.truncated {
		props = append(props, event.Field{Key: "$truncated", Value: true})
	}
	if peer != "" {
		if peer != p.peer || p.peerValue == nil {
			p.peer, p.peerValue = peer, peer
		}
		props = append(props, event.Field{Key: "$peer", Value: p.peerValue})
	}
	props = append(props, event.Field{Key: "$host", Value: p.hostValue})
	ev.Properties = props
	switch {
	case p.distinctID != "":
		ev.DistinctID = p.distinctID
	case ev.DistinctID != "":
	case peer != "":
		ev.DistinctID = peer
	default:
		ev.DistinctID = p.host
	}
	return ev
}

// parseGoSyslog parses msg with go-syslog, trying the loose repairs when
// it fails. false: no message, with go-syslog's error when it gave one.
func (p *parser) parseGoSyslog(msg []byte, f *fields) (bool, error) {
	parsed, err := p.m.Parse(msg)
	if err != nil {
		if fixed, ok := repairLoose(p.loose[:0], msg); ok {
			p.loose = fixed
			if again, err2 := p.m.Parse(fixed); err2 == nil {
				parsed, err = again, nil
			}
		}
	}
	if err != nil {
		return false, err
	}
	return f.fromGoSyslog(parsed), nil
}

// Property values boxed once: storing a string in an `any` allocates, and
// these repeat on every message.
var (
	format5424 any = FormatRFC5424
	format3164 any = FormatRFC3164

	facilityNames = func() (names [24]any) {
		for f := range names {
			name, ok := common.FacilityKeywords[uint8(f)]
			if !ok {
				name = strconv.Itoa(f)
			}
			names[f] = name
		}
		return names
	}()
	severityNames = func() (names [8]any) {
		for s := range names {
			names[s] = common.SeverityLevelsShort[uint8(s)]
		}
		return names
	}()
)

func appendPRI(props event.Map, pri uint8) event.Map {
	fac, sev := pri/8, pri%8 // pri <= 191, so fac < 24
	return append(props,
		event.Field{Key: "facility", Value: facilityNames[fac]},
		event.Field{Key: "facility_code", Value: int64(fac)},
		event.Field{Key: "severity", Value: severityNames[sev]},
		event.Field{Key: "severity_code", Value: int64(sev)},
	)
}

// leadingPRI reads a "<N>" prefix (N in 0..191).
func leadingPRI(b []byte) (uint8, []byte, bool) {
	if len(b) < 3 || b[0] != '<' {
		return 0, nil, false
	}
	end := bytes.IndexByte(b[:min(len(b), 5)], '>')
	if end < 2 {
		return 0, nil, false
	}
	n, err := strconv.Atoi(string(b[1:end]))
	if err != nil || n < 0 || n > 191 {
		return 0, nil, false
	}
	return uint8(n), b[end+1:], true
}

// joinFlags joins the reasons a message is flagged with.
func joinFlags(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

func optString(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (p *parser) appendOpt(props event.Map, key, v string) event.Map {
	if v == "" {
		return props
	}
	return append(props, event.Field{Key: key, Value: p.blocks.box(v)})
}

// validUTF8 is s, or a copy with invalid UTF-8 replaced, so that the JSON
// written downstream is valid.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func sortFields(m event.Map) {
	slices.SortFunc(m, func(a, b event.Field) int { return strings.Compare(a.Key, b.Key) })
}

// sdMap orders structured data by element id and parameter name, so the
// same message always gives the same JSON.
func sdMap(sd map[string]map[string]string) event.Map {
	out := make(event.Map, 0, len(sd))
	for id, params := range sd {
		pm := make(event.Map, 0, len(params))
		for n, v := range params {
			pm = append(pm, event.Field{Key: n, Value: v})
		}
		sortFields(pm)
		out = append(out, event.Field{Key: id, Value: pm})
	}
	sortFields(out)
	return out
}
