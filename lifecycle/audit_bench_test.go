package lifecycle_test

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// BenchmarkServeGetParallel is BenchmarkServeGet from 16 sessions at once,
// bare and with kmipd's default audit trail (sync interval) in front of
// the engine: what the trail costs a Get, without the network.
func BenchmarkServeGetParallel(b *testing.B) {
	le := lifecycletest.New(b, &lifecycletest.Options{NoSync: true})
	dir := b.TempDir()
	tr, err := audit.Open(audit.Options{Path: filepath.Join(dir, "audit.log"), KeyPath: filepath.Join(dir, "audit.key"),
		Sync: audit.SyncInterval, ReadOnly: lifecycle.ReadOnly, Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	bare := &engine{srv: &kmip.Server{Handler: le.Service, Logger: zerolog.Nop(), Now: now}}
	bare.sess = bare.srv.NewSession(kmip.Identity{Name: "alice"}, nil)
	it := bare.do(b, kmip.OperationCreate, func(w *ttlv.Builder) {
		w.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 256, "bench", nil)(w)
	})
	p := it.Payload
	p.Skip()
	var id []byte
	p.ReadText(ttlv.TagUniqueIdentifier, &id)
	bare.do(b, kmip.OperationGet, byID(string(id))) // Fresh flips once
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationGet, nil, byID(string(id)))
	msg, _ := w.Finish()
	for _, tc := range []struct {
		name string
		h    kmip.Handler
	}{{"bare", le.Service}, {"audited", audit.Wrap(le.Service, tr)}} {
		b.Run(tc.name, func(b *testing.B) {
			srv := &kmip.Server{Handler: tc.h, Logger: zerolog.Nop(), Now: now}
			b.ReportAllocs()
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				sess := srv.NewSession(kmip.Identity{Name: "alice", Fingerprint: [32]byte{1}},
					&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000})
				for pb.Next() {
					if out := srv.Handle(sess, msg); len(out) < 200 {
						b.Error("short response")
						return
					}
				}
			})
		})
	}
}
