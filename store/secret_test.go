package store_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/kmipd/kmipd/store"
)

// usedSlots counts the slots of the key file that are not all zero
// (64-byte slots after a 64-byte header: store/slots.go).
func usedSlots(t *testing.T, db *store.DB) int {
	t.Helper()
	b, err := os.ReadFile(store.KeysPath(db.Path()))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for off := 64; off+64 <= len(b); off += 64 {
		if !bytes.Equal(b[off:off+64], make([]byte, 64)) {
			n++
		}
	}
	return n
}

func randSecret() []byte {
	s := make([]byte, 48)
	rand.Read(s)
	return s
}

// Secrets round-trip; a replaced, removed or deleted secret's slot is
// zeroed on disk by the time Update returns; a rewrite with the same
// secret keeps its slot; rolled-back and re-run group members leave no
// slot behind.
func TestSecret_SlotsFollowTheRecords(t *testing.T) {
	db := openT(t)
	secrets := map[string][]byte{}
	for i := range 10 {
		id := fmt.Sprint("k", i)
		secrets[id] = randSecret()
		put(t, db, &store.Record{ID: id, Data: []byte("d"), Secret: secrets[id]})
	}
	if n := usedSlots(t, db); n != 10 {
		t.Fatalf("%d slots in use, want 10", n)
	}
	// The same secret again: no new slot, no erasure.
	put(t, db, &store.Record{ID: "k0", Data: []byte("changed"), Secret: bytes.Clone(secrets["k0"])})
	secrets["k1"] = randSecret()
	put(t, db, &store.Record{ID: "k1", Data: []byte("d"), Secret: secrets["k1"]})
	put(t, db, &store.Record{ID: "k2", Data: []byte("d")})
	delete(secrets, "k2")
	update(t, db, func(tx *store.Tx) error { return tx.Delete("k3") })
	delete(secrets, "k3")
	if n := usedSlots(t, db); n != 8 {
		t.Fatalf("%d slots in use after replace, erase and delete, want 8", n)
	}

	errFail := errors.New("fail")
	for i := range 20 {
		err := db.Update(func(tx *store.Tx) error {
			if err := tx.Put(&store.Record{ID: fmt.Sprint("rb", i), Secret: randSecret()}); err != nil {
				return err
			}
			if err := tx.Put(&store.Record{ID: "k4", Data: []byte("d")}); err != nil { // a release, undone
				return err
			}
			return errFail
		})
		if !errors.Is(err, errFail) {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, s := fmt.Sprint("g", g), randSecret()
			err := db.UpdateGrouped(func(tx *store.Tx) error {
				if err := tx.Put(&store.Record{ID: id, Secret: s}); err != nil {
					return err
				}
				if g%2 == 1 {
					return errFail
				}
				return nil
			})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				secrets[id] = s
			} else if !errors.Is(err, errFail) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := usedSlots(t, db); n != len(secrets) {
		t.Fatalf("%d slots in use, %d secrets", n, len(secrets))
	}
	check(t, db)
	if err := db.View(func(tx *store.Tx) error {
		for id, s := range secrets {
			r, err := tx.Get(id)
			if err != nil {
				return err
			}
			if !bytes.Equal(r.Secret, s) {
				return fmt.Errorf("%s: secret %x, want %x", id, r.Secret, s)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Reopened, the same.
	path := db.Path()
	db.Close()
	db = openPath(t, path)
	check(t, db)
	if n := usedSlots(t, db); n != len(secrets) {
		t.Fatalf("after reopening: %d slots in use, %d secrets", n, len(secrets))
	}
	// Reset releases every slot.
	update(t, db, func(tx *store.Tx) error { return tx.Reset() })
	if n := usedSlots(t, db); n != 0 {
		t.Fatalf("%d slots in use after Reset", n)
	}
}

// A store file whose key file is lost or damaged fails its check, naming
// the problem; the sealed secret is not in the store file in clear.
func TestSecret_NotInClearAndCheckedAgainstTheKeyFile(t *testing.T) {
	db := openT(t)
	s := randSecret()
	put(t, db, &store.Record{ID: "a", Data: []byte("d"), Secret: s})
	path := db.Path()
	db.Close()
	if fi, err := os.Stat(store.KeysPath(path)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	for _, f := range []string{path, store.KeysPath(path)} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, s) {
			t.Fatalf("the secret is in %s in clear", f)
		}
	}
	keys, _ := os.ReadFile(store.KeysPath(path))
	bad := bytes.Clone(keys)
	bad[64+8] ^= 1 // the first slot's key
	if err := os.WriteFile(store.KeysPath(path), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	db = openPath(t, path)
	if err := db.Check(); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Check with a damaged key slot = %v", err)
	}
	if err := db.View(func(tx *store.Tx) error { _, err := tx.Get("a"); return err }); err == nil {
		t.Fatal("Get opened a secret under a damaged key")
	}
	db.Close()
	if err := os.WriteFile(store.KeysPath(path), keys[:64], 0o600); err != nil {
		t.Fatal(err)
	}
	db = openPath(t, path)
	if err := db.Check(); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Check without the key = %v", err)
	}
}

// Backups taken while secrets are replaced and erased carry the key of
// every secret they hold and pass their check. (The window this guards,
// between the backup's snapshot and its collecting the keys, during which
// erasure waits, is too short for the test to hit it reliably.)
func TestSecret_BackupDuringErasure(t *testing.T) {
	db := openT(t)
	for i := range 50 {
		put(t, db, &store.Record{ID: fmt.Sprint("k", i), Secret: randSecret()})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var werr error
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprint("k", i%50)
			var s []byte
			if i%3 != 0 {
				s = randSecret()
			}
			if werr = db.Update(func(tx *store.Tx) error { return tx.Put(&store.Record{ID: id, Secret: s}) }); werr != nil {
				return
			}
		}
	}()
	dir := t.TempDir()
	for b := range 10 {
		path := fmt.Sprintf("%s/b%d", dir, b)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Backup(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if _, err := store.VerifySnapshot(path); err != nil {
			t.Fatalf("backup %d taken during erasures: %v", b, err)
		}
	}
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
}
