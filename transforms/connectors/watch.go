package connectors

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reloadDebounce groups the burst of file events an editor, a deploy or
// geoipupdate makes into one check.
const reloadDebounce = 200 * time.Millisecond

// folderWatch calls check when files below some folders may have changed:
// reloadDebounce after the last of a burst of fsnotify events, and every
// poll as a fallback for what fsnotify misses (network file systems, a
// folder it could not watch, a watcher that failed). check itself finds
// out what changed (fingerprints, file identity), so a spurious call is
// harmless. Connector hot reload and the GeoIP database reload share it.
type folderWatch struct {
	// dirs are the folders to watch. fsnotify reports a file replaced by
	// rename on its folder, not on the old file.
	dirs []string
	// recursive watches the subfolders too, including ones created later,
	// except node_modules and .git.
	recursive bool
	// relevant says which changed paths call for a check; nil = all.
	relevant func(path string) bool
	poll     time.Duration
	check    func()
	log      *slog.Logger
	// started, if set, is called once the folders are watched.
	started func()
}

// run watches until ctx ends.
func (fw folderWatch) run(ctx context.Context) {
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err != nil {
		fw.log.Warn("fsnotify unavailable; polling only", "dirs", fw.dirs, "error", err)
	} else {
		defer w.Close()
		for _, d := range fw.dirs {
			fw.add(w, d)
		}
		events, errs = w.Events, w.Errors
	}
	if fw.started != nil {
		fw.started()
	}
	ticker := time.NewTicker(fw.poll)
	defer ticker.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if fw.recursive && ev.Op&fsnotify.Create != 0 {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					fw.add(w, ev.Name)
				}
			}
			if fw.relevant == nil || fw.relevant(ev.Name) {
				debounce.Reset(reloadDebounce)
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// An unread error would stall fsnotify's event delivery.
			fw.log.Warn("fsnotify error; polling continues", "error", err)
		case <-debounce.C:
			fw.check()
		case <-ticker.C:
			fw.check()
		}
	}
}

// add watches dir, and with recursive the folders below it. A folder that
// cannot be watched is left to the poll.
func (fw folderWatch) add(w *fsnotify.Watcher, dir string) {
	if !fw.recursive {
		if err := w.Add(dir); err != nil {
			fw.log.Warn("cannot watch folder; polling covers it", "dir", dir, "error", err)
		}
		return
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil // unreadable entries are the poll's to see
		}
		if d.Name() == "node_modules" || d.Name() == ".git" {
			return filepath.SkipDir
		}
		if werr := w.Add(p); werr != nil {
			fw.log.Warn("cannot watch folder; polling covers it", "dir", p, "error", werr)
		}
		return nil
	})
	if err != nil {
		fw.log.Warn("cannot walk folder; polling covers it", "dir", dir, "error", err)
	}
}
