package connectors

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// watchHarness runs a folderWatch on real folders and reports its checks.
type watchHarness struct {
	t      *testing.T
	checks chan struct{}
	logs   *syncBuffer
}

// startWatch runs fw until the test ends; it returns once the folders are
// watched.
func startWatch(t *testing.T, fw folderWatch) *watchHarness {
	t.Helper()
	h := &watchHarness{t: t, checks: make(chan struct{}, 100), logs: &syncBuffer{}}
	fw.check = func() { h.checks <- struct{}{} }
	fw.log = slog.New(slog.NewTextHandler(h.logs, nil))
	started := make(chan struct{})
	fw.started = func() { close(started) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fw.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("folderWatch.run did not return after its context ended")
		}
	})
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("folderWatch did not start")
	}
	return h
}

// waitCheck fails the test unless check is called within a few seconds.
func (h *watchHarness) waitCheck(why string) {
	h.t.Helper()
	select {
	case <-h.checks:
	case <-time.After(5 * time.Second):
		h.t.Fatalf("no check after %s", why)
	}
}

// noCheck fails the test if check is called within a few debounce periods
// (a negative can only be shown by waiting).
func (h *watchHarness) noCheck(why string) {
	h.t.Helper()
	select {
	case <-h.checks:
		h.t.Fatalf("check called after %s", why)
	case <-time.After(3 * reloadDebounce):
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFolderWatchOneFile: the GeoIP use, a file in a folder watched alone,
// also when replaced by a rename; other files of the folder do not count.
func TestFolderWatchOneFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "City.mmdb")
	writeFile(t, target, "v1")
	h := startWatch(t, folderWatch{
		dirs:     []string{dir},
		relevant: func(p string) bool { return filepath.Base(p) == "City.mmdb" },
		poll:     time.Hour,
	})
	writeFile(t, filepath.Join(dir, "other.txt"), "x")
	h.noCheck("a change to another file")
	writeFile(t, target, "v2")
	h.waitCheck("an in-place write")
	tmp := filepath.Join(dir, "City.mmdb.tmp")
	writeFile(t, tmp, "v3")
	if err := os.Rename(tmp, target); err != nil {
		t.Fatal(err)
	}
	h.waitCheck("a replace by rename")
}

// TestFolderWatchRecursive: the connector use, every folder below the
// roots, including new ones, but not node_modules or .git.
func TestFolderWatchRecursive(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"node_modules/pkg", ".git", "src"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := startWatch(t, folderWatch{dirs: []string{root}, recursive: true, poll: time.Hour})

	writeFile(t, filepath.Join(root, "node_modules", "pkg", "index.js"), "x")
	writeFile(t, filepath.Join(root, ".git", "HEAD"), "x")
	h.noCheck("writes under node_modules and .git")

	writeFile(t, filepath.Join(root, "src", "a.js"), "x")
	h.waitCheck("a write in a subfolder present at start")

	if err := os.Mkdir(filepath.Join(root, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.waitCheck("a new subfolder")
	writeFile(t, filepath.Join(root, "lib", "v.js"), "x")
	h.waitCheck("a write in a subfolder created later")
}

// TestFolderWatchPollFallback: a folder fsnotify cannot watch is still
// checked by the poll, and the reason is logged.
func TestFolderWatchPollFallback(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "not-there-yet")
	for _, recursive := range []bool{false, true} {
		h := startWatch(t, folderWatch{dirs: []string{missing}, recursive: recursive, poll: 10 * time.Millisecond})
		h.waitCheck("a poll period")
		h.waitCheck("a second poll period")
		if !recursive && !strings.Contains(h.logs.String(), "cannot watch folder; polling covers it") {
			t.Errorf("no warning for the unwatched folder: %s", h.logs.String())
		}
	}
}
