package buffer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"

	"github.com/hogtail/hogtail/agent/internal/bufpool"
	"github.com/klauspost/compress/s2"
)

// A chunk is the value stored under one sequence key of a queue: many records
// written by one commit. Layout:
//
//	crc32c (4 bytes, of everything after it) | commit time (8 bytes, unix ms, little endian) |
//	uvarint count | flags (1 byte) | body
//
// The body is count × (uvarint len | bytes), compressed as one S2 block
// when flags is 1. Log records compress several times over, and every byte
// not written is a byte bbolt does not copy into its pages, write, fsync,
// and later map back in to read: compression makes the buffer faster and
// a backlog smaller on disk and in memory.
//
// A producer frames its records (Start); the committer compresses the
// chunk just before its transaction, so compression runs beside the
// producer, which meanwhile prepares its next batch. When the committer is
// busy writing a transaction, the producer compresses instead: its request
// waits for that transaction anyway, and the committer's path from one
// fsync to the next stays free of compression.
//
// The checksum lets a damaged value be detected and moved to dead letters
// instead of being delivered half-read or blocking the queue.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt reports a chunk that fails its checksum or framing.
var errCorrupt = errors.New("corrupt chunk")

const chunkHeader = 4 + 8

const (
	flagRaw byte = 0
	flagS2  byte = 1
)

// bodySize bounds the uncompressed body of records.
func bodySize(records [][]byte) int {
	n := 0
	for _, r := range records {
		n += binary.MaxVarintLen64 + len(r)
	}
	return n
}

// encodeChunk encodes records, committed at unixMilli, into a chunk of its
// own size. Buffers come from pool (nil: fresh ones).
func encodeChunk(pool *chunkPool, records [][]byte, unixMilli int64) []byte {
	body := frameRecords(pool, records)
	out := sealChunkSized(pool, body, len(records), unixMilli)
	pool.put(body)
	return out
}

// sealChunkSized is sealChunk into a buffer of the chunk's own size: the
// pooled one, sized for the worst case (several times what log lines need),
// goes back at once. For chunks that wait in memory.
func sealChunkSized(pool *chunkPool, body []byte, count int, unixMilli int64) []byte {
	dst := sealChunk(pool, body, count, unixMilli)
	out := bytes.Clone(dst)
	pool.put(dst)
	return out
}

// frameRecords lays records out as a chunk body, in a buffer from pool.
// This is the part of encoding a producer must do itself (its records are
// reused once Start returned); sealChunk compresses later, in the committer.
func frameRecords(pool *chunkPool, records [][]byte) []byte {
	body := pool.get(bodySize(records))
	for _, r := range records {
		body = binary.AppendUvarint(body, uint64(len(r)))
		body = append(body, r...)
	}
	return body
}

// sealedBound is the largest chunk sealChunk makes of a body of n bytes:
// the body is stored as is when compression does not pay.
func sealedBound(n int) int64 {
	return int64(chunkHeader + binary.MaxVarintLen64 + 1 + n)
}

// sealChunk compresses a framed body of count records into a chunk, in a
// buffer from pool.
func sealChunk(pool *chunkPool, body []byte, count int, unixMilli int64) []byte {
	dst := pool.get(chunkHeader + binary.MaxVarintLen64 + 1 + s2.MaxEncodedLen(len(body)))
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(unixMilli))
	dst = binary.AppendUvarint(dst, uint64(count))
	flagAt := len(dst)
	dst = append(dst, flagS2)
	enc := s2.Encode(dst[len(dst):cap(dst)], body)
	if len(enc) < len(body)-len(body)/8 {
		dst = dst[:len(dst)+len(enc)]
	} else {
		// Not worth it (already compressed data): store as is.
		dst[flagAt] = flagRaw
		dst = append(dst, body...)
	}
	binary.LittleEndian.PutUint32(dst, crc32.Checksum(dst[4:], castagnoli))
	return dst
}

// decodeChunk splits a chunk into records, which alias data (or a freshly
// decompressed copy).
func decodeChunk(data []byte) ([][]byte, error) {
	recs, _, err := decodeChunkInto(data, nil)
	return recs, err
}

// decodeChunkInto is decodeChunk decompressing into a buffer from pool (nil:
// allocated). It also returns the buffer the records alias: data, or the
// decompressed copy, to give back to pool once they are no longer used.
func decodeChunkInto(data []byte, pool *chunkPool) (recs [][]byte, backing []byte, err error) {
	backing = data
	recs, err = splitChunk(data, func(p []byte) ([]byte, error) {
		dLen, err := s2.DecodedLen(p)
		if err != nil {
			return nil, err
		}
		raw := pool.get(dLen)
		raw, err = s2.Decode(raw[:cap(raw)], p)
		if err != nil {
			pool.put(raw)
			return nil, err
		}
		backing = raw
		return raw, nil
	})
	if err != nil && !sameBuffer(backing, data) {
		pool.put(backing)
		backing = nil
	}
	return recs, backing, err
}

// sameBuffer reports whether a and b start at the same address (two
// empty ones count as the same: neither is worth giving back).
func sameBuffer(a, b []byte) bool {
	if cap(a) == 0 || cap(b) == 0 {
		return cap(a) == 0 && cap(b) == 0
	}
	return &a[:1][0] == &b[:1][0]
}

// splitChunk checks a chunk and splits its body (decompressed by
// decompress when it is compressed) into records.
func splitChunk(data []byte, decompress func([]byte) ([]byte, error)) ([][]byte, error) {
	if len(data) < chunkHeader+2 {
		return nil, errCorrupt
	}
	if binary.LittleEndian.Uint32(data) != crc32.Checksum(data[4:], castagnoli) {
		return nil, errCorrupt
	}
	p := data[chunkHeader:]
	n, k := binary.Uvarint(p)
	if k <= 0 || k >= len(p) {
		return nil, errCorrupt
	}
	flags := p[k]
	p = p[k+1:]
	switch flags {
	case flagRaw:
	case flagS2:
		raw, err := decompress(p)
		if err != nil {
			return nil, errCorrupt
		}
		p = raw
	default:
		return nil, errCorrupt
	}
	return splitBody(p, n)
}

// splitBody splits a framed body of n records.
func splitBody(p []byte, n uint64) ([][]byte, error) {
	if n > uint64(len(p)) { // every record takes at least its length byte
		return nil, errCorrupt
	}
	out := make([][]byte, 0, n)
	for i := uint64(0); i < n; i++ {
		l, k := binary.Uvarint(p)
		if k <= 0 || l > uint64(len(p)-k) {
			return nil, errCorrupt
		}
		out = append(out, p[k:k+int(l):k+int(l)])
		p = p[k+int(l):]
	}
	if len(p) != 0 {
		return nil, errCorrupt
	}
	return out, nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func keySeq(k []byte) uint64 {
	if len(k) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k)
}

// chunkTime returns the commit time (unix ms) of a chunk, 0 if too short.
func chunkTime(v []byte) int64 {
	if len(v) < chunkHeader {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(v[4:]))
}

// chunkPool recycles chunk encoding buffers: a commit of 1000 log lines
// encodes ~300 KB, and allocating (and zeroing) that for every commit is a
// measurable share of the write path. A busy queue has about five in use:
// the body a producer frames, the one the committer seals and its sealed
// copy, and the one or two a reader holds until they are delivered. A nil
// pool allocates.
type chunkPool struct{ p bufpool.Pool }

// maxPooledChunk keeps rare huge chunks out of the pool.
const maxPooledChunk = 8 << 20

func newChunkPool() *chunkPool {
	return &chunkPool{p: bufpool.Pool{Max: 5, MaxCap: maxPooledChunk}}
}

func (c *chunkPool) get(size int) []byte {
	if c == nil {
		return make([]byte, 0, size)
	}
	return c.p.Get(size)
}

func (c *chunkPool) put(b []byte) {
	if c != nil {
		c.p.Put(b)
	}
}
