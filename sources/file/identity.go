package file

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"syscall"
)

// fileID is a file's device and inode.
type fileID struct{ dev, ino uint64 }

func (id fileID) key() string { return fmt.Sprintf("%d.%d", id.dev, id.ino) }

func statID(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true //nolint:unconvert // Dev is int on some platforms
}

func nlink(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink) //nolint:unconvert
	}
	return 1
}

// identity tells a file's content apart from other content: the hash of
// its first n bytes, and those bytes. The inode says which file it is; the
// identity says whether it still holds what was read from it (not reused,
// not truncated and rewritten). A file shorter than fingerprint_bytes has
// an identity of what it holds, extended as it grows.
type identity struct {
	fp   string // first 16 bytes of the SHA-256 of head, in hex
	n    int
	head []byte
}

// readIdentity reads the identity of f's first n bytes. ok is false when f
// holds fewer than n bytes; err is a read error other than the end of f.
func readIdentity(f io.ReaderAt, n int) (id identity, ok bool, err error) {
	if n == 0 {
		return identity{}, true, nil
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, 0)
	if got < n {
		if err != nil && err != io.EOF {
			return identity{}, false, fmt.Errorf("read the first %d bytes: %w", n, err)
		}
		return identity{}, false, nil
	}
	return identity{fp: hashHead(buf), n: n, head: buf}, true, nil
}

// hashHead is the fingerprint of a file's first bytes.
func hashHead(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// complete reports whether the identity covers fpBytes, the length every
// identity grows to.
func (id identity) complete(fpBytes int) bool { return id.n == fpBytes }

// heldBy reports whether f still starts with the bytes the identity was
// made of. An empty identity is held by any file.
func (id identity) heldBy(f io.ReaderAt) bool {
	if id.n == 0 {
		return true
	}
	got, ok, _ := readIdentity(f, id.n)
	return ok && got.fp == id.fp
}

// readHead is a file's first bytes (up to fingerprint_bytes) as a reader
// read them, in order, from offset 0. Compared with the file later it
// catches content truncated and rewritten past the read offset even while
// the file was shorter than a full fingerprint.
type readHead struct {
	max     int
	b       []byte
	scratch []byte
}

// note records the bytes p read at offset pos. Only bytes that continue
// what was noted from offset 0 count: a reader that started further on
// notes nothing.
func (h *readHead) note(pos int64, p []byte) {
	if pos >= int64(h.max) || int64(len(h.b)) != pos {
		return
	}
	take := int(min(int64(len(p)), int64(h.max)-pos))
	h.b = append(h.b, p[:take]...)
}

// changedIn reports whether f no longer starts with the noted bytes.
func (h *readHead) changedIn(f io.ReaderAt) bool {
	if len(h.b) == 0 {
		return false
	}
	if cap(h.scratch) < len(h.b) {
		h.scratch = make([]byte, len(h.b), h.max)
	}
	cur := h.scratch[:len(h.b)]
	got, _ := f.ReadAt(cur, 0)
	return got < len(cur) || !bytes.Equal(cur, h.b)
}

// reset forgets the noted bytes (reading starts over).
func (h *readHead) reset() { h.b = h.b[:0] }

// identityAt is the identity of f's first n bytes, f having held at least
// n bytes a moment ago. If it shrank since, the identity keeps n and no
// fingerprint, which no content matches: the next check sees a truncation.
func identityAt(f io.ReaderAt, n int) identity {
	id, ok, _ := readIdentity(f, n)
	if !ok {
		return identity{n: n}
	}
	return id
}
