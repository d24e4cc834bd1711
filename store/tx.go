package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Tx is a transaction handed to the function of DB.Update or DB.View. It is
// valid only until that function returns and must not be shared between
// goroutines.
type Tx struct {
	kv  kvTx     // the engine's transaction; nil once finished
	btx *bolt.Tx // set on bbolt only
	ctx context.Context
	bk  [nBuckets]*bolt.Bucket // bbolt's, opened on first use

	keeper   secretKeeper // protects Record.Secret (secret.go)
	sealed   [][]byte     // secrets sealed by this transaction
	released [][]byte     // sealed secrets it dropped
}

// prepare runs just before the commit: the keeper makes this
// transaction's seals and releases durable first.
func (tx *Tx) prepare() error {
	if len(tx.sealed) == 0 && len(tx.released) == 0 {
		return nil
	}
	return tx.keeper.prepare()
}

// Context returns the context the transaction was started with, for the
// work done inside it (key backend calls) to honour the same deadline and
// cancellation.
func (tx *Tx) Context() context.Context {
	if tx.ctx == nil {
		return context.Background()
	}
	return tx.ctx
}

// bucket returns top-level bucket i. Open created them all and the file
// lock keeps other writers out, so a missing bucket means a damaged file.
func (tx *Tx) bucket(i int) kvBucket {
	if tx.btx == nil {
		return tx.kv.bucket(i) // etcd: its transaction keeps the buckets
	}
	b := tx.bk[i]
	if b == nil {
		if b = tx.kv.bucket(i).b; b == nil {
			panic(fmt.Sprintf("store: bucket %q missing: damaged file", bucketNames[i]))
		}
		tx.bk[i] = b
	}
	return kvBucket{b: b}
}

func (tx *Tx) sys() kvBucket     { return tx.bucket(bSys) }
func (tx *Tx) meta() kvBucket    { return tx.bucket(bMeta) }
func (tx *Tx) objects() kvBucket { return tx.bucket(bObjects) }
func (tx *Tx) seq() kvBucket     { return tx.bucket(bSeq) }
func (tx *Tx) index() kvBucket   { return tx.bucket(bIndex) }
func (tx *Tx) unique() kvBucket  { return tx.bucket(bUnique) }

func (tx *Tx) live() error {
	if tx.kv == nil {
		return ErrClosed
	}
	return nil
}

func (tx *Tx) writable() error {
	if tx.kv == nil {
		return ErrClosed
	}
	if !tx.kv.writable() {
		return ErrReadOnly
	}
	return nil
}

// end finishes tx: every later use returns ErrClosed.
func (tx *Tx) end() { tx.kv, tx.btx = nil, nil }

// OnCommit runs f once the transaction has committed, before Update
// returns and before erased key slots are synced: what
// others may read from then on is the committed state, so a cache of it
// must be invalidated here rather than when Update returns. It does nothing
// in a read-only transaction.
func (tx *Tx) OnCommit(f func()) {
	if tx.writable() == nil {
		tx.kv.onCommit(f)
	}
}

// NewID returns a fresh random identifier in UUID version 4 format
// (crypto/rand) that no object in the store has. It reserves nothing: two
// concurrent transactions could in theory draw the same value, but the
// probability (2^-122 per pair) is negligible.
func (tx *Tx) NewID() (string, error) {
	if err := tx.live(); err != nil {
		return "", err
	}
	var u [16]byte
	for range 4 {
		if _, err := rand.Read(u[:]); err != nil {
			return "", fmt.Errorf("store: new id: %w", err)
		}
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
		var b [36]byte
		hex.Encode(b[0:8], u[0:4])
		hex.Encode(b[9:13], u[4:6])
		hex.Encode(b[14:18], u[6:8])
		hex.Encode(b[19:23], u[8:10])
		hex.Encode(b[24:], u[10:])
		b[8], b[13], b[18], b[23] = '-', '-', '-', '-'
		if tx.objects().Get(b[:]) == nil {
			return string(b[:]), nil
		}
	}
	return "", errors.New("store: new id: random source keeps repeating")
}

// IsNewIDForm reports whether id has the form NewID gives: a lowercase
// RFC 4122 version 4 UUID. Identifiers of this form are drawn at random, so
// a client choosing one (Import) cannot aim at another owner's object.
func IsNewIDForm(id string) bool {
	if len(id) != 36 || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// Get returns the record stored under id, or ErrNotFound. The record and
// its slices are copies: they stay valid after the transaction ends.
func (tx *Tx) Get(id string) (*Record, error) {
	if err := tx.live(); err != nil {
		return nil, err
	}
	raw := tx.objects().Get([]byte(id))
	if raw == nil {
		return nil, fmt.Errorf("%w: object %q", ErrNotFound, id)
	}
	r, err := decodeRecord(id, raw, true)
	if err != nil {
		return nil, err
	}
	return r, tx.openSecret(r)
}

// entry is an index entry reduced to its key prefix (see entryPrefix).
type entry struct {
	prefix []byte
	unique bool
	src    int // position of the first IndexEntry with this prefix
}

// entries validates ix and returns its distinct prefixes in order, merging
// duplicates (Unique if any duplicate is).
func entries(ix []IndexEntry) ([]entry, map[string]int, error) {
	out := make([]entry, 0, len(ix))
	pos := make(map[string]int, len(ix))
	for j, e := range ix {
		if e.Kind == "" || len(e.Kind) > MaxKindLen {
			return nil, nil, fmt.Errorf("%w: index kind %q must be 1..%d bytes", ErrInvalid, e.Kind, MaxKindLen)
		}
		p := entryPrefix(e.Kind, e.Value)
		if i, ok := pos[string(p)]; ok {
			out[i].unique = out[i].unique || e.Unique
			continue
		}
		pos[string(p)] = len(out)
		out = append(out, entry{p, e.Unique, j})
	}
	return out, pos, nil
}

// Put inserts r, or replaces the record with the same ID. On insert it
// assigns r.Seq from the store's sequence; on replace it keeps the stored
// Seq (Put ignores the Seq it is given and sets r.Seq). The index entries of
// the previous version are replaced by r.Index.
//
// A (Kind, Value) pair held as Unique by one object cannot be indexed by any
// other object, whatever the entries' Unique flags: Put then returns an
// error wrapping ErrExists, naming the kind, value and holder, having
// written nothing, so the caller may continue the transaction or abort it.
// Other errors may leave a partial write: return them from the Update
// function so the transaction rolls back.
func (tx *Tx) Put(r *Record) error {
	if err := tx.writable(); err != nil {
		return err
	}
	if r == nil {
		return fmt.Errorf("%w: nil record", ErrInvalid)
	}
	if r.ID == "" || len(r.ID) > MaxIDLen {
		return fmt.Errorf("%w: identifier must be 1..%d bytes", ErrInvalid, MaxIDLen)
	}
	id := []byte(r.ID)
	newEnts, newPos, err := entries(r.Index)
	if err != nil {
		return err
	}
	if tx.btx == nil {
		tx.prefetchPut(id, newEnts) // etcd: one round trip for the reads below
	}
	var (
		old    *Record
		oldEnt []entry
		oldPos map[string]int
	)
	if raw := tx.objects().Get(id); raw != nil {
		if old, err = decodeRecord(r.ID, raw, false); err != nil {
			return err
		}
		if oldEnt, oldPos, err = entries(old.Index); err != nil {
			return fmt.Errorf("%w: object %q: %w", ErrCorrupt, r.ID, err)
		}
	}
	// Check every conflict before the first write.
	for _, e := range newEnts {
		holder := tx.unique().Get(e.prefix)
		if holder == nil && e.unique {
			holder = tx.otherHolder(e.prefix, id)
		}
		if holder != nil && !bytes.Equal(holder, id) {
			x := r.Index[e.src]
			return fmt.Errorf("%w: %s %q belongs to object %q", ErrExists, x.Kind, x.Value, holder)
		}
	}
	seq := uint64(0)
	if old != nil {
		seq = old.Seq
	} else if seq, err = tx.seq().NextSequence(); err != nil {
		return err
	}
	for _, e := range oldEnt {
		i, keep := newPos[string(e.prefix)]
		if !keep {
			if err := tx.index().Delete(indexKey(e.prefix, seq)); err != nil {
				return err
			}
		}
		if e.unique && (!keep || !newEnts[i].unique) {
			if err := tx.releaseUnique(e.prefix, id); err != nil {
				return err
			}
		}
	}
	for _, e := range newEnts {
		i, had := oldPos[string(e.prefix)]
		if !had {
			if err := tx.index().Put(indexKey(e.prefix, seq), id); err != nil {
				return err
			}
		}
		if e.unique && (!had || !oldEnt[i].unique) {
			if err := tx.unique().Put(e.prefix, id); err != nil {
				return err
			}
		}
	}
	var prev []byte
	if old != nil {
		prev = old.sealed
	}
	sealed, err := tx.sealFor(r, prev)
	if err != nil {
		return err
	}
	if err := tx.objects().Put(id, encodeRecord(seq, r, sealed)); err != nil {
		return err
	}
	if old == nil {
		if err := tx.seq().Put(binary.BigEndian.AppendUint64(nil, seq), id); err != nil {
			return err
		}
		if err := tx.addCount(1); err != nil {
			return err
		}
	}
	r.Seq = seq
	return nil
}

// otherHolder returns the ID of some object other than id indexed under
// prefix, or nil. It reads at most two keys: an object has one key per prefix.
func (tx *Tx) otherHolder(prefix, id []byte) []byte {
	c := tx.index().Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if !bytes.Equal(v, id) {
			return v
		}
	}
	return nil
}

// releaseUnique removes the unique claim on prefix if id holds it.
func (tx *Tx) releaseUnique(prefix, id []byte) error {
	if bytes.Equal(tx.unique().Get(prefix), id) {
		return tx.unique().Delete(prefix)
	}
	return nil
}

// Delete removes the object stored under id and its index entries, or
// returns ErrNotFound.
func (tx *Tx) Delete(id string) error {
	if err := tx.writable(); err != nil {
		return err
	}
	bid := []byte(id)
	raw := tx.objects().Get(bid)
	if raw == nil {
		return fmt.Errorf("%w: object %q", ErrNotFound, id)
	}
	old, err := decodeRecord(id, raw, false)
	if err != nil {
		return err
	}
	ents, _, err := entries(old.Index)
	if err != nil {
		return fmt.Errorf("%w: object %q: %w", ErrCorrupt, id, err)
	}
	for _, e := range ents {
		if err := tx.index().Delete(indexKey(e.prefix, old.Seq)); err != nil {
			return err
		}
		if e.unique {
			if err := tx.releaseUnique(e.prefix, bid); err != nil {
				return err
			}
		}
	}
	if old.sealed != nil {
		if err := tx.releaseSecret(old.sealed); err != nil {
			return err
		}
	}
	if err := tx.seq().Delete(binary.BigEndian.AppendUint64(nil, old.Seq)); err != nil {
		return err
	}
	if err := tx.objects().Delete(bid); err != nil {
		return err
	}
	return tx.addCount(-1)
}

// Lookup calls fn with the ID and Seq of every object that has the index
// entry (kind, value), newest (highest Seq) first, until fn returns false.
// Its cost is proportional to the matches visited. fn may read through tx
// but must not modify the store: collect IDs first, then Put or Delete.
func (tx *Tx) Lookup(kind string, value []byte, fn func(id string, seq uint64) bool) error {
	if err := tx.live(); err != nil {
		return err
	}
	if kind == "" || len(kind) > MaxKindLen {
		return fmt.Errorf("%w: index kind %q must be 1..%d bytes", ErrInvalid, kind, MaxKindLen)
	}
	return tx.index().descend(entryPrefix(kind, value), func(k, v []byte) bool {
		return fn(string(v), binary.BigEndian.Uint64(k[len(k)-8:]))
	})
}

// Scan calls fn with every record, newest first, until fn returns false.
// Each record is a fresh copy fn may keep. Like Lookup, fn must not modify
// the store.
func (tx *Tx) Scan(fn func(r *Record) bool) error {
	var derr error
	err := tx.ScanIDs(func(id string, _ uint64) bool {
		raw := tx.objects().Get([]byte(id))
		if raw == nil {
			derr = fmt.Errorf("%w: sequence entry for missing object %q", ErrCorrupt, id)
			return false
		}
		var r *Record
		if r, derr = decodeRecord(id, raw, true); derr != nil {
			return false
		}
		if derr = tx.openSecret(r); derr != nil {
			return false
		}
		return fn(r)
	})
	if err != nil {
		return err
	}
	return derr
}

// ScanIDs calls fn with the ID and Seq of every object, newest first, until
// fn returns false. It reads no object data.
func (tx *Tx) ScanIDs(fn func(id string, seq uint64) bool) error {
	if err := tx.live(); err != nil {
		return err
	}
	return tx.seq().descend(nil, func(k, v []byte) bool {
		return fn(string(v), binary.BigEndian.Uint64(k))
	})
}

// Count returns the number of objects (0 on a finished Tx).
func (tx *Tx) Count() int {
	if tx.kv == nil {
		return 0
	}
	return int(tx.count())
}

func (tx *Tx) count() uint64 {
	if v := tx.sys().Get(keyCount); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (tx *Tx) addCount(d int) error {
	return tx.sys().Put(keyCount, binary.BigEndian.AppendUint64(nil, tx.count()+uint64(d)))
}

// Reset deletes every object and index entry and restarts the sequence.
// Metadata set with SetMeta is kept.
func (tx *Tx) Reset() error {
	if err := tx.writable(); err != nil {
		return err
	}
	err := tx.objects().ForEach(func(k, raw []byte) error {
		r, err := decodeRecord(string(k), raw, false)
		if err == nil && r.sealed != nil {
			err = tx.releaseSecret(r.sealed)
		}
		return err
	})
	if err != nil {
		return err
	}
	for i := bObjects; i < nBuckets; i++ {
		tx.bk[i] = nil
		if err := tx.kv.clear(i); err != nil {
			return err
		}
	}
	return tx.sys().Put(keyCount, make([]byte, 8))
}

// SetMeta stores a small server metadata value under key (1..MaxKindLen
// bytes); a nil val deletes the key.
func (tx *Tx) SetMeta(key string, val []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	if key == "" || len(key) > MaxKindLen {
		return fmt.Errorf("%w: metadata key must be 1..%d bytes", ErrInvalid, MaxKindLen)
	}
	if val == nil {
		return tx.meta().Delete([]byte(key))
	}
	return tx.meta().Put([]byte(key), bytes.Clone(val))
}

// GetMeta returns a copy of the metadata value under key, or ErrNotFound.
func (tx *Tx) GetMeta(key string) ([]byte, error) {
	if err := tx.live(); err != nil {
		return nil, err
	}
	v := tx.meta().Get([]byte(key))
	if v == nil {
		return nil, fmt.Errorf("%w: metadata %q", ErrNotFound, key)
	}
	return bytes.Clone(v), nil
}
