//go:build !linux

package store

// freeSpace is unknown here: readiness then rests on commit outcomes.
func freeSpace(string) (uint64, bool) { return 0, false }
