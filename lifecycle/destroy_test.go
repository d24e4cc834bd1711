package lifecycle_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
)

// storedObject reads the object id as the store holds it.
func storedObject(t *testing.T, db *store.DB, id string) *objects.Object {
	t.Helper()
	var o objects.Object
	if err := db.View(func(tx *store.Tx) error {
		r, err := tx.Get(id)
		if err != nil {
			return err
		}
		return o.UnmarshalBinary(r.Data)
	}); err != nil {
		t.Fatal(err)
	}
	return &o
}

// Destroy erases the sealed key material from the store file itself: no
// copy of the blob survives, not even in the pages freed by the earlier
// versions of the record (KMIP 2.0 §6.1.15; issue: archive-safe Destroy).
func TestService_DestroyErasesMaterialFromTheFile(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	id := create(t, c, "to-destroy")
	key := getKey(t, c, id) // the first Get rewrites the record (Fresh)
	keep := create(t, c, "to-keep")
	blobOf := func(id string) []byte {
		t.Helper()
		return storedObject(t, e.db, id).Blob
	}
	blob, keptBlob := blobOf(id), blobOf(keep)
	file := func() []byte {
		t.Helper()
		b, err := os.ReadFile(e.db.Path())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Contains(file(), blob) {
		t.Fatal("test premise: the sealed blob is not in the file")
	}
	if bytes.Contains(file(), key) {
		t.Fatal("the plaintext key is in the store file")
	}
	if _, err := do(t, c, kmip.OperationDestroy, byID(id)); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file(), blob) {
		t.Fatal("the destroyed key's sealed material is still in the store file")
	}
	if !bytes.Contains(file(), keptBlob) {
		t.Fatal("another key's material was lost")
	}
	if got := getKey(t, c, keep); len(got) != 32 {
		t.Fatal("the kept key no longer answers Get")
	}
	if err := e.db.Check(); err != nil {
		t.Fatal(err)
	}
}
