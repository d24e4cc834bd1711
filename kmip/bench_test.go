package kmip_test

import (
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/internal/benchcmp"
)

// The three hot paths of a request: each benchmark runs the function that
// kmip/internal/benchcmp compares with other libraries, on the same
// fixtures, with a reused Request or buffer, and must report 0 allocs/op
// (allocs_test.go makes that a test).

func BenchmarkDecodeRequest_Get(b *testing.B) {
	var r kmip.Request
	var g kmip.GetRequest
	msg := benchcmp.GetRequest20
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := benchcmp.DecodeGet(&r, &g, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeRequest_Create(b *testing.B) {
	var r kmip.Request
	var c kmip.CreateRequest
	var f benchcmp.CreateFields
	msg := benchcmp.CreateRequest20
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := benchcmp.DecodeCreate(&r, &c, &f, msg); err != nil {
			b.Fatal(err)
		}
	}
	if f.Attributes != 4 {
		b.Fatalf("decoded %d attributes, want 4", f.Attributes)
	}
}

func BenchmarkEncodeResponse_Get(b *testing.B) {
	var w kmip.ResponseWriter
	buf := make([]byte, 0, 512)
	uid := []byte(benchcmp.FixtureUID)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchcmp.GetResponse20)))
	for b.Loop() {
		if _, err := benchcmp.EncodeGetResponse(&w, buf, time.Now().Unix(), uid, benchcmp.FixtureKey); err != nil {
			b.Fatal(err)
		}
	}
}
