package connectors

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dop251/goja"
)

// intlPrelude defines Intl.DateTimeFormat, Intl.NumberFormat and the
// toLocale*String methods on top of the Go host functions in host, and
// makes new Date(string) / Date.parse give an Invalid Date where Node's
// parser does.
const intlPrelude = `
(function (g, host) {
  const def = (o, k, v) => Object.defineProperty(o, k, { value: v, writable: true, configurable: true, enumerable: false });
  function DateTimeFormat(locales, options) {
    if (!(this instanceof DateTimeFormat)) return new DateTimeFormat(locales, options);
    const h = host.dateTimeFormat(locales, options, 'any', 'date');
    def(this, '__h', h);
    def(this, 'format', (d) => host.formatDate(h, d === undefined ? Date.now() : +d, true));
  }
  def(DateTimeFormat.prototype, 'resolvedOptions', function () { return host.resolvedDate(this.__h); });
  def(DateTimeFormat, 'supportedLocalesOf', (l) => host.supportedLocalesOf(l));
  function NumberFormat(locales, options) {
    if (!(this instanceof NumberFormat)) return new NumberFormat(locales, options);
    const h = host.numberFormat(locales, options);
    def(this, '__h', h);
    def(this, 'format', (x) => host.formatNumber(h, Number(x)));
  }
  def(NumberFormat.prototype, 'resolvedOptions', function () { return host.resolvedNumber(this.__h); });
  def(NumberFormat, 'supportedLocalesOf', (l) => host.supportedLocalesOf(l));
  const Intl = {};
  def(Intl, 'DateTimeFormat', DateTimeFormat);
  def(Intl, 'NumberFormat', NumberFormat);
  def(g, 'Intl', Intl);

  const dp = Date.prototype;
  const localeMethod = (required, defaults) => function (locales, options) {
    return host.formatDate(host.dateTimeFormat(locales, options, required, defaults), this.getTime(), false);
  };
  def(dp, 'toLocaleString', localeMethod('any', 'all'));
  def(dp, 'toLocaleDateString', localeMethod('date', 'date'));
  def(dp, 'toLocaleTimeString', localeMethod('time', 'time'));
  def(Number.prototype, 'toLocaleString', function (locales, options) {
    return host.formatNumber(host.numberFormat(locales, options), Number(this));
  });

  // V8 reads a string of 7 or more digits as no date at all (goja took
  // "1709647631987" for the year 1987).
  const NativeDate = g.Date;
  const noDate = (s) => typeof s === 'string' && /^\s*[+-]?\d{7,}\s*$/.test(s);
  const HDate = function Date(...args) {
    if (!new.target) return NativeDate();
    if (args.length === 1 && noDate(args[0])) return Reflect.construct(NativeDate, [NaN], new.target);
    return Reflect.construct(NativeDate, args, new.target);
  };
  Object.setPrototypeOf(HDate, NativeDate);
  Object.defineProperty(HDate, 'prototype', { value: NativeDate.prototype });
  def(NativeDate.prototype, 'constructor', HDate);
  def(HDate, 'now', NativeDate.now);
  def(HDate, 'UTC', NativeDate.UTC);
  def(HDate, 'parse', (s) => (noDate(String(s)) ? NaN : NativeDate.parse(s)));
  def(g, 'Date', HDate);
})(globalThis, globalThis.__hogtailIntlHost);
delete globalThis.__hogtailIntlHost;
`

var intlProgram = goja.MustCompile("hogtail-intl.js", intlPrelude, false)

type dtHandle struct {
	l *intlLocale
	o dtOptions
}

type nfHandle struct {
	l *intlLocale
	o nfOptions
}

// installIntl adds Intl and the locale methods to vm.
func installIntl(vm *goja.Runtime) error {
	host := vm.NewObject()
	_ = host.Set("dateTimeFormat", func(locales, options goja.Value, required, defaults string) *dtHandle {
		l := resolveLocales(vm, locales)
		return &dtHandle{l: l, o: dateTimeOptions(vm, options, required, defaults)}
	})
	_ = host.Set("formatDate", func(h *dtHandle, ms float64, strict bool) string {
		if math.IsNaN(ms) || math.Abs(ms) > 8.64e15 {
			if strict {
				panic(jsError(vm, "RangeError", "Invalid time value"))
			}
			return "Invalid Date"
		}
		return h.l.dtFormat(time.UnixMilli(int64(ms)), &h.o)
	})
	_ = host.Set("resolvedDate", func(h *dtHandle) map[string]any {
		r := map[string]any{"locale": h.l.tag, "calendar": "gregory", "numberingSystem": "latn", "timeZone": h.o.timeZone}
		for k, v := range map[string]string{"weekday": h.o.weekday, "year": h.o.year, "month": h.o.month, "day": h.o.day,
			"hour": h.o.hour, "minute": h.o.minute, "second": h.o.second, "dateStyle": h.o.dateStyle, "timeStyle": h.o.timeStyle} {
			if v != "" {
				r[k] = v
			}
		}
		if h.o.hour != "" || h.o.timeStyle != "" {
			h12 := h.l.hour12
			if h.o.hour12 != nil {
				h12 = *h.o.hour12
			}
			r["hour12"] = h12
		}
		return r
	})
	_ = host.Set("numberFormat", func(locales, options goja.Value) *nfHandle {
		l := resolveLocales(vm, locales)
		return &nfHandle{l: l, o: numberOptions(vm, options)}
	})
	_ = host.Set("formatNumber", func(h *nfHandle, x float64) string { return h.l.nfFormat(x, &h.o) })
	_ = host.Set("resolvedNumber", func(h *nfHandle) map[string]any {
		r := map[string]any{"locale": h.l.tag, "numberingSystem": "latn", "style": h.o.style,
			"minimumFractionDigits": h.o.minFD, "maximumFractionDigits": h.o.maxFD, "useGrouping": h.o.grouping}
		if h.o.currency != "" {
			r["currency"] = h.o.currency
		}
		return r
	})
	_ = host.Set("supportedLocalesOf", func(locales goja.Value) []string {
		var out []string
		for _, s := range localeList(vm, locales) {
			if l, exact := loadIntl().exact(s); exact {
				out = append(out, l.tag)
			}
		}
		return out
	})
	if err := vm.GlobalObject().Set("__hogtailIntlHost", host); err != nil {
		return err
	}
	_, err := vm.RunProgram(intlProgram)
	return err
}

// exact reports whether a requested tag is supported as such or by its
// language.
func (d *intlData) exact(s string) (*intlLocale, bool) {
	l, err := d.resolve([]string{s})
	if err != nil {
		return nil, false
	}
	base, _, _ := strings.Cut(s, "-")
	return l, strings.HasPrefix(l.tag, base)
}

// jsError builds a JS error of a built-in type (RangeError, TypeError).
func jsError(vm *goja.Runtime, ctor, msg string) goja.Value {
	c, ok := goja.AssertConstructor(vm.Get(ctor))
	if !ok {
		return vm.ToValue(msg)
	}
	e, err := c(nil, vm.ToValue(msg))
	if err != nil {
		return vm.ToValue(msg)
	}
	return e
}

func localeList(vm *goja.Runtime, v goja.Value) []string {
	if v == nil || goja.IsUndefined(v) {
		return nil
	}
	if o, ok := v.(*goja.Object); ok && o.ClassName() == "Array" {
		var out []string
		for _, k := range o.Keys() {
			out = append(out, o.Get(k).String())
		}
		return out
	}
	return []string{v.String()}
}

func resolveLocales(vm *goja.Runtime, v goja.Value) *intlLocale {
	l, err := loadIntl().resolve(localeList(vm, v))
	if err != nil {
		panic(jsError(vm, "RangeError", err.Error()))
	}
	return l
}

// option reads options[name] as one of allowed, or "".
func option(vm *goja.Runtime, o *goja.Object, ctor, name string, allowed ...string) string {
	if o == nil {
		return ""
	}
	v := o.Get(name)
	if v == nil || goja.IsUndefined(v) {
		return ""
	}
	s := v.String()
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	panic(jsError(vm, "RangeError", fmt.Sprintf("Value %s out of range for %s options property %s", s, ctor, name)))
}

func optionsObject(vm *goja.Runtime, v goja.Value) *goja.Object {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil
	}
	return v.ToObject(vm)
}

// dateTimeOptions implements ECMA-402 ToDateTimeOptions for the options
// hogtail supports (README lists them).
func dateTimeOptions(vm *goja.Runtime, v goja.Value, required, defaults string) dtOptions {
	const ctor = "Intl.DateTimeFormat"
	o := optionsObject(vm, v)
	var r dtOptions
	r.weekday = option(vm, o, ctor, "weekday", "narrow", "short", "long")
	r.year = option(vm, o, ctor, "year", "2-digit", "numeric")
	r.month = option(vm, o, ctor, "month", "2-digit", "numeric", "narrow", "short", "long")
	r.day = option(vm, o, ctor, "day", "2-digit", "numeric")
	r.hour = option(vm, o, ctor, "hour", "2-digit", "numeric")
	r.minute = option(vm, o, ctor, "minute", "2-digit", "numeric")
	r.second = option(vm, o, ctor, "second", "2-digit", "numeric")
	r.dateStyle = option(vm, o, ctor, "dateStyle", "full", "long", "medium", "short")
	r.timeStyle = option(vm, o, ctor, "timeStyle", "full", "long", "medium", "short")
	if o != nil {
		if h := o.Get("hour12"); h != nil && !goja.IsUndefined(h) {
			b := h.ToBoolean()
			r.hour12 = &b
		} else if hc := option(vm, o, ctor, "hourCycle", "h11", "h12", "h23", "h24"); hc != "" {
			b := hc == "h11" || hc == "h12"
			r.hour12 = &b
		}
	}
	r.timeZone, r.loc = "", time.Local
	if o != nil {
		if tz := o.Get("timeZone"); tz != nil && !goja.IsUndefined(tz) {
			name := tz.String()
			if strings.EqualFold(name, "utc") || strings.EqualFold(name, "etc/utc") || strings.EqualFold(name, "gmt") {
				r.timeZone, r.loc = "UTC", time.UTC
			} else if loc, err := time.LoadLocation(name); err == nil && name != "" && name != "Local" {
				r.timeZone, r.loc = name, loc
			} else {
				panic(jsError(vm, "RangeError", "Invalid time zone specified: "+name))
			}
		}
	}
	if r.timeZone == "" {
		r.timeZone = localZoneName()
	}
	hasDate := r.weekday != "" || r.year != "" || r.month != "" || r.day != ""
	hasTime := r.hour != "" || r.minute != "" || r.second != ""
	if r.dateStyle != "" || r.timeStyle != "" {
		if hasDate || hasTime {
			panic(jsError(vm, "TypeError", "Can't set option "+firstSet(r)+" when "+map[bool]string{true: "dateStyle", false: "timeStyle"}[r.dateStyle != ""]+" is used"))
		}
		if required == "date" && r.timeStyle != "" {
			panic(jsError(vm, "TypeError", "Invalid option : timeStyle"))
		}
		if required == "time" && r.dateStyle != "" {
			panic(jsError(vm, "TypeError", "Invalid option : dateStyle"))
		}
		return r
	}
	need := true
	if (required == "date" || required == "any") && hasDate {
		need = false
	}
	if (required == "time" || required == "any") && hasTime {
		need = false
	}
	if need && (defaults == "date" || defaults == "all") {
		r.year, r.month, r.day = "numeric", "numeric", "numeric"
	}
	if need && (defaults == "time" || defaults == "all") {
		r.hour, r.minute, r.second = "numeric", "numeric", "numeric"
	}
	return r
}

func firstSet(r dtOptions) string {
	for _, f := range []struct{ n, v string }{{"weekday", r.weekday}, {"year", r.year}, {"month", r.month}, {"day", r.day}, {"hour", r.hour}, {"minute", r.minute}, {"second", r.second}} {
		if f.v != "" {
			return f.n
		}
	}
	return ""
}

// localZoneName is the IANA name of the host's zone, as Node reports it in
// resolvedOptions().timeZone.
func localZoneName() string {
	if tz := os.Getenv("TZ"); tz != "" {
		return strings.TrimPrefix(tz, ":")
	}
	if target, err := os.Readlink("/etc/localtime"); err == nil {
		if i := strings.Index(target, "zoneinfo/"); i >= 0 {
			return target[i+len("zoneinfo/"):]
		}
		return filepath.Base(target)
	}
	return "UTC"
}

// numberOptions resolves NumberFormat options (style, currency, fraction
// digits, grouping) with ECMA-402's defaults.
func numberOptions(vm *goja.Runtime, v goja.Value) nfOptions {
	const ctor = "Intl.NumberFormat"
	o := optionsObject(vm, v)
	r := nfOptions{style: "decimal", grouping: true}
	if s := option(vm, o, ctor, "style", "decimal", "percent", "currency"); s != "" {
		r.style = s
	}
	minDefault, maxDefault := 0, 3
	switch r.style {
	case "percent":
		maxDefault = 0
	case "currency":
		c := ""
		if o != nil {
			if cv := o.Get("currency"); cv != nil && !goja.IsUndefined(cv) {
				c = strings.ToUpper(cv.String())
			}
		}
		if c == "" {
			panic(jsError(vm, "TypeError", "Currency code is required with currency style."))
		}
		d, err := currencyDigits(c)
		if err != nil {
			panic(jsError(vm, "RangeError", "Invalid currency code : "+c))
		}
		r.currency, minDefault, maxDefault = c, d, d
	}
	r.minFD, r.maxFD = minDefault, maxDefault
	digits := func(name string) (int, bool) {
		if o == nil {
			return 0, false
		}
		dv := o.Get(name)
		if dv == nil || goja.IsUndefined(dv) {
			return 0, false
		}
		n := dv.ToFloat()
		if math.IsNaN(n) || n < 0 || n > 20 {
			panic(jsError(vm, "RangeError", name+" value is out of range."))
		}
		return int(n), true
	}
	minSet, hasMin := digits("minimumFractionDigits")
	maxSet, hasMax := digits("maximumFractionDigits")
	switch {
	case hasMin && hasMax:
		if minSet > maxSet {
			panic(jsError(vm, "RangeError", "maximumFractionDigits value is out of range."))
		}
		r.minFD, r.maxFD = minSet, maxSet
	case hasMin:
		r.minFD, r.maxFD = minSet, max(minSet, maxDefault)
	case hasMax:
		r.minFD, r.maxFD = min(minDefault, maxSet), maxSet
	}
	if o != nil {
		if g := o.Get("useGrouping"); g != nil && !goja.IsUndefined(g) {
			r.grouping = g.ToBoolean()
		}
	}
	return r
}
