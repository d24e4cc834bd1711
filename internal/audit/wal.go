package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The write-ahead ring: a fixed-size file next to the trail (WALPath),
// memory-mapped, into which every line is copied, chained, before its
// operation is answered. A memory copy is all an operation pays: the
// trail's flusher moves what the ring holds into the trail file in large
// writes, a few hundred times a second at most. The ring's pages belong to
// the kernel, so a crash of kmipd loses none of it; the next Open appends
// what the trail file lacks (the lines that continue its chain) before
// anything else. A power failure can lose what was not yet fsynced, as
// with the file alone (Options.Sync).
//
// Layout: a 4 KiB header (magic, version, ring size, head and tail as
// byte counts since the ring was last reset), then the ring. Bytes
// [tail, head) are lines not yet in the trail file; the ring wraps.

// DefaultWALSize is the default of Options.WALSize: about 3,000 records,
// 50 ms of lines at 60,000 operations a second. A ring that stays in the
// processor's caches costs requests less than a bigger one (measured:
// Get / tls-echo 0.70-0.76 with 1 MiB, 0.65-0.70 with 8 MiB, same rounds).
const DefaultWALSize = 1 << 20

// Bounds of Options.WALSize.
const (
	MinWALSize = 64 << 10
	MaxWALSize = 1 << 30
)

const (
	walHeader  = 4096
	walMagic   = "kmipdWAL"
	walVersion = 1
	// Header offsets.
	walOffVersion = 8
	walOffSize    = 16
	walOffHead    = 24
	walOffTail    = 32
)

// WALPath is where the trail at path keeps its write-ahead ring.
func WALPath(path string) string { return path + ".wal" }

type wal struct {
	path   string
	f      *os.File
	mem    []byte // the mapping (or heap memory, see mapped)
	ring   []byte // mem[walHeader:]
	size   uint64
	head   uint64 // bytes put since the reset
	tail   uint64 // of them, bytes in the trail file
	mapped bool   // the ring survives a crash of the process
}

// readWAL returns the bytes a previous run left in the ring at path
// without writing them to the trail: nil when there is no ring or nothing
// in it. A ring whose header is not intact is an error: it may hold
// records.
func readWAL(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var h [walHeader]byte
	n, err := io.ReadFull(f, h[:])
	if n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF) {
		return nil, nil // created and never initialised
	}
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	if string(h[:len(walMagic)]) != walMagic {
		return nil, fmt.Errorf("%s is not a write-ahead ring of an audit trail", path)
	}
	if v := binary.LittleEndian.Uint32(h[walOffVersion:]); v != walVersion {
		return nil, fmt.Errorf("%s: version %d, want %d", path, v, walVersion)
	}
	size := binary.LittleEndian.Uint64(h[walOffSize:])
	head := binary.LittleEndian.Uint64(h[walOffHead:])
	tail := binary.LittleEndian.Uint64(h[walOffTail:])
	if size < MinWALSize || size > MaxWALSize || tail > head || head-tail > size {
		return nil, fmt.Errorf("%s: header out of range (size %d, head %d, tail %d)", path, size, head, tail)
	}
	if head == tail {
		return nil, nil
	}
	out := make([]byte, head-tail)
	start := tail % size
	first := min(head-tail, size-start)
	if _, err := f.ReadAt(out[:first], int64(walHeader+start)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if first < head-tail {
		if _, err := f.ReadAt(out[first:], walHeader); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return out, nil
}

// createWAL makes path an empty ring of size bytes and maps it. The file's
// blocks are written once here, so that writing through the mapping never
// needs the file system to allocate.
func createWAL(path string, size int) (*wal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	w := &wal{path: path, f: f, size: uint64(size)}
	if err := w.init(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

func (w *wal) init() error {
	total := int64(walHeader) + int64(w.size)
	fi, err := w.f.Stat()
	if err != nil {
		return err
	}
	var h [walHeader]byte
	copy(h[:], walMagic)
	binary.LittleEndian.PutUint32(h[walOffVersion:], walVersion)
	binary.LittleEndian.PutUint64(h[walOffSize:], w.size)
	if fi.Size() != total {
		if err := w.f.Truncate(0); err != nil {
			return err
		}
		zero := make([]byte, 1<<20)
		for off := int64(walHeader); off < total; off += int64(len(zero)) {
			if _, err := w.f.WriteAt(zero[:min(int64(len(zero)), total-off)], off); err != nil {
				return err
			}
		}
	}
	if _, err := w.f.WriteAt(h[:], 0); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	mem, mapped, err := mapWAL(w.f, int(total))
	if err != nil {
		return err
	}
	w.mem, w.ring, w.mapped = mem, mem[walHeader:], mapped
	if !mapped {
		copy(mem, h[:])
	}
	return nil
}

// free is the room left in the ring.
func (w *wal) free() uint64 { return w.size - (w.head - w.tail) }

// put copies line at the head; the caller has made room for it. The head
// is stored after the bytes, so a crash never counts a partial line.
func (w *wal) put(line []byte) {
	start := w.head % w.size
	n := copy(w.ring[start:], line)
	copy(w.ring, line[n:])
	w.head += uint64(len(line))
	binary.LittleEndian.PutUint64(w.mem[walOffHead:], w.head)
}

// pending returns the bytes from the tail up to head, in at most two
// pieces.
func (w *wal) pending(head uint64) (a, b []byte) {
	if head == w.tail {
		return nil, nil
	}
	start, end := w.tail%w.size, head%w.size
	if start < end || end == 0 {
		if end == 0 {
			end = w.size
		}
		return w.ring[start:end], nil
	}
	return w.ring[start:], w.ring[:end]
}

// release marks the bytes up to head as written to the trail.
func (w *wal) release(head uint64) {
	w.tail = head
	binary.LittleEndian.PutUint64(w.mem[walOffTail:], w.tail)
}

// reset empties the ring (everything in it is in the trail).
func (w *wal) reset() {
	w.head, w.tail = 0, 0
	binary.LittleEndian.PutUint64(w.mem[walOffHead:], 0)
	binary.LittleEndian.PutUint64(w.mem[walOffTail:], 0)
}

func (w *wal) close() error {
	err := unmapWAL(w.mem, w.mapped)
	w.mem, w.ring = nil, nil
	return errors.Join(err, w.f.Close())
}

// walLines splits what a ring held into complete lines (without their
// newlines); bytes after the last newline are returned as torn.
func walLines(b []byte) (lines [][]byte, torn int) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return lines, len(b)
		}
		lines = append(lines, b[:i])
		b = b[i+1:]
	}
	return lines, 0
}

// RingRecords reports how many lines the write-ahead ring of the trail at
// path holds that are not yet in the trail file as far as the ring knows
// (after a crash: what the next Open appends).
func RingRecords(path string) (int, error) {
	left, err := readWAL(WALPath(path))
	if err != nil {
		return 0, err
	}
	lines, _ := walLines(left)
	return len(lines), nil
}
