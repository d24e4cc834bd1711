// Package store keeps kmipd's managed objects in one bbolt file.
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
// # Caveats
//
//   - Only one DB may hold a file: Open waits Options.Timeout for the lock of
//     another DB (in any process) and then fails with [ErrLocked].
//   - A [Tx] and everything bbolt hands it are valid only inside the
//     function; the store copies what it returns (Get, Scan, GetMeta), and
//     copies what it is given (Put, SetMeta).
//   - Callbacks of Lookup, Scan and ScanIDs must not modify the store:
//     collect IDs first, then Put or Delete.
//   - Index values longer than 512 bytes are keyed by their SHA-256 digest;
//     Lookup results are exact up to SHA-256 collisions, and Locate re-checks
//     the decoded object anyway.
//   - Writers are serialized: keep Update functions short, and batch bulk
//     imports (several thousand Puts per Update) since each commit fsyncs.
//   - The file never shrinks; space from deleted objects is reused.
//     [Tx.Reset] keeps metadata and restarts Seq at 1.
//   - Options.NoSync trades durability for speed and is for tests only.
package store
