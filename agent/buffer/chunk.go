package buffer

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"sync"
)

// A chunk is the value stored under one sequence key of a queue: many records
// written by one commit. Layout:
//
//	crc32c (4 bytes, of everything after it) | commit time (8 bytes, unix ms, little endian) |
//	uvarint count | count × (uvarint len | bytes)
//
// The checksum lets a damaged value be detected and moved to dead letters
// instead of being delivered half-read or blocking the queue.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt reports a chunk that fails its checksum or framing.
var errCorrupt = errors.New("corrupt chunk")

const chunkHeader = 4 + 8

func chunkSize(records [][]byte) int {
	n := chunkHeader + binary.MaxVarintLen64
	for _, r := range records {
		n += binary.MaxVarintLen64 + len(r)
	}
	return n
}

// appendChunk encodes records, committed at unixMilli, into dst.
func appendChunk(dst []byte, records [][]byte, unixMilli int64) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(unixMilli))
	dst = binary.AppendUvarint(dst, uint64(len(records)))
	for _, r := range records {
		dst = binary.AppendUvarint(dst, uint64(len(r)))
		dst = append(dst, r...)
	}
	binary.LittleEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst
}

// decodeChunk splits a chunk into records that alias data.
func decodeChunk(data []byte) ([][]byte, error) {
	if len(data) < chunkHeader+1 {
		return nil, errCorrupt
	}
	if binary.LittleEndian.Uint32(data) != crc32.Checksum(data[4:], castagnoli) {
		return nil, errCorrupt
	}
	p := data[chunkHeader:]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)) {
		return nil, errCorrupt
	}
	p = p[k:]
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
// measurable share of the write path.
type chunkPool struct{ p sync.Pool }

// maxPooledChunk keeps rare huge chunks out of the pool.
const maxPooledChunk = 8 << 20

func (c *chunkPool) get(size int) []byte {
	if p, ok := c.p.Get().(*[]byte); ok && cap(*p) >= size {
		return (*p)[:0]
	}
	return make([]byte, 0, size)
}

func (c *chunkPool) put(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooledChunk {
		return
	}
	b = b[:0]
	c.p.Put(&b)
}
