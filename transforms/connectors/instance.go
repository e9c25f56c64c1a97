package connectors

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/buffer"
	"github.com/dop251/goja_nodejs/require"
	"github.com/dop251/goja_nodejs/url"
	"github.com/hogtail/hogtail/agent/event"
)

var promiseType = reflect.TypeOf((*goja.Promise)(nil))

// errTimeout is the value a timed-out call is interrupted with.
type errTimeout struct{ d time.Duration }

func (e errTimeout) Error() string {
	return fmt.Sprintf("script execution timed out after %s", e.d)
}

// prelude runs in every runtime before the connector's bundle. It defines
// what PostHog's VM injects that is simplest to write in JS.
const prelude = `
(function (g) {
  // Plain configurable properties of the global object, so a plugin may
  // declare its own names without a redeclaration error.
  const def = (k, v) => Object.defineProperty(g, k, { value: v, writable: true, configurable: true, enumerable: false });
  const module = { exports: {} };
  def('module', module);
  def('exports', module.exports);
  def('RetryError', class RetryError extends Error {
    constructor(message, attempt, maxAttempts) {
      super(message);
      this.name = 'RetryError';
      this._attempt = attempt;
      this._maxAttempts = maxAttempts;
    }
  });
  // goja_nodejs's URL differs from WHATWG URL (and so from Node) where real
  // plugins notice: URLSearchParams#forEach passes (name, value) instead
  // of (value, name), the search setter keeps a leading "?", toString
  // leaves "+" unescaped (a receiver reads it as a space), and a change
  // through url.searchParams does not reach url.href.
  const sp = g.URLSearchParams && g.URLSearchParams.prototype;
  // formEncode is application/x-www-form-urlencoded: only ASCII letters,
  // digits and *-._ stay, a space is "+".
  const formEncode = (s) => encodeURIComponent(String(s))
    .replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
  const nativeEntries = sp && sp.entries;
  const serialize = (params) => {
    let out = '';
    const it = nativeEntries.call(params);
    for (let r = it.next(); !r.done; r = it.next()) {
      out += (out ? '&' : '') + formEncode(r.value[0]) + '=' + formEncode(r.value[1]);
    }
    return out;
  };
  const nativeParamsString = sp && sp.toString;
  if (sp) {
    Object.defineProperty(sp, 'toString', {
      value: function toString() { return serialize(this); },
      writable: true, configurable: true, enumerable: true,
    });
    Object.defineProperty(sp, 'forEach', {
      value: function forEach(callback, thisArg) {
        if (typeof callback !== 'function') {
          throw new TypeError('The "callback" argument must be of type function');
        }
        // Live over the list, as in Node; the entries are read by index
        // rather than destructured (goja runs array destructuring through
        // the iterator protocol, several objects per pair).
        const it = this.entries();
        for (let r = it.next(); !r.done; r = it.next()) {
          const pair = r.value;
          callback.call(thisArg, pair[1], pair[0], this);
        }
      },
      writable: true, configurable: true, enumerable: true,
    });
  }
  // URL.prototype.search is not configurable: instances get a prototype
  // of their own, below the native one, whose search setter drops the "?".
  const NativeURL = g.URL;
  const search = NativeURL && Object.getOwnPropertyDescriptor(NativeURL.prototype, 'search');
  const href = NativeURL && Object.getOwnPropertyDescriptor(NativeURL.prototype, 'href');
  const params = NativeURL && Object.getOwnPropertyDescriptor(NativeURL.prototype, 'searchParams');
  if (search && search.set && href && params && sp) {
    const proto = Object.create(NativeURL.prototype);
    const nativeString = NativeURL.prototype.toString;
    // The query, as WHATWG URL has it: the text the URL was given, until
    // a plugin changes it through searchParams; then the params,
    // serialised. goja_nodejs's query is its own serialisation of the
    // params once they changed (with "+" unescaped), and only a query
    // equal to that is re-serialised: one the URL was given as it is
    // stays as it is. (Whether the params changed cannot be kept: a host
    // object is a new JS object at every read, so a WeakSet never finds
    // it again.)
    const rawQuery = (u) => search.get.call(u).replace(/^\?/, '');
    const query = (u, raw) => {
      const p = params.get.call(u);
      return raw === nativeParamsString.call(p) ? serialize(p) : raw;
    };
    const whole = function () {
      const s = nativeString.call(this);
      const raw = rawQuery(this);
      const q = query(this, raw);
      if (q === raw) return s;
      const h = s.indexOf('#');
      let base = h < 0 ? s : s.slice(0, h);
      const i = base.indexOf('?');
      if (i >= 0) base = base.slice(0, i);
      return base + (q ? '?' + q : '') + (h < 0 ? '' : s.slice(h));
    };
    Object.defineProperty(proto, 'search', {
      get() {
        const q = query(this, rawQuery(this));
        return q ? '?' + q : '';
      },
      set(v) {
        v = String(v);
        search.set.call(this, v.charAt(0) === '?' ? v.slice(1) : v);
      },
      enumerable: search.enumerable, configurable: true,
    });
    Object.defineProperty(proto, 'href', {
      get: whole,
      set: href.set,
      enumerable: href.enumerable, configurable: true,
    });
    for (const m of ['toString', 'toJSON']) {
      Object.defineProperty(proto, m, { value: whole, writable: true, configurable: true, enumerable: false });
    }
    const URL = function URL(input, base) {
      if (!new.target) {
        throw new TypeError("Class constructor URL cannot be invoked without 'new'");
      }
      // The native constructor treats an undefined base as none, so
      // passing it always saves reading 'arguments' (an object per call).
      const u = new NativeURL(input, base);
      Object.setPrototypeOf(u, proto);
      return u;
    };
    Object.defineProperty(proto, 'constructor', { value: URL, writable: true, configurable: true, enumerable: false });
    URL.prototype = proto;
    for (const k of Object.getOwnPropertyNames(NativeURL)) {
      if (!Object.prototype.hasOwnProperty.call(URL, k)) {
        Object.defineProperty(URL, k, Object.getOwnPropertyDescriptor(NativeURL, k));
      }
    }
    def('URL', URL);
  }
  // Node's Buffer statics that goja_nodejs lacks and plugins call.
  const B = g.Buffer;
  if (B && typeof B.isBuffer !== 'function') {
    Object.defineProperty(B, 'isBuffer', { value: function isBuffer(x) { return x instanceof B; }, writable: true, configurable: true });
  }
  if (B && typeof B.byteLength !== 'function') {
    Object.defineProperty(B, 'byteLength', {
      value: function byteLength(v, enc) {
        if (typeof v === 'string') return B.from(v, enc).length;
        if (v && typeof v.byteLength === 'number') return v.byteLength;
        throw new TypeError('The "string" argument must be of type string or an instance of Buffer or ArrayBuffer');
      },
      writable: true, configurable: true,
    });
  }
  def('__hogtailBatchWrapper', function (batch) {
    return async function processEvent(event, meta) {
      const out = await batch([event], meta);
      return out ? out[0] : undefined;
    };
  });
})(globalThis);
`

var preludeProgram = goja.MustCompile("hogtail-prelude.js", prelude, false)

// methods are the exports looked up by name.
var methods = []string{"setupPlugin", "teardownPlugin", "processEvent", "processEventBatch", "composeWebhook", "onEvent", "exportEvents", "runEveryMinute", "runEveryHour", "runEveryDay"}

// instance is one goja runtime running one version of one connector. It is
// used by one goroutine at a time (its lane, or the scheduler).
type instance struct {
	c  *connector
	t  *Transform
	vm *goja.Runtime

	meta *goja.Object
	fns  map[string]goja.Callable

	setupDone bool
	// broken is set when a call timed out: goja does not run promise jobs
	// reliably in a runtime interrupted inside an async function, so the
	// lane replaces the runtime (see Transform.replace).
	broken bool

	// watchdog state, shared with the memory guard
	mu       sync.Mutex
	armed    bool
	fired    bool
	firedErr error // what the call was interrupted with
	callSeq  uint64
	timer    *time.Timer
	deadline time.Time
	// timerSet: timer is scheduled, for timerAt (see fire).
	timerSet bool
	timerAt  time.Time
	// outOfMemory is set when the memory guard stopped a call: replacing
	// the runtime then also returns the memory it held.
	outOfMemory bool

	// captured holds events from posthog.capture until the caller takes
	// them.
	captured []*event.Event

	// regexps memoises RegExp.prototype.test (see regexpMemo).
	regexps *regexpMemo

	jsonParse, jsonStringify goja.Callable
	// hashUpdate and hashDigest are the methods of every hashObj.
	hashUpdate, hashDigest goja.Value

	// limit is the time limit of one call: the transform's timeout, or
	// exports.timeout on the runtimes of the export sink.
	limit time.Duration
	// ctx, when set, ends the call early: an export call ends with its
	// delivery (a stop of the agent); fetch requests are cut with it.
	ctx context.Context
	// fetches, when not nil, records every fetch (hogtail test shows the
	// requests an export call made).
	fetches *[]fetchRecord
}

// fetchRecord is one fetch() request as hogtail test shows it.
type fetchRecord struct {
	Method string `json:"method"`
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// newInstance creates a runtime, runs the connector's bundle in it and finds
// its exports. It does not call setupPlugin.
func newInstance(t *Transform, c *connector) (in *instance, err error) {
	var created *instance // in is nil once an error is returned
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("connector %q: creating runtime: %v", c.spec.name, r)
		}
		if err != nil && created != nil {
			created.timer.Stop()
			t.guard.unregister(created)
		}
	}()
	vm := goja.New()
	in = &instance{c: c, t: t, vm: vm, fns: map[string]goja.Callable{}, limit: t.cfg.Timeout.D()}
	in.timer = time.AfterFunc(time.Hour, in.fire)
	in.timer.Stop()
	t.guard.register(in)
	created = in

	// Buffer, URL and URLSearchParams come from goja_nodejs, which needs
	// its require to install them; the plugin's require is replaced below.
	t.registry.Enable(vm)
	buffer.Enable(vm)
	url.Enable(vm)

	if _, err := vm.RunProgram(preludeProgram); err != nil {
		return nil, fmt.Errorf("running prelude: %w", err)
	}
	if in.regexps, err = installRegexpMemo(vm); err != nil {
		return nil, err
	}
	if err := installIntl(vm); err != nil {
		return nil, fmt.Errorf("installing Intl: %w", err)
	}
	json := vm.Get("JSON").ToObject(vm)
	in.jsonParse, _ = goja.AssertFunction(json.Get("parse"))
	in.jsonStringify, _ = goja.AssertFunction(json.Get("stringify"))

	in.installGlobals()
	if err := in.buildMeta(); err != nil {
		return nil, err
	}

	in.arm(t.cfg.Timeout.D())
	_, err = vm.RunProgram(c.prog)
	in.disarm()
	if err != nil {
		return nil, fmt.Errorf("connector %q: running %s: %s", c.spec.name, c.spec.main, jsErrorText(err))
	}
	in.findExports()
	if in.fns["processEvent"] == nil && in.fns["processEventBatch"] != nil {
		wrap, _ := goja.AssertFunction(vm.Get("__hogtailBatchWrapper"))
		batchFn := in.exportValue("processEventBatch")
		w, err := wrap(goja.Undefined(), batchFn)
		if err != nil {
			return nil, fmt.Errorf("connector %q: wrapping processEventBatch: %w", c.spec.name, err)
		}
		in.fns["processEvent"], _ = goja.AssertFunction(w)
	}
	return in, nil
}

// exportCandidates lists, in PostHog's order, the objects exports are
// looked up in.
func (in *instance) exportCandidates() []*goja.Object {
	var out []*goja.Object
	add := func(v goja.Value) {
		if o, ok := v.(*goja.Object); ok && o != nil {
			for _, x := range out {
				if x == o {
					return
				}
			}
			out = append(out, o)
		}
	}
	exp := in.vm.Get("exports")
	mod, _ := in.vm.Get("module").(*goja.Object)
	add(exp)
	if o, ok := exp.(*goja.Object); ok {
		add(o.Get("default"))
	}
	if mod != nil {
		me := mod.Get("exports")
		add(me)
		if o, ok := me.(*goja.Object); ok {
			add(o.Get("default"))
		}
	}
	return out
}

func (in *instance) exportValue(name string) goja.Value {
	for _, o := range in.exportCandidates() {
		if v := o.Get(name); v != nil {
			if _, ok := goja.AssertFunction(v); ok {
				return v
			}
		}
	}
	// No export at all: top-level functions of the script, as PostHog falls
	// back to the sandbox's global scope.
	v := in.vm.Get(name)
	if _, ok := goja.AssertFunction(v); ok {
		return v
	}
	return nil
}

func (in *instance) findExports() {
	for _, name := range methods {
		if v := in.exportValue(name); v != nil {
			in.fns[name], _ = goja.AssertFunction(v)
		}
	}
}

func (in *instance) has(name string) bool { return in.fns[name] != nil }

// hasScheduled reports whether the connector exports runEvery* tasks.
func (in *instance) hasScheduled() bool {
	return in.has("runEveryMinute") || in.has("runEveryHour") || in.has("runEveryDay")
}

// fire is the watchdog: it interrupts the runtime if the armed call is past
// its deadline. The timer is not stopped when a call ends (calls take
// microseconds, and stopping and resetting a timer for each cost more than
// the call): when it fires during a later call, it is set again for that
// call's deadline; when it fires between calls, it stays off until the next
// arm.
func (in *instance) fire() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.timerSet = false
	if !in.armed || in.fired {
		return
	}
	if left := time.Until(in.deadline); left > 0 {
		in.timerSet, in.timerAt = true, in.deadline
		in.timer.Reset(left)
		return
	}
	in.fired = true
	in.firedErr = errTimeout{in.limit}
	in.vm.Interrupt(in.firedErr)
}

func (in *instance) arm(d time.Duration) {
	in.mu.Lock()
	in.armed = true
	in.fired = false
	in.firedErr = nil
	in.callSeq++
	in.deadline = time.Now().Add(d)
	if !in.timerSet || in.timerAt.After(in.deadline) {
		in.timerSet, in.timerAt = true, in.deadline
		in.timer.Reset(d)
	}
	in.mu.Unlock()
}

func (in *instance) disarm() {
	in.mu.Lock()
	in.armed = false
	in.mu.Unlock()
	// An Interrupt that raced with the end of the call must not hit the
	// next one.
	in.vm.ClearInterrupt()
}

// remaining is the time left in the current call (for fetch).
func (in *instance) remaining() time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.armed {
		return in.limit
	}
	return time.Until(in.deadline)
}

// call runs fn with the watchdog armed and settles a returned promise.
// Promises settle within the call: the host's async APIs (fetch, cache,
// storage) resolve before they return, and goja drains its job queue when
// the outermost call returns.
func (in *instance) call(fn goja.Callable, args ...goja.Value) (goja.Value, error) {
	v, err := in.callSync(fn, args...)
	if err != nil {
		return nil, err
	}
	v, err = settle(v)
	if errors.Is(err, errPending) {
		// An Interrupt that lands while goja runs the promise jobs
		// after the call (code after an await) leaves the promise
		// pending instead of failing the call. The watchdogs set fired
		// only while the call is armed, so it still tells after it.
		in.mu.Lock()
		fired, firedErr := in.fired, in.firedErr
		in.mu.Unlock()
		if fired {
			err = firedErr
			in.checkInterrupted(err)
		}
	}
	return v, err
}

// checkInterrupted marks the runtime broken after a timeout or a memory
// stop, so that its lane replaces it.
func (in *instance) checkInterrupted(err error) {
	switch errKind(err) {
	case "timeout":
		in.broken = true
	case "memory":
		in.broken = true
		in.outOfMemory = true
	}
}

var errPending = errors.New("promise still pending when the call returned (connectors have no timers; await only host APIs)")

// callSync runs fn with the watchdog armed, without awaiting a returned
// promise (composeWebhook is not awaited in PostHog, so the caller treats
// one as an error). A panic becomes an error; a timeout or memory stop
// marks the runtime broken.
func (in *instance) callSync(fn goja.Callable, args ...goja.Value) (v goja.Value, err error) {
	in.arm(in.limit)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in connector call: %v", r)
		}
		in.disarm()
	}()
	v, err = fn(goja.Undefined(), args...)
	if err != nil {
		in.checkInterrupted(err)
	}
	return v, err
}

// guarded runs f, which reads the JS values a call handed back, under the
// call's watchdog: a getter or a Proxy trap runs plugin code while they
// are read, so a loop there times out as one in the call does, and a
// throw becomes an error instead of a panic through the agent.
func (in *instance) guarded(f func() error) (err error) {
	in.arm(in.limit)
	defer func() {
		if r := recover(); r != nil {
			switch x := r.(type) {
			case *goja.Exception:
				err = x
			case *goja.InterruptedError:
				err = x
			default:
				err = fmt.Errorf("panic reading a connector's result: %v", r)
			}
		}
		in.disarm()
		if err != nil {
			in.checkInterrupted(err)
		}
	}()
	return f()
}

func settle(v goja.Value) (goja.Value, error) {
	o, ok := v.(*goja.Object)
	if !ok || o.ExportType() != promiseType {
		return v, nil
	}
	p := o.Export().(*goja.Promise)
	switch p.State() {
	case goja.PromiseStateFulfilled:
		return p.Result(), nil
	case goja.PromiseStateRejected:
		return nil, &rejection{p.Result()}
	}
	return nil, errPending
}

// rejection is a rejected promise.
type rejection struct{ v goja.Value }

func (r *rejection) Error() string { return valueErrorText(r.v) }

func valueErrorText(v goja.Value) string {
	if o, ok := v.(*goja.Object); ok {
		if st := o.Get("stack"); st != nil && !goja.IsUndefined(st) {
			return st.String()
		}
	}
	if v == nil {
		return "undefined"
	}
	return v.String()
}

// jsErrorText renders a goja error with its JS stack.
func jsErrorText(err error) string {
	var ex *goja.Exception
	if errors.As(err, &ex) {
		return strings.TrimSpace(ex.String())
	}
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		if e, ok := ie.Value().(error); ok {
			return e.Error() + "\n" + strings.TrimSpace(ie.String())
		}
	}
	return err.Error()
}

// errKind classifies a call error for metrics.
func errKind(err error) string {
	if errors.As(err, new(errTimeout)) {
		return "timeout"
	}
	if errors.As(err, new(errMemory)) {
		return "memory"
	}
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		switch ie.Value().(type) {
		case errTimeout:
			return "timeout"
		case errMemory:
			return "memory"
		}
		return "interrupted"
	}
	return "error"
}

// setup runs setupPlugin once; callers retry with backoff on error.
func (in *instance) setup() error {
	if in.setupDone {
		return nil
	}
	if fn := in.fns["setupPlugin"]; fn != nil {
		if _, err := in.call(fn, in.meta); err != nil {
			return fmt.Errorf("connector %q: setupPlugin: %s", in.c.spec.name, jsErrorText(err))
		}
	}
	in.setupDone = true
	return nil
}

// teardown calls teardownPlugin if setup ran, and releases the runtime.
func (in *instance) teardown() {
	if in.setupDone && !in.broken {
		if fn := in.fns["teardownPlugin"]; fn != nil {
			if _, err := in.call(fn, in.meta); err != nil {
				in.c.sh.logError(in.t.log, "teardownPlugin failed", err)
			}
		}
	}
	in.setupDone = false
	in.timer.Stop()
	in.t.guard.unregister(in)
	// A stopped timer may stay in the Go runtime's timer heap for a while,
	// and through in.fire it holds this instance: drop the runtime now, so
	// what it allocated (a memory bomb's string) is freed at the next GC.
	// That means every field that can reach it: goja values and functions
	// (the regexp memo keeps the runtime's own RegExp.prototype.test).
	in.mu.Lock()
	in.vm, in.meta, in.fns = nil, nil, nil
	in.jsonParse, in.jsonStringify = nil, nil
	in.hashUpdate, in.hashDigest = nil, nil
	in.regexps = nil
	in.mu.Unlock()
}

// takeCaptured returns and clears the events posthog.capture produced.
func (in *instance) takeCaptured() []*event.Event {
	if len(in.captured) == 0 {
		return nil
	}
	c := in.captured
	in.captured = nil
	return c
}

// newRegistry returns the goja_nodejs registry used to install Buffer and
// URL; it loads nothing from disk.
func newRegistry() *require.Registry {
	return require.NewRegistryWithLoader(func(string) ([]byte, error) { return nil, require.ModuleFileDoesNotExistError })
}
