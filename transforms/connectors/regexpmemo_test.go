package connectors

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dop251/goja"
)

// runDifferential runs testdata/regexpmemo/differential.js with seed in vm
// and returns its log.
func runDifferential(t *testing.T, vm *goja.Runtime, seed int) string {
	t.Helper()
	src, err := os.ReadFile("testdata/regexpmemo/differential.js")
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Set("SEED", seed); err != nil {
		t.Fatal(err)
	}
	v, err := vm.RunScript("differential.js", string(src))
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	return v.String()
}

// TestRegexpMemoMatchesGoja runs random sequences of RegExp operations
// (test, exec, match, replace, search, split, compile, odd lastIndex
// values, odd receivers and arguments, shadowed properties, subclasses) in
// a plain goja runtime and in one with the memo, and requires the same
// results, lastIndex values and side effects, with the memo answering many
// of the tests.
func TestRegexpMemoMatchesGoja(t *testing.T) {
	for _, tc := range []struct {
		name       string
		genBytes   int
		pauseCalls int
		minHits    uint64
	}{
		{"default size", memoGenerationBytes, memoPauseCalls, 50},
		{"tiny generations", 2 << 10, 0, 50}, // evicts all the time
		{"tiny generations, short pauses", 2 << 10, 20, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := 1; seed <= 4; seed++ {
				plain := goja.New()
				memoised := goja.New()
				m, err := installRegexpMemo(memoised)
				if err != nil {
					t.Fatal(err)
				}
				m.genBytes, m.pauseCalls = tc.genBytes, tc.pauseCalls
				if tc.pauseCalls == 20 {
					m.checkMisses = 20
				}
				want := runDifferential(t, plain, seed)
				got := runDifferential(t, memoised, seed)
				if got != want {
					t.Fatalf("seed %d: results differ\nmemo:  %.2000s\ngoja: %.2000s", seed, firstDiff(got, want), firstDiff(want, got))
				}
				if m.hits < tc.minHits || m.misses < 50 {
					t.Errorf("seed %d: memo answered %d tests and missed %d; the script should exercise both", seed, m.hits, m.misses)
				}
				if tc.pauseCalls == 20 && m.pauses < 2 {
					t.Errorf("seed %d: memo paused %d times; the script should pause and resume it", seed, m.pauses)
				}
				held := 0
				for k := range m.cur {
					held += len(k.source) + len(k.input) + memoEntryBytes
				}
				if held > tc.genBytes {
					t.Errorf("seed %d: current generation holds %d bytes, limit %d", seed, held, tc.genBytes)
				}
			}
		})
	}
}

// firstDiff returns a from shortly before the first byte where it differs
// from b.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return a[max(0, i-200):]
}

// TestRegexpMemoLooksNative checks that the replaced test is
// indistinguishable from goja's own as a function.
func TestRegexpMemoLooksNative(t *testing.T) {
	const probe = `JSON.stringify([
		String(RegExp.prototype.test), RegExp.prototype.test.name, RegExp.prototype.test.length,
		Object.getOwnPropertyDescriptor(RegExp.prototype, 'test').writable,
		Object.getOwnPropertyDescriptor(RegExp.prototype, 'test').enumerable,
		Object.getOwnPropertyDescriptor(RegExp.prototype, 'test').configurable,
		Object.keys(RegExp.prototype), typeof RegExp.prototype.test.prototype,
		(() => { try { new RegExp.prototype.test(); return 'constructed'; } catch (e) { return e.name; } })(),
	])`
	plain := goja.New()
	memoised := goja.New()
	if _, err := installRegexpMemo(memoised); err != nil {
		t.Fatal(err)
	}
	want, err := plain.RunString(probe)
	if err != nil {
		t.Fatal(err)
	}
	got, err := memoised.RunString(probe)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("memoised test looks like %s, goja's like %s", got, want)
	}
}

// TestRegexpMemoInConnectors checks that connector runtimes get the memo:
// a connector testing the same user agent twice is answered from it.
func TestRegexpMemoInConnectors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ua")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writePlugin(t, dir, `
export function processEvent(event) {
  const ua = event.properties.ua
  event.properties.mobile = /(?=.*Mobile)(?=.*(iPhone|Android))/.test(ua)
  event.properties.mobile_again = /(?=.*Mobile)(?=.*(iPhone|Android))/.test(ua)
  return event
}`)
	tr := newTestTransform(t, testOpts{}, ChainEntry{Path: dir})
	out := applyAll(t, tr, mustEvent(t, `{"event":"e","distinct_id":"d","properties":{"ua":"Mozilla/5.0 (iPhone) Mobile Safari"}}`))
	if len(out.Events) != 1 {
		t.Fatalf("got %d events, want 1", len(out.Events))
	}
	for _, k := range []string{"mobile", "mobile_again"} {
		if got := prop(t, out.Events[0], k); got != true {
			t.Errorf("%s = %v, want true", k, got)
		}
	}
	l := <-tr.lanes
	defer func() { tr.lanes <- l }()
	m := l.insts[0].regexps
	if m == nil || m.hits != 1 || m.misses != 1 {
		t.Errorf("memo of the connector's runtime: %+v, want one hit and one miss", m)
	}
}

// FuzzRegexpMemo compares test() of the memo (asked twice, so the second
// answer comes from the memo) with goja's for any pattern, flags and input:
//
//	go test -run '^$' -fuzz FuzzRegexpMemo ./transforms/connectors/
func FuzzRegexpMemo(f *testing.F) {
	f.Add(`(?=.*Mobile)(?=.*(iPhone|Android))`, "", "Mozilla (iPhone) Mobile")
	f.Add(`(?!Chrom.*OPR)Chrom(?:e|ium)\/([0-9.]+)`, "i", "Chrome/131.0 OPR/1")
	f.Add(`^a.b$`, "ms", "x\na\nb")
	f.Add(`\u{1F600}`, "u", "😀")
	f.Add(`\d+`, "g", "12 34")
	f.Add(`(a)\1`, "y", "aa")
	plain := goja.New()
	memoised := goja.New()
	if _, err := installRegexpMemo(memoised); err != nil {
		f.Fatal(err)
	}
	const probe = `(function (p, fl, s) {
		let rx;
		try { rx = new RegExp(p, fl); } catch (e) { return 'invalid'; }
		const a = rx.test(s), i1 = rx.lastIndex, b = rx.test(s), i2 = rx.lastIndex;
		return JSON.stringify([a, i1, b, i2, new RegExp(p, fl).test(s)]);
	})`
	run := func(t *testing.T, vm *goja.Runtime, p, fl, s string) string {
		fn, err := vm.RunString(probe)
		if err != nil {
			t.Fatal(err)
		}
		call, _ := goja.AssertFunction(fn)
		v, err := call(goja.Undefined(), vm.ToValue(p), vm.ToValue(fl), vm.ToValue(s))
		if err != nil {
			return "throws " + err.Error()
		}
		return v.String()
	}
	f.Fuzz(func(t *testing.T, p, fl, s string) {
		// regexp2 backtracks without a limit: keep (a+)+$ and friends
		// from running for hours.
		if len(p) > 40 || len(s) > 24 {
			t.Skip()
		}
		want := run(t, plain, p, fl, s)
		got := run(t, memoised, p, fl, s)
		if got != want {
			t.Errorf("/%s/%s.test(%q): memo %s, goja %s", p, fl, s, got, want)
		}
	})
}

// TestRegexpMemoPausesOnUniqueInputs checks that inputs which never repeat
// pause the memo (a miss only adds work), for longer each time, and that
// the memo resumes after a pause.
func TestRegexpMemoPausesOnUniqueInputs(t *testing.T) {
	vm := goja.New()
	m, err := installRegexpMemo(vm)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vm.RunString(`
		const re = /^user-[0-9]*[05]$/;
		let next = 0;
		// unique runs n tests on inputs never seen before and returns how
		// many answers were wrong.
		function unique(n) {
			let wrong = 0;
			for (let end = next + n; next < end; next++) {
				if (re.test('user-' + next) !== (next % 5 === 0)) wrong++;
			}
			return wrong;
		}
		function repeated(n) {
			let wrong = 0;
			for (let i = 0; i < n; i++) {
				if (re.test('user-' + (i % 10)) !== (i % 5 === 0)) wrong++;
			}
			return wrong;
		}
		[unique, repeated]`)
	if err != nil {
		t.Fatal(err)
	}
	var fns []goja.Value
	if err := vm.ExportTo(v, &fns); err != nil {
		t.Fatal(err)
	}
	unique, _ := goja.AssertFunction(fns[0])
	repeated, _ := goja.AssertFunction(fns[1])
	run := func(f goja.Callable, n int) {
		t.Helper()
		wrong, err := f(goja.Undefined(), vm.ToValue(n))
		if err != nil {
			t.Fatal(err)
		}
		if wrong.ToInteger() != 0 {
			t.Fatalf("%d wrong answers", wrong.ToInteger())
		}
	}

	run(unique, memoCheckMisses)
	if m.pauses != 1 || m.paused != memoPauseCalls {
		t.Fatalf("after %d unique inputs: %d pauses, %d calls left; want 1 pause of %d", memoCheckMisses, m.pauses, m.paused, memoPauseCalls)
	}
	run(unique, memoPauseCalls+memoCheckMisses)
	if m.pauses != 2 || m.paused != 2*memoPauseCalls {
		t.Fatalf("a second failed check: %d pauses, %d calls left; want 2 pauses, the second of %d", m.pauses, m.paused, 2*memoPauseCalls)
	}
	hits := m.hits
	run(repeated, 2*memoPauseCalls+5000)
	if m.paused != 0 || m.hits-hits < 4000 {
		t.Errorf("memo did not resume after the pause: %d calls left, %d new hits", m.paused, m.hits-hits)
	}
}
