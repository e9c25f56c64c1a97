package file

import (
	"unsafe"
)

// Boxing a string or an int64 into an interface allocates a copy of it on
// the heap, once per value. The file source stores many such values per
// batch, so it boxes them from slabs allocated once per batch: the
// interface's data word points at the slab element, exactly as the runtime
// would point it at its own copy. Slab elements are never written after
// boxing, which is what the runtime assumes of boxed values.

type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

var (
	stringType = (*eface)(unsafe.Pointer(&[]any{""}[0])).typ
	int64Type  = (*eface)(unsafe.Pointer(&[]any{int64(1 << 40)}[0])).typ
)

// boxString returns *p as an interface without copying it.
func boxString(p *string) any {
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = stringType, unsafe.Pointer(p)
	return v
}

// boxInt64 returns *p as an interface without copying it.
func boxInt64(p *int64) any {
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = int64Type, unsafe.Pointer(p)
	return v
}
