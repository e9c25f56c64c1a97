package event

// Every use of package unsafe in hogtail's event handling is in this file,
// with the invariant that makes it safe next to it. They all rest on one
// rule of reuse: memory that an event, a string or a boxed value points
// into is not written again while anything may still read it. A source
// reuses such memory only for a batch the agent released (see
// component.Recycler); a transform, tap or sink that keeps events says so
// (component.Capabilities), and the agent then does not release the batch.

import (
	"unsafe"
)

// UnsafeString views b as a string without copying it. b must not be
// written while the string, or any string cut from it, is in use: b is
// then either never written again (a block of UUIDs), or reused only once
// every event that refers to it is released.
func UnsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// unsafeBytes views s as bytes without copying it, for reading only: a
// string's bytes must never be written.
func unsafeBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// Boxing a string or an int64 into an interface allocates a copy of it on
// the heap, once per value. Sources store several such values per event, so
// they box them from slabs allocated once per batch or block: the
// interface's data word points at the slab element, exactly as the runtime
// would point it at its own copy. A boxed slab element must not be written
// while any interface made from it is in use, which is what the runtime
// assumes of boxed values: a slab is reused only once every event built
// from it is dropped (component.Recycler).

type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

var (
	stringType = (*eface)(unsafe.Pointer(&[]any{""}[0])).typ
	int64Type  = (*eface)(unsafe.Pointer(&[]any{int64(1 << 40)}[0])).typ
	floatType  = (*eface)(unsafe.Pointer(&[]any{float64(0.5)}[0])).typ
)

// BoxString returns *p as an interface value without copying it. *p must
// not change afterwards.
func BoxString(p *string) any { return boxAt(stringType, unsafe.Pointer(p)) }

// BoxInt64 returns *p as an interface value without copying it. *p must
// not change afterwards.
func BoxInt64(p *int64) any { return boxAt(int64Type, unsafe.Pointer(p)) }

// BoxFloat64 returns *p as an interface value without copying it. *p must
// not change afterwards.
func BoxFloat64(p *float64) any { return boxAt(floatType, unsafe.Pointer(p)) }

// boxAt makes an interface of type typ whose value is at data.
func boxAt(typ, data unsafe.Pointer) any {
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, data
	return v
}

// ElementIndex returns the index in s of the element p points to, which
// must be an element of s (a pointer a library hands back for one of the
// values it was given, as franz-go does for the records of a produce
// call). It is pointer arithmetic, not a search.
func ElementIndex[T any](s []T, p *T) int {
	var zero T
	return int((uintptr(unsafe.Pointer(p)) - uintptr(unsafe.Pointer(&s[0]))) / unsafe.Sizeof(zero))
}
