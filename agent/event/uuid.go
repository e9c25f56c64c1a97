package event

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// AppendUUIDv7s appends n UUIDv7 strings (RFC 9562: 48-bit unix
// milliseconds, version, 12-bit counter, variant, 62 random bits) to dst,
// 36 bytes each, drawing the random bits for all of them in one crypto/rand
// read. scratch is reused between calls and returned. The counter starts at
// a random value and increments, so the ids of one call sort in order.
// Sources that build many events at once use it instead of one NewUUID per
// event: the per-call cost of uuid.NewV7 (a lock, a clock read, a random
// read) was a visible share of their CPU.
func AppendUUIDv7s(dst []byte, n int, now time.Time, scratch []byte) ([]byte, []byte) {
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
		// Past 0xfff the counter wraps: the ids stay unique by their 62
		// random bits; only their sort order within that millisecond breaks.
		c := (ctr + uint16(i)) & 0xfff
		u[6], u[7] = 0x70|byte(c>>8), byte(c)
		copy(u[8:], rnd[2+i*8:2+i*8+8])
		u[8] = u[8]&0x3f | 0x80
		for j, b := range u {
			if j == 4 || j == 6 || j == 8 || j == 10 {
				dst = append(dst, '-')
			}
			dst = append(dst, hexDigits[b>>4], hexDigits[b&0xf])
		}
	}
	return dst, scratch
}

// UUIDPool hands out UUIDv7 strings one at a time, generating them in
// blocks of 256 (see AppendUUIDv7s). Ids carry the time of their block's
// generation, at most a moment before use. Not safe for concurrent use.
type UUIDPool struct {
	ids     string
	scratch []byte
}

const uuidBlock = 256

// Next returns a fresh UUIDv7.
func (p *UUIDPool) Next() string {
	if len(p.ids) == 0 {
		var b []byte
		b, p.scratch = AppendUUIDv7s(make([]byte, 0, uuidBlock*36), uuidBlock, time.Now(), p.scratch)
		p.ids = UnsafeString(b) // b is not written again
	}
	id := p.ids[:36]
	p.ids = p.ids[36:]
	return id
}
