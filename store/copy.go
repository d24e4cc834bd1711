package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Limits of one destination transaction of Copy on bbolt (on etcd the
// EtcdOptions MaxTxnOps and MaxTxnBytes apply, with room to spare).
const (
	copyBatchOps   = 10_000
	copyBatchBytes = 16 << 20
)

// Copy copies every object (ID, Seq, owner, data and index entries, byte
// for byte) and every metadata value of src into dst, which must hold
// nothing (no object, no metadata: an error otherwise), and sets dst's
// sequence to src's. It reads src in one snapshot and writes dst in bounded
// transactions, calling progress (if not nil) with the number of objects
// copied so far after each. Either engine may be either side: it serves
// backups of an etcd store and migrations between engines. A failed Copy
// leaves dst partly written: start again on an empty one.
func Copy(ctx context.Context, dst, src *DB, progress func(n int)) error {
	if err := dst.ViewContext(ctx, func(tx *Tx) error {
		if k, _ := tx.objects().Cursor().First(); k != nil {
			return fmt.Errorf("%w: copy destination %s holds objects", ErrInvalid, dst.path)
		}
		if k, _ := tx.meta().Cursor().First(); k != nil {
			return fmt.Errorf("%w: copy destination %s holds metadata (%q)", ErrInvalid, dst.path, k)
		}
		return nil
	}); err != nil {
		return err
	}
	maxOps, maxBytes := copyBatchOps, copyBatchBytes
	if dst.etcd != nil {
		maxOps, maxBytes = dst.etcd.opts.MaxTxnOps/2, dst.etcd.opts.MaxTxnBytes/2
	}
	return src.ViewContext(ctx, func(stx *Tx) error {
		type item struct {
			id   []byte
			rec  *Record // Secret opened by src's keeper, sealed again by dst's
			ents []entry
			seq  uint64
		}
		var (
			batch      []item
			ops, bytes int
			n          int
		)
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := dst.UpdateContext(ctx, func(tx *Tx) error {
				for _, it := range batch {
					var stored []byte
					if it.rec.Secret != nil {
						var err error
						if stored, err = tx.keeper.seal(tx, it.rec.ID, it.rec.Secret); err != nil {
							return fmt.Errorf("object %q: seal secret: %w", it.rec.ID, err)
						}
						tx.sealed = append(tx.sealed, stored)
					}
					if err := tx.putRaw(it.id, encodeRecord(it.seq, it.rec, stored), it.seq, it.ents); err != nil {
						return err
					}
				}
				return tx.addCount(len(batch))
			})
			for _, it := range batch {
				clear(it.rec.Secret)
			}
			if err != nil {
				return fmt.Errorf("store: copy to %s after %d objects: %w", dst.path, n, err)
			}
			n += len(batch)
			batch, ops, bytes = batch[:0], 0, 0
			if progress != nil {
				progress(n)
			}
			return nil
		}
		err := stx.seq().ForEach(func(k, id []byte) error {
			raw := stx.objects().Get(id)
			if raw == nil || len(k) != 8 {
				return fmt.Errorf("%w: sequence entry %x for missing object %q", ErrCorrupt, k, id)
			}
			r, err := decodeRecord(string(id), raw, true)
			if err != nil {
				return err
			}
			if err := stx.openSecret(r); err != nil {
				return fmt.Errorf("%w: %w", ErrCorrupt, err)
			}
			ents, _, err := entries(r.Index)
			if err != nil {
				return fmt.Errorf("%w: object %q: %w", ErrCorrupt, id, err)
			}
			o, b := 2, len(id)*2+len(raw)+16
			for _, e := range ents {
				o++
				b += len(e.prefix) + len(id) + 8
				if e.unique {
					o++
					b += len(e.prefix) + len(id)
				}
			}
			if len(batch) > 0 && (ops+o > maxOps || bytes+b > maxBytes) {
				if err := flush(); err != nil {
					return err
				}
			}
			batch = append(batch, item{append([]byte(nil), id...), r, ents, binary.BigEndian.Uint64(k)})
			ops, bytes = ops+o, bytes+b
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return err
		}
		last := stx.seq().Sequence()
		var meta [][2][]byte
		if err := stx.meta().ForEach(func(k, v []byte) error {
			meta = append(meta, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
			return nil
		}); err != nil {
			return err
		}
		for len(meta) > 0 || last != 0 {
			var part [][2][]byte
			for size := 0; len(meta) > 0 && len(part) < maxOps-2 && (len(part) == 0 || size+len(meta[0][1]) < maxBytes); meta = meta[1:] {
				part = append(part, meta[0])
				size += len(meta[0][0]) + len(meta[0][1])
			}
			seq := last
			last = 0
			if err := dst.UpdateContext(ctx, func(tx *Tx) error {
				for _, kv := range part {
					if err := tx.meta().Put(kv[0], kv[1]); err != nil {
						return err
					}
				}
				if seq != 0 {
					return tx.seq().SetSequence(seq)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("store: copy metadata to %s: %w", dst.path, err)
			}
		}
		return nil
	})
}

// putRaw stores an encoded record as it is, with its sequence and index
// entries, into a store that does not hold it (Copy).
func (tx *Tx) putRaw(id, raw []byte, seq uint64, ents []entry) error {
	for _, e := range ents {
		if err := tx.index().Put(indexKey(e.prefix, seq), id); err != nil {
			return err
		}
		if e.unique {
			if err := tx.unique().Put(e.prefix, id); err != nil {
				return err
			}
		}
	}
	if err := tx.seq().Put(binary.BigEndian.AppendUint64(nil, seq), id); err != nil {
		return err
	}
	return tx.objects().Put(id, raw)
}

// backup writes an etcd store, read at one revision, to w in the form of
// every backup: a bbolt store file followed by the data keys of its secrets
// (DB.Backup), which restore and ExtractSnapshot accept.
func (e *etcdEngine) backup(db *DB, w io.Writer) (int64, error) {
	// A Destroy on any node compacts etcd to its revision, which ends the
	// snapshot the copy reads (ErrConflict): start again from a new one.
	var err error
	for attempt := 0; attempt < backupAttempts; attempt++ {
		var n int64
		n, err = e.backupOnce(db, w)
		if err == nil || !errors.Is(err, ErrConflict) {
			return n, err
		}
	}
	return 0, fmt.Errorf("store: backup: %d snapshots in a row were compacted away by concurrent Destroys: %w", backupAttempts, err)
}

// backupAttempts bounds the snapshots backup reads when Destroys keep
// compacting them away.
const backupAttempts = 5

func (e *etcdEngine) backupOnce(db *DB, w io.Writer) (int64, error) {
	dir, err := os.MkdirTemp("", "kmipd-etcd-backup-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	out, err := Open(filepath.Join(dir, "backup.db"), &Options{NoSync: true})
	if err != nil {
		return 0, err
	}
	defer out.Close()
	if err := Copy(e.ctx, out, db, nil); err != nil {
		return 0, err
	}
	// The temporary store's own backup: its file and the data keys of its
	// key slots, the form every backup has (backupkeys.go). Nothing has
	// reached w before this point, so an attempt that failed above left it
	// untouched.
	n, err := out.Backup(w)
	if err != nil {
		return n, errors.Join(errors.New("store: backup"), err)
	}
	return n, nil
}
