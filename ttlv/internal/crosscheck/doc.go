// Package crosscheck holds tests only: they decode the TTLV of the OASIS
// test-case messages with an independent implementation,
// github.com/gemalto/kmip-go/ttlv, and compare it, node by node, with what
// package ttlv reads; they also feed each implementation's XML and JSON to
// the other. It lives apart so that package ttlv and its own tests depend on
// the standard library alone.
package crosscheck
