package buffer

// Orphaned chunks: when the salvage's walk of the page tree stopped at
// damage (a truncated file, a destroyed branch page), the leaf pages below
// the damage may still be intact but cannot be reached from the root. They
// are found by reading every page of the file. bbolt has no API for pages
// it cannot reach, so this reads its page layout directly, checking every
// bound: a page header (id uint64, flags uint16, count uint16, overflow
// uint32), then count leaf elements (flags, pos, ksize, vsize: uint32 each)
// whose key and value lie pos bytes after the element.
//
// An unreachable page may also be a freed one, holding chunks delivered
// long ago (the free list is not stored: NoFreelistSync). So the records of
// orphaned chunks are not put back into a queue, which would send them
// again; they become dead letters, for the operator to replay or purge.
// Their queue is known only when the file had a single one.

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
)

const (
	pageHeaderSize  = 16
	leafElementSize = 16
	leafPageFlag    = 0x02
	bucketLeafFlag  = 0x01
	// maxOrphanPages bounds the pages one leaf with its overflow may span
	// (a chunk is at most a few MiB).
	maxOrphanPages = 4096
)

// reasonOrphaned is the dead-letter reason of a record found in a page the
// damaged file's tree no longer reaches.
const reasonOrphaned = "salvaged from a page of a damaged buffer that was no longer reachable: it may have been delivered already; replay it (with --sink when its component is empty: the file had several queues) or purge it"

// orphanChunks reads every leaf page of the file at path and returns the
// chunks (8-byte sequence keys, valid checksums) whose content is not in
// known (hashes of the chunks already salvaged).
func orphanChunks(path string, pageSize int, known map[[32]byte]bool) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if pageSize <= 0 {
		return nil, nil
	}
	pages := st.Size() / int64(pageSize)
	var out [][]byte
	hdr := make([]byte, pageHeaderSize)
	for id := int64(2); id < pages; id++ {
		if _, err := f.ReadAt(hdr, id*int64(pageSize)); err != nil {
			if err == io.EOF {
				break
			}
			return out, err
		}
		pid := binary.LittleEndian.Uint64(hdr)
		flags := binary.LittleEndian.Uint16(hdr[8:])
		count := int(binary.LittleEndian.Uint16(hdr[10:]))
		overflow := int64(binary.LittleEndian.Uint32(hdr[12:]))
		if pid != uint64(id) || flags != leafPageFlag || overflow >= maxOrphanPages || id+overflow >= pages {
			continue
		}
		page := make([]byte, (overflow+1)*int64(pageSize))
		if _, err := f.ReadAt(page, id*int64(pageSize)); err != nil {
			continue
		}
		for i := range count {
			e := pageHeaderSize + i*leafElementSize
			if e+leafElementSize > len(page) {
				break
			}
			eflags := binary.LittleEndian.Uint32(page[e:])
			pos := int(binary.LittleEndian.Uint32(page[e+4:]))
			ksize := int(binary.LittleEndian.Uint32(page[e+8:]))
			vsize := int(binary.LittleEndian.Uint32(page[e+12:]))
			k := e + pos
			if eflags&bucketLeafFlag != 0 || ksize != 8 || pos < 0 || k < 0 || k > len(page) || vsize > len(page)-k-ksize {
				continue
			}
			val := page[k+ksize : k+ksize+vsize]
			if _, err := decodeChunk(val); err != nil {
				continue
			}
			sum := sha256.Sum256(val)
			if known[sum] {
				continue
			}
			known[sum] = true
			out = append(out, append([]byte(nil), val...))
		}
		id += overflow
	}
	return out, nil
}
