//go:build !unix

package audit

import "os"

// lockFile is a no-op where flock is not available: the store's own lock
// still keeps two servers off one directory, but InUse cannot tell whether
// a server is running.
func lockFile(f *os.File, exclusive bool) error { return nil }
