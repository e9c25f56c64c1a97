package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hogtail/hogtail/agent/component/componenttest"
)

// TestCopyOf: how a new file is classified against the files being read
// and the content read before.
func TestCopyOf(t *testing.T) {
	content := strings.Repeat("seq=0000 the same first lines\n", 20) // 600 bytes
	for _, tc := range []struct {
		name     string
		original string // content of the file being read ("" for none)
		closed   bool   // its tailer closed the file but is still listed
		retired  int64  // offset of retired content like the new file's (0: none)
		newFile  string
		want     copyVerdict
		wantOff  int64
	}{
		{"a file of its own", "other content\n", false, 0, content, copyNone, 0},
		{"a copy of a file being read", content + "more\n", false, 0, content, copyWait, 0},
		{"a copy of truncated content", "", false, 120, content, copyResume, 120},
		{"a copy with nothing new yet", "", false, 900, content, copyWait, 0},
		{"empty: maybe a copy starting", "", false, 0, "", copyWait, 0},
		{"short, a prefix of truncated content", "", false, 120, content[:40], copyWait, 0},
		// Its tailer closed the file between the two looks at the
		// list: ask again, do not wait (a rotated file that waits past
		// rotate_wait is closed unread).
		{"original closed meanwhile", content, true, 0, content, copyRetry, 0},
		{"short, original closed meanwhile", "x\n", true, 0, content[:40], copyRetry, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := defaultConfig()
			cfg.Include = []string{filepath.Join(dir, "*.log")}
			src, err := NewFactory().CreateSource(cfg, componenttest.Settings("app_logs", dir))
			must(t, err)
			s := src.(*Source)
			if tc.original != "" {
				p := filepath.Join(dir, "orig.log")
				must(t, os.WriteFile(p, []byte(tc.original), 0o644))
				f, err := os.Open(p)
				must(t, err)
				defer f.Close()
				o := &tailer{s: s, key: "1.1", f: f, path: p}
				o.ident, _, err = readIdentity(f, min(s.fpBytes, len(tc.original)))
				must(t, err)
				if tc.closed {
					f.Close()
				}
				s.tails[fileID{1, 1}] = o
			}
			if tc.retired > 0 {
				id, ok, err := readIdentity(strings.NewReader(content), s.fpBytes)
				if !ok || err != nil {
					t.Fatal("identity of the content", err)
				}
				s.retired = append(s.retired, retiredFP{id: id, offset: tc.retired, at: time.Now()})
			}
			p := filepath.Join(dir, "new.log")
			must(t, os.WriteFile(p, []byte(tc.newFile), 0o644))
			f, err := os.Open(p)
			must(t, err)
			defer f.Close()
			off, got := s.copyOf(f, int64(len(tc.newFile)), "2.2")
			if got != tc.want || off != tc.wantOff {
				t.Errorf("copyOf = %d at %d, want %d at %d", got, off, tc.want, tc.wantOff)
			}
		})
	}
}
