// Package store keeps kmipd's managed objects, in one bbolt file ([Open])
// or in etcd ([OpenEtcd]), behind one API: [DB] and [Tx].
//
// # Basics
//
// The store does not know the KMIP object encoding. A [Record] carries the
// caller's encoded object as opaque Data, an Owner, and the secondary index
// entries the caller declares for it ([IndexEntry]: a kind such as "name",
// "type", "state" or "attr:x-foo", and an arbitrary byte value). All access
// goes through transactions: [DB.Update] runs one read-write transaction,
// committed and fsync'd before it returns (an acknowledged write is durable),
// or rolled back entirely if the function returns an error or panics;
// [DB.View] runs a read-only snapshot. Readers run concurrently with each
// other and with the single writer.
//
// Every record gets a creation sequence number (Seq) on its first Put.
// [Tx.Lookup], [Tx.Scan] and [Tx.ScanIDs] return objects newest first
// (descending Seq), so Locate can honour Maximum Items by stopping early.
// Lookup costs O(matches), independent of the number of objects.
//
// # Key material
//
// [Record.Secret] holds the object's key material (already sealed by the
// key backend under the master key or HSM), apart from Data. The store
// keeps it encrypted (AES-256-GCM, the object ID and slot bound as
// associated data) under a random 32-byte data key of its own, kept in one
// fixed-size slot of the key file beside the store ([KeysPath], mode
// 0600). Replacing or removing a Secret erases its slot: overwritten in
// place and synced before Update returns. The copies of the encrypted
// Secret that bbolt leaves in freed pages are then undecryptable, so
// destroying key material costs the same whatever the size of the store
// (cryptographic erase, NIST SP 800-88). The key file alone reveals
// nothing either: the material under its keys is still sealed by the key
// backend. The keeper (secret.go) is behind a small interface so that
// another engine can protect Secret its own way.
//
// A crash leaves at most the slots in flight in doubt; Open settles them
// against the slot mapping committed with the records, without scanning
// the records (slots.go).
//
// Index entries flagged Unique (e.g. Name) make a (kind, value) pair belong
// to one object; a conflicting [Tx.Put] fails with [ErrExists] and writes
// nothing.
//
// On disk the file holds buckets "objects" (ID → record), "seq" (big-endian
// Seq → ID), "index" (entry ‖ big-endian Seq → ID), "unique" (entry → ID),
// "slots" (key slot → ID), "meta" (caller metadata, [Tx.SetMeta]) and
// "sys" (format version, object count, format history). An entry is the kind and value, each
// length-prefixed, so values containing 0x00 or prefixes of other values
// never collide.
//
// # Format versions
//
// The file records its format version ([SchemaVersion] for files this build
// creates; format.go lists what each version holds). [Open] refuses a newer
// format ([ErrSchema]) and an older one ([ErrNeedsUpgrade]); with
// Options.AllowOlder it opens an older file read-only, for a backup, a check
// or [DB.Upgrade], which brings it to the current format in one transaction.
//
// [DB.Backup] streams a consistent copy of the live file followed by the
// data keys its secrets need, which [ExtractSnapshot] turns back into a
// store file and its key file; [DB.Check] verifies the file, the indexes
// and that every secret opens with its slot.
//
// # etcd
//
// [OpenEtcd] keeps the same buckets as keys <prefix><bucket>/<key> of an
// etcd cluster that several kmipd nodes share. A transaction reads one
// snapshot: a linearizable read gives the current revision R, and every
// read is at R. Its writes stay in memory until the commit, one etcd
// transaction that applies only if nothing was committed since R (a
// compare on the key <prefix>sys/clock, which every commit moves). So
// every acknowledged write is committed by a quorum, and writers on
// different nodes are serialized by etcd, as a file's writers are by its
// lock. A writer that lost such a race retries holding an etcd lock
// (etcd_lock.go), so that the writers of two nodes never starve each other.
//
//   - An Update function may run more than once on etcd: when another
//     writer committed first it runs again on a new snapshot (at most
//     EtcdOptions.MaxRetries times, then [ErrConflict]). Keep effects
//     outside the transaction idempotent, as for UpdateGrouped.
//   - A commit that fails in a way that may have applied it (a timeout, a
//     leader lost mid-request) is resolved before Update returns: if it
//     applied Update returns nil, if not it is made sure never to apply and
//     the function runs again; [ErrCommitUnknown] if etcd cannot say.
//   - [DB.OnChange] hooks hear of every object changed by any node (or
//     "all" after the change stream was compacted away), and [DB.Fence]
//     returns once every write committed anywhere before the call has
//     reached them: a node caching objects calls Fence before trusting the
//     cache, so an object destroyed on one node is refused on the others
//     at once. On bbolt Fence returns at once.
//   - Reset deletes in chunks (EtcdOptions.Chunk keys per etcd
//     transaction) before its commit; if the commit then fails, the objects
//     stay deleted.
//   - Limits: a commit holds at most EtcdOptions.MaxTxnOps operations and
//     MaxTxnBytes bytes (etcd's --max-txn-ops and --max-request-bytes);
//     a group commit holds at most GroupMax functions and falls back to
//     one by one when too large. Every etcd request has RequestTimeout.
//   - Erasure: etcd cannot overwrite one value in place, so a Secret is
//     kept as given (the key backend's sealed blob, useless without the
//     master key), and a commit that drops one compacts etcd's history to
//     its revision (etcd_secret.go), so no etcd read returns it again; but
//     compaction does not erase it from the members' files until they are
//     defragmented, and the etcd WAL keeps it until its segment is purged
//     (about 5 × 64 MB of later writes), as do earlier etcd snapshots.
//     Compaction is etcd-wide: it also ends the snapshots of running
//     transactions, of every prefix; their reads fail with [ErrConflict]
//     (Update runs again).
//   - Space: the store compacts etcd's history only when a Secret is
//     dropped; run etcd with auto-compaction, and defragment its members
//     one at a time.
//   - [DB.Backup] writes, read at one revision, what a bbolt store's
//     backup holds (a store file and the data keys of its secrets); [Copy]
//     moves a store between engines, each secret opened by the source's
//     keeper and sealed by the destination's.
//
// # Caveats
//
//   - Only one DB may hold a file (bbolt): Open waits Options.Timeout for
//     the lock of another DB (in any process) and then fails with
//     [ErrLocked].
//   - A [Tx] and everything bbolt hands it are valid only inside the
//     function; the store copies what it returns (Get, Scan, GetMeta), and
//     copies what it is given (Put, SetMeta).
//   - Callbacks of Lookup, Scan and ScanIDs must not modify the store:
//     collect IDs first, then Put or Delete.
//   - Index values longer than 512 bytes are keyed by their SHA-256 digest;
//     Lookup results are exact up to SHA-256 collisions, and Locate re-checks
//     the decoded object anyway.
//   - Writers are serialized: keep Update functions short, and batch bulk
//     imports (several thousand Puts per Update on bbolt, since each commit
//     fsyncs; on etcd at most MaxTxnOps keys per commit, about 20 objects).
//   - On etcd a read is a round trip to a member, served at the snapshot
//     revision. Walks read PageSize keys per trip; a Put reads what it
//     checks in one trip; the objects of the page a walk last read are
//     read together on the first Get of one (Scan, Locate).
//   - The file never shrinks; space from deleted objects is reused.
//     [Tx.Reset] keeps metadata and restarts Seq at 1.
//   - Options.NoSync trades durability for speed and is for tests only.
package store
