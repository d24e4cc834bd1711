package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/kmipd/kmipd/store"
)

// BenchmarkEngines compares the engines in one run: Update creating one
// object, UpdateGrouped from 16 goroutines, Fence with nothing to wait
// for, View scanning 200 objects, and View reading one object.
// bbolt syncs its file on commit (Options.NoSync false); etcd is the shared
// 3-member cluster on this machine, which shares its cores with the
// benchmark.
func BenchmarkEngines(b *testing.B) {
	engines := []struct {
		name string
		open func(b *testing.B) *store.DB
	}{
		{"bbolt", func(b *testing.B) *store.DB {
			db, err := store.Open(filepath.Join(b.TempDir(), "s.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		}},
		{"etcd", func(b *testing.B) *store.DB { return openEtcd(b) }},
	}
	for _, eng := range engines {
		b.Run(eng.name+"/Update", func(b *testing.B) {
			db := eng.open(b)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := db.Update(func(tx *store.Tx) error { return tx.Put(benchRecord(fmt.Sprint("u-", i), i)) }); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(eng.name+"/UpdateGrouped16", func(b *testing.B) {
			db := eng.open(b)
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 writers
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := int(n.Add(1))
					if err := db.UpdateGrouped(func(tx *store.Tx) error { return tx.Put(benchRecord(fmt.Sprint("g-", i), i)) }); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(eng.name+"/Fence", func(b *testing.B) {
			db := eng.open(b)
			put(b, db, benchRecord("f", 0))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := db.Fence(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(eng.name+"/ViewScan200", func(b *testing.B) {
			db := eng.open(b)
			const n = 200
			for base := 0; base < n; base += 10 { // 10 per commit: etcd's max-txn-ops
				update(b, db, func(tx *store.Tx) error {
					for i := base; i < base+10; i++ {
						if err := tx.Put(benchRecord(fmt.Sprint("s-", i), i)); err != nil {
							return err
						}
					}
					return nil
				})
			}
			b.ReportAllocs()
			for b.Loop() {
				got := 0
				if err := db.View(func(tx *store.Tx) error {
					return tx.Scan(func(*store.Record) bool { got++; return true })
				}); err != nil || got != n {
					b.Fatal(got, err)
				}
			}
		})
		b.Run(eng.name+"/ViewGet", func(b *testing.B) {
			db := eng.open(b)
			const n = 100
			for i := range n {
				put(b, db, benchRecord(fmt.Sprint("v-", i), i))
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := db.View(func(tx *store.Tx) error {
					_, err := tx.Get(fmt.Sprint("v-", i%n))
					return err
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
