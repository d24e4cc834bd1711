package store

import "errors"

// Errors returned by the store. Callers test for them with [errors.Is]; most
// are wrapped with context (an identifier, an index kind and value, a path).
var (
	// ErrNotFound is returned when no object exists under the identifier
	// given to Tx.Get or Tx.Delete, or no metadata exists under the key given
	// to Tx.GetMeta.
	ErrNotFound = errors.New("store: not found")

	// ErrExists is returned by Tx.Put when the record declares an index entry
	// (kind, value) that conflicts with another object's: a Unique entry whose
	// value another object also indexes, or any entry whose value another
	// object holds as Unique. Nothing is written when Put returns it.
	ErrExists = errors.New("store: already exists")

	// ErrClosed is returned when the DB has been closed, and when a Tx is
	// used after the function passed to DB.Update or DB.View has returned.
	ErrClosed = errors.New("store: closed")

	// ErrSchema is returned by Open when the file was written by a newer
	// store schema than this build supports, or is a bbolt file that is not
	// a kmipd store.
	ErrSchema = errors.New("store: unsupported schema")

	// ErrNeedsUpgrade is returned by Open when the file has an older format
	// than this build writes (see DB.Upgrade), and by writes to a DB opened
	// on such a file with Options.AllowOlder.
	ErrNeedsUpgrade = errors.New("store: older format, needs an upgrade")

	// ErrLocked is returned by Open when another DB (in this or another
	// process) holds the file's lock for longer than Options.Timeout.
	ErrLocked = errors.New("store: database file is locked")

	// ErrInvalid is returned when an argument cannot be stored: a nil record,
	// an empty or over-long identifier, index kind or metadata key.
	ErrInvalid = errors.New("store: invalid argument")

	// ErrReadOnly is returned when a method that writes (Put, Delete, Reset,
	// SetMeta) is called on a Tx of DB.View.
	ErrReadOnly = errors.New("store: read-only transaction")

	// ErrCorrupt is returned when stored data cannot be decoded, and by
	// DB.Check when the file or the store's indexes are inconsistent.
	ErrCorrupt = errors.New("store: corrupt data")

	// ErrConflict is returned on etcd when an Update function kept losing
	// to other writers (EtcdOptions.MaxRetries), or when a read transaction's
	// snapshot was compacted away under it (dropping a Secret compacts): run it again.
	ErrConflict = errors.New("store: conflicting writers")

	// ErrCommitUnknown is returned on etcd when a commit failed in a way that
	// may have applied it, and etcd did not answer the question in time.
	ErrCommitUnknown = errors.New("store: commit outcome unknown")
)
