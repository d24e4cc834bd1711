//go:build unix

package audit

import (
	"os"
	"syscall"
)

// mapWAL maps the ring file shared: what is copied into it is in the
// kernel's page cache at once, and survives the process.
func mapWAL(f *os.File, n int) ([]byte, bool, error) {
	mem, err := syscall.Mmap(int(f.Fd()), 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, false, err
	}
	return mem, true, nil
}

func unmapWAL(mem []byte, mapped bool) error {
	if !mapped || mem == nil {
		return nil
	}
	return syscall.Munmap(mem)
}
