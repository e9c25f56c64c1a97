// Package file implements the file source: it tails files matched by globs,
// follows them through rotation and truncation, and checkpoints the offset of
// each file in the same commit as the events read up to it.
package file

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hogtail/hogtail/agent/component"
	"github.com/prometheus/client_golang/prometheus"
)

//go:embed sample.toml
var sample string

// NewFactory returns the factory of the file source.
func NewFactory() component.SourceFactory {
	return component.NewSourceFactory("file", sample, defaultConfig, newSource)
}

// Source tails files. Create it with NewFactory.
type Source struct {
	cfg     *Config
	set     component.Settings
	log     *slog.Logger
	include []pattern
	exclude []pattern
	tpl     template
	fpBytes int
	bufSize int
	pool    sync.Pool
	// reading bounds the read buffers held at once, across all files:
	// each is bufSize (half a MiB by default), and a glob can match
	// thousands of files (see tailer.holdBuf).
	reading readSlots
	// building bounds the batches being built and encoded at once, across
	// all files: each holds its events and their encoding (a few MB), and
	// more of them than cores only adds memory (rotate: ten files at once).
	building chan struct{}
	slabs    slabs // one per building slot at most
	metrics  *metrics
	emitter  component.Emitter
	wg       sync.WaitGroup // tailers and the watcher
	scanReq  chan struct{}
	firstRun bool
	// hadCheckpoints: the source ran before. Files new at its start then
	// appeared while it was down and are read from their beginning.
	hadCheckpoints bool
	// openFile is os.Open; tests replace it to simulate permission errors
	// (the tests run as root, which no file mode stops).
	openFile func(string) (*os.File, error)
	// noWatch turns fsnotify off, as when it is unavailable (tests).
	noWatch bool
	// now is the clock of timeouts and checkpoint ages (time.Now; tests
	// step it by hand).
	now func() time.Time
	// afterClassify, when set (by tests), runs once a new file's start is
	// decided, before its first read: the moment a copytruncate may land.
	afterClassify func(path string)
	// stepped: tailers are not run in goroutines; a test calls their step
	// (see model_test.go).
	stepped bool
	// afterScan, when set, is called after each scan: tests wait for the
	// files present at their start to be found instead of sleeping.
	afterScan func()

	mu      sync.Mutex
	tails   map[fileID]*tailer
	byPath  map[string]*tailer
	known   map[string]*record // checkpoints by key
	retired []retiredFP        // content that left its inode (copytruncate)
	denied  map[string]bool    // paths whose open failed, logged once
	watched map[string]bool    // directories watched by fsnotify
}

// retiredFP remembers how far the content with fingerprint fp was read
// before its file was truncated, so that a copy of it resumes there.
type retiredFP struct {
	id     identity // complete: fingerprint_bytes long
	offset int64
	at     time.Time
}

// retiredPrefix starts the checkpoint keys of content that was truncated
// away from its file (the others are "<dev>.<inode>").
const retiredPrefix = "r."

// startedKey is the checkpoint that says the source has started before,
// whether or not it found files (see read_from).
const startedKey = "started"

// maxRetired bounds the fingerprints of truncated content kept in memory.
const maxRetired = 1000

type metrics struct {
	lines, bytes, splits, parseErrors, readErrors, rotations, truncations prometheus.Counter
	open                                                                  prometheus.Gauge
}

// newMetrics registers the source's collectors on reg, which labels them
// with the component name.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	var err error
	c := func(n, help string) prometheus.Counter {
		return component.RegisterInto(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hogtail_file_source_" + n, Help: help}), &err)
	}
	m := &metrics{
		lines:       c("lines_total", "Lines read (one per event)."),
		bytes:       c("bytes_total", "Bytes read from files."),
		splits:      c("split_lines_total", "Lines longer than max_line_bytes, split into parts."),
		parseErrors: c("parse_errors_total", "Lines that were not JSON objects with codec json."),
		readErrors:  c("errors_total", "Errors opening, reading or statting files."),
		rotations:   c("rotations_total", "Files closed after they were rotated away or deleted."),
		truncations: c("truncations_total", "Files read again from 0 after truncation."),
	}
	m.open = component.RegisterInto(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "hogtail_file_source_open_files", Help: "Files currently open."}), &err)
	return m, err
}

func newSource(cfg *Config, set component.Settings) (component.Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tpl, _ := parseTemplate(cfg.DistinctID) // checked by Validate
	s := &Source{
		cfg:      cfg,
		set:      set,
		log:      set.Logger,
		tpl:      tpl,
		fpBytes:  int(cfg.FingerprintBytes),
		scanReq:  make(chan struct{}, 1),
		tails:    map[fileID]*tailer{},
		byPath:   map[string]*tailer{},
		known:    map[string]*record{},
		denied:   map[string]bool{},
		watched:  map[string]bool{},
		openFile: os.Open,
		now:      time.Now,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	reg := set.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}
	s.metrics = m
	resolve := func(p string) string {
		if !filepath.IsAbs(p) && set.ConfigDir != "" {
			p = filepath.Join(set.ConfigDir, p)
		}
		return p
	}
	for _, p := range cfg.Include {
		s.include = append(s.include, compilePattern(resolve(p)))
	}
	for _, p := range cfg.Exclude {
		s.exclude = append(s.exclude, compilePattern(resolve(p)))
	}
	// A batch never spans two reads (its lines are borrowed from the
	// buffer), so the buffer holds batch_lines lines of a typical size.
	s.bufSize = max(256<<10, min(cfg.BatchLines, 1<<20)*256)
	if n := int(cfg.MaxLineBytes) + 64<<10; n > s.bufSize {
		s.bufSize = n
	}
	s.pool.New = func() any { b := make([]byte, s.bufSize); return &b }
	s.reading.ch = make(chan struct{}, max(8, 2*runtime.GOMAXPROCS(0)))
	s.building = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	s.slabs.max = cap(s.building)
	return s, nil
}

// Run tails files until ctx is cancelled.
func (s *Source) Run(ctx context.Context, emit component.Emitter) error {
	if err := s.begin(emit); err != nil {
		return err
	}
	defer s.wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	w, err := fsnotify.NewWatcher()
	if s.noWatch && err == nil {
		w.Close()
		w, err = nil, errors.New("disabled")
	}
	if err != nil {
		s.log.Warn("fsnotify unavailable, polling only", "error", err, "poll_interval", s.cfg.PollInterval.D())
	} else {
		defer w.Close()
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.watch(ctx, w) }()
	}

	ticker := time.NewTicker(s.cfg.PollInterval.D())
	defer ticker.Stop()
	for {
		s.scan(ctx, w)
		if s.firstRun && !s.hadCheckpoints && s.cfg.ReadFrom == "end" && s.set.Checkpoints != nil {
			// The very first start is over once its files are placed at
			// their end: say so, for a start that finds no file at all
			// leaves no other checkpoint, and the next start would skip
			// what was written meanwhile.
			if err := s.emitter.Emit(ctx, nil, component.Checkpoint{Key: startedKey, Value: []byte(s.now().UTC().Format(time.RFC3339))}); err != nil && ctx.Err() == nil {
				s.log.Warn("cannot store that the source has started; the next start will place existing files at their end again", "error", err)
			}
		}
		s.firstRun = false
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		case <-s.scanReq:
		}
	}
}

// begin sets the source up to emit to emit, from the stored checkpoints.
func (s *Source) begin(emit component.Emitter) error {
	s.emitter = emit
	s.firstRun = true
	l := s.set.Checkpoints
	if l == nil {
		return nil
	}
	cps, err := l.LoadCheckpoints()
	if err != nil {
		return fmt.Errorf("load checkpoints: %w", err)
	}
	for k, v := range cps {
		if k == startedKey {
			continue
		}
		r, err := decodeRecord(v)
		if err != nil {
			s.log.Warn("ignoring unreadable checkpoint", "key", k, "error", err)
			continue
		}
		s.known[k] = r
	}
	s.hadCheckpoints = len(cps) > 0
	return nil
}

func (s *Source) requestScan() {
	select {
	case s.scanReq <- struct{}{}:
	default:
	}
}

// watch turns fsnotify events into wake-ups of tailers and rescans.
func (s *Source) watch(ctx context.Context, w *fsnotify.Watcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op&fsnotify.Write != 0 {
				s.mu.Lock()
				t := s.byPath[ev.Name]
				s.mu.Unlock()
				if t != nil {
					t.poke()
				} else if s.included(ev.Name) {
					// A file held back (empty, or a copy) may be readable now.
					s.requestScan()
				}
			}
			if ev.Op&fsnotify.Create != 0 && s.included(ev.Name) {
				// Open it now: it may be renamed away before a scan runs.
				if fi, err := os.Stat(ev.Name); err == nil && fi.Mode().IsRegular() {
					if id, ok := statID(fi); ok {
						s.track(ctx, candidate{ev.Name, fi}, id, s.now(), false)
					}
				}
			}
			if ev.Op&(fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
				if ev.Op&(fsnotify.Rename|fsnotify.Remove) != 0 {
					// A removed directory loses its watch; watch it again
					// if it comes back.
					s.mu.Lock()
					delete(s.watched, ev.Name)
					s.mu.Unlock()
				}
				s.requestScan()
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// An overflow loses events: a rescan finds what they said.
			s.log.Warn("fsnotify error, rescanning", "error", err)
			s.requestScan()
		}
	}
}

func (s *Source) included(path string) bool {
	for i := range s.include {
		if s.include[i].match(path) {
			return !s.excluded(path)
		}
	}
	return false
}

func (s *Source) excluded(path string) bool {
	for i := range s.exclude {
		if s.exclude[i].match(path) {
			return true
		}
	}
	return false
}

type candidate struct {
	path string
	fi   os.FileInfo
}

// glob lists the regular files matching include and not exclude, and the
// directories worth watching. Symlinks to directories are followed, the
// base of a pattern included (/var/log/app -> /data/app/logs is a common
// layout), each directory once (a link back up the tree is no loop); the
// paths keep the link's name.
func (s *Source) glob() (files []candidate, dirs []string) {
	seen := map[string]bool{}
	for i := range s.include {
		p := &s.include[i]
		depth := p.maxDepth()
		baseDepth := splitPath(p.base)
		visited := map[fileID]bool{}
		var walk func(root string)
		walk = func(root string) {
			_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					if !errors.Is(err, fs.ErrNotExist) && path != root {
						s.logDenied(path, err)
					}
					if d != nil && d.IsDir() {
						return fs.SkipDir
					}
					return nil
				}
				if d.IsDir() {
					if depth >= 0 && splitPath(path)-baseDepth >= depth {
						return fs.SkipDir
					}
					if k, ok := dirID(path); ok {
						if visited[k] {
							return fs.SkipDir
						}
						visited[k] = true
					}
					dirs = append(dirs, filepath.Clean(path))
					return nil
				}
				if d.Type()&fs.ModeSymlink != 0 {
					if fi, err := os.Stat(path); err == nil && fi.IsDir() {
						if depth < 0 || splitPath(path)-baseDepth < depth {
							// A trailing separator makes WalkDir follow it.
							walk(path + string(filepath.Separator))
						}
						return nil
					}
				}
				if seen[path] || !p.match(path) || s.excluded(path) {
					return nil
				}
				fi, err := os.Stat(path) // follows symlinks
				if err != nil || !fi.Mode().IsRegular() {
					return nil
				}
				seen[path] = true
				files = append(files, candidate{path, fi})
				return nil
			})
		}
		root := p.base
		if fi, err := os.Lstat(root); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			root += string(filepath.Separator)
		}
		walk(root)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	return files, dirs
}

// dirID returns the identity of the directory at path, following symlinks.
func dirID(path string) (fileID, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, false
	}
	return statID(fi)
}

// splitPath returns the number of segments of a clean path.
func splitPath(p string) int {
	p = filepath.ToSlash(filepath.Clean(p))
	n := 0
	for _, seg := range strings.Split(p, "/") {
		if seg != "" {
			n++
		}
	}
	return n
}

func (s *Source) logDenied(path string, err error) {
	s.mu.Lock()
	first := !s.denied[path]
	s.denied[path] = true
	s.mu.Unlock()
	s.metrics.readErrors.Inc()
	if first {
		s.log.Error("cannot read, will retry", "path", path, "error", err)
	}
}

// scan finds files, starts tailers for new ones, marks the ones no longer at
// an included path as rotated and prunes old checkpoints.
func (s *Source) scan(ctx context.Context, w *fsnotify.Watcher) {
	began := time.Now()
	files, dirs := s.glob()
	if w != nil {
		for _, d := range dirs {
			s.mu.Lock()
			known := s.watched[d]
			s.mu.Unlock()
			if !known {
				if err := w.Add(d); err == nil {
					s.mu.Lock()
					s.watched[d] = true
					s.mu.Unlock()
				}
			}
		}
	}
	now := s.now()
	present := map[fileID]bool{}
	var newCPs []component.Checkpoint
	for _, c := range files {
		id, ok := statID(c.fi)
		if !ok {
			continue
		}
		present[id] = true
		s.mu.Lock()
		if t := s.tails[id]; t != nil {
			if t.path != c.path { // renamed; its old path may be another file's now
				if s.byPath[t.path] == t {
					delete(s.byPath, t.path)
				}
				t.path = c.path
			}
			s.byPath[c.path] = t
			t.rotated = false
			s.mu.Unlock()
			continue
		}
		if r := s.known[id.key()]; r != nil {
			r.Seen = now.Unix()
		}
		s.mu.Unlock()
		s.track(ctx, c, id, now, s.firstRun)
	}
	s.mu.Lock()
	for id, t := range s.tails {
		if !present[id] && !t.rotated && t.foundAt.Before(began) {
			t.rotated = true
			t.rotatedAt = now
			if s.byPath[t.path] == t {
				delete(s.byPath, t.path)
			}
			t.poke()
		}
	}
	// Prune checkpoints of files gone for checkpoint_ttl; open files keep theirs.
	open := map[string]bool{}
	for _, t := range s.tails {
		open[t.key] = true
	}
	ttl := s.cfg.CheckpointTTL.D()
	for k, r := range s.known {
		if !open[k] && now.Sub(time.Unix(r.Seen, 0)) > ttl {
			delete(s.known, k)
			newCPs = append(newCPs, component.Checkpoint{Key: k})
		}
	}
	kept := s.retired[:0]
	for _, r := range s.retired {
		if now.Sub(r.at) < time.Hour {
			kept = append(kept, r)
		}
	}
	if len(kept) > maxRetired {
		kept = kept[len(kept)-maxRetired:]
	}
	s.retired = kept
	s.mu.Unlock()
	if len(newCPs) > 0 {
		if err := s.emitter.Emit(ctx, nil, newCPs...); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot store checkpoints", "error", err)
		}
	}
	if s.afterScan != nil {
		s.afterScan()
	}
}

// track opens a file found by a scan or an fsnotify event and starts its
// tailer, unless it is tracked already.
func (s *Source) track(ctx context.Context, c candidate, id fileID, now time.Time, initial bool) {
	t := s.open(c, id, now, initial)
	if t == nil {
		return
	}
	s.mu.Lock()
	if s.tails[id] != nil || ctx.Err() != nil { // the other finder was first
		s.mu.Unlock()
		t.f.Close()
		return
	}
	s.tails[id] = t
	s.byPath[c.path] = t
	s.mu.Unlock()
	s.metrics.open.Inc()
	if s.stepped {
		return
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); t.run(ctx) }()
}

// open opens a newly found file; initial means found by the first scan.
// It resumes at the file's checkpoint, or
// leaves the start to the tailer (classify). It returns nil when the file
// is skipped for now (unreadable, or too old).
func (s *Source) open(c candidate, id fileID, now time.Time, initial bool) *tailer {
	f, err := s.openFile(c.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // gone between glob and open
		}
		s.logDenied(c.path, err)
		return nil
	}
	s.mu.Lock()
	if s.denied[c.path] {
		delete(s.denied, c.path)
		s.log.Info("file readable again", "path", c.path)
	}
	s.mu.Unlock()
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil
	}
	if id2, _ := statID(fi); id2 != id { // replaced between stat and open
		f.Close()
		return nil
	}
	size := fi.Size()
	key := id.key()
	t := &tailer{s: s, id: id, key: key, f: f, path: c.path, wake: make(chan struct{}, 1), foundAt: time.Now()}
	t.newOut()

	// The file's identity as its checkpoint measures it, read before the
	// lock is taken: scans and other files' tailers wait on it.
	s.mu.Lock()
	readLen := -1
	if r := s.known[key]; r != nil {
		readLen = r.FPLen
	}
	s.mu.Unlock()
	var cur identity
	var curOK bool
	var idErr error
	if readLen >= 0 {
		cur, curOK, idErr = readIdentity(f, readLen)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// 1. Our own checkpoint, if the content is still the one it describes.
	if r := s.known[key]; r != nil {
		if r.FPLen != readLen { // stored meanwhile (rare): measure again
			readLen = r.FPLen
			cur, curOK, idErr = readIdentity(f, readLen)
		}
		if idErr != nil {
			// Unreadable head: the checkpoint cannot be matched, so the
			// file is read as new content, from its start. Say why.
			s.log.Warn("cannot read the file's first bytes to match its checkpoint", "path", c.path, "err", idErr)
		}
		if curOK && cur.fp == r.FP {
			t.ident = cur
			t.offset = r.Offset
			if t.offset > size { // truncated while we were away
				s.log.Info("file shorter than its checkpoint, reading it from the start", "path", c.path, "checkpoint", r.Offset, "size", size)
				t.offset = 0
				s.metrics.truncations.Inc()
			} else {
				// Says why lines before the offset are not read again after a restart.
				s.log.Info("resuming from checkpoint", "path", c.path, "offset", t.offset, "unread_bytes", size-t.offset)
			}
			r.Path, r.Seen = c.path, now.Unix()
			return t
		}
		// The file was truncated or replaced while we were away (a
		// copytruncate rotation). Its old content may live on in a copy:
		// keep the old position under the content's fingerprint, so the
		// copy resumes there instead of being read again (copyOf).
		if r.FPLen == s.fpBytes {
			old := *r
			s.known[retiredPrefix+r.FP] = &old
			t.retired = &component.Checkpoint{Key: retiredPrefix + r.FP, Value: old.encode()}
		}
	}
	// A file new to us: it stays open (so that it can be read even if it is
	// renamed away at once) while its tailer decides where to start.
	if s.cfg.IgnoreOlder > 0 && now.Sub(fi.ModTime()) > s.cfg.IgnoreOlder.D() {
		f.Close()
		return nil
	}
	t.pending = true
	t.startAtEnd = initial && s.cfg.ReadFrom == "end" && !s.hadCheckpoints
	t.startSize = size
	return t
}

// classify decides where a new file starts: after the content it shares
// with a file read before (a copy), at 0, or at its end for read_from =
// "end" on the first start. While it may be a copy still being written, or
// of a file still being read, it stays pending. done means it was closed.
func (t *tailer) classify(ctx context.Context) (done bool, err error) {
	s := t.s
	fi, err := t.f.Stat()
	if err != nil {
		return false, nil
	}
	size := fi.Size()
	now := s.now()
	off, verdict := s.copyOf(t.f, size, t.key)
	// A retry is due to another file closing or starting at the same
	// moment; the bound only guards against a file that never settles.
	for i := 0; verdict == copyRetry && i < 100 && ctx.Err() == nil; i++ {
		off, verdict = s.copyOf(t.f, size, t.key)
	}
	if verdict == copyWait && size > 0 {
		// The copy of copytruncate is followed at once by the truncation
		// of its original. A file that holds the content of one being read
		// and has not grown for rotate_wait, its original untouched, is a
		// file of its own with the same text (job logs that say the same
		// thing): read it rather than never (logrotate's copy without
		// truncate then ships the copy again; duplicates, never a loss).
		switch {
		case size != t.heldSize || t.heldAt.IsZero():
			t.heldSize, t.heldAt = size, now
		case now.Sub(t.heldAt) >= 2*s.cfg.RotateWait.D():
			// Twice: an original that was deleted (cp, then rm) closes
			// after rotate_wait of quiet, which began before the copy,
			// and retires its offset for the copy first.
			s.log.Info("a file with the content of another being read was not a copy (that file was not truncated within rotate_wait): reading it", "path", t.curPath())
			verdict = copyNone
		}
	}
	if verdict == copyWait || verdict == copyRetry {
		s.mu.Lock()
		rotated, at := t.rotated, t.rotatedAt
		s.mu.Unlock()
		return rotated && now.Sub(at) >= s.cfg.RotateWait.D(), nil
	}
	if verdict == copyResume {
		s.log.Debug("copy of content read before, resuming", "path", t.curPath(), "offset", off)
		t.offset = off
	} else if t.startAtEnd {
		t.offset = t.startSize
	}
	id := identityAt(t.f, int(min(int64(s.fpBytes), size))) // a short file's is extended as it grows
	s.mu.Lock()
	t.ident = id
	t.pending = false
	s.log.Debug("new file", "path", t.path, "offset", t.offset, "size", size)
	cp := s.newRecord(t, now)
	s.mu.Unlock()
	cps := []component.Checkpoint{*cp}
	if t.retired != nil { // stored with the new start, so a crash keeps both
		cps = append(cps, *t.retired)
		t.retired = nil
	}
	return false, s.emitter.Emit(ctx, nil, cps...)
}

type copyVerdict int

const (
	copyNone   copyVerdict = iota // a file of its own
	copyWait                      // a copy of content still read elsewhere, or being written
	copyResume                    // a copy of content read up to an offset
	// copyRetry: the files compared changed while they were compared (see
	// copyOf); ask again at once. Unlike copyWait it says nothing about
	// the file, so it never lets a rotated file be closed unread.
	copyRetry
)

// compareBytes is how much of two files' heads is compared to tell a copy
// from a file that merely starts like another one.
const compareBytes = 16 << 10

// original is a file being read that a new file may be a copy of.
type original struct {
	t  *tailer
	f  *os.File
	fp string
}

// copyOf tells whether the new file f holds content already read under
// another identity. Files are read without s.mu (it only guards the
// lookups), so it is taken twice; a file that became a candidate original
// in between makes the verdict copyRetry.
func (s *Source) copyOf(f *os.File, size int64, key string) (int64, copyVerdict) {
	if size == 0 {
		return 0, copyWait // nothing to read yet, and it may be a copy starting
	}
	m := int(min(size, compareBytes))
	head := make([]byte, m)
	if n, _ := f.ReadAt(head, 0); n < m {
		return 0, copyNone
	}
	short := size < int64(s.fpBytes)
	var full string
	if !short {
		full = hashHead(head[:s.fpBytes])
	}
	// The files being read that could hold the same content.
	candidate := func(o *tailer) bool {
		return o.key != key && !o.pending && (short || o.ident.complete(s.fpBytes) && o.ident.fp == full)
	}
	var origs []original
	s.mu.Lock()
	for _, o := range s.tails {
		if candidate(o) {
			origs = append(origs, original{o, o.f, o.ident.fp})
		}
	}
	s.mu.Unlock()
	// A file being read right now with the same head: wait. If the
	// original gets truncated, its offset is retired and this copy resumes
	// there; if it never is, all of this file's lines are read already.
	other := make([]byte, m)
	for _, o := range origs {
		n, err := o.f.ReadAt(other, 0)
		if errors.Is(err, os.ErrClosed) {
			return 0, copyRetry // closed meanwhile: its checkpoint is final now
		}
		if !short {
			if n < s.fpBytes {
				return 0, copyWait // the original shrank: truncated, not noticed yet
			}
			if hashHead(other[:s.fpBytes]) != o.fp {
				return 0, copyWait // the original was replaced, not noticed yet
			}
		}
		if (n == m || !short) && bytes.Equal(head[:n], other[:n]) {
			return 0, copyWait
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.tails {
		if candidate(o) && !slices.ContainsFunc(origs, func(c original) bool { return c.t == o }) {
			return 0, copyRetry // began to be read, or its fingerprint grew, while we compared
		}
	}
	best := int64(-1)
	for _, r := range s.retired {
		if short {
			if bytes.HasPrefix(r.id.head, head) {
				return 0, copyWait // a copy being written
			}
		} else if r.id.fp == full && r.offset > best {
			best = r.offset
		}
	}
	if !short {
		open := map[string]bool{}
		for _, o := range s.tails {
			open[o.key] = true
		}
		for k, r := range s.known {
			if k != key && !open[k] && r.FPLen == s.fpBytes && r.FP == full && r.Offset > best {
				best = r.Offset
			}
		}
	}
	switch {
	case best < 0:
		return 0, copyNone
	case size < best:
		return 0, copyWait // a copy being written, or one with nothing new
	default:
		return best, copyResume
	}
}

// newRecord stores t's starting point in known and returns its checkpoint.
// Called with s.mu held.
func (s *Source) newRecord(t *tailer, now time.Time) *component.Checkpoint {
	r := &record{Path: t.path, Offset: t.offset, FP: t.ident.fp, FPLen: t.ident.n, Seen: now.Unix()}
	s.known[t.key] = r
	return &component.Checkpoint{Key: t.key, Value: r.encode()}
}

// readSlots counts the read buffers held, up to cap(ch). A tailer that
// finds none free does not wait for one (it tries again at its next step,
// so that no file waits for another's), but counts itself in wanting, and
// tailers holding one give it up between reads while someone wants one.
type readSlots struct {
	ch      chan struct{} // one value per slot held
	wanting atomic.Int32
	// peak and taken: the most slots held at once, and slots taken in
	// all (for tests).
	peak  atomic.Int32
	taken atomic.Int64
}

// tryAcquire takes a slot if one is free.
func (r *readSlots) tryAcquire() bool {
	select {
	case r.ch <- struct{}{}:
	default:
		return false
	}
	r.taken.Add(1)
	for n := int32(len(r.ch)); ; {
		p := r.peak.Load()
		if n <= p || r.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return true
}

func (r *readSlots) release() { <-r.ch }

// contended reports whether a tailer wants a slot.
func (r *readSlots) contended() bool { return r.wanting.Load() > 0 }
