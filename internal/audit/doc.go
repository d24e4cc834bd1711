// Package audit keeps kmipd's tamper-evident audit trail: one JSON line per
// KMIP batch item served, hash-chained and periodically signed.
//
// # Records
//
// [Wrap] puts a [Trail] in front of a kmip.Handler. Every batch item that
// reaches the handler is recorded after it is served, with the time the
// request arrived, the client's identity (certificate CN) and certificate
// fingerprint (SHA-256, hex), its address, the protocol version, the
// server's request id (kmip.RequestID, also in the server's log lines and
// the client's Result Message of a failure), the operation, the Unique
// Identifier the request named, the identifiers the
// response named (Unique, Private Key and Public Key Unique Identifier),
// and the result status and reason. Nothing else of a request or response
// is looked at: no key material, no attribute values, no Result Message.
// What the server refuses before any handler runs (failed TLS handshakes,
// unparseable messages, unsupported protocol versions) reaches the trail
// through kmipd's kmip.RefusalObserver as "connection_refused" and
// "message_refused" events, written by the trail's goroutine ([Trail.Post])
// and rate-limited, with a "refusals_suppressed" event counting the rest,
// so that a flood cannot fill the disk.
//
// # Chain and checkpoints
//
// Each line is a JSON object:
//
//	{"seq":7,"time":"…","kind":"op",…,"prev_hash":"<hex>","hash":"<hex>"}
//
// Its canonical form is the line without the hash (and mac) fields, ending
// in "prev_hash":"…"}; hash = SHA-256(previous line's hash ‖ canonical
// form), byte for byte, and the first line's prev_hash is all zeros. So
// editing, deleting, inserting or reordering a line breaks the chain at
// that point. Recomputing the chain needs no secret, so every
// CheckpointInterval records (and at least every CheckpointPeriod, and
// when the trail is opened and closed) a checkpoint line carries
// mac = HMAC-SHA256(key, "kmipd audit checkpoint v1\x00" ‖ its hash), with
// the key kept in a separate file (created 0600 with the trail). A
// checkpoint vouches for every line before it.
//
// [VerifyFile] checks the chain and every signature and reports the first
// bad line. Records after the last checkpoint are protected by the chain
// only, so the trail must end with the "close" checkpoint written at
// shutdown unless a running server holds it (an advisory lock tells);
// otherwise VerifyFile fails with [ErrIncomplete]. After a crash, the next
// Open checkpoint signs what was left and notes the unclean end.
//
// # Anchor
//
// A cut-off tail leaves no trace in the chain: what is left is a valid
// trail, and cut back to an earlier shutdown checkpoint it is complete. So
// the trail's length and head are also kept outside it, in the anchor
// file ([AnchorPath]: the trail's path + ".anchor"):
//
//	{"v":1,"seq":N,"hash":"<hex>","time":"…","mac":"<hex>"}
//
// with mac = HMAC-SHA256(key, "kmipd audit anchor v1\x00" ‖ the line
// without its mac field, ending in "time":"…"}), so it cannot be moved
// back without the key. It names the last record known durable (fsynced):
// it follows every checkpoint, the durable head every Options.AnchorPeriod
// (1s), and the close checkpoint; it is replaced atomically (write, fsync,
// rename, fsync of the directory) by the trail's goroutine, never on an
// operation's path. A power cut therefore cannot leave the trail shorter
// than its anchor.
//
// [Open] compares the trail with the anchor and refuses, with an error
// wrapping [ErrTruncated] that names the missing records ("records 201 to
// 254 are missing"), a trail that ends before the anchor's seq, holds
// another record at that seq, whose records after it do not chain to it
// (a file may start after it only with kmipd's signed "reopen"
// checkpoint), or whose anchor is missing or does not verify. Only an operator continues such a trail: Options.AcceptTruncation
// (kmipd audit accept-truncation) writes a "truncation" event naming the
// loss and who accepted it, then the open checkpoint, and moves the anchor
// to the new head. [VerifyFile] makes the same comparison. The open
// checkpoint that creates an anchor says so (its detail starts "anchor
// created"), so a trail that has one cannot lose it unnoticed; a trail
// from before anchors gets one at its next Open.
//
// Limits: whoever can read the key can forge a trail and its anchor, so
// keep the key where the trail's other readers and writers cannot
// (Options.KeyPath). Records after the anchor (at most AnchorPeriod's
// worth, after a crash) are protected by the chain only. And replacing
// both the trail and the anchor with older copies of themselves (an
// earlier anchor is as valid as it ever was) cannot be told from the files
// alone: export the trail off-host (kmipd audit export) to guard against
// that.
//
// # Sinks
//
// Options.Sinks stream every line written, byte for byte, to syslog (RFC
// 5424 over TCP or TLS, octet-counted) or a JSON-lines socket, so that a
// copy kept elsewhere carries each record's seq and hash and can be
// checked against the file ([VerifyCopy]). Each sink has a bounded queue,
// filled in seq order as lines are written, and a goroutine that sends it,
// reconnecting with backoff. Fail-closed, an operation is answered only
// once its record has been sent to every sink (within the sink's Timeout);
// otherwise it is refused like when the file cannot be written (see
// [ErrSink]). Fail-open, what a sink cannot take is counted
// ([Trail.SinkStats]) and logged.
//
// # Durability and failures
//
// With [SyncAlways] (the default) a record is fsynced before the operation
// is answered; concurrent records share an fsync. [SyncInterval] and
// [SyncNone] trade the last moments of the trail on power loss for speed;
// a crash of kmipd alone never loses a written record.
//
// Every line goes first into the write-ahead ring ([WALPath], a
// fixed-size file of Options.WALSize bytes mapped into memory): [Wrap]
// formats an operation's record (a fixed-size value, pooled) while the
// request holds it, then, under the trail's lock, chains it and copies it
// into the ring. That memory copy is all the operation waits for before it
// is answered: the ring's pages belong to the kernel, so a crash of kmipd
// loses none of them, and the next [Open] appends to the file, before
// anything else, the lines of the ring that continue its chain (lines that
// do not, such as the ring of a trail moved aside, are kept in a file of
// their own that the open checkpoint names). The trail's flusher writes
// what the ring holds to the file in one write, at most every couple of
// milliseconds; syncs and checkpoints write it first. With SyncAlways an
// operation still waits for the fsync of its line; fail-closed, for its
// write to the file. A full ring makes requests wait for the flusher;
// Close writes what the ring holds before the close checkpoint.
//
// A write that fails is taken back (the file is truncated to the last good
// line), so the chain stays intact, and its lines stay in the ring: they
// reach the file once it can be written, and only once the ring is full
// are records lost (fail-open) or operations refused (fail-closed). A
// fail-closed operation refused after its record reached the ring is
// followed by a record that supersedes it. A failed fsync breaks the trail
// until restart. A trail file that is removed or renamed while kmipd runs
// gets the lines put before that was noticed, then a new file continues
// the chain from a "reopen" checkpoint; one that is replaced by another
// file is never written to. See [Wrap] for what fail-closed and fail-open
// mean for operations; either way the next record written is preceded by
// a "gap" event counting the records lost or refused.
// One edge remains: if fsync itself fails after a record is written,
// fail-closed rolls the operation back although the record, which may
// reach the disk, says it succeeded.
package audit
