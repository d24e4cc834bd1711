package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Commit health, for readiness. A full or failing disk shows first as
// failed commits; the DB remembers the outcome of the last one so that a
// readiness check can answer without writing. Probe covers the quiet times:
// it looks at the free space (a tiny commit reuses freed pages and succeeds
// on a full disk, while any commit that grows the file fails) and commits a
// few bytes when nothing else has committed lately.

// MinFreeSpace is the free space below which Probe reports the store as
// unable to commit: bbolt grows its file as it fills, and on a filesystem
// without room the next growth fails every write that needs it.
const MinFreeSpace = 1 << 20

// probeIdle is how long after the last commit Probe commits itself.
const probeIdle = 5 * time.Second

type healthState struct {
	commitErr atomic.Pointer[error] // nil: the last commit succeeded
	spaceErr  atomic.Pointer[error] // nil: Probe found room
	lastOK    atomic.Int64          // unix nanoseconds of the last successful commit
	failures  atomic.Uint64         // failed commits since Open
}

// noteCommit records the outcome of a commit: only of transactions whose
// function succeeded, so that a refused request is no store failure.
func (db *DB) noteCommit(err error) {
	h := &db.health
	if err == nil {
		h.commitErr.Store(nil)
		h.lastOK.Store(time.Now().UnixNano())
		return
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrConflict) || errors.Is(err, errTooBig) ||
		errors.Is(err, context.Canceled) {
		return // not the store's failure
	}
	h.failures.Add(1)
	h.commitErr.Store(&err)
}

// Ready reports why the store cannot take writes now: the error of the
// last commit if it failed (until one succeeds), or the free space Probe
// last found too low. It does no I/O.
func (db *DB) Ready() error {
	if p := db.health.commitErr.Load(); p != nil {
		return fmt.Errorf("the last commit failed: %w", *p)
	}
	if p := db.health.spaceErr.Load(); p != nil {
		return *p
	}
	return nil
}

// CommitFailures returns how many commits failed since Open.
func (db *DB) CommitFailures() uint64 { return db.health.failures.Load() }

// Probe refreshes what Ready reports: it checks the free space of the
// file's filesystem and, if no commit succeeded in the last few seconds or
// the last one failed, commits a small metadata value. It is meant to run
// periodically off the request path (it may wait for the writer lock and an
// fsync); it returns what Ready then reports.
func (db *DB) Probe() error {
	if db.etcd != nil {
		return db.etcd.probe(db)
	}
	if free, ok := freeSpace(filepath.Dir(db.path)); ok && free < MinFreeSpace {
		err := fmt.Errorf("%d bytes free on the filesystem of %s (less than %d): commits that grow the file fail", free, db.path, MinFreeSpace)
		db.health.spaceErr.Store(&err)
	} else {
		db.health.spaceErr.Store(nil)
	}
	last := time.Unix(0, db.health.lastOK.Load())
	if db.health.commitErr.Load() != nil || time.Since(last) >= probeIdle {
		_ = db.Update(func(tx *Tx) error {
			return tx.SetMeta("health", []byte(time.Now().UTC().Format(time.RFC3339Nano)))
		})
	}
	return db.Ready()
}

// FreeSpace returns the bytes kmipd may still use on the filesystem of the
// store file, and false where that is unknown (outside Linux).
func (db *DB) FreeSpace() (uint64, bool) {
	if db.etcd != nil {
		return 0, false
	}
	return freeSpace(filepath.Dir(db.path))
}
