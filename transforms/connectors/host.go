package connectors

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	neturl "net/url"
	"slices"
	"strings"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/buffer"
	"github.com/google/uuid"
	"github.com/hogtail/hogtail/agent/event"
	"github.com/hogtail/hogtail/agent/redact"
)

// maxFetchBody bounds what fetch reads of a response.
const maxFetchBody = 16 << 20

func (in *instance) fn(f func(goja.FunctionCall) goja.Value) goja.Value {
	return in.vm.ToValue(f)
}

// resolved returns a promise fulfilled with v (the host's async APIs finish
// before they return).
func (in *instance) resolved(v goja.Value) goja.Value {
	p, resolve, _ := in.vm.NewPromise()
	_ = resolve(v)
	return in.vm.ToValue(p)
}

func (in *instance) rejected(err error) goja.Value {
	p, _, reject := in.vm.NewPromise()
	_ = reject(in.vm.NewGoError(err))
	return in.vm.ToValue(p)
}

func (in *instance) newBuffer(b []byte) goja.Value {
	from, _ := goja.AssertFunction(in.vm.Get("Buffer").ToObject(in.vm).Get("from"))
	v, err := from(goja.Undefined(), in.vm.ToValue(in.vm.NewArrayBuffer(append([]byte(nil), b...))))
	if err != nil {
		panic(err)
	}
	return v
}

// installGlobals sets the globals PostHog gives plugins: console, fetch,
// posthog, require (host modules only). Buffer, URL and URLSearchParams come
// from goja_nodejs; RetryError from the prelude. setTimeout, process and fs
// are deliberately absent, as in PostHog.
func (in *instance) installGlobals() {
	vm := in.vm
	g := vm.GlobalObject()
	console := vm.NewObject()
	for name, lvl := range map[string]slog.Level{"log": slog.LevelInfo, "info": slog.LevelInfo, "debug": slog.LevelDebug, "warn": slog.LevelWarn, "error": slog.LevelError} {
		lvl := lvl
		_ = console.Set(name, func(call goja.FunctionCall) goja.Value {
			in.t.log.Log(context.Background(), lvl, in.formatArgs(call.Arguments), "connector", in.c.spec.name, "source", "console")
			return goja.Undefined()
		})
	}
	fetch := in.fn(in.fetch)
	posthog := vm.NewObject()
	_ = posthog.Set("capture", in.capture)

	mods := map[string]goja.Value{}
	cryptoMod := in.cryptoModule()
	mods["crypto"] = cryptoMod
	urlMod := vm.NewObject()
	_ = urlMod.Set("URL", vm.Get("URL"))
	_ = urlMod.Set("URLSearchParams", vm.Get("URLSearchParams"))
	mods["url"] = urlMod
	fo := fetch.(*goja.Object)
	_ = fo.Set("default", fetch)
	mods["node-fetch"] = fetch
	scaffold := vm.NewObject()
	_ = scaffold.Set("RetryError", vm.Get("RetryError"))
	mods["@posthog/plugin-scaffold"] = scaffold

	req := func(call goja.FunctionCall) goja.Value {
		name := strings.TrimPrefix(call.Argument(0).String(), "node:")
		if m, ok := mods[name]; ok {
			return m
		}
		panic(vm.NewGoError(fmt.Errorf("Cannot import '%s'! This package is not provided by PostHog in plugins.", name)))
	}
	for k, v := range map[string]any{"console": console, "fetch": fetch, "posthog": posthog, "require": req} {
		_ = g.DefineDataProperty(k, vm.ToValue(v), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
}

func (in *instance) formatArgs(args []goja.Value) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if o, ok := a.(*goja.Object); ok && o.ClassName() != "Function" && o.ClassName() != "Error" {
			if s, err := in.jsonStringify(goja.Undefined(), a); err == nil && !goja.IsUndefined(s) {
				b.WriteString(s.String())
				continue
			}
		}
		if a == nil {
			b.WriteString("undefined")
			continue
		}
		b.WriteString(a.String())
	}
	return b.String()
}

// capture implements posthog.capture(event, properties): a new event with
// distinct_id = the connector's name unless properties.distinct_id is set.
// It does not run through the chain again; see README.
func (in *instance) capture(call goja.FunctionCall) goja.Value {
	name := call.Argument(0).String()
	ev := event.New(name, in.c.spec.name)
	v, err := fromJS(call.Argument(1))
	if err != nil {
		panic(in.vm.NewTypeError("posthog.capture: properties: %s", err.Error()))
	}
	if props, ok := v.(event.Map); ok {
		if d, ok := props.Get("distinct_id"); ok {
			ev.DistinctID = stringValue(d)
			props.Delete("distinct_id")
		}
		ev.Properties = props
	}
	if ev.Properties == nil {
		ev.Properties = event.Map{}
	}
	in.captured = append(in.captured, ev)
	return in.resolved(goja.Undefined())
}

func stringValue(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	}
	return string(event.AppendValue(nil, v))
}

// buildMeta builds the meta object passed to every lifecycle function.
func (in *instance) buildMeta() error {
	vm := in.vm
	meta := vm.NewObject()
	_ = meta.Set("config", toJS(vm, in.c.spec.config.Config))
	_ = meta.Set("global", vm.NewObject())
	atts := vm.NewObject()
	for k, a := range in.c.spec.config.Attachments {
		o := vm.NewObject()
		_ = o.Set("content_type", a.ContentType)
		_ = o.Set("file_name", a.FileName)
		_ = o.Set("contents", in.newBuffer(a.Contents))
		_ = atts.Set(k, o)
	}
	_ = meta.Set("attachments", atts)
	_ = meta.Set("cache", in.cacheObject())
	_ = meta.Set("storage", in.storageObject())
	utils := vm.NewObject()
	cursor := vm.NewObject()
	_ = cursor.Set("init", in.cursorInit)
	_ = cursor.Set("increment", in.cursorIncrement)
	_ = utils.Set("cursor", cursor)
	_ = meta.Set("utils", utils)
	_ = meta.Set("geoip", in.geoipObject())
	in.meta = meta
	return nil
}

// ---- crypto ----

func newHash(alg string) (func() hash.Hash, error) {
	switch strings.ToLower(strings.ReplaceAll(alg, "-", "")) {
	case "md5":
		return md5.New, nil
	case "sha1":
		return sha1.New, nil
	case "sha256":
		return sha256.New, nil
	case "sha512":
		return sha512.New, nil
	case "sha384":
		return sha512.New384, nil
	}
	return nil, fmt.Errorf("Digest method not supported: %s", alg)
}

// isParams reports whether v is a URLSearchParams.
func (in *instance) isParams(v goja.Value) bool {
	ctor, ok := in.vm.Get("URLSearchParams").(*goja.Object)
	return ok && in.vm.InstanceOf(v, ctor)
}

func (in *instance) bytesArg(v goja.Value, enc goja.Value) []byte {
	if o, ok := v.(*goja.Object); ok {
		return buffer.Bytes(in.vm, o)
	}
	s := v.String()
	if enc != nil && !goja.IsUndefined(enc) {
		switch enc.String() {
		case "hex":
			b, _ := hex.DecodeString(s)
			return b
		case "base64":
			b, _ := base64.StdEncoding.DecodeString(s)
			return b
		}
	}
	return []byte(s)
}

func (in *instance) encodeDigest(sum []byte, enc goja.Value) goja.Value {
	if enc == nil || goja.IsUndefined(enc) {
		return in.newBuffer(sum)
	}
	switch enc.String() {
	case "hex":
		return in.vm.ToValue(hex.EncodeToString(sum))
	case "base64":
		return in.vm.ToValue(base64.StdEncoding.EncodeToString(sum))
	case "base64url":
		return in.vm.ToValue(base64.RawURLEncoding.EncodeToString(sum))
	case "latin1", "binary":
		r := make([]rune, len(sum))
		for i, c := range sum {
			r[i] = rune(c)
		}
		return in.vm.ToValue(string(r))
	}
	panic(in.vm.NewTypeError("unsupported digest encoding " + enc.String()))
}

// hashObj is a Hash of createHash/createHmac, as a DynamicObject whose
// update and digest are one pair of functions per runtime (a plain object
// with its own two closures cost two function objects per hash). Other
// properties a plugin sets are kept.
type hashObj struct {
	in    *instance
	h     hash.Hash
	extra map[string]goja.Value
	order []string // keys of extra in the order they were set
}

func (in *instance) hashObject(h hash.Hash) *goja.Object {
	if in.hashUpdate == nil {
		in.hashUpdate = in.vm.ToValue(func(call goja.FunctionCall) goja.Value {
			in.thisHash(call).h.Write(in.bytesArg(call.Argument(0), call.Argument(1)))
			return call.This
		})
		in.hashDigest = in.vm.ToValue(func(call goja.FunctionCall) goja.Value {
			return in.encodeDigest(in.thisHash(call).h.Sum(nil), call.Argument(0))
		})
	}
	return in.vm.NewDynamicObject(&hashObj{in: in, h: h})
}

// thisHash is the hash a method was called on; a TypeError, as in Node,
// when the method was detached from it.
func (in *instance) thisHash(call goja.FunctionCall) *hashObj {
	if o, ok := call.This.(*goja.Object); ok {
		if ho, ok := o.Export().(*hashObj); ok {
			return ho
		}
	}
	panic(in.vm.NewTypeError("Illegal invocation: not called on a Hash"))
}

// Get implements goja.DynamicObject.
func (o *hashObj) Get(key string) goja.Value {
	if v, ok := o.extra[key]; ok {
		return v
	}
	switch key {
	case "update":
		return o.in.hashUpdate
	case "digest":
		return o.in.hashDigest
	}
	return nil
}

// Set implements goja.DynamicObject.
func (o *hashObj) Set(key string, v goja.Value) bool {
	if o.extra == nil {
		o.extra = map[string]goja.Value{}
	}
	if _, ok := o.extra[key]; !ok && key != "update" && key != "digest" {
		o.order = append(o.order, key)
	}
	o.extra[key] = v
	return true
}

// Has implements goja.DynamicObject.
func (o *hashObj) Has(key string) bool { return o.Get(key) != nil }

// Delete implements goja.DynamicObject.
func (o *hashObj) Delete(key string) bool {
	if _, ok := o.extra[key]; ok {
		delete(o.extra, key)
		o.order = slices.DeleteFunc(o.order, func(k string) bool { return k == key })
	}
	return true
}

// Keys implements goja.DynamicObject.
func (o *hashObj) Keys() []string {
	return append([]string{"update", "digest"}, o.order...)
}

func (in *instance) cryptoModule() goja.Value {
	vm := in.vm
	m := vm.NewObject()
	_ = m.Set("createHash", func(call goja.FunctionCall) goja.Value {
		nh, err := newHash(call.Argument(0).String())
		if err != nil {
			panic(vm.NewGoError(err))
		}
		return in.hashObject(nh())
	})
	_ = m.Set("createHmac", func(call goja.FunctionCall) goja.Value {
		nh, err := newHash(call.Argument(0).String())
		if err != nil {
			panic(vm.NewGoError(err))
		}
		return in.hashObject(hmac.New(nh, in.bytesArg(call.Argument(1), nil)))
	})
	_ = m.Set("randomUUID", func(goja.FunctionCall) goja.Value {
		return vm.ToValue(uuid.NewString())
	})
	_ = m.Set("randomBytes", func(call goja.FunctionCall) goja.Value {
		n := call.Argument(0).ToInteger()
		if n < 0 || n > 1<<16 {
			panic(vm.NewTypeError("randomBytes: size out of range"))
		}
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return in.newBuffer(b)
	})
	return m
}

// ---- fetch ----

// hostAllowed applies fetch_allow_hosts: exact names, or "*.domain" for
// any subdomain of domain.
func hostAllowed(allow []string, host string) bool {
	if len(allow) == 0 {
		return true
	}
	host = strings.ToLower(host)
	for _, a := range allow {
		a = strings.ToLower(a)
		if a == host {
			return true
		}
		if strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:]) {
			return true
		}
	}
	return false
}

// fetch implements node-fetch's fetch(url, {method, headers, body,
// timeout}). The request runs synchronously on the lane (bounded by
// fetch_timeout and the call's remaining time) and returns a settled promise.
func (in *instance) fetch(call goja.FunctionCall) goja.Value {
	res, err := in.doFetch(call)
	if in.fetches != nil {
		rec := fetchRecord{Method: "GET", URL: redact.URL(call.Argument(0).String())}
		if opts, ok := call.Argument(1).(*goja.Object); ok {
			if m := opts.Get("method"); m != nil && !goja.IsUndefined(m) {
				rec.Method = strings.ToUpper(m.String())
			}
		}
		if err != nil {
			rec.Error = err.Error()
		} else if o, ok := res.(*goja.Object); ok {
			rec.Status = int(o.Get("status").ToInteger())
		}
		*in.fetches = append(*in.fetches, rec)
	}
	if err != nil {
		return in.rejected(err)
	}
	return in.resolved(res)
}

func (in *instance) doFetch(call goja.FunctionCall) (goja.Value, error) {
	vm := in.vm
	raw := call.Argument(0).String()
	u, err := neturl.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("fetch: invalid URL %q", raw)
	}
	if !hostAllowed(in.t.cfg.FetchAllowHosts, u.Hostname()) {
		in.t.metrics.errors.WithLabelValues(in.t.name, in.c.spec.name, "fetch_denied").Inc()
		return nil, fmt.Errorf("fetch: %w: host %q is not in fetch_allow_hosts", errFetchRefused, u.Hostname())
	}
	method := "GET"
	timeout := in.t.cfg.FetchTimeout.D()
	if rem := in.remaining(); rem < timeout {
		timeout = rem
	}
	var body io.Reader
	headers := http.Header{}
	if opts, ok := call.Argument(1).(*goja.Object); ok {
		if m := opts.Get("method"); m != nil && !goja.IsUndefined(m) {
			method = strings.ToUpper(m.String())
		}
		if h, ok := opts.Get("headers").(*goja.Object); ok {
			for _, k := range h.Keys() {
				headers.Set(k, h.Get(k).String())
			}
		}
		if b := opts.Get("body"); b != nil && !goja.IsUndefined(b) && !goja.IsNull(b) {
			if in.isParams(b) {
				// As node-fetch: the form, with its content type unless
				// the plugin set one.
				body = strings.NewReader(b.String())
				if headers.Get("Content-Type") == "" {
					headers.Set("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
				}
			} else {
				body = strings.NewReader(string(in.bytesArg(b, nil)))
			}
		}
		if t := opts.Get("timeout"); t != nil && !goja.IsUndefined(t) {
			if d := time.Duration(t.ToInteger()) * time.Millisecond; d > 0 && d < timeout {
				timeout = d
			}
		}
	}
	if timeout <= 0 {
		return nil, errors.New("fetch: no time left in this call")
	}
	parent := in.ctx
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	req.Header = headers
	resp, err := in.t.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fetch: %s %s: timed out after %s", method, redact.URL(u.String()), timeout)
		}
		if errors.Is(err, errFetchRefused) {
			in.t.metrics.errors.WithLabelValues(in.t.name, in.c.spec.name, "fetch_denied").Inc()
		}
		// *url.Error repeats the URL, query and all; name it masked.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("fetch: %s %s: %w", method, redact.URL(u.String()), redact.Error(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchBody))
	if err != nil {
		return nil, fmt.Errorf("fetch: reading response: %w", err)
	}
	r := vm.NewObject()
	_ = r.Set("status", resp.StatusCode)
	_ = r.Set("statusText", http.StatusText(resp.StatusCode))
	_ = r.Set("ok", resp.StatusCode >= 200 && resp.StatusCode < 300)
	_ = r.Set("url", resp.Request.URL.String())
	h := vm.NewObject()
	_ = h.Set("get", func(c goja.FunctionCall) goja.Value {
		v := resp.Header.Values(c.Argument(0).String())
		if len(v) == 0 {
			return goja.Null()
		}
		return vm.ToValue(strings.Join(v, ", "))
	})
	_ = h.Set("has", func(c goja.FunctionCall) goja.Value {
		return vm.ToValue(len(resp.Header.Values(c.Argument(0).String())) > 0)
	})
	_ = r.Set("headers", h)
	_ = r.Set("text", func(goja.FunctionCall) goja.Value { return in.resolved(vm.ToValue(string(data))) })
	_ = r.Set("json", func(goja.FunctionCall) goja.Value {
		v, err := in.jsonParse(goja.Undefined(), vm.ToValue(string(data)))
		if err != nil {
			return in.rejected(fmt.Errorf("fetch: response is not JSON: %s", jsErrorText(err)))
		}
		return in.resolved(v)
	})
	return r, nil
}
