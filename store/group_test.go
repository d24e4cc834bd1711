package store_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kmipd/kmipd/store"
)

// Concurrent grouped writers: every success is committed, a failing or
// panicking writer gets its own error and does not take the others down.
func TestUpdateGrouped_IsolatesFailures(t *testing.T) { engines(t, testUpdateGrouped_IsolatesFailures) }

func testUpdateGrouped_IsolatesFailures(t *testing.T, openT opener) {
	db := openT(t)
	const n = 64
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.UpdateGrouped(func(tx *store.Tx) error {
				switch {
				case i%10 == 3:
					return fmt.Errorf("writer %d refuses", i)
				case i%10 == 7:
					panic("writer bug")
				}
				// Writers 0 and 1 want the same unique name: one of them
				// must fail with ErrExists.
				name := fmt.Sprintf("name-%d", i)
				if i < 2 {
					name = "shared"
				}
				return tx.Put(&store.Record{ID: fmt.Sprintf("id-%d", i), Data: []byte{byte(i)},
					Index: []store.IndexEntry{{Kind: "name", Value: []byte(name), Unique: true}}})
			})
		}(i)
	}
	wg.Wait()
	exists := 0
	for i, err := range errs {
		switch {
		case i%10 == 3:
			if err == nil || err.Error() != fmt.Sprintf("writer %d refuses", i) {
				t.Errorf("writer %d: %v", i, err)
			}
		case i%10 == 7:
			if err == nil {
				t.Errorf("panicking writer %d succeeded", i)
			}
		case i < 2 && errors.Is(err, store.ErrExists):
			exists++
		case err != nil:
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if exists != 1 {
		t.Errorf("%d writers lost the shared name, want exactly 1", exists)
	}
	err := db.View(func(tx *store.Tx) error {
		for i, err := range errs {
			_, gerr := tx.Get(fmt.Sprintf("id-%d", i))
			if (err == nil) != (gerr == nil) {
				t.Errorf("writer %d: error %v but record present=%v", i, err, gerr == nil)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkDurableWrites compares one fsync'd transaction per write with
// group commit, 16 concurrent writers, fsync on (a real disk write each).
func BenchmarkDurableWrites(b *testing.B) {
	for _, mode := range []string{"Update", "UpdateGrouped"} {
		b.Run(mode, func(b *testing.B) {
			db, err := store.Open(filepath.Join(b.TempDir(), "s.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			update := db.Update
			if mode == "UpdateGrouped" {
				update = db.UpdateGrouped
			}
			b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 writers
			var mu sync.Mutex
			n := 0
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					n++
					id := fmt.Sprintf("id-%d", n)
					mu.Unlock()
					if err := update(func(tx *store.Tx) error {
						return tx.Put(&store.Record{ID: id, Data: make([]byte, 200)})
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
