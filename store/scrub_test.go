package store_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kmipd/kmipd/store"
)

// A forgotten value is gone from the file bytes, including the stale copies
// that earlier versions of its record left in freed pages, while other
// records stay intact and readers keep working.
func TestForget_ZeroesEveryCopyInTheFile(t *testing.T) {
	db := openT(t)
	secret := make([]byte, 64)
	rand.Read(secret)
	other := make([]byte, 64)
	rand.Read(other)
	put := func(id string, data []byte) {
		t.Helper()
		if err := db.Update(func(tx *store.Tx) error {
			return tx.Put(&store.Record{ID: id, Data: data})
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Several versions of the record: each update frees a page holding the
	// secret.
	for i := 0; i < 5; i++ {
		put("k", append(append([]byte{byte(i)}, secret...), bytes.Repeat([]byte{'x'}, 300*i)...))
	}
	put("other", other)
	fileHas := func(b []byte) bool {
		t.Helper()
		data, err := os.ReadFile(db.Path())
		if err != nil {
			t.Fatal(err)
		}
		return bytes.Contains(data, b)
	}
	if !fileHas(secret) {
		t.Fatal("test premise: the secret is not in the file")
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var readErr atomic.Value
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				err := db.View(func(tx *store.Tx) error {
					r, err := tx.Get("other")
					if err == nil && !bytes.Equal(r.Data, other) {
						err = errors.New("other record changed")
					}
					return err
				})
				if err != nil {
					readErr.Store(err)
					return
				}
			}
		}()
	}
	err := db.Update(func(tx *store.Tx) error {
		if err := tx.Put(&store.Record{ID: "k", Data: []byte("destroyed")}); err != nil {
			return err
		}
		return tx.Forget(secret)
	})
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if e := readErr.Load(); e != nil {
		t.Fatalf("reader during the scrub: %v", e)
	}
	if fileHas(secret) {
		t.Fatal("the forgotten bytes are still in the store file")
	}
	if !fileHas(other) {
		t.Fatal("an unrelated record was damaged")
	}
	if err := db.Check(); err != nil {
		t.Fatalf("store check after the scrub: %v", err)
	}
	if err := db.Update(func(tx *store.Tx) error { return tx.Forget([]byte("short")) }); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("short value: %v", err)
	}
}

// Concurrent forgetting writers share scrub passes and every value is gone.
func TestForget_Concurrent(t *testing.T) {
	db := openT(t)
	const n = 16
	secrets := make([][]byte, n)
	for i := range secrets {
		secrets[i] = make([]byte, 48)
		rand.Read(secrets[i])
		id := string(rune('a' + i))
		if err := db.Update(func(tx *store.Tx) error {
			return tx.Put(&store.Record{ID: id, Data: secrets[i]})
		}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range secrets {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.Update(func(tx *store.Tx) error {
				if err := tx.Put(&store.Record{ID: string(rune('a' + i)), Data: []byte("gone")}); err != nil {
					return err
				}
				return tx.Forget(secrets[i])
			})
		}(i)
	}
	wg.Wait()
	data, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range secrets {
		if errs[i] != nil {
			t.Fatalf("writer %d: %v", i, errs[i])
		}
		if bytes.Contains(data, s) {
			t.Fatalf("secret %d is still in the file", i)
		}
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}
