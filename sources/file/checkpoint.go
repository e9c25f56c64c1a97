package file

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"syscall"
)

// fileID is a file's device and inode.
type fileID struct{ dev, ino uint64 }

func (id fileID) key() string { return fmt.Sprintf("%d.%d", id.dev, id.ino) }

// record is the checkpoint of one file: the key is its device.inode, and
// the fingerprint of its first FPLen bytes guards against inode reuse and
// detects a file whose content was replaced (copytruncate).
type record struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	FP     string `json:"fp"`
	FPLen  int    `json:"fp_len"`
	// Seen is when the file was last seen (unix seconds), for checkpoint_ttl.
	Seen int64 `json:"seen"`
}

func (r *record) encode() []byte {
	b, _ := json.Marshal(r) // cannot fail: plain fields
	return b
}

func decodeRecord(b []byte) (*record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if r.Offset < 0 || r.FPLen < 0 {
		return nil, fmt.Errorf("negative offset or fingerprint length")
	}
	return &r, nil
}

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

// fingerprint hashes the first n bytes of f and returns them. ok is false
// when the file holds fewer than n bytes.
func fingerprint(f io.ReaderAt, n int) (fp string, head []byte, ok bool, err error) {
	if n == 0 {
		return "", nil, true, nil
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, 0)
	if got < n {
		if err != nil && err != io.EOF {
			return "", nil, false, err
		}
		return "", nil, false, nil
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:16]), buf, true, nil
}
