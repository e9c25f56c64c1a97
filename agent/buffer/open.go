package buffer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Recovery describes what Open did with a damaged or missing buffer file.
type Recovery struct {
	// SetAside is where the damaged file was moved ("" if none was).
	SetAside string
	// Damage says what was wrong with it.
	Damage []string
	// Salvage is what was copied out of it (nil if the salvage failed).
	Salvage *SalvageReport
	// SalvageError says why nothing could be salvaged.
	SalvageError string
	// Restored counts the checkpoints taken from the checkpoint copy
	// because the buffer file had none for them.
	Restored int
}

// fileState is what Open found before opening the file.
type fileState struct {
	// fresh: the file did not exist, or was replaced by a salvaged copy or
	// an empty one; its checkpoints are completed from the journal.
	fresh    bool
	recovery *Recovery
}

// errUnusable wraps an error of the file system: not damage.
func errUnusable(path string, err error) error {
	return fmt.Errorf("buffer %s cannot be opened for reading and writing: %w "+
		"(a problem of permissions, ownership or the file system, not damage: the file is left as it is; fix the problem and start hogtail again)", path, err)
}

func errLockedBy(path string) error {
	return fmt.Errorf("open buffer %s: %w (is another hogtail running with this data_dir?)", path, ErrLocked)
}

// prepare makes sure the file at path can be opened by bbolt without
// crashing this process: it refuses files it must not touch (permissions,
// read-only file system, locked by another process), and replaces a
// damaged file by what can be salvaged from it.
func prepare(path string, opts Options) (fileState, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileState{fresh: true}, nil
	}
	if err != nil {
		return fileState{}, errUnusable(path, err)
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		if st, err = os.Stat(path); err != nil {
			return fileState{}, errUnusable(path, err)
		}
	}
	if !st.Mode().IsRegular() {
		return fileState{}, errUnusable(path, fmt.Errorf("not a regular file (%s)", st.Mode().Type()))
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fileState{}, errUnusable(path, err)
	}
	f.Close()
	if st.Size() == 0 {
		// Nothing was ever stored in it (a crash while it was created, a
		// full disk): bbolt makes a new file of it. Its checkpoints come
		// from the checkpoint copy, as for a missing file.
		opts.Logger.Warn("buffer: the buffer file is empty; starting a new one (checkpoints are taken from the checkpoint copy)", "path", path)
		return fileState{fresh: true}, nil
	}
	if opts.Child == nil {
		return fileState{}, nil
	}
	v, err := verify(context.Background(), opts.Child, path, opts.OpenTimeout, opts.Waiting)
	if err != nil {
		// The check process cannot run (its binary is gone): open in
		// this process, as without a child.
		opts.Logger.Warn("buffer: cannot start the process that checks the buffer file; opening it unchecked", "path", path, "error", err)
		return fileState{}, nil
	}
	switch v.Status {
	case "ok":
		return fileState{}, nil
	case "locked":
		return fileState{}, errLockedBy(path)
	case "unusable":
		return fileState{}, errUnusable(path, errors.New(v.Error))
	}
	if opts.KeepDamaged {
		return fileState{}, fmt.Errorf("%s: %w: %s", path, ErrDamaged, strings.Join(v.Damage, "; "))
	}
	rec, err := recoverFile(path, v.Damage, opts)
	if err != nil {
		return fileState{}, err
	}
	return fileState{fresh: true, recovery: rec}, nil
}

// recoverFile salvages what it can of the damaged file at path into a new
// file, sets the damaged one aside and puts the salvaged one in its place.
func recoverFile(path string, damage []string, opts Options) (*Recovery, error) {
	rec := &Recovery{Damage: damage}
	tmp := path + ".salvage"
	o, err := runChild(context.Background(), opts.Child, childTimeout, opts.Waiting, childSalvage, path, tmp)
	switch {
	case err != nil:
		rec.SalvageError = err.Error()
	case o.crashed != "":
		rec.SalvageError = "the salvage stopped: " + o.crashed
	default:
		var r SalvageReport
		if err := json.Unmarshal(o.out, &r); err != nil {
			rec.SalvageError = "unreadable salvage report: " + err.Error()
		} else {
			rec.Salvage = &r
		}
	}
	keep := false
	if _, err := os.Stat(tmp); err == nil {
		// What the salvage committed before it stopped is a whole bbolt
		// file (its commits are atomic); check it like any other.
		v, err := verify(context.Background(), opts.Child, tmp, opts.OpenTimeout, opts.Waiting)
		keep = err == nil && v.Status == "ok"
		switch {
		case !keep:
			rec.Salvage = nil
			rec.SalvageError = strings.TrimPrefix(rec.SalvageError+"; the salvaged copy is not usable either", "; ")
		case rec.Salvage == nil:
			rec.SalvageError += "; what it copied before it stopped is kept"
		}
	}
	rec.SetAside = asideName(path)
	if err := os.Rename(path, rec.SetAside); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("buffer %s is damaged (%s) and cannot be set aside: %w", path, strings.Join(damage, "; "), err)
	}
	if keep {
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("buffer %s: put the salvaged copy in place: %w", path, err)
		}
	} else {
		os.Remove(tmp)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("buffer %s: fsync its directory: %w", path, err)
	}
	return rec, nil
}

// asideName is the name a damaged file is moved to: path.corrupt-<UTC
// time>, with a counter if an earlier one has that name.
func asideName(path string) string {
	base := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	name := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name
		}
		name = fmt.Sprintf("%s-%d", base, i)
	}
}

// openBolt opens path with bbolt, refusing (not setting aside) a file that
// is locked or cannot be accessed. Without a child to check the file
// first, a file bbolt rejects as invalid is set aside here.
func openBolt(path string, bo *bolt.Options, opts Options, state *fileState) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, bo)
	if err == nil {
		return db, nil
	}
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, errLockedBy(path)
	}
	if isFSError(err) {
		return nil, errUnusable(path, err)
	}
	if state.fresh || opts.KeepDamaged {
		return nil, fmt.Errorf("open buffer %s: %w", path, err)
	}
	// bbolt rejected the content (not a bbolt file, bad meta pages): it
	// returns such errors without having read the damaged pages.
	aside := asideName(path)
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("open buffer %s: %w (and cannot set it aside: %v)", path, err, rerr)
	}
	if serr := syncDir(filepath.Dir(path)); serr != nil {
		return nil, fmt.Errorf("buffer %s: fsync its directory: %w", path, serr)
	}
	state.fresh = true
	state.recovery = &Recovery{SetAside: aside, Damage: []string{"bbolt: " + err.Error()}, SalvageError: "bbolt cannot read the file at all"}
	db, err = bolt.Open(path, 0o600, bo)
	if err != nil {
		return nil, fmt.Errorf("open fresh buffer %s: %w", path, err)
	}
	return db, nil
}

// restoreCheckpoints completes the checkpoints of a fresh buffer from the
// journal: every key the buffer has no value for. It returns how many it
// restored.
func restoreCheckpoints(db *bolt.DB, st cpState) (int, error) {
	n := 0
	err := db.Update(func(tx *bolt.Tx) error {
		cb := tx.Bucket(bucketCheckpoints)
		for src, m := range st {
			sb, err := cb.CreateBucketIfNotExists([]byte(src))
			if err != nil {
				return err
			}
			for k, v := range m {
				if sb.Get([]byte(k)) != nil {
					continue
				}
				if err := sb.Put([]byte(k), v); err != nil {
					return err
				}
				n++
			}
		}
		return nil
	})
	return n, err
}

// logRecovery says, loudly, what happened to a damaged file.
func logRecovery(log *slog.Logger, path string, rec *Recovery) {
	if rec.SetAside == "" {
		return
	}
	attrs := []any{"path", path, "moved_to", rec.SetAside, "damage", strings.Join(rec.Damage, "; ")}
	if s := rec.Salvage; s != nil {
		queues := make([]string, 0, len(s.Records))
		for q := range s.Records {
			queues = append(queues, q)
		}
		sort.Strings(queues)
		var total int64
		for _, q := range queues {
			total += s.Records[q]
		}
		attrs = append(attrs, "salvaged_records", total, "salvaged_checkpoints", s.Checkpoints,
			"salvaged_dead_letters", s.DeadLetters, "salvaged_storage_keys", s.KV,
			"unreadable_pieces_to_dead_letters", s.Unreadable, "unreachable_records_to_dead_letters", s.Orphaned,
			"unreadable_places", strings.Join(s.Damage, "; "))
	} else {
		attrs = append(attrs, "salvage_error", rec.SalvageError)
	}
	attrs = append(attrs, "checkpoints_restored_from_copy", rec.Restored)
	log.Error("BUFFER FILE DAMAGED: set aside, salvaged what could be read, and started a new buffer with it", attrs...)
}
