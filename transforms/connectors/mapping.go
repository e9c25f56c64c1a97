package connectors

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/dop251/goja"
	"github.com/hogtail/hogtail/agent/event"
)

// The Go<->JS event mapping. A connector sees an event through goja
// DynamicObjects backed by the Go event.Event and its ordered event.Map, so a
// trivial processEvent costs no per-key conversion and key order is what the
// plugin observes through Object.keys, for-in and JSON.stringify. Values a
// plugin assigns are kept as goja values while the call runs (so JS reference
// semantics hold) and are turned back into Go values once the call returns
// (materialize), before the event reaches the next connector's runtime.

var (
	eventObjType = reflect.TypeOf((*eventObj)(nil))
	mapObjType   = reflect.TypeOf((*mapObj)(nil))
)

// eventObj is the JS view of one event for one call.
type eventObj struct {
	vm  *goja.Runtime
	ev  *event.Event
	obj *goja.Object
	// props, set and setOnce hold the JS value of those keys once a plugin
	// read or assigned them; nil means "not touched, see ev".
	props, set, setOnce goja.Value
	// detached is set when the call is over and ev belongs to the pipeline
	// again. A plugin that kept a reference (meta.global.last = event) then
	// works on a private copy, made at its first access, and can never
	// touch an event that is already on its way to the sinks.
	detached, cloned bool
	// badUUID holds the last value a plugin tried to set as uuid that is
	// not a UUID (the write is refused; the caller counts it).
	badUUID string
}

// event returns the Go event this view reads and writes.
func (e *eventObj) event() *event.Event {
	if e.detached && !e.cloned {
		e.ev = e.ev.Clone()
		e.cloned = true
	}
	return e.ev
}

// detach ends the call's ownership of the event (see detached).
func (e *eventObj) detach() { e.detached = true }

func newEventObj(vm *goja.Runtime, ev *event.Event) *eventObj {
	e := &eventObj{vm: vm, ev: ev}
	e.obj = vm.NewDynamicObject(e)
	return e
}

func strOrUndef(vm *goja.Runtime, s string) goja.Value {
	if s == "" {
		return nil
	}
	return vm.ToValue(s)
}

func (e *eventObj) mapView(cached *goja.Value, m *event.Map, always bool) goja.Value {
	if *cached != nil {
		return *cached
	}
	if *m == nil && !always {
		return nil
	}
	mo := &mapObj{vm: e.vm, m_: *m, owner: e}
	if mo.m_ == nil {
		mo.m_ = event.Map{}
	}
	*cached = e.vm.NewDynamicObject(mo)
	return *cached
}

// Get implements goja.DynamicObject.
func (e *eventObj) Get(key string) goja.Value {
	ev := e.event()
	switch key {
	case "uuid":
		return e.vm.ToValue(ev.UUID)
	case "event":
		return e.vm.ToValue(ev.Event)
	case "distinct_id":
		return e.vm.ToValue(ev.DistinctID)
	case "timestamp":
		return timestampValue(e.vm, ev)
	case "properties":
		return e.mapView(&e.props, &ev.Properties, true)
	case "$set":
		return e.mapView(&e.set, &ev.Set, false)
	case "$set_once":
		return e.mapView(&e.setOnce, &ev.SetOnce, false)
	case "ip":
		return strOrUndef(e.vm, ev.IP)
	case "site_url":
		return strOrUndef(e.vm, ev.SiteURL)
	case "team_id":
		if ev.TeamID == 0 {
			return nil
		}
		return e.vm.ToValue(ev.TeamID)
	case "now":
		return strOrUndef(e.vm, ev.Now)
	case "sent_at":
		return strOrUndef(e.vm, ev.SentAt)
	}
	return fieldValue(e.vm, ev.Extra, key, e)
}

// Set implements goja.DynamicObject. team_id is immutable: the write is
// ignored (returning true keeps strict-mode code from throwing). A uuid is
// taken only when it is a valid UUID (see validUUID).
func (e *eventObj) Set(key string, val goja.Value) bool {
	ev := e.event()
	switch key {
	case "team_id":
	case "uuid":
		if id, ok := validUUID(jsString(val)); ok {
			ev.UUID = id
		} else {
			e.badUUID = jsString(val)
		}
	case "event":
		ev.Event = jsString(val)
	case "distinct_id":
		ev.DistinctID = jsString(val)
	case "timestamp":
		setTimestamp(ev, val)
	case "properties":
		e.props = orNull(val)
	case "$set":
		e.set = orNull(val)
	case "$set_once":
		e.setOnce = orNull(val)
	case "ip":
		ev.IP = jsString(val)
	case "site_url":
		ev.SiteURL = jsString(val)
	case "now":
		ev.Now = jsString(val)
	case "sent_at":
		ev.SentAt = jsString(val)
	default:
		if val == nil || goja.IsUndefined(val) {
			ev.Extra.Delete(key)
			return true
		}
		ev.Extra.Set(key, toStore(val))
	}
	return true
}

func orNull(v goja.Value) goja.Value {
	if v == nil || goja.IsUndefined(v) {
		return goja.Null()
	}
	return v
}

// Has implements goja.DynamicObject.
func (e *eventObj) Has(key string) bool {
	switch key {
	case "uuid", "event", "distinct_id", "properties":
		return true
	}
	return e.Get(key) != nil
}

// Delete implements goja.DynamicObject.
func (e *eventObj) Delete(key string) bool {
	switch key {
	case "uuid", "team_id":
		return true
	case "properties", "$set", "$set_once":
		return e.Set(key, goja.Null())
	case "event", "distinct_id", "timestamp", "ip", "site_url", "now", "sent_at":
		return e.Set(key, goja.Undefined())
	}
	e.event().Extra.Delete(key)
	return true
}

// Keys implements goja.DynamicObject, in the order hogtail writes events.
func (e *eventObj) Keys() []string {
	ev := e.event()
	keys := make([]string, 0, 8+len(ev.Extra))
	keys = append(keys, "uuid", "event", "distinct_id")
	if ev.Timestamp != "" {
		keys = append(keys, "timestamp")
	}
	keys = append(keys, "properties")
	if e.Get("$set") != nil {
		keys = append(keys, "$set")
	}
	if e.Get("$set_once") != nil {
		keys = append(keys, "$set_once")
	}
	if ev.IP != "" {
		keys = append(keys, "ip")
	}
	if ev.SiteURL != "" {
		keys = append(keys, "site_url")
	}
	if ev.TeamID != 0 {
		keys = append(keys, "team_id")
	}
	if ev.Now != "" {
		keys = append(keys, "now")
	}
	if ev.SentAt != "" {
		keys = append(keys, "sent_at")
	}
	for _, f := range ev.Extra {
		keys = append(keys, f.Key)
	}
	return keys
}

// touched reports whether the call read or set the event's properties,
// $set or $set_once, or left a JS value among its other keys: only then
// has materialize JS values to convert.
func (e *eventObj) touched() bool {
	if e.props != nil || e.set != nil || e.setOnce != nil {
		return true
	}
	for _, f := range e.ev.Extra {
		if _, ok := f.Value.(goja.Value); ok {
			return true
		}
	}
	return false
}

// materialize turns the JS values a call left in the event into Go values.
// It fails when one cannot be converted (see converter); the event then
// keeps what was converted, without the values that were not.
func (e *eventObj) materialize() error {
	err := convert(func(c *converter) { c.materialize(e) })
	if err != nil {
		e.props, e.set, e.setOnce = nil, nil, nil
		e.ev.Properties = scrub(e.ev.Properties)
		e.ev.Set = scrub(e.ev.Set)
		e.ev.SetOnce = scrub(e.ev.SetOnce)
		e.ev.Extra = scrub(e.ev.Extra)
	}
	return err
}

func (c *converter) materialize(e *eventObj) {
	if !c.enter(e.obj) {
		c.fail(errCircular)
	}
	defer c.leave()
	if e.props != nil {
		e.ev.Properties, _ = c.value(e.props, 1).(event.Map)
		e.props = nil
	}
	if e.set != nil {
		e.ev.Set, _ = c.value(e.set, 1).(event.Map)
		e.set = nil
	}
	if e.setOnce != nil {
		e.ev.SetOnce, _ = c.value(e.setOnce, 1).(event.Map)
		e.setOnce = nil
	}
	c.materializeMap(e.ev.Extra, 1)
}

// mapObj is the JS view of an event.Map.
type mapObj struct {
	vm *goja.Runtime
	m_ event.Map
	// owner is the event view this map belongs to; once it is detached,
	// the map is copied before any access (see eventObj.detached).
	owner  *eventObj
	cloned bool
}

func (o *mapObj) mm() *event.Map {
	if o.owner != nil && o.owner.detached && !o.cloned {
		o.m_ = o.m_.Clone()
		o.cloned = true
	}
	return &o.m_
}

// fieldValue returns the JS value of m[key]. A nested object or array is
// converted once and the JS value stored back in the field, so that
// event.properties.a === event.properties.a and mutations through it stick.
func fieldValue(vm *goja.Runtime, m event.Map, key string, owner *eventObj) goja.Value {
	for i := range m {
		if m[i].Key != key {
			continue
		}
		switch v := m[i].Value.(type) {
		case nil:
			return goja.Null()
		case string:
			return vm.ToValue(v)
		case int64:
			return vm.ToValue(v)
		case float64:
			return vm.ToValue(v)
		case bool:
			return vm.ToValue(v)
		case goja.Value:
			return v
		case event.Map:
			o := vm.NewDynamicObject(&mapObj{vm: vm, m_: v, owner: owner})
			m[i].Value = o
			return o
		default:
			jv := toJS(vm, v)
			m[i].Value = jv
			return jv
		}
	}
	return nil
}

// Get implements goja.DynamicObject.
func (o *mapObj) Get(key string) goja.Value { return fieldValue(o.vm, *o.mm(), key, o.owner) }

// Set implements goja.DynamicObject.
func (o *mapObj) Set(key string, val goja.Value) bool {
	o.mm().Set(key, toStore(val))
	return true
}

// Has implements goja.DynamicObject.
func (o *mapObj) Has(key string) bool {
	_, ok := o.mm().Get(key)
	return ok
}

// Delete implements goja.DynamicObject.
func (o *mapObj) Delete(key string) bool {
	o.mm().Delete(key)
	return true
}

// Keys implements goja.DynamicObject. Undefined values are not listed, as
// JSON.stringify would not write them.
func (o *mapObj) Keys() []string {
	m := *o.mm()
	keys := make([]string, 0, len(m))
	for _, f := range m {
		if v, ok := f.Value.(goja.Value); ok && goja.IsUndefined(v) {
			continue
		}
		keys = append(keys, f.Key)
	}
	return keys
}

// toStore turns a value a plugin assigns into what a Map field holds while
// the call runs: primitives become Go values at once, objects stay JS values
// until materialize.
func toStore(v goja.Value) any {
	if v == nil {
		return goja.Undefined()
	}
	if _, ok := v.(*goja.Object); ok {
		return v
	}
	if goja.IsUndefined(v) {
		return v
	}
	return primitive(v)
}

func primitive(v goja.Value) any {
	switch x := v.Export().(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
		return x
	default:
		return x // nil, bool, int64, string
	}
}

func jsString(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return ""
	}
	if o, ok := v.(*goja.Object); ok && o.ClassName() == "Date" {
		if t, ok := o.Export().(time.Time); ok {
			return event.FormatTime(t)
		}
	}
	return v.String()
}

// materializeMap converts JS values held in m's fields back to Go values,
// in place.
func (c *converter) materializeMap(m event.Map, depth int) {
	if depth > maxDepth {
		c.fail(errTooDeep)
	}
	for i := range m {
		switch v := m[i].Value.(type) {
		case goja.Value:
			m[i].Value = c.value(v, depth+1)
		case event.Map:
			c.materializeMap(v, depth+1)
		case []any:
			for j := range v {
				if jv, ok := v[j].(goja.Value); ok {
					v[j] = c.value(jv, depth+1)
				}
			}
		}
	}
}

// scrub drops the fields of m (and of the maps and arrays in it) that
// still hold JS values after a failed conversion: what could not become a
// Go value is not kept half-converted.
func scrub(m event.Map) event.Map {
	out := m[:0]
	for _, f := range m {
		switch v := f.Value.(type) {
		case goja.Value:
			continue
		case event.Map:
			f.Value = scrub(v)
		case []any:
			for j := range v {
				switch x := v[j].(type) {
				case goja.Value:
					v[j] = nil
				case event.Map:
					v[j] = scrub(x)
				}
			}
		}
		out = append(out, f)
	}
	clear(m[len(out):])
	return out
}

// fromJS converts a JS value to the Go value types of event.Map. Undefined
// and functions become nil (callers drop such keys), Dates ISO strings. It
// fails as converter does.
func fromJS(v goja.Value) (any, error) {
	var out any
	if err := convert(func(c *converter) { out = c.value(v, 0) }); err != nil {
		return nil, err
	}
	return out, nil
}

// convert runs f with a fresh converter and returns the error of a
// conversion that failed.
func convert(f func(c *converter)) (err error) {
	c := &converter{}
	defer func() { err = c.recovered(recover()) }()
	f(c)
	return nil
}

// maxDepth bounds the nesting of a value a plugin hands back: as deep as
// hogtail's JSON parser reads, so that what a plugin builds can be stored
// and read back. maxValues bounds its size, counted as a walk visits them
// (a value shared by many parents is counted once per parent, as
// JSON.stringify would write it).
const (
	maxDepth  = 10000
	maxValues = 1 << 20
)

var (
	errCircular  = errors.New("the value is circular (it contains itself), which JSON cannot represent")
	errTooDeep   = fmt.Errorf("the value is nested deeper than %d levels", maxDepth)
	errTooLarge  = fmt.Errorf("the value holds more than %d values", maxValues)
	convertPanic = errors.New("converting a JS value")
)

// converter turns the JS values a plugin hands back into Go values. A
// plugin can make that impossible: a value that contains itself (directly,
// or through the event: event.properties.self = event.properties), one
// too deep or too large (a DAG that doubles at every level is 2^64 values
// to write), or a getter or Proxy trap that throws while it is read. Each
// makes the conversion fail with an error, never loop, overflow the stack
// or panic through the agent: its methods panic with a convertError that
// recovered turns back into the error.
type converter struct {
	// stack holds the objects being converted, outermost first; deep ones
	// are indexed in onStack too, so that a deep value costs no quadratic
	// time.
	stack   []*goja.Object
	onStack map[*goja.Object]bool
	n       int
}

type convertError struct{ err error }

func (c *converter) fail(err error) { panic(convertError{err}) }

// recovered turns what a conversion panicked with into its error: a
// convertError's, or a JS exception thrown by a getter or Proxy trap.
// Anything else is not the conversion's to handle and panics on.
func (c *converter) recovered(r any) error {
	switch x := r.(type) {
	case nil:
		return nil
	case convertError:
		return x.err
	case *goja.Exception:
		return fmt.Errorf("%w: %w", convertPanic, x)
	case *goja.InterruptedError:
		return fmt.Errorf("%w: %w", convertPanic, x)
	}
	panic(r)
}

// shallowStack is the depth up to which the stack is searched directly.
const shallowStack = 16

// enter pushes o, or reports false when o is already being converted.
func (c *converter) enter(o *goja.Object) bool {
	if c.onStack != nil {
		if c.onStack[o] {
			return false
		}
	} else {
		for _, p := range c.stack {
			if p == o {
				return false
			}
		}
	}
	c.stack = append(c.stack, o)
	switch {
	case c.onStack != nil:
		c.onStack[o] = true
	case len(c.stack) > shallowStack:
		c.onStack = make(map[*goja.Object]bool, 2*len(c.stack))
		for _, p := range c.stack {
			c.onStack[p] = true
		}
	}
	return true
}

func (c *converter) leave() {
	last := len(c.stack) - 1
	if c.onStack != nil {
		delete(c.onStack, c.stack[last])
	}
	c.stack = c.stack[:last]
}

func (c *converter) value(v goja.Value, depth int) any {
	if c.n++; c.n > maxValues {
		c.fail(errTooLarge)
	}
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil
	}
	o, ok := v.(*goja.Object)
	if !ok {
		return primitive(v)
	}
	if depth > maxDepth {
		c.fail(errTooDeep)
	}
	if !c.enter(o) {
		c.fail(errCircular)
	}
	defer c.leave()
	switch o.ExportType() {
	case mapObjType:
		mo := o.Export().(*mapObj)
		mp := mo.mm()
		// Drop keys whose value was set to undefined, as JSON.stringify
		// does (rare: copy only then), before converting the rest.
		m := *mp
		for i := range m {
			if jv, ok := m[i].Value.(goja.Value); ok && goja.IsUndefined(jv) {
				out := make(event.Map, 0, len(m))
				for _, f := range m {
					if jv, ok := f.Value.(goja.Value); ok && goja.IsUndefined(jv) {
						continue
					}
					out = append(out, f)
				}
				*mp = out
				m = out
				break
			}
		}
		for i := range m {
			if jv, ok := m[i].Value.(goja.Value); ok {
				m[i].Value = c.value(jv, depth+1)
			} else if sub, ok := m[i].Value.(event.Map); ok {
				c.materializeMap(sub, depth+1)
			}
		}
		if mo.owner != nil && mo.owner.detached {
			// A view kept from an earlier call: hand out a copy.
			return mp.Clone()
		}
		return *mp
	case eventObjType:
		eo := o.Export().(*eventObj)
		if !eo.detached {
			c.leave() // eo.obj is o: materialize enters it
			c.materialize(eo)
			c.enter(o)
		}
		return eventToMap(eo.event()).Clone()
	}
	switch o.ClassName() {
	case "Function":
		return nil
	case "Date":
		if t, ok := o.Export().(time.Time); ok {
			return event.FormatTime(t)
		}
		return nil
	case "Array":
		n := int(o.Get("length").ToInteger())
		arr := make([]any, n)
		for i := 0; i < n; i++ {
			arr[i] = c.value(o.Get(itoa(i)), depth+1)
		}
		return arr
	}
	if tj, ok := goja.AssertFunction(o.Get("toJSON")); ok {
		if r, err := tj(o); err == nil {
			if _, isObj := r.(*goja.Object); !isObj {
				return primitive(r)
			}
		}
	}
	keys := o.Keys()
	m := make(event.Map, 0, len(keys))
	for _, k := range keys {
		fv := o.Get(k)
		if fv == nil || goja.IsUndefined(fv) {
			continue
		}
		if fo, ok := fv.(*goja.Object); ok && fo.ClassName() == "Function" {
			continue
		}
		m = append(m, event.Field{Key: k, Value: c.value(fv, depth+1)})
	}
	return m
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	var b [20]byte
	p := len(b)
	for i > 0 {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
	}
	return string(b[p:])
}

// toJS builds native JS values (fresh objects) from Go values.
func toJS(vm *goja.Runtime, v any) goja.Value {
	switch t := v.(type) {
	case nil:
		return goja.Null()
	case goja.Value:
		return t
	case event.Map:
		o := vm.NewObject()
		for _, f := range t {
			_ = o.Set(f.Key, toJS(vm, f.Value))
		}
		return o
	case []any:
		items := make([]any, len(t))
		for i := range t {
			items[i] = toJS(vm, t[i])
		}
		return vm.NewArray(items...)
	case []string:
		items := make([]any, len(t))
		for i := range t {
			items[i] = t[i]
		}
		return vm.NewArray(items...)
	default:
		return vm.ToValue(v)
	}
}

// eventToMap renders an event as an ordered object (the PluginEvent shape).
func eventToMap(ev *event.Event) event.Map {
	m := make(event.Map, 0, 12+len(ev.Extra))
	m = append(m, event.Field{Key: "uuid", Value: ev.UUID}, event.Field{Key: "event", Value: ev.Event},
		event.Field{Key: "distinct_id", Value: ev.DistinctID})
	if ev.Timestamp != "" {
		var ts any = ev.Timestamp
		if ev.TimestampIsNumber {
			if n, ok := timestampNumber(ev.Timestamp); ok {
				ts = n
			}
		}
		m = append(m, event.Field{Key: "timestamp", Value: ts})
	}
	props := ev.Properties
	if props == nil {
		props = event.Map{}
	}
	m = append(m, event.Field{Key: "properties", Value: props})
	if ev.Set != nil {
		m = append(m, event.Field{Key: "$set", Value: ev.Set})
	}
	if ev.SetOnce != nil {
		m = append(m, event.Field{Key: "$set_once", Value: ev.SetOnce})
	}
	add := func(k, v string) {
		if v != "" {
			m = append(m, event.Field{Key: k, Value: v})
		}
	}
	add("ip", ev.IP)
	add("site_url", ev.SiteURL)
	if ev.TeamID != 0 {
		m = append(m, event.Field{Key: "team_id", Value: ev.TeamID})
	}
	add("now", ev.Now)
	add("sent_at", ev.SentAt)
	m = append(m, ev.Extra...)
	return m
}
