//go:build linux && (amd64 || arm64)

package audit

import (
	"io/fs"
	"os"
	"syscall"
	"unsafe"
)

// pathIsFile reports whether the trail's path still names its open file.
// The writer asks before every batch, so this is os.Stat without its
// allocations: the path is converted once (t.cpath).
func (t *Trail) pathIsFile() (bool, error) {
	id, ok := t.id.Sys().(*syscall.Stat_t)
	if !ok || len(t.cpath) == 0 {
		return pathIsFileStat(t)
	}
	var st syscall.Stat_t
	dirfd := -100 // AT_FDCWD: the path is relative to the working directory
	_, _, e := syscall.Syscall6(sysFstatat, uintptr(dirfd), uintptr(unsafe.Pointer(&t.cpath[0])), uintptr(unsafe.Pointer(&st)), 0, 0, 0)
	if e != 0 {
		return false, &fs.PathError{Op: "stat", Path: t.opts.Path, Err: e}
	}
	return st.Dev == id.Dev && st.Ino == id.Ino, nil
}

func pathIsFileStat(t *Trail) (bool, error) {
	fi, err := os.Stat(t.opts.Path)
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, t.id), nil
}
