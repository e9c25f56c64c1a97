package file

import (
	"encoding/json"
	"fmt"
)

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
		return nil, fmt.Errorf("decode: %w", err)
	}
	if r.Offset < 0 || r.FPLen < 0 {
		return nil, fmt.Errorf("negative offset or fingerprint length")
	}
	return &r, nil
}
