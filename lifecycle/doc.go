// Package lifecycle implements the KMIP operations over kmipd's store and
// key backend: its Service is the kmip.Handler of kmipd.
//
// Each operation has one file named for it (create.go, locate.go,
// get_attributes.go, …; families that share a request form share one:
// encrypt_decrypt.go, sign_verify.go) and one row in the operation table
// (operations.go), from which registration, Query's list, the state checks
// and the audit middleware's read-only set are derived. Adding an
// operation takes its file, its row and its test; whoami.go is a small
// example. The rest is shared by the operations: the object cache
// (cache.go), the lifecycle states (state.go), attribute handling
// (attrops.go, limits.go, names.go), key use and streams (crypto.go), and
// key wrapping (wrap.go). Cryptographic primitives live in internal/
// packages, not here.
package lifecycle
