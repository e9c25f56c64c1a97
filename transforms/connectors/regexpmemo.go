package connectors

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// Sizes of the regexp memo of one runtime.
const (
	// memoMaxInput is the longest input (in bytes) whose result is kept:
	// user agents, event names and property keys are far shorter, and a long
	// text rarely comes back.
	memoMaxInput = 1024
	// memoGenerationBytes is what one generation of the memo may hold
	// (pattern and input bytes plus memoEntryBytes per entry); the memo
	// keeps two generations, so a runtime holds at most twice this.
	memoGenerationBytes = 128 << 10
	// memoEntryBytes approximates the map's own cost per entry.
	memoEntryBytes = 64
	// Every memoCheckMisses misses the memo checks that it pays: when
	// fewer than one test in memoMinHitRatio was answered from it (inputs
	// that do not repeat, such as ids, where a miss only adds the memo's
	// own work), the next memoPauseCalls tests go straight to goja, twice
	// as many after each further check that fails, up to
	// memoPauseCalls*memoMaxPauseFactor.
	memoCheckMisses    = 512
	memoMinHitRatio    = 4
	memoPauseCalls     = 16384
	memoMaxPauseFactor = 64
)

// regexpAccessorsProgram returns, from a runtime not yet touched by the connector,
// RegExp.prototype.test and the getters that read a RegExp's own pattern
// and flags (not properties a connector could have shadowed).
var regexpAccessorsProgram = goja.MustCompile("hogtail-regexp.js", `(function () {
  const p = RegExp.prototype;
  const get = (k) => Object.getOwnPropertyDescriptor(p, k).get;
  return [p.test, get('source'), get('global'), get('sticky'), get('ignoreCase'), get('multiline'), get('dotAll'), get('unicode')];
})()`, false)

// regexpMemo memoises RegExp.prototype.test for regexps without the g and y
// flags. For those, goja's test is a pure function of the pattern, the
// flags and the input string: it ignores lastIndex (after converting it to a
// number, as the standard says) and writes nothing back. Connectors call
// test on the same inputs over and over (a user-agent parser tests the same
// few user agents on every event), and patterns with lookahead run on
// regexp2, whose cost grows with the square of the input for a leading
// `(?=.*x)`.
//
// Only test is replaced: RegExp.prototype.exec is watched by goja, and
// replacing it would switch every RegExp of the runtime (replace, split,
// match, search) to the slow generic path of the standard. test is not
// watched, so the fast paths stay. The memo belongs to one runtime, which
// one goroutine uses at a time, and is bounded (see memoGenerationBytes).
type regexpMemo struct {
	test                                                           func(goja.FunctionCall) goja.Value
	source, global, sticky, ignoreCase, multiline, dotAll, unicode func(goja.FunctionCall) goja.Value

	cur, old      map[memoKey]bool
	curBytes      int
	genBytes      int // memoGenerationBytes; smaller in tests
	pauseCalls    int // memoPauseCalls; other values in tests
	checkMisses   int // memoCheckMisses; other values in tests
	vTrue, vFalse goja.Value

	// winHits and winMisses count answers since the last check; paused
	// counts down the tests left to pass straight to goja; pauseLen is
	// the next pause.
	winHits, winMisses int
	paused, pauseLen   int

	hits, misses, pauses uint64 // for tests
}

// memoKey names one test: the pattern's source, its i/m/s/u flags and the
// input.
type memoKey struct {
	source string
	flags  uint8
	input  string
}

// installRegexpMemo replaces RegExp.prototype.test of vm with a memoising
// one that behaves the same. It must run before any connector code.
func installRegexpMemo(vm *goja.Runtime) (*regexpMemo, error) {
	v, err := vm.RunProgram(regexpAccessorsProgram)
	if err != nil {
		return nil, fmt.Errorf("reading RegExp.prototype: %w", err)
	}
	var fns [8]func(goja.FunctionCall) goja.Value
	arr := v.ToObject(vm)
	for i := range fns {
		f, ok := arr.Get(fmt.Sprint(i)).Export().(func(goja.FunctionCall) goja.Value)
		if !ok {
			return nil, fmt.Errorf("RegExp.prototype accessor %d is not a native function", i)
		}
		fns[i] = f
	}
	m := &regexpMemo{
		test: fns[0], source: fns[1], global: fns[2], sticky: fns[3],
		ignoreCase: fns[4], multiline: fns[5], dotAll: fns[6], unicode: fns[7],
		cur: map[memoKey]bool{}, genBytes: memoGenerationBytes, pauseCalls: memoPauseCalls, checkMisses: memoCheckMisses,
		vTrue: vm.ToValue(true), vFalse: vm.ToValue(false),
	}
	fn := vm.ToValue(m.call).ToObject(vm)
	// As the native one: Function.prototype.toString gives
	// "function test() { [native code] }".
	if err := fn.DefineDataProperty("name", vm.ToValue("test"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return nil, fmt.Errorf("naming RegExp.prototype.test: %w", err)
	}
	if err := fn.DefineDataProperty("length", vm.ToValue(1), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return nil, fmt.Errorf("setting RegExp.prototype.test.length: %w", err)
	}
	proto := vm.Get("RegExp").ToObject(vm).Get("prototype").ToObject(vm)
	if err := proto.DefineDataProperty("test", fn, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return nil, fmt.Errorf("installing RegExp.prototype.test: %w", err)
	}
	return m, nil
}

// call is RegExp.prototype.test. Anything the memo cannot answer exactly
// (not a RegExp, a g or y flag, a non-string argument, a lastIndex that is
// not a number, strings that do not convert to Go losslessly, long inputs)
// goes to goja's own test.
func (m *regexpMemo) call(call goja.FunctionCall) goja.Value {
	if m.paused > 0 {
		m.paused--
		return m.test(call)
	}
	rx, ok := call.This.(*goja.Object)
	if !ok || !isRegExp(rx) || len(call.Arguments) == 0 {
		return m.test(call)
	}
	in, ok := call.Arguments[0].(goja.String)
	if !ok {
		return m.test(call)
	}
	// goja reads lastIndex and converts it even when the flags make it
	// irrelevant; for a number that has no effect to repeat.
	if !goja.IsNumber(rx.Get("lastIndex")) {
		return m.test(call)
	}
	this := goja.FunctionCall{This: rx}
	if m.global(this).ToBoolean() || m.sticky(this).ToBoolean() {
		return m.test(call)
	}
	input := in.String()
	source := m.source(this).String()
	if len(input) > memoMaxInput || !lossless(input) || !lossless(source) {
		return m.test(call)
	}
	k := memoKey{source: source, input: input}
	for i, f := range [...]func(goja.FunctionCall) goja.Value{m.ignoreCase, m.multiline, m.dotAll, m.unicode} {
		if f(this).ToBoolean() {
			k.flags |= 1 << i
		}
	}
	if r, ok := m.cur[k]; ok {
		m.hits++
		m.winHits++
		return m.value(r)
	}
	r, ok := m.old[k]
	if ok {
		m.hits++
		m.winHits++
	} else {
		m.misses++
		m.winMisses++
		r = m.test(call).ToBoolean()
	}
	m.put(k, r)
	if m.winMisses >= m.checkMisses {
		m.check()
	}
	return m.value(r)
}

// check pauses the memo when it did not pay since the last check.
func (m *regexpMemo) check() {
	if m.pauseCalls > 0 && m.winHits*memoMinHitRatio < m.winHits+m.winMisses {
		if m.pauseLen == 0 {
			m.pauseLen = m.pauseCalls
		}
		m.paused = m.pauseLen
		m.pauseLen = min(2*m.pauseLen, m.pauseCalls*memoMaxPauseFactor)
		m.pauses++
		// What was kept came from inputs that did not repeat.
		m.old, m.cur, m.curBytes = nil, make(map[memoKey]bool), 0
	} else {
		m.pauseLen = 0
	}
	m.winHits, m.winMisses = 0, 0
}

// isRegExp reports whether o is a RegExp object (not a proxy of one).
func isRegExp(o *goja.Object) (ok bool) {
	// The class of a revoked proxy is a TypeError; goja's own test then
	// throws its own one.
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return o.ClassName() == "RegExp"
}

func (m *regexpMemo) value(b bool) goja.Value {
	if b {
		return m.vTrue
	}
	return m.vFalse
}

// put adds an entry to the current generation, starting a new one (and
// dropping the oldest) when the current one is full.
func (m *regexpMemo) put(k memoKey, r bool) {
	size := len(k.source) + len(k.input) + memoEntryBytes
	if m.curBytes+size > m.genBytes {
		m.old, m.cur, m.curBytes = m.cur, make(map[memoKey]bool, len(m.cur)), 0
	}
	m.cur[k] = r
	m.curBytes += size
}

// lossless reports whether s is the exact UTF-8 form of the JS string it
// came from. goja writes a lone surrogate as U+FFFD, so two different JS
// strings could meet in one Go string; those are not memoised.
func lossless(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return !strings.ContainsRune(s[i:], utf8.RuneError)
		}
	}
	return true
}
