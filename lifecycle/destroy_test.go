package lifecycle_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"os"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
)

// storedObject reads the object id as the store holds it, with its key
// material.
func storedObject(t *testing.T, db *store.DB, id string) *objects.Object {
	t.Helper()
	var o objects.Object
	if err := db.View(func(tx *store.Tx) error {
		r, err := tx.Get(id)
		if err != nil {
			return err
		}
		if err := o.UnmarshalBinary(r.Data); err != nil {
			return err
		}
		if r.Secret != nil {
			o.Blob = r.Secret
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return &o
}

// fileDEKs reads the data keys of every slot in use of the store's key
// file, following the layout documented in store/slots.go: 64-byte slots
// after a 64-byte header, state byte first, the key at offset 8.
func fileDEKs(t *testing.T, db *store.DB) map[uint64][]byte {
	t.Helper()
	b, err := os.ReadFile(store.KeysPath(db.Path()))
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64][]byte{}
	for off := 64; off+64 <= len(b); off += 64 {
		if b[off] != 0 {
			out[uint64(off/64-1)] = bytes.Clone(b[off+8 : off+40])
		}
	}
	return out
}

// openCandidates finds every copy of a sealed secret of n plaintext bytes
// in the store file (version byte 1, slot, 12-byte nonce, ciphertext and
// tag: store/slots.go) and returns the plaintexts of those that open for
// object id under any data key of the key file.
func openCandidates(t *testing.T, db *store.DB, id string, n int) (found int, opened [][]byte) {
	t.Helper()
	file, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	deks := fileDEKs(t, db)
	size := 1 + 8 + 12 + n + 16
	for p := 0; p+size <= len(file); p++ {
		c := file[p : p+size]
		if c[0] != 1 || binary.BigEndian.Uint64(c[1:9]) > 1<<20 {
			continue
		}
		found++
		aad := append([]byte("kmipd/slot/v1\x00"), c[1:9]...)
		aad = append(aad, id...)
		for _, dek := range deks {
			blk, _ := aes.NewCipher(dek)
			g, _ := cipher.NewGCM(blk)
			if pt, err := g.Open(nil, c[9:21], c[21:], aad); err == nil {
				opened = append(opened, pt)
			}
		}
	}
	return found, opened
}

// Destroy erases the key material cryptographically: the sealed blob is
// never in the store file in clear, and after Destroy no copy of its
// encrypted form anywhere in the file (current or freed pages) opens with
// any data key left in the key file, nor with the master key (KMIP 2.0
// §6.1.15; NIST SP 800-88 cryptographic erase).
func TestService_DestroyErasesMaterialFromTheFile(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	id := create(t, c, "to-destroy")
	key := getKey(t, c, id) // the first Get rewrites the record (Fresh)
	keep := create(t, c, "to-keep")
	blob, keptBlob := storedObject(t, e.db, id).Blob, storedObject(t, e.db, keep).Blob
	file := func() []byte {
		t.Helper()
		b, err := os.ReadFile(e.db.Path())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, f := range [][]byte{file(), fileKeys(t, e.db)} {
		if bytes.Contains(f, blob) || bytes.Contains(f, key) {
			t.Fatal("the sealed blob or the plaintext key is in the store or key file in clear")
		}
	}
	masterOpens := func(id string) bool {
		t.Helper()
		f := file()
		for p := bytes.IndexByte(f, 0xA1); p >= 0 && p+len(blob) <= len(f); {
			if _, err := e.be.Open(context.Background(), id, f[p:p+len(blob)], nil); err == nil {
				return true
			}
			q := bytes.IndexByte(f[p+1:], 0xA1)
			if q < 0 {
				break
			}
			p += 1 + q
		}
		return false
	}
	// The scan finds the live copy before Destroy: it can fail.
	if found, opened := openCandidates(t, e.db, id, len(blob)); found == 0 || len(opened) == 0 || !bytes.Equal(opened[0], blob) {
		t.Fatalf("test premise: %d candidates, %d open to the blob", found, len(opened))
	}
	if masterOpens(id) {
		t.Fatal("the master key opens a blob found in clear in the file")
	}
	if _, err := do(t, c, kmip.OperationDestroy, byID(id)); err != nil {
		t.Fatal(err)
	}
	found, opened := openCandidates(t, e.db, id, len(blob))
	if found == 0 {
		t.Fatal("test premise: no candidate copy left to try")
	}
	if len(opened) > 0 {
		t.Fatalf("%d of %d copies of the destroyed key's sealed material still open", len(opened), found)
	}
	if masterOpens(id) {
		t.Fatal("the master key opens the destroyed key's material found in the file")
	}
	if bytes.Contains(file(), blob) {
		t.Fatal("the destroyed key's sealed material is in the store file in clear")
	}
	if _, opened := openCandidates(t, e.db, keep, len(keptBlob)); len(opened) == 0 || !bytes.Equal(opened[0], keptBlob) {
		t.Fatal("another key's material was lost")
	}
	if got := getKey(t, c, keep); len(got) != 32 {
		t.Fatal("the kept key no longer answers Get")
	}
	if storedObject(t, e.db, id).Blob != nil {
		t.Fatal("the destroyed object still has key material")
	}
	if err := e.db.Check(); err != nil {
		t.Fatal(err)
	}
}

func fileKeys(t *testing.T, db *store.DB) []byte {
	t.Helper()
	b, err := os.ReadFile(store.KeysPath(db.Path()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Re-key gives the replacement key material of its own, in a slot of its
// own: destroying the old key afterwards erases only the old material.
func TestService_ReKeyThenDestroyOld(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	old := create(t, c, "rekeyed")
	oldKey := getKey(t, c, old)
	nk := rkReKey(t, c, old)
	newKey := getKey(t, c, nk)
	if bytes.Equal(oldKey, newKey) || len(newKey) != 32 {
		t.Fatalf("re-key gave the same or no material")
	}
	oldBlob, newBlob := storedObject(t, e.db, old).Blob, storedObject(t, e.db, nk).Blob
	if _, err := do(t, c, kmip.OperationDestroy, byID(old)); err != nil {
		t.Fatal(err)
	}
	if _, opened := openCandidates(t, e.db, old, len(oldBlob)); len(opened) > 0 {
		t.Fatal("the destroyed old key's material still opens")
	}
	if _, opened := openCandidates(t, e.db, nk, len(newBlob)); len(opened) == 0 || !bytes.Equal(opened[0], newBlob) {
		t.Fatal("the replacement's material does not open")
	}
	if got := getKey(t, c, nk); !bytes.Equal(got, newKey) {
		t.Fatal("the replacement key changed")
	}
	if err := e.db.Check(); err != nil {
		t.Fatal(err)
	}
}
