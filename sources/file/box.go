package file

import (
	"crypto/rand"
	"encoding/binary"
	"time"
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

// appendUUIDv7 appends n UUIDv7 strings (RFC 9562: 48-bit unix milliseconds,
// version, 12-bit counter, variant, 62 random bits) to dst, with random bits
// from one crypto/rand read for the whole batch. The counter starts at a
// random value and increments, so the ids of a batch sort in line order.
func appendUUIDv7(dst []byte, n int, now time.Time, scratch []byte) ([]byte, []byte) {
	const hexd = "0123456789abcdef"
	need := 2 + n*8
	if cap(scratch) < need {
		scratch = make([]byte, need)
	}
	rnd := scratch[:need]
	_, _ = rand.Read(rnd) // never fails (crypto/rand panics instead)
	ms := uint64(now.UnixMilli())
	ctr := binary.BigEndian.Uint16(rnd) & 0x7ff // leave headroom before 0xfff
	var u [16]byte
	for i := range n {
		u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
		c := ctr + uint16(i)
		// Past 0xfff the counter wraps: the ids stay unique by their 62
		// random bits; only their sort order within that millisecond breaks.
		c &= 0xfff
		u[6], u[7] = 0x70|byte(c>>8), byte(c)
		copy(u[8:], rnd[2+i*8:2+i*8+8])
		u[8] = u[8]&0x3f | 0x80
		for j, b := range u {
			if j == 4 || j == 6 || j == 8 || j == 10 {
				dst = append(dst, '-')
			}
			dst = append(dst, hexd[b>>4], hexd[b&0xf])
		}
	}
	return dst, scratch
}
