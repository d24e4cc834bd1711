package audit

import (
	"net"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// BenchmarkAppend is the cost of one record, by sync mode, from one
// goroutine and from many (where SyncAlways shares fsyncs).
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []SyncMode{SyncNone, SyncInterval, SyncAlways} {
		for _, parallel := range []bool{false, true} {
			name := "sync=" + string(mode)
			if parallel {
				name += "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				dir := b.TempDir()
				tr, err := Open(Options{Path: dir + "/audit.log", KeyPath: dir + "/audit.key", Sync: mode})
				if err != nil {
					b.Fatal(err)
				}
				defer tr.Close()
				rec := opRecord(1)
				b.ReportAllocs()
				b.ResetTimer()
				if parallel {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						r := *rec
						for pb.Next() {
							if _, err := tr.Append(&r); err != nil {
								b.Error(err)
								return
							}
						}
					})
					return
				}
				for range b.N {
					if _, err := tr.Append(rec); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkWrap is a Get served through the engine, bare and through the
// middleware (sync none, so that it measures the middleware, not the disk).
func BenchmarkWrap(b *testing.B) {
	svc := &fakeService{objs: map[string][]byte{"key-1": make([]byte, 32)}}
	dir := b.TempDir()
	tr, err := Open(Options{Path: dir + "/audit.log", KeyPath: dir + "/audit.key", Sync: SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationGet, nil, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "key-1") })
	msg, _ := w.Finish()
	for _, tc := range []struct {
		name string
		h    kmip.Handler
	}{{"bare", svc}, {"audited", Wrap(svc, tr)}} {
		b.Run(tc.name, func(b *testing.B) {
			srv := &kmip.Server{Handler: tc.h}
			sess := srv.NewSession(kmip.Identity{Name: "alice"}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
			b.ReportAllocs()
			for range b.N {
				srv.Handle(sess, msg)
			}
		})
	}
}

// getHandler answers every item like a Get of a 32-byte key: its Unique
// Identifier and the key, without allocating.
type getHandler struct{}

func (getHandler) ServeKMIP(c *kmip.Call, w *ttlv.Builder) error {
	w.AddText(ttlv.TagUniqueIdentifier, "6c1bd2c4-7c5e-4e1f-9d9b-3a1e0d1f2a3b")
	w.AddBytes(ttlv.TagKeyMaterial, make([]byte, 32))
	return nil
}

// BenchmarkWrapParallel is the audited Get of 16 clients at once (sync
// interval, kmipd's default), bare and through the middleware.
func BenchmarkWrapParallel(b *testing.B) {
	dir := b.TempDir()
	tr, err := Open(Options{Path: dir + "/audit.log", KeyPath: dir + "/audit.key", Sync: SyncInterval})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationGet, nil, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "key-1") })
	msg, _ := w.Finish()
	for _, tc := range []struct {
		name string
		h    kmip.Handler
	}{{"bare", getHandler{}}, {"audited", Wrap(getHandler{}, tr)}} {
		b.Run(tc.name, func(b *testing.B) {
			srv := &kmip.Server{Handler: tc.h}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				sess := srv.NewSession(kmip.Identity{Name: "alice", Fingerprint: [32]byte{1}}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1})
				for pb.Next() {
					srv.Handle(sess, msg)
				}
			})
			tr.mu.Lock()
			if tr.writes > 0 {
				b.ReportMetric(float64(tr.batched)/float64(tr.writes), "records/write")
			}
			tr.mu.Unlock()
		})
	}
}
