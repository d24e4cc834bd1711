package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// A backup ([DB.Backup]) is the bbolt snapshot followed by the data keys
// its records need, so that it restores to a working store:
//
//	snapshot   the store file as of the backup's transaction
//	keys       per key slot in use: slot (8 bytes, big-endian), DEK (32)
//	footer     backupMagic (16 bytes), key count (8), snapshot length (8)
//
// [ExtractSnapshot] splits it again into a store file and its key file. A
// backup holds the keys of every object live when it was taken: destroying
// an object later does not reach into existing backups.

var backupMagic = []byte("kmipd-backup-kv1")

const backupFooter = 16 + 8 + 8

// writeBackupKeys writes the keys section and the footer.
func writeBackupKeys(w io.Writer, slots []uint64, deks [][dekSize]byte, snapLen int64) (int64, error) {
	var n int64
	buf := make([]byte, 0, 8+dekSize)
	for i, s := range slots {
		buf = binary.BigEndian.AppendUint64(buf[:0], s)
		buf = append(buf, deks[i][:]...)
		m, err := w.Write(buf)
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	clear(buf[:cap(buf)])
	f := append(bytes.Clone(backupMagic), make([]byte, 16)...)
	binary.BigEndian.PutUint64(f[16:], uint64(len(slots)))
	binary.BigEndian.PutUint64(f[24:], uint64(snapLen))
	m, err := w.Write(f)
	return n + int64(m), err
}

// ExtractSnapshot turns a backup at src into a store file dst (0600, which
// must not exist) and its key file KeysPath(dst), both synced, writing
// what it copies to progress too when that is not nil; on failure it
// removes both. A snapshot written before backups carried keys (store
// format 2 and older) is copied whole, with no key file.
func ExtractSnapshot(src, dst string, progress io.Writer) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	snapLen, nKeys := size, uint64(0)
	if size >= backupFooter {
		f := make([]byte, backupFooter)
		if _, err := in.ReadAt(f, size-backupFooter); err != nil {
			return err
		}
		if bytes.Equal(f[:16], backupMagic) {
			nKeys = binary.BigEndian.Uint64(f[16:])
			snapLen = int64(binary.BigEndian.Uint64(f[24:]))
			if nKeys > maxSlots || snapLen < 0 || snapLen+int64(nKeys)*(8+dekSize)+backupFooter != size {
				return fmt.Errorf("%w: %s: malformed key section", ErrCorrupt, src)
			}
		}
	}
	defer func() {
		if err != nil {
			os.Remove(dst)
			os.Remove(KeysPath(dst))
		}
	}()
	if err := copyN(io.NewSectionReader(in, 0, snapLen), dst, progress); err != nil {
		return err
	}
	if snapLen == size {
		return nil
	}
	return writeKeyFile(io.NewSectionReader(in, snapLen, int64(nKeys)*(8+dekSize)), KeysPath(dst), nKeys)
}

// writeKeyFile writes a key file holding the n (slot, DEK) pairs of r as
// live slots.
func writeKeyFile(r io.Reader, path string, n uint64) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	hdr := make([]byte, slotSize)
	copy(hdr, slotMagic)
	_, err = out.WriteAt(hdr, 0)
	pair := make([]byte, 8+dekSize)
	var slot [slotSize]byte
	for i := uint64(0); i < n && err == nil; i++ {
		if _, err = io.ReadFull(r, pair); err != nil {
			break
		}
		s := binary.BigEndian.Uint64(pair)
		if s >= maxSlots {
			err = fmt.Errorf("%w: key slot %d out of range", ErrCorrupt, s)
			break
		}
		slot[0] = slotLive
		copy(slot[8:40], pair[8:])
		binary.BigEndian.PutUint32(slot[40:44], crc32.ChecksumIEEE(slot[:40]))
		_, err = out.WriteAt(slot[:], int64(s+1)*slotSize)
	}
	clear(pair)
	clear(slot[:])
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyN copies r to a new file dst (0600) and fsyncs it, writing what it
// copies to progress too when that is not nil; the new file is removed on
// failure.
func copyN(r io.Reader, dst string, progress io.Writer) (err error) {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(dst)
		}
	}()
	var w io.Writer = out
	if progress != nil {
		w = io.MultiWriter(out, progress)
	}
	_, err = io.Copy(w, r)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// backupKeys collects, inside the backup's read transaction, the keys of
// the slots its records map.
func (k *slotKeeper) backupKeys(tx *Tx) ([]uint64, [][dekSize]byte, error) {
	var slots []uint64
	var deks [][dekSize]byte
	m := tx.btx.Bucket(bucketNames[bSlots])
	if m == nil {
		return nil, nil, nil // format 2 and older: no slots
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	err := m.ForEach(func(key, _ []byte) error {
		if len(key) != 8 {
			return fmt.Errorf("%w: malformed key slot mapping", ErrCorrupt)
		}
		i := binary.BigEndian.Uint64(key)
		if i >= uint64(len(k.slots)) || k.slots[i].state == slotFree {
			return fmt.Errorf("%w: key slot %d is mapped but empty", ErrErased, i)
		}
		slots = append(slots, i)
		deks = append(deks, k.slots[i].dek)
		return nil
	})
	return slots, deks, err
}
