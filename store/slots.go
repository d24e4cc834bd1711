package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The bbolt engine's secret keeper: a fixed-slot key file beside the store
// (KeysPath). Each sealed secret has its own random 32-byte data key (DEK)
// in one slot; the record keeps only the secret encrypted under it. Erasing
// overwrites the slot, the only copy of the DEK, in place and syncs it:
// copies of the encrypted secret that bbolt leaves in freed pages are then
// noise, whatever the size of the store.
//
// The file is a header slot and then slots of slotSize bytes:
//
//	offset  size  field
//	0       1     state: 0 free, 1 pending, 2 live, 3 dying
//	1       7     zero
//	8       32    DEK (zero when free)
//	40      4     CRC-32 (IEEE) of bytes 0..40
//	44      20    zero
//
// Crash ordering. seal writes a pending slot and release marks the old one
// dying; prepare syncs both before the bbolt commit, which also records the
// slot → object mapping (bucket "slots"). After the commit, settle zeroes
// the dying slots and syncs before Update returns; pending slots are marked
// live lazily, with the next sync. So after a crash only pending and dying
// slots are in doubt, and Open settles each with one lookup in the mapping:
// mapped means committed (live), unmapped means gone (zeroed). Open reads
// the key file once (a few MB for a million keys) but scans no records.

const (
	slotSize      = 64
	slotFree      = 0
	slotPending   = 1
	slotLive      = 2
	slotDying     = 3
	dekSize       = 32
	sealedVersion = 1
	sealedHeader  = 1 + 8 + 12 // version, slot, nonce
	// maxSlots bounds the key file a corrupt or hostile file can make Open
	// read into memory (64 MiB of slots).
	maxSlots = 1 << 20
)

var slotMagic = []byte("kmipd key slots\x00v1\x00\x00\x00\x00\x00")

// ErrErased is wrapped by the error of reading a secret whose key slot has
// been erased (its object was destroyed after the reading transaction
// began) or is missing from the key file.
var ErrErased = errors.New("store: key material erased")

type slotMem struct {
	state byte
	dek   [dekSize]byte
	// nonce is that of the secret last sealed in the slot (memory only):
	// settle and abort act on a slot only for the seal that reserved it,
	// not for a later one that reused it meanwhile (they run after the
	// writer lock is released).
	nonce [12]byte
}

// sealedBy reports whether slot i holds the seal that produced stored.
// k.mu is held.
func (k *slotKeeper) sealedBy(i uint64, stored []byte) bool {
	return i < uint64(len(k.slots)) && bytes.Equal(k.slots[i].nonce[:], stored[9:sealedHeader])
}

type slotKeeper struct {
	f      *os.File
	noSync bool

	mu     sync.RWMutex // guards the fields below and writes to f
	slots  []slotMem
	free   []uint64
	toLive []uint64 // committed pending slots not yet marked live on disk

	// erasing is held exclusively while slots are zeroed and shared by
	// Backup while it collects the keys of its snapshot.
	erasing sync.RWMutex
}

// KeysPath returns the key file of the store file path.
func KeysPath(path string) string { return path + ".keys" }

func openSlotKeeper(path string, noSync bool) (*slotKeeper, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: key file: %w", err)
	}
	k := &slotKeeper{f: f, noSync: noSync}
	if err := k.load(); err != nil {
		f.Close()
		return nil, fmt.Errorf("store: key file %s: %w", path, err)
	}
	return k, nil
}

func (k *slotKeeper) load() error {
	fi, err := k.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		hdr := make([]byte, slotSize)
		copy(hdr, slotMagic)
		if _, err := k.f.WriteAt(hdr, 0); err != nil {
			return err
		}
		if err := k.sync(); err != nil {
			return err
		}
		// The new file's directory entry too: its slots are soon the only
		// copy of the keys.
		if d, err := os.Open(filepath.Dir(k.f.Name())); err == nil {
			if !k.noSync {
				err = d.Sync()
			}
			d.Close()
			return err
		}
		return nil
	}
	n := fi.Size()/slotSize - 1
	if fi.Size()%slotSize != 0 || n < 0 || n > maxSlots {
		return fmt.Errorf("%w: key file size %d", ErrCorrupt, fi.Size())
	}
	buf := make([]byte, fi.Size())
	if _, err := k.f.ReadAt(buf, 0); err != nil {
		return err
	}
	if !bytes.Equal(buf[:len(slotMagic)], slotMagic) {
		return fmt.Errorf("%w: not a kmipd key file", ErrCorrupt)
	}
	k.slots = make([]slotMem, n)
	for i := range k.slots {
		b := buf[(i+1)*slotSize : (i+2)*slotSize]
		s := &k.slots[i]
		copy(s.dek[:], b[8:40])
		s.state = b[0]
		if b[0] > slotDying || crc32.ChecksumIEEE(b[:40]) != binary.BigEndian.Uint32(b[40:44]) && b[0] != slotFree {
			// Damaged, or a torn write. Recovery decides it as one in
			// flight: unmapped, it goes; mapped, it stays as it is, and
			// the secret that fails to open names it (Check).
			s.state = slotPending
		}
	}
	clear(buf)
	return nil
}

// recover settles the pending and dying slots a crash left, against the
// committed mapping, and rebuilds the free list.
func (k *slotKeeper) recover(btx *bolt.Tx) error {
	m := btx.Bucket(bucketNames[bSlots])
	k.mu.Lock()
	defer k.mu.Unlock()
	changed := false
	for i := range k.slots {
		s := &k.slots[i]
		if s.state == slotPending || s.state == slotDying {
			if m != nil && m.Get(binary.BigEndian.AppendUint64(nil, uint64(i))) != nil && s.dek != [dekSize]byte{} {
				s.state = slotLive
			} else {
				*s = slotMem{}
			}
			if err := k.writeSlot(uint64(i)); err != nil {
				return err
			}
			changed = true
		}
		if s.state == slotFree {
			k.free = append(k.free, uint64(i))
		}
	}
	// Lowest slots first: the file stays compact.
	for i, j := 0, len(k.free)-1; i < j; i, j = i+1, j-1 {
		k.free[i], k.free[j] = k.free[j], k.free[i]
	}
	if changed {
		return k.sync()
	}
	return nil
}

func (k *slotKeeper) close() error { return k.f.Close() }

func (k *slotKeeper) sync() error {
	if k.noSync {
		return nil
	}
	return k.f.Sync()
}

// writeSlot writes slot i as memory holds it. k.mu is held.
func (k *slotKeeper) writeSlot(i uint64) error {
	var b [slotSize]byte
	s := &k.slots[i]
	if s.state != slotFree {
		b[0] = s.state
		copy(b[8:40], s.dek[:])
		binary.BigEndian.PutUint32(b[40:44], crc32.ChecksumIEEE(b[:40]))
	}
	_, err := k.f.WriteAt(b[:], int64(i+1)*slotSize)
	clear(b[:])
	return err
}

func slotKey(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

func sealAAD(id string, slot uint64) []byte {
	a := append([]byte("kmipd/slot/v1\x00"), slotKey(slot)...)
	return append(a, id...)
}

func gcmOf(dek *[dekSize]byte) cipher.AEAD {
	b, err := aes.NewCipher(dek[:])
	if err != nil {
		panic(err) // a 32-byte key always makes a cipher
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return g
}

func (k *slotKeeper) seal(tx *Tx, id string, secret []byte) ([]byte, error) {
	var dek [dekSize]byte
	if _, err := rand.Read(dek[:]); err != nil {
		return nil, err
	}
	out := make([]byte, sealedHeader, sealedHeader+len(secret)+16)
	out[0] = sealedVersion
	if _, err := rand.Read(out[9:sealedHeader]); err != nil {
		return nil, err
	}
	k.mu.Lock()
	var i uint64
	if n := len(k.free); n > 0 {
		i, k.free = k.free[n-1], k.free[:n-1]
	} else if len(k.slots) >= maxSlots {
		k.mu.Unlock()
		return nil, fmt.Errorf("%w: the key file is full (%d slots)", ErrInvalid, maxSlots)
	} else {
		i = uint64(len(k.slots))
		k.slots = append(k.slots, slotMem{})
	}
	k.slots[i] = slotMem{state: slotPending, dek: dek, nonce: [12]byte(out[9:sealedHeader])}
	err := k.writeSlot(i)
	if err != nil {
		k.slots[i] = slotMem{}
		k.free = append(k.free, i)
	}
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint64(out[1:9], i)
	out = gcmOf(&dek).Seal(out, out[9:sealedHeader], secret, sealAAD(id, i))
	clear(dek[:])
	// The mapping is what recovery trusts: it commits with the record.
	if err := tx.bucket(bSlots).Put(slotKey(i), []byte(id)); err != nil {
		return nil, err
	}
	return out, nil
}

func parseSealed(stored []byte) (uint64, bool) {
	if len(stored) < sealedHeader+16 || stored[0] != sealedVersion {
		return 0, false
	}
	return binary.BigEndian.Uint64(stored[1:9]), true
}

func (k *slotKeeper) open(id string, stored []byte) ([]byte, error) {
	i, ok := parseSealed(stored)
	if !ok {
		return nil, fmt.Errorf("%w: malformed sealed secret", ErrCorrupt)
	}
	var dek [dekSize]byte
	k.mu.RLock()
	if i < uint64(len(k.slots)) && (k.slots[i].state == slotLive || k.slots[i].state == slotPending || k.slots[i].state == slotDying) {
		dek = k.slots[i].dek
	}
	k.mu.RUnlock()
	if dek == [dekSize]byte{} {
		return nil, fmt.Errorf("%w: key slot %d", ErrErased, i)
	}
	out, err := gcmOf(&dek).Open(nil, stored[9:sealedHeader], stored[sealedHeader:], sealAAD(id, i))
	clear(dek[:])
	if err != nil {
		// The slot was erased and reused since this record was read.
		return nil, fmt.Errorf("%w: key slot %d does not open it", ErrErased, i)
	}
	if out == nil {
		out = []byte{} // an empty secret is not no secret
	}
	return out, nil
}

func (k *slotKeeper) release(tx *Tx, stored []byte) error {
	i, ok := parseSealed(stored)
	if !ok {
		return fmt.Errorf("%w: malformed sealed secret", ErrCorrupt)
	}
	if err := tx.bucket(bSlots).Delete(slotKey(i)); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if i >= uint64(len(k.slots)) || k.slots[i].state == slotFree {
		return nil // already gone: nothing to erase
	}
	k.slots[i].state = slotDying
	return k.writeSlot(i)
}

func (k *slotKeeper) prepare() error {
	k.mu.Lock()
	err := k.flushLive()
	k.mu.Unlock()
	if err != nil {
		return err
	}
	return k.sync()
}

// flushLive writes the lazy pending → live marks. k.mu is held.
func (k *slotKeeper) flushLive() error {
	for _, i := range k.toLive {
		if k.slots[i].state == slotLive {
			if err := k.writeSlot(i); err != nil {
				return err
			}
		}
	}
	k.toLive = k.toLive[:0]
	return nil
}

func (k *slotKeeper) settle(sealed, released [][]byte) error {
	k.erasing.Lock()
	defer k.erasing.Unlock()
	k.mu.Lock()
	var freed []uint64
	var err error
	for _, st := range released {
		i, _ := parseSealed(st)
		if i < uint64(len(k.slots)) && k.slots[i].state != slotFree {
			k.slots[i] = slotMem{}
			if werr := k.writeSlot(i); werr != nil && err == nil {
				err = werr
			}
			freed = append(freed, i)
		}
	}
	for _, st := range sealed {
		i, _ := parseSealed(st)
		if k.slots[i].state == slotPending && k.sealedBy(i, st) {
			k.slots[i].state = slotLive
			k.toLive = append(k.toLive, i)
		}
	}
	if len(freed) > 0 && err == nil {
		err = k.flushLive()
	}
	k.mu.Unlock()
	if len(freed) > 0 && err == nil {
		err = k.sync()
	}
	if err != nil {
		return fmt.Errorf("store: committed, but erasing released key slots failed (they are erased when the store is next opened): %w", err)
	}
	k.mu.Lock()
	k.free = append(k.free, freed...)
	k.mu.Unlock()
	return nil
}

func (k *slotKeeper) abort(sealed, released [][]byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	// Sealed first: a slot sealed and released by the same transaction
	// was never committed and goes.
	for _, st := range sealed {
		i, _ := parseSealed(st)
		if s := k.slots[i].state; (s == slotPending || s == slotDying) && k.sealedBy(i, st) {
			k.slots[i] = slotMem{}
			_ = k.writeSlot(i) // unmapped: recovery zeroes it anyway
			k.free = append(k.free, i)
		}
	}
	for _, st := range released {
		i, _ := parseSealed(st)
		if i < uint64(len(k.slots)) && k.slots[i].state == slotDying {
			k.slots[i].state = slotLive
			_ = k.writeSlot(i) // recovery restores it anyway: it is still mapped
		}
	}
}

// liveKeys calls fn with every live slot and its DEK. k.mu is held
// (shared) meanwhile.
func (k *slotKeeper) liveKeys(fn func(i uint64, dek *[dekSize]byte) error) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for i := range k.slots {
		if s := &k.slots[i]; s.state == slotLive || s.state == slotPending {
			if err := fn(uint64(i), &s.dek); err != nil {
				return err
			}
		}
	}
	return nil
}

// check verifies the mapping against the records and the key file: every
// sealed secret opens and is mapped to its object, and every slot in use
// is mapped. It runs offline (Check), so no slot is in flight.
func (k *slotKeeper) check(tx *Tx, sealed map[uint64]string) error {
	m := tx.bucket(bSlots)
	n, err := m.keyN()
	if err != nil {
		return err
	}
	if n != len(sealed) {
		return fmt.Errorf("%w: %d key slot mappings, %d sealed secrets", ErrCorrupt, n, len(sealed))
	}
	for i, id := range sealed {
		if got := m.Get(slotKey(i)); string(got) != id {
			return fmt.Errorf("%w: object %q: key slot %d is mapped to %q", ErrCorrupt, id, i, got)
		}
	}
	return k.liveKeys(func(i uint64, _ *[dekSize]byte) error {
		if _, ok := sealed[i]; !ok {
			return fmt.Errorf("%w: key slot %d holds a key no object uses", ErrCorrupt, i)
		}
		return nil
	})
}
