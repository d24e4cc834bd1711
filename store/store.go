package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Limits and defaults.
const (
	// SchemaVersion is the on-disk format version this build writes; it
	// reads older ones and upgrades them on request (format.go).
	SchemaVersion = 3
	// DefaultTimeout is the file lock wait used when Options.Timeout is zero.
	DefaultTimeout = 5 * time.Second
	// MaxIDLen is the longest accepted Record.ID, in bytes.
	MaxIDLen = 1024
	// MaxKindLen is the longest accepted IndexEntry.Kind and metadata key.
	MaxKindLen = 255
	// maxInlineValue is the longest index value stored verbatim in index
	// keys; longer values are keyed by their SHA-256 digest.
	maxInlineValue = 512
	// recFormat is the first byte of every encoded object value this build
	// writes; recFormatV1 records (no sealed secret) are still read.
	recFormat   = 2
	recFormatV1 = 1
)

// The top-level buckets, by position in bucketNames. Those from bObjects on
// hold the objects and are emptied by Reset.
const (
	bSys     = iota // "schema" version, object "count", format "history"
	bMeta           // caller metadata (SetMeta)
	bObjects        // ID → encoded record
	bSeq            // big-endian seq → ID
	bIndex          // entry prefix ‖ big-endian seq → ID
	bUnique         // entry prefix → ID
	bSlots          // key slot (big-endian) → ID, format 3 (slots.go)
	nBuckets
)

var (
	bucketNames = [nBuckets][]byte{[]byte("sys"), []byte("meta"), []byte("objects"), []byte("seq"), []byte("index"), []byte("unique"), []byte("slots")}
	keySchema   = []byte("schema")
	keyCount    = []byte("count")
	keyHistory  = []byte("history")
)

// appendFill is the bbolt FillPercent of the seq and index buckets, where
// keys are appended (at the end, or at the end of a value's range): pages
// split there stay nearly full instead of the default half.
const appendFill = 0.9

// Record is one managed object as stored.
type Record struct {
	ID    string // Unique Identifier, chosen with Tx.NewID or imported
	Seq   uint64 // creation sequence assigned by the first Put; larger is newer
	Owner string // identity owning the object ("" for none)
	Data  []byte // the encoded object, opaque to the store
	// Secret is the object's key material (already sealed by the key
	// backend), kept apart from Data: the store protects it so that
	// replacing or deleting it erases it in constant time (secret.go).
	// Nil for none.
	Secret []byte
	Index  []IndexEntry

	sealed []byte // what the keeper stores for Secret (decodeRecord)
}

// IndexEntry declares that a record can be found by Tx.Lookup(Kind, Value).
type IndexEntry struct {
	Kind  string // e.g. "name", "type", "state", "attr:x-foo"; 1..MaxKindLen bytes
	Value []byte // arbitrary bytes, any length
	// Unique makes the (Kind, Value) pair belong to this record alone,
	// across all objects: see Tx.Put.
	Unique bool
}

// Options configures Open. A nil *Options means the zero value.
type Options struct {
	// NoSync skips fsync on commit. Committed data can then be lost on
	// power failure or OS crash: use it only in tests and benchmarks.
	NoSync bool
	// Timeout bounds the wait for the file lock held by another DB: zero
	// means DefaultTimeout, a negative value fails at once.
	Timeout time.Duration
	// AllowOlder opens a file of an older format as it is, for reading,
	// backing up, checking and DB.Upgrade: until it is upgraded the DB
	// refuses writes with ErrNeedsUpgrade. Without it Open refuses such a
	// file with ErrNeedsUpgrade.
	AllowOlder bool
}

// Stats describes a DB at one point in time.
type Stats struct {
	Objects  int    // number of records
	LastSeq  uint64 // highest Seq ever assigned (since the last Reset)
	FileSize int64  // bytes in the database file
}

// DB is an open store file. Its methods are safe for concurrent use.
type DB struct {
	bolt   *bolt.DB
	path   string
	closed atomic.Bool
	// readers is held (shared) by every read transaction and (exclusive)
	// while the key material moved out of Data by an upgrade is zeroed in
	// the file, so no reader can see a page being zeroed (scrub.go).
	readers sync.RWMutex

	gmu   sync.Mutex // guards group (group.go)
	group groupState

	smu       sync.Mutex // guards scrubQ and scrubbing (scrub.go)
	scrubQ    []*scrubCall
	scrubbing bool

	health healthState // health.go

	format atomic.Int32 // the file's format version (format.go)

	etcd *etcdEngine // set for a DB opened with OpenEtcd; bolt is nil then
	keys *slotKeeper // Record.Secret protection on bbolt (slots.go)
}

// Open opens the store at path, creating the file (mode 0600) and its
// buckets if needed. It fails with ErrLocked if another DB holds the file
// for longer than opts.Timeout, and with ErrSchema if the file holds an
// unknown (newer) schema version or is not a kmipd store, and with
// ErrNeedsUpgrade if it holds an older one (unless opts.AllowOlder).
func Open(path string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      o.Timeout,
		NoSync:       o.NoSync,
		FreelistType: bolt.FreelistMapType,
		// Without it every commit rewrites the whole list of free pages,
		// which grows with the store's churn: Destroy p50 went from 1.2 ms
		// at 1,000 keys to 2.3-2.5 ms at 100,000 (it is 1.4-1.6 ms with
		// it). The price is at open, which rebuilds the list by reading
		// every page: 0.24 s at 10,000 keys, 3.6 s at 1,000,000
		// (BENCHMARKS.md). etcd runs bbolt the same way.
		NoFreelistSync: true,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s (waited %v)", ErrLocked, path, o.Timeout)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	var format uint32
	if err := bdb.Update(func(btx *bolt.Tx) error {
		var err error
		format, err = initSchema(boltTx{btx}, o.AllowOlder)
		return err
	}); err != nil {
		_ = bdb.Close()
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	keys, err := openSlotKeeper(KeysPath(path), o.NoSync)
	if err == nil {
		if err = bdb.Update(keys.recover); err != nil {
			keys.close()
		}
	}
	if err != nil {
		_ = bdb.Close()
		return nil, err
	}
	db := &DB{bolt: bdb, path: path, keys: keys}
	db.format.Store(int32(format))
	return db, nil
}

// initSchema creates the buckets of a new file and checks the format
// version of an existing one, which it returns.
func initSchema(t boltTx, allowOlder bool) (uint32, error) {
	btx := t.btx
	var sys kvBucket
	if b := btx.Bucket(bucketNames[bSys]); b != nil {
		sys = kvBucket{b: b}
	} else {
		var foreign []byte
		_ = btx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			foreign = bytes.Clone(name)
			return errors.New("stop")
		})
		if foreign != nil {
			return 0, fmt.Errorf("%w: not a kmipd store (has bucket %q)", ErrSchema, foreign)
		}
		b, err := btx.CreateBucket(bucketNames[bSys])
		if err != nil {
			return 0, err
		}
		sys = kvBucket{b: b}
		if err := initSys(sys); err != nil {
			return 0, err
		}
	}
	ver, err := checkFormat(sys.Get(keySchema), allowOlder)
	if err != nil {
		return 0, err
	}
	if err := checkMoved(sys, allowOlder); err != nil {
		return 0, err
	}
	// An older file is left as it is until it is upgraded: its slots
	// bucket comes with the upgrade to format 3.
	last := nBuckets
	if ver < 3 {
		last = bSlots
	}
	for _, name := range bucketNames[bMeta:last] {
		if _, err := btx.CreateBucketIfNotExists(name); err != nil {
			return 0, err
		}
	}
	return ver, nil
}

// initSys writes the sys keys of a new store: format, count, history.
func initSys(sys kvBucket) error {
	if err := sys.Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion)); err != nil {
		return err
	}
	if err := sys.Put(keyCount, make([]byte, 8)); err != nil {
		return err
	}
	return appendHistory(sys, FormatEvent{Format: SchemaVersion, Time: time.Now().UTC(), Note: "created"})
}

// Close releases the file. It waits for running transactions to finish.
// Closing a closed DB returns ErrClosed.
func (db *DB) Close() error {
	if db.closed.Swap(true) {
		return ErrClosed
	}
	if db.etcd != nil {
		return db.etcd.close()
	}
	err := db.bolt.Close()
	if kerr := db.keys.close(); err == nil {
		err = kerr
	}
	return err
}

// Path returns the file the DB was opened from; on etcd,
// "etcd:<endpoints>/<prefix>".
func (db *DB) Path() string { return db.path }

// Update runs fn in a read-write transaction. If fn returns nil the
// transaction commits and, unless Options.NoSync, is on stable storage when
// Update returns; otherwise (error or panic) everything fn did is rolled
// back and fn's error is returned unchanged. Writers are serialized. On
// etcd fn runs again, on a new snapshot, when another writer committed
// first (see the package doc): it must have no harmful effect outside the
// transaction when repeated.
func (db *DB) Update(fn func(*Tx) error) error { return db.UpdateContext(context.Background(), fn) }

// UpdateContext is Update with a context: a transaction is not started once
// ctx is done (ctx's error is returned), and fn finds ctx in Tx.Context. A
// transaction that has started runs to its end: bbolt cannot abandon a
// writer halfway. On etcd ctx also bounds the etcd requests; a commit it
// interrupts is resolved (applied: nil; not applied: an error).
func (db *DB) UpdateContext(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.writable(); err != nil {
		return err
	}
	ran := false
	var tx *Tx
	err := db.write(ctx, func(kv kvTx, btx *bolt.Tx) error {
		tx = db.newTx(kv, btx, ctx)
		defer tx.end()
		err := fn(tx)
		if err == nil {
			err = tx.prepare()
		}
		ran = err == nil
		return err
	})
	if ran {
		db.noteCommit(err)
	}
	if tx != nil {
		if serr := settleAll(db.keeper(), []*Tx{tx}, err == nil); err == nil {
			err = serr
		}
	}
	return err
}

// write runs body in one read-write transaction of the engine, committed if
// body returns nil. On etcd body runs again, on a fresh snapshot, when
// another writer committed first (etcd.go).
func (db *DB) write(ctx context.Context, body func(kv kvTx, btx *bolt.Tx) error) error {
	if db.etcd != nil {
		return db.etcd.write(ctx, func(kv kvTx) error { return body(kv, nil) })
	}
	return closedErr(db.bolt.Update(func(btx *bolt.Tx) error { return body(boltTx{btx}, btx) }))
}

// View runs fn in a read-only transaction: a consistent snapshot that
// concurrent writers do not disturb.
func (db *DB) View(fn func(*Tx) error) error { return db.ViewContext(context.Background(), fn) }

// ViewContext is View with a context, as UpdateContext.
func (db *DB) ViewContext(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if db.etcd != nil {
		return db.etcd.read(ctx, func(kv kvTx) error { return db.runKV(ctx, kv, nil, fn) })
	}
	db.readers.RLock()
	defer db.readers.RUnlock()
	return closedErr(db.bolt.View(func(btx *bolt.Tx) error { return db.run(ctx, btx, fn) }))
}

func (db *DB) run(ctx context.Context, btx *bolt.Tx, fn func(*Tx) error) error {
	return db.runKV(ctx, boltTx{btx}, btx, fn)
}

func (db *DB) runKV(ctx context.Context, kv kvTx, btx *bolt.Tx, fn func(*Tx) error) error {
	tx := db.newTx(kv, btx, ctx)
	defer tx.end()
	return fn(tx)
}

func (db *DB) newTx(kv kvTx, btx *bolt.Tx, ctx context.Context) *Tx {
	return &Tx{kv: kv, btx: btx, ctx: ctx, keeper: db.keeper()}
}

// newBoltTx is newTx for a bbolt transaction.
func (db *DB) newBoltTx(btx *bolt.Tx, ctx context.Context) *Tx {
	return db.newTx(boltTx{btx}, btx, ctx)
}

// keeper is what protects Record.Secret in this DB's engine.
func (db *DB) keeper() secretKeeper {
	if db.etcd != nil {
		return etcdKeeper{db.etcd}
	}
	return db.keys
}

func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Backup writes a consistent snapshot of the whole file to w while the DB
// stays online (readers and writers continue), followed by the data keys
// of the secrets it holds (backupkeys.go): [ExtractSnapshot] makes a store
// file and its key file of it. It returns the number of bytes written.
func (db *DB) Backup(w io.Writer) (int64, error) {
	if db.etcd != nil {
		return db.etcd.backup(db, w)
	}
	var n int64
	db.readers.RLock()
	defer db.readers.RUnlock()
	// No slot of the snapshot may be erased before its key is collected.
	db.keys.erasing.RLock()
	locked := true
	defer func() {
		if locked {
			db.keys.erasing.RUnlock()
		}
	}()
	err := db.bolt.View(func(btx *bolt.Tx) error {
		slots, deks, err := db.keys.backupKeys(db.newBoltTx(btx, context.Background()))
		db.keys.erasing.RUnlock()
		locked = false
		if err != nil {
			return err
		}
		defer clear(deks)
		if n, err = btx.WriteTo(w); err != nil {
			return err
		}
		if db.Format() < 3 {
			return nil // a plain snapshot, as the kmipd of its format wrote
		}
		m, err := writeBackupKeys(w, slots, deks, n)
		n += m
		return err
	})
	return n, closedErr(err)
}

// Stats returns the object count and file size; the zero Stats if the DB is
// closed.
func (db *DB) Stats() Stats {
	var s Stats
	_ = db.View(func(tx *Tx) error {
		s = Stats{Objects: tx.Count(), LastSeq: tx.seq().Sequence()}
		if tx.btx != nil {
			s.FileSize = tx.btx.Size()
		}
		return nil
	})
	if db.etcd != nil {
		s.FileSize = db.etcd.dbSize()
	}
	return s
}

// Check verifies the bbolt file structure and the store's own invariants:
// every object decodes and has its sequence and index entries, no index or
// sequence entry is dangling, and the object count is right. Inconsistencies
// are reported wrapping ErrCorrupt. It reads the whole file.
func (db *DB) Check() error {
	if db.etcd != nil {
		return db.View(checkTx)
	}
	return closedErr(db.bolt.View(func(btx *bolt.Tx) error {
		var errs []error
		for err := range btx.Check() {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			return fmt.Errorf("%w: %w", ErrCorrupt, errors.Join(errs...))
		}
		return db.run(context.Background(), btx, checkTx)
	}))
}

func checkTx(tx *Tx) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, a...))
	}
	var n, nIndex, nUnique int
	sealed := map[uint64]string{}
	err := tx.objects().ForEach(func(k, raw []byte) error {
		n++
		r, err := decodeRecord(string(k), raw, false)
		if err != nil {
			return err
		}
		if r.sealed != nil {
			if _, slots := tx.keeper.(*slotKeeper); slots {
				i, _ := parseSealed(r.sealed)
				if other, dup := sealed[i]; dup {
					return bad("objects %q and %q share key slot %d", other, k, i)
				}
				sealed[i] = r.ID
			}
			if err := tx.openSecret(r); err != nil {
				return bad("%v", err)
			}
			clear(r.Secret)
		}
		if !bytes.Equal(tx.seq().Get(binary.BigEndian.AppendUint64(nil, r.Seq)), k) {
			return bad("object %q: no sequence entry %d", k, r.Seq)
		}
		ents, _, err := entries(r.Index)
		if err != nil {
			return bad("object %q: %v", k, err)
		}
		for _, e := range ents {
			nIndex++
			if !bytes.Equal(tx.index().Get(indexKey(e.prefix, r.Seq)), k) {
				return bad("object %q: missing index entry %x", k, e.prefix)
			}
			if e.unique {
				nUnique++
				if !bytes.Equal(tx.unique().Get(e.prefix), k) {
					return bad("object %q: missing unique entry %x", k, e.prefix)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if c := tx.Count(); c != n {
		return bad("count is %d, %d objects stored", c, n)
	}
	if k, ok := tx.keeper.(*slotKeeper); ok && tx.btx.Bucket(bucketNames[bSlots]) != nil {
		if err := k.check(tx, sealed); err != nil {
			return err
		}
	}
	for _, b := range []struct {
		name string
		bkt  kvBucket
		want int
	}{{"sequence", tx.seq(), n}, {"index", tx.index(), nIndex}, {"unique", tx.unique(), nUnique}} {
		got, err := b.bkt.keyN()
		if err != nil {
			return err
		}
		if got != b.want {
			return bad("%d %s entries, want %d", got, b.name, b.want)
		}
	}
	return nil
}
