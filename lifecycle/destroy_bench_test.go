package lifecycle

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// BenchmarkDestroy_StoreSize measures Destroy through the whole engine
// (kmip.Server.Handle) in stores of 1,000 and 100,000 AES-256 keys written
// as Create writes them (benchStore.fill), with fsync on: Destroy must cost
// the same whatever the size of the store. Each iteration destroys a key
// written just before (untimed). It reports the p50 and p99 latency and
// the bytes on disk per key (store file and key file):
//
//	go test ./lifecycle/ -run '^$' -bench 'BenchmarkDestroy_StoreSize' -benchtime 200x -benchmem
//
// The "batch=1000" case writes the 100,000 keys 1,000 per transaction: big
// transactions of random IDs free many pages, and bbolt rewrites its whole
// freelist at every commit, which is what still grows with the store.
func BenchmarkDestroy_StoreSize(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run("objects="+strconv.Itoa(n), func(b *testing.B) { benchDestroy(b, n, n) })
	}
	b.Run("objects=100000,batch=1000", func(b *testing.B) { benchDestroy(b, 100_000, 1_000) })
}

func benchDestroy(b *testing.B, n, batch int) {
	dir := b.TempDir()
	mk := filepath.Join(dir, "master.key")
	if err := soft.CreateMasterKey(mk); err != nil {
		b.Fatal(err)
	}
	be, err := soft.Open(mk)
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	db, err := store.Open(filepath.Join(dir, "kmipd.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := NewService(Config{Store: db, Backend: be, Logger: zerolog.Nop()})
	start := time.Now()
	for done := 0; done < n; done += batch {
		if err := (&benchStore{n: min(batch, n-done)}).fill(svc); err != nil {
			b.Fatal(err)
		}
	}
	size := fileSize(db.Path()) + fileSize(db.Path()+".keys")
	b.Logf("%d keys written in %v: %.1f MB on disk, %d bytes per key", n, time.Since(start).Round(time.Millisecond), float64(size)/1e6, size/int64(n))
	srv := &kmip.Server{Handler: svc, Logger: zerolog.Nop(), Now: func() time.Time { return benchNow }}
	sess := srv.NewSession(kmip.Identity{Name: "alice"}, nil)
	lat := make([]time.Duration, 0, b.N)
	ids := make([]string, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		one := &benchStore{n: 1}
		if err := one.fill(svc); err != nil {
			b.Fatal(err)
		}
		id := one.ids[0]
		var w kmip.RequestWriter
		w.Begin(nil, kmip.V2_0, 1, nil)
		w.Item(kmip.OperationDestroy, nil, func(bb *ttlv.Builder) { bb.AddText(ttlv.TagUniqueIdentifier, id) })
		msg, err := w.Finish()
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, id)
		b.StartTimer()
		t0 := time.Now()
		srv.Handle(sess, msg)
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	// Every Destroy took effect.
	if err := db.View(func(tx *store.Tx) error {
		for _, id := range ids {
			r, err := tx.Get(id)
			if err != nil {
				return err
			}
			var o objects.Object
			if err := o.UnmarshalBinary(r.Data); err != nil {
				return err
			}
			if o.State() != kmip.StateDestroyed || o.Blob != nil {
				b.Fatalf("object %s: state %v after Destroy", id, o.State())
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(size/int64(n)), "disk-B/key")
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
