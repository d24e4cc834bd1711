package store

// ResolvedCommits returns how many commits that errored were found applied
// and not applied (etcd).
func ResolvedCommits(db *DB) (applied, notApplied int64) {
	return db.etcd.resolvedApplied.Load(), db.etcd.resolvedNot.Load()
}
