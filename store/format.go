package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Format versions. The "schema" key of bucket "sys" holds the version of the
// file's on-disk format:
//
//   - 1: buckets sys (schema, count), meta, objects, seq, index, unique.
//   - 2: format 1 plus the key "history" in sys: the file's format events
//     (created, upgraded), so that an operator can tell which kmipd format
//     a file has been through and when.
//   - 3: key material in Record.Secret, kept apart from Data: records
//     (record format 2) carry a sealed secret, encrypted under a data key
//     in a slot of the key file beside the store (KeysPath); bucket
//     "slots" maps each slot in use to its object. Upgrading from 2 adds
//     the bucket and the key "move-secrets" in sys: the upgrade is not
//     finished until DB.MoveSecrets has moved the key material out of Data
//     and zeroed the old copies, and until then Open refuses the file as
//     needing an upgrade.
//
// A build reads its own format and upgrades older ones only on request
// (DB.Upgrade, with Options.AllowOlder): an upgraded file cannot be opened
// by the older build, so the operator decides, after a backup. A newer
// format is refused: its meaning is unknown to this build.

// OldestFormat is the oldest format version DB.Upgrade can upgrade.
const OldestFormat = 1

// FormatEvent is one entry of a file's format history.
type FormatEvent struct {
	Format int       `json:"format"`
	Time   time.Time `json:"time"`
	Note   string    `json:"note"` // "created", "upgraded from format 1"
}

// upgrades[v] turns a file of format v into one of format v+1, inside the
// upgrade's transaction.
var upgrades = map[uint32]func(sys kvBucket, now time.Time) error{
	1: func(sys kvBucket, now time.Time) error {
		return appendHistory(sys, FormatEvent{Format: 2, Time: now, Note: "upgraded from format 1"})
	},
	2: func(sys kvBucket, now time.Time) error {
		if err := sys.Put(keyMoveSecrets, []byte{1}); err != nil {
			return err
		}
		return appendHistory(sys, FormatEvent{Format: 3, Time: now, Note: "upgraded from format 2"})
	},
}

// keyMoveSecrets in sys marks a format 3 file whose key material may still
// be in Data (see DB.MoveSecrets).
var keyMoveSecrets = []byte("move-secrets")

func checkFormat(v []byte, allowOlder bool) (uint32, error) {
	if len(v) != 4 {
		return 0, fmt.Errorf("%w: malformed schema version", ErrSchema)
	}
	ver := binary.BigEndian.Uint32(v)
	switch {
	case ver == 0:
		return 0, fmt.Errorf("%w: format version 0", ErrSchema)
	case ver > SchemaVersion:
		return 0, fmt.Errorf("%w: the file has format version %d, written by a newer kmipd; this one supports formats %d to %d. "+
			"Run a kmipd that supports format %d, or restore a backup taken before the file was upgraded", ErrSchema, ver, OldestFormat, SchemaVersion, ver)
	case ver < SchemaVersion && !allowOlder:
		return 0, fmt.Errorf("%w: the file has format version %d, this kmipd uses format %d", ErrNeedsUpgrade, ver, SchemaVersion)
	}
	return ver, nil
}

// checkMoved refuses a file whose upgrade to format 3 has not finished.
func checkMoved(sys kvBucket, allowOlder bool) error {
	if !allowOlder && sys.Get(keyMoveSecrets) != nil {
		return fmt.Errorf("%w: the upgrade to format 3 has not finished moving the key material", ErrNeedsUpgrade)
	}
	return nil
}

// NeedsMove reports whether the file's key material still has to be moved
// out of Data (an unfinished upgrade to format 3): DB.MoveSecrets does it.
func (db *DB) NeedsMove() bool {
	moving := false
	_ = db.View(func(tx *Tx) error {
		moving = tx.sys().Get(keyMoveSecrets) != nil
		return nil
	})
	return moving
}

// MoveSecrets finishes an upgrade to format 3: for every record whose
// Secret is empty, split returns Data without the key material and the key
// material (nil if there is none), which MoveSecrets stores as Secret, in
// transactions of batch records, calling progress after each. Then it
// zeroes every copy of the moved material left in the file (one pass over
// the file, as the old in-place erase did) and clears the mark. It resumes
// where an interrupted run stopped: material moved by that run is zeroed
// too, as it zeroes the copies of every Secret of the store.
func (db *DB) MoveSecrets(split func(id string, data []byte) (rest, secret []byte, err error), batch int, progress func(done, total int)) error {
	if batch <= 0 {
		batch = 1000
	}
	var ids []string
	if err := db.View(func(tx *Tx) error {
		return tx.ScanIDs(func(id string, _ uint64) bool { ids = append(ids, id); return true })
	}); err != nil {
		return err
	}
	for done := 0; done < len(ids); {
		n := min(batch, len(ids)-done)
		err := db.Update(func(tx *Tx) error {
			for _, id := range ids[done : done+n] {
				r, err := tx.Get(id)
				if errors.Is(err, ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				if r.Secret != nil {
					continue
				}
				rest, secret, err := split(id, r.Data)
				if err != nil {
					return fmt.Errorf("object %q: %w", id, err)
				}
				if secret == nil {
					continue
				}
				r.Data, r.Secret = rest, secret
				if err := tx.Put(r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		done += n
		if progress != nil {
			progress(done, len(ids))
		}
	}
	var secrets [][]byte
	if err := db.View(func(tx *Tx) error {
		return tx.Scan(func(r *Record) bool {
			if len(r.Secret) >= minForget {
				secrets = append(secrets, r.Secret)
			}
			return true
		})
	}); err != nil {
		return err
	}
	if len(secrets) > 0 {
		scrub := db.scrub
		if db.etcd != nil {
			// No page to zero: compact away the revisions that held them.
			scrub = func([][]byte) error { return db.etcd.compactNow() }
		}
		if err := scrub(secrets); err != nil {
			return err
		}
	}
	for _, s := range secrets {
		clear(s)
	}
	return db.write(context.Background(), func(kv kvTx, _ *bolt.Tx) error {
		sys := kv.bucket(bSys)
		if sys.Get(keyMoveSecrets) == nil {
			return nil
		}
		if err := appendHistory(sys, FormatEvent{Format: SchemaVersion, Time: time.Now().UTC(), Note: "key material moved to key slots"}); err != nil {
			return err
		}
		return sys.Delete(keyMoveSecrets)
	})
}

func appendHistory(sys kvBucket, ev FormatEvent) error {
	var h []FormatEvent
	if raw := sys.Get(keyHistory); raw != nil {
		if err := json.Unmarshal(raw, &h); err != nil {
			return fmt.Errorf("%w: format history: %v", ErrCorrupt, err)
		}
	}
	raw, err := json.Marshal(append(h, ev))
	if err != nil {
		return err
	}
	return sys.Put(keyHistory, raw)
}

// Format returns the format version of the open file: SchemaVersion, or an
// older one for a DB opened with Options.AllowOlder and not yet upgraded.
func (db *DB) Format() int { return int(db.format.Load()) }

// FormatHistory returns the file's format events, oldest first; none for a
// format 1 file (format 2 introduced the history).
func (db *DB) FormatHistory() ([]FormatEvent, error) {
	var h []FormatEvent
	err := db.View(func(tx *Tx) error {
		raw := tx.sys().Get(keyHistory)
		if raw == nil {
			return nil
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			return fmt.Errorf("%w: format history: %v", ErrCorrupt, err)
		}
		return nil
	})
	return h, err
}

// writable reports whether the DB takes writes: not while it holds an
// older format.
func (db *DB) writable() error {
	if f := db.Format(); f < SchemaVersion {
		return fmt.Errorf("%w: %s has format version %d, this kmipd writes format %d", ErrNeedsUpgrade, db.path, f, SchemaVersion)
	}
	return nil
}

// Upgrade brings the file to SchemaVersion, one format step after the
// other, all in one transaction: a crash leaves the file as it was. It
// calls step (if not nil) before each step and returns the format the file
// had. On a file already at SchemaVersion it writes nothing.
func (db *DB) Upgrade(step func(from, to int)) (from int, err error) {
	from = db.Format()
	if from >= SchemaVersion {
		return from, nil
	}
	err = db.write(context.Background(), func(kv kvTx, btx *bolt.Tx) error {
		sys := kv.bucket(bSys)
		if !sys.ok() {
			return fmt.Errorf("%w: bucket sys missing", ErrCorrupt)
		}
		now := time.Now().UTC()
		for v := uint32(from); v < SchemaVersion; v++ {
			if step != nil {
				step(int(v), int(v)+1)
			}
			if err := upgrades[v](sys, now); err != nil {
				return fmt.Errorf("upgrade from format %d: %w", v, err)
			}
		}
		if btx != nil {
			if _, err := btx.CreateBucketIfNotExists(bucketNames[bSlots]); err != nil {
				return err
			}
		}
		return sys.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion))
	})
	db.noteCommit(err)
	if err != nil {
		return from, err
	}
	db.format.Store(SchemaVersion)
	return from, nil
}
