package store

import "bytes"

// etcdKeeper protects Record.Secret on etcd. etcd offers no place where one
// value can be overwritten in place: every revision stays until compaction,
// freed pages until each member is defragmented, and the write-ahead log
// until its segment is purged. A per-object data key kept in etcd would
// linger exactly as long as the secret, so the record keeps the secret as
// the key backend sealed it (useless without the master key), and when a
// commit drops one (Destroy, Re-key, Delete) the keyspace is compacted to
// that commit so that no revision serves it again (compactNow, coalesced).
// What remains on the members' disks until defragmentation and WAL purge is
// the erasure window doc.go describes.
type etcdKeeper struct{ e *etcdEngine }

func (etcdKeeper) seal(_ *Tx, _ string, secret []byte) ([]byte, error) {
	return bytes.Clone(secret), nil
}

func (etcdKeeper) open(_ string, stored []byte) ([]byte, error) { return bytes.Clone(stored), nil }
func (etcdKeeper) release(*Tx, []byte) error                    { return nil }
func (etcdKeeper) prepare() error                               { return nil }
func (etcdKeeper) abort(_, _ [][]byte)                          {}

// settle compacts after a commit that dropped a secret. The commit stands
// whatever happens here, so a failed compaction is not the caller's error:
// it is kept pending and tried again by the next settle or Probe.
func (k etcdKeeper) settle(_, released [][]byte) error {
	if len(released) == 0 && !k.e.compactPending.Load() {
		return nil
	}
	k.e.compactPending.Store(true)
	if k.e.compactNow() == nil {
		k.e.compactPending.Store(false)
	}
	return nil
}
