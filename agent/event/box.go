package event

import (
	"unsafe"
)

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
