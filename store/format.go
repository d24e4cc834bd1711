package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
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
}

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
	err = db.write(context.Background(), func(kv kvTx, _ *bolt.Tx) error {
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
		return sys.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion))
	})
	db.noteCommit(err)
	if err != nil {
		return from, err
	}
	db.format.Store(SchemaVersion)
	return from, nil
}
