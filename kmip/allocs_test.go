package kmip_test

import (
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/internal/benchcmp"
)

// The hot paths must not allocate once their Request or buffer is warm: a
// regression fails `make test`, not only a benchmark nobody reads. The
// paths are the functions bench_test.go and kmip/internal/benchcmp run.

func TestAllocs_DecodeRequest_Get(t *testing.T) {
	var r kmip.Request
	var g kmip.GetRequest
	run := func() {
		if err := benchcmp.DecodeGet(&r, &g, benchcmp.GetRequest20); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if string(g.UniqueID.Text) != benchcmp.FixtureUID {
		t.Fatalf("Unique Identifier = %q", g.UniqueID.Text)
	}
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("Get request decoding: %v allocs/op, want 0", n)
	}
}

func TestAllocs_DecodeRequest_Create(t *testing.T) {
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"2.0 Attributes", benchcmp.CreateRequest20},
		{"1.4 Template-Attribute", benchcmp.CreateRequest14},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r kmip.Request
			var cr kmip.CreateRequest
			var f benchcmp.CreateFields
			run := func() {
				if err := benchcmp.DecodeCreate(&r, &cr, &f, c.msg); err != nil {
					t.Fatal(err)
				}
			}
			run()
			if f.Attributes != 4 || f.Length != 256 {
				t.Fatalf("decoded %+v", f)
			}
			if n := testing.AllocsPerRun(100, run); n != 0 {
				t.Errorf("Create request decoding: %v allocs/op, want 0", n)
			}
		})
	}
}

func TestAllocs_EncodeResponse_Get(t *testing.T) {
	var w kmip.ResponseWriter
	buf := make([]byte, 0, 512)
	uid := []byte(benchcmp.FixtureUID)
	run := func() {
		if _, err := benchcmp.EncodeGetResponse(&w, buf, time.Now().Unix(), uid, benchcmp.FixtureKey); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("Get response encoding: %v allocs/op, want 0", n)
	}
}

// TestAllocs_ParseBatchReusesItems checks Parse's promise: a Request whose
// Items has capacity parses a multi-item batch without allocating.
func TestAllocs_ParseBatchReusesItems(t *testing.T) {
	msg := ttMsg(ttHeader(kmip.V1_4, ttCount(3)),
		ttItem(kmip.OperationGet, "a", ttUID("1")),
		ttItem(kmip.OperationDestroy, "b", ttUID("1")),
		ttItem(kmip.OperationLocate, "c"))
	var r kmip.Request
	run := func() {
		if err := r.Parse(msg, kmip.Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("Parse of a 3-item batch into a warm Request: %v allocs/op, want 0", n)
	}
}
