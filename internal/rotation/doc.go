// Package rotation re-wraps the key material of a store: it rotates the
// master key of a backend with versioned master keys (every blob re-wrapped
// under a new version, old versions retired) and migrates the blobs from
// one key backend to another.
//
// Both work the same way ([Rewrap]): in batches, beside readers and writers,
// replacing blobs one by one so that every state in between is readable.
// An interrupted run loses nothing and running it again resumes it. The
// caller keeps its configuration in step: Rotate calls back to record a
// new master-key version before it re-wraps anything, and during a
// migration the server reads both backends through [Migrating].
package rotation
