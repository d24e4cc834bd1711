package lifecycle_test

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// BenchmarkServeCreateDurable runs Creates through the engine from 16
// concurrent sessions with fsync on: group commit shares the syncs.
func BenchmarkServeCreateDurable(b *testing.B) {
	le := lifecycletest.New(b, nil)
	srv := &kmip.Server{Handler: le.Service, Logger: zerolog.Nop(), Now: time.Now}
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationCreate, nil, func(bb *ttlv.Builder) {
		bb.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 256, "", nil)(bb)
	})
	msg, _ := w.Finish()
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		sess := srv.NewSession(kmip.Identity{Name: "alice"}, nil)
		for pb.Next() {
			out := srv.Handle(sess, msg)
			if len(out) < 100 {
				b.Error("short response")
				return
			}
		}
	})
}
