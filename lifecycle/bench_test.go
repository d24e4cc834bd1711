package lifecycle_test

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// engine runs the protocol engine in-process: no TLS, no socket.
type engine struct {
	srv  *kmip.Server
	sess *kmip.Session
}

func newEngine(tb testing.TB) *engine {
	tb.Helper()
	le := lifecycletest.New(tb, &lifecycletest.Options{NoSync: true})
	srv := &kmip.Server{Handler: le.Service, Logger: zerolog.Nop(), Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	return &engine{srv: srv, sess: srv.NewSession(kmip.Identity{Name: "alice"}, nil)}
}

func (e *engine) do(tb testing.TB, op kmip.Operation, payload func(b *ttlv.Builder)) *kmip.ResponseItem {
	tb.Helper()
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(op, nil, payload)
	msg, err := w.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	var r kmip.Response
	if err := r.Parse(e.srv.Handle(e.sess, msg), kmip.Limits{}); err != nil {
		tb.Fatal(err)
	}
	it := &r.Items[0]
	if it.Status != kmip.ResultStatusSuccess {
		tb.Fatalf("%s: %s %s", op, it.Reason, it.Message)
	}
	return it
}

// BenchmarkServeGet measures decode → dispatch → encode of a Get of a
// 256-bit AES key through the whole engine (store read, unsealing of the
// material, response encoding), without the network.
func BenchmarkServeGet(b *testing.B) {
	e := newEngine(b)
	it := e.do(b, kmip.OperationCreate, func(w *ttlv.Builder) {
		w.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 256, "bench", nil)(w)
	})
	p := it.Payload
	p.Skip()
	var id []byte
	p.ReadText(ttlv.TagUniqueIdentifier, &id)
	uid := string(id)
	e.do(b, kmip.OperationGet, byID(uid)) // Fresh flips once
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationGet, nil, byID(uid))
	msg, _ := w.Finish()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := e.srv.Handle(e.sess, msg)
		if len(out) < 200 {
			b.Fatal("short response")
		}
	}
}

// BenchmarkServeDiscoverVersions is the engine's floor: a request that
// touches neither the store nor the key backend.
func BenchmarkServeDiscoverVersions(b *testing.B) {
	e := newEngine(b)
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationDiscoverVersions, nil, nil)
	msg, _ := w.Finish()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.srv.Handle(e.sess, msg)
	}
}

// TestAllocs_ServeGet guards the zero-allocation Get path: decode, dispatch,
// cached object, unsealing into a pooled buffer, encode.
func TestAllocs_ServeGet(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	e := newEngine(t)
	it := e.do(t, kmip.OperationCreate, func(w *ttlv.Builder) {
		w.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 256, "allocs", nil)(w)
	})
	p := it.Payload
	p.Skip()
	var id []byte
	p.ReadText(ttlv.TagUniqueIdentifier, &id)
	e.do(t, kmip.OperationGet, byID(string(id)))
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationGet, nil, byID(string(id)))
	msg, _ := w.Finish()
	e.srv.Handle(e.sess, msg) // warm the cache and the buffers
	if n := testing.AllocsPerRun(200, func() { e.srv.Handle(e.sess, msg) }); n != 0 {
		t.Fatalf("Get allocates %v times per request, want 0", n)
	}
}
