package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	must(t, os.WriteFile(path, []byte("0123456789"), 0o644))
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()

	if _, ok, err := readIdentity(f, 11); ok || err != nil {
		t.Fatalf("11 bytes of a 10-byte file: ok %v, err %v", ok, err)
	}
	id, ok, err := readIdentity(f, 4)
	if !ok || err != nil || id.n != 4 || string(id.head) != "0123" || len(id.fp) != 32 {
		t.Fatalf("identity %+v, ok %v, err %v", id, ok, err)
	}
	if !id.complete(4) || id.complete(8) {
		t.Error("complete")
	}
	if !id.heldBy(f) || !(identity{}).heldBy(f) {
		t.Error("the file no longer holds its own identity")
	}
	if short := identityAt(f, 20); short.n != 20 || short.fp != "" || short.heldBy(f) {
		t.Errorf("identity of a file that shrank: %+v", short)
	}

	must(t, os.WriteFile(path, []byte("0124"), 0o644)) // truncated and rewritten
	if id.heldBy(f) {
		t.Error("rewritten content still holds the identity")
	}
	must(t, os.Truncate(path, 2))
	if id.heldBy(f) {
		t.Error("a file shorter than the identity holds it")
	}
}

// TestReadHead: only bytes read in order from offset 0 are noted, up to
// the fingerprint size, and a rewrite of them is seen.
func TestReadHead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	must(t, os.WriteFile(path, []byte(strings.Repeat("x", 20)), 0o644))
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()

	for _, tc := range []struct {
		name  string
		reads [][2]int // offset, length
		noted string
	}{
		{"in order", [][2]int{{0, 3}, {3, 3}}, "xxxxxx"},
		{"capped at max", [][2]int{{0, 6}, {6, 6}}, "xxxxxxxx"},
		{"started further on", [][2]int{{4, 3}}, ""},
		{"gap", [][2]int{{0, 2}, {4, 2}}, "xx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := readHead{max: 8}
			for _, rd := range tc.reads {
				h.note(int64(rd[0]), []byte(strings.Repeat("x", rd[1])))
			}
			if string(h.b) != tc.noted {
				t.Fatalf("noted %q, want %q", h.b, tc.noted)
			}
			if h.changedIn(f) {
				t.Error("unchanged file reported changed")
			}
		})
	}
	h := readHead{max: 8}
	h.note(0, []byte("xxxx"))
	must(t, os.WriteFile(path, []byte("xxyxx"), 0o644))
	if !h.changedIn(f) {
		t.Error("rewrite not seen")
	}
	must(t, os.Truncate(path, 2))
	if !h.changedIn(f) {
		t.Error("truncation not seen")
	}
	h.reset()
	if h.changedIn(f) {
		t.Error("nothing noted, yet changed")
	}
}
