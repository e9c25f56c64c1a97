package buffer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hogtail/hogtail/agent/component"
	bolt "go.etcd.io/bbolt"
)

// DeadLetter is a stored dead letter.
type DeadLetter struct {
	ID        uint64    `json:"id"`
	Time      time.Time `json:"time"`
	Component string    `json:"component"`
	Reason    string    `json:"reason"`
	// Record is the JSON of the event or webhook (raw bytes for a corrupt
	// chunk).
	Record json.RawMessage `json:"record"`
}

type storedDeadLetter struct {
	Time      time.Time `json:"time"`
	Component string    `json:"component"`
	Reason    string    `json:"reason"`
	Record    []byte    `json:"record"`
}

func putDeadLetters(tx *bolt.Tx, dls []component.DeadLetter) error {
	db := tx.Bucket(bucketDeadLetters)
	now := time.Now().UTC()
	for _, dl := range dls {
		id, err := db.NextSequence()
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		v, err := json.Marshal(storedDeadLetter{Time: now, Component: dl.Component, Reason: dl.Reason, Record: dl.Record})
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		if err := db.Put(seqKey(id), v); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
	}
	return nil
}

// DeadLetters calls fn for each stored dead letter, oldest first, until fn
// returns false.
func (b *Buffer) DeadLetters(fn func(DeadLetter) bool) error {
	return b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDeadLetters).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			var s storedDeadLetter
			dl := DeadLetter{ID: keySeq(k)}
			if err := json.Unmarshal(v, &s); err != nil {
				dl.Reason = "undecodable dead letter: " + err.Error()
			} else {
				dl.Time, dl.Component, dl.Reason = s.Time, s.Component, s.Reason
				if json.Valid(s.Record) {
					dl.Record = s.Record
				} else {
					dl.Record, _ = json.Marshal(string(s.Record))
				}
			}
			if !fn(dl) {
				return nil
			}
		}
		return nil
	})
}

// WriteDeadLetters writes the dead letters of component (all when empty),
// oldest first, as JSON lines to w, at most limit of them (0: all).
func (b *Buffer) WriteDeadLetters(w io.Writer, component string, limit int) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	n := 0
	var werr error
	err := b.DeadLetters(func(dl DeadLetter) bool {
		if component != "" && dl.Component != component {
			return true
		}
		if werr = enc.Encode(dl); werr != nil {
			return false
		}
		n++
		return limit <= 0 || n < limit
	})
	return errors.Join(err, werr)
}

// DeleteDeadLetters removes the dead letters with the given ids.
func (b *Buffer) DeleteDeadLetters(ids []uint64) error {
	return b.db.Update(func(tx *bolt.Tx) error {
		db := tx.Bucket(bucketDeadLetters)
		for _, id := range ids {
			if err := db.Delete(seqKey(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddDeadLetters stores dead letters in their own commit.
func (b *Buffer) AddDeadLetters(dls []component.DeadLetter) error {
	if len(dls) == 0 {
		return nil
	}
	req := &request{deadLetters: dls, done: make(chan struct{})}
	select {
	case b.reqs <- req:
	case <-b.stop:
		return ErrClosed
	}
	<-req.done
	return req.err
}
