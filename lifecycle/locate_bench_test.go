package lifecycle

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// Locate at scale: a store of KMIPD_BENCH_OBJECTS symmetric keys (default
// 1,000,000), each as Create makes it (the attributes of initServerAttrs,
// a sealed 256-bit AES key, a unique Name "bench-<i>" and a vendor
// attribute x/tenant "tenant-<i/10>" shared by 10 keys), and Locate through
// the whole engine (kmip.Server.Handle: decode, dispatch, store, encode):
//
//	go test ./lifecycle/ -run '^$' -bench 'BenchmarkLocate_' -benchtime 2000x
//	KMIPD_BENCH_OBJECTS=20000 go test ./lifecycle/ -run '^$' -bench 'BenchmarkLocate_' -benchtime 1x
//
// The store is written directly, as the service would write it (s.save,
// which computes the same index entries), 10,000 objects per transaction,
// with fsync off: going through Create would take hours. It is built once
// per test process, in a temporary directory removed when the process
// ends (TestMain). At 1,000,000 objects building took 64 s and the bbolt
// file 2.3 GB on a 2-core AMD EPYC VM; at 20,000, 2 s and 80 MB. The
// benchmark logs both when it builds.
//
// TestLocateAtScale runs the same Locates on 20,000 objects in every test
// run and checks their results.

// benchObjects is the number of objects of the benchmark store.
func benchObjects(tb testing.TB) int {
	s := os.Getenv("KMIPD_BENCH_OBJECTS")
	if s == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 10 {
		tb.Fatalf("KMIPD_BENCH_OBJECTS=%q: want an integer >= 10", s)
	}
	return n
}

// benchStore is a built store and the engine serving it.
type benchStore struct {
	n    int
	dir  string
	db   *store.DB
	be   *soft.Backend
	srv  *kmip.Server
	sess *kmip.Session
	ids  []string // ids[i] is the object named bench-<i>
}

var (
	benchMu     sync.Mutex
	benchStores = map[int]*benchStore{}
)

// TestMain removes the benchmark stores when the test process ends.
func TestMain(m *testing.M) {
	code := m.Run()
	benchMu.Lock()
	for _, bs := range benchStores {
		bs.db.Close()
		bs.be.Close()
		os.RemoveAll(bs.dir)
	}
	benchMu.Unlock()
	os.Exit(code)
}

// benchNow is the engine's clock: fixed, so that no object changes state
// between runs.
var benchNow = time.Unix(1_800_000_000, 0)

// getBenchStore returns the store of n objects, building it the first time.
func getBenchStore(tb testing.TB, n int) *benchStore {
	tb.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if bs, ok := benchStores[n]; ok {
		return bs
	}
	start := time.Now()
	dir, err := os.MkdirTemp("", "kmipd-locate-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	bs := &benchStore{n: n, dir: dir}
	fail := func(err error) {
		tb.Helper()
		os.RemoveAll(dir)
		tb.Fatal(err)
	}
	mk := filepath.Join(dir, "master.key")
	if err := soft.CreateMasterKey(mk); err != nil {
		fail(err)
	}
	if bs.be, err = soft.Open(mk); err != nil {
		fail(err)
	}
	if bs.db, err = store.Open(filepath.Join(dir, "kmipd.db"), &store.Options{NoSync: true}); err != nil {
		bs.be.Close()
		fail(err)
	}
	svc := NewService(Config{Store: bs.db, Backend: bs.be, Logger: zerolog.Nop()})
	if err := bs.fill(svc); err != nil {
		bs.db.Close()
		bs.be.Close()
		fail(err)
	}
	bs.srv = &kmip.Server{Handler: svc, Logger: zerolog.Nop(), Now: func() time.Time { return benchNow }}
	bs.sess = bs.srv.NewSession(kmip.Identity{Name: "alice"}, nil)
	size := int64(0)
	if fi, err := os.Stat(bs.db.Path()); err == nil {
		size = fi.Size()
	}
	tb.Logf("built a store of %d objects in %v: %.1f MB", n, time.Since(start).Round(time.Millisecond), float64(size)/1e6)
	benchStores[n] = bs
	return bs
}

// fill writes the n objects, 10,000 per transaction.
func (bs *benchStore) fill(s *Service) error {
	const perTx = 10_000
	c := &kmip.Call{Identity: &kmip.Identity{Name: "alice"}, Now: benchNow.Add(-time.Hour), Batch: &kmip.Batch{}}
	material := make([]byte, 32)
	bs.ids = make([]string, bs.n)
	for base := 0; base < bs.n; base += perTx {
		err := s.commit(context.Background(), func(tx *store.Tx) error {
			for i := base; i < min(base+perTx, bs.n); i++ {
				id, err := tx.NewID()
				if err != nil {
					return err
				}
				o := objects.New(id, kmip.ObjectTypeSymmetricKey, "alice")
				o.SetEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
				o.SetInt(ttlv.TagCryptographicLength, 256)
				o.SetInt(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt))
				o.Add(objects.NameAttr("bench-"+strconv.Itoa(i), kmip.NameTypeUninterpretedTextString))
				o.Add(objects.VendorAttr("x", "tenant", func(b *ttlv.Builder) {
					b.AddText(ttlv.TagAttributeValue, "tenant-"+strconv.Itoa(i/10))
				}))
				material[0], material[1], material[2] = byte(i), byte(i>>8), byte(i>>16)
				if o.Blob, err = s.cfg.Backend.Seal(context.Background(), id, material); err != nil {
					return err
				}
				o.KeyFormat = kmip.KeyFormatTypeRaw
				initServerAttrs(c, o, material, kmip.KeyFormatTypeRaw)
				o.Set(rngAttr())
				s.setStorageMask(o)
				if err := s.save(tx, o); err != nil {
					return err
				}
				bs.ids[i] = id
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// locateRequest encodes a KMIP 2.0 Locate request with the given
// attributes.
func locateRequest(tb testing.TB, attrs func(b *ttlv.Builder)) []byte {
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationLocate, nil, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		attrs(b)
		b.End()
	})
	msg, err := w.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	return append([]byte(nil), msg...)
}

func byNameRequest(tb testing.TB, i int) []byte {
	return locateRequest(tb, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagName)
		b.AddText(ttlv.TagNameValue, "bench-"+strconv.Itoa(i))
		b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
		b.End()
	})
}

func byTenantRequest(tb testing.TB, tenant int) []byte {
	return locateRequest(tb, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttribute)
		b.AddText(ttlv.TagVendorIdentification, "x")
		b.AddText(ttlv.TagAttributeName, "tenant")
		b.AddText(ttlv.TagAttributeValue, "tenant-"+strconv.Itoa(tenant))
		b.End()
	})
}

// located serves msg and returns the Located Items and identifiers of the
// response.
func (bs *benchStore) located(tb testing.TB, msg []byte) (int32, []string) {
	var r kmip.Response
	if err := r.Parse(bs.srv.Handle(bs.sess, msg), kmip.Limits{}); err != nil {
		tb.Fatal(err)
	}
	it := &r.Items[0]
	if it.Status != kmip.ResultStatusSuccess {
		tb.Fatalf("Locate: %s %s", it.Reason, it.Message)
	}
	var n int32 = -1
	var ids []string
	p := it.Payload
	for !p.Empty() {
		x, _ := p.Next()
		switch x.Tag {
		case ttlv.TagLocatedItems:
			n = x.Int32()
		case ttlv.TagUniqueIdentifier:
			ids = append(ids, string(x.Data))
		}
	}
	return n, ids
}

// checkByName checks that Locate by the name of object i finds it alone.
func (bs *benchStore) checkByName(tb testing.TB, i int, msg []byte) {
	n, ids := bs.located(tb, msg)
	if n != 1 || len(ids) != 1 || ids[0] != bs.ids[i] {
		tb.Fatalf("Locate Name bench-%d: %d located, %v; want %s", i, n, ids, bs.ids[i])
	}
}

// checkByTenant checks that Locate by a tenant finds its 10 objects,
// newest first (KMIP 2.0 §6.1.27).
func (bs *benchStore) checkByTenant(tb testing.TB, tenant int, msg []byte) {
	n, ids := bs.located(tb, msg)
	var want []string
	for i := min(tenant*10+9, bs.n-1); i >= tenant*10; i-- {
		want = append(want, bs.ids[i])
	}
	if int(n) != len(want) || !slices.Equal(ids, want) {
		tb.Fatalf("Locate tenant-%d: %d located, %v; want %v", tenant, n, ids, want)
	}
}

// benchQueries is how many distinct requests a benchmark cycles through,
// spread over the whole store.
const benchQueries = 1024

func BenchmarkLocate_Name1M(b *testing.B) {
	bs := getBenchStore(b, benchObjects(b))
	idx := make([]int, benchQueries)
	msgs := make([][]byte, benchQueries)
	for q := range msgs {
		idx[q] = int(uint64(q) * 0x9E3779B97F4A7C15 % uint64(bs.n))
		msgs[q] = byNameRequest(b, idx[q])
		bs.checkByName(b, idx[q], msgs[q])
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q := i % benchQueries
		if out := bs.srv.Handle(bs.sess, msgs[q]); len(out) < 100 {
			b.Fatal("short response")
		}
	}
}

func BenchmarkLocate_VendorAttr1M(b *testing.B) {
	bs := getBenchStore(b, benchObjects(b))
	tenants := (bs.n + 9) / 10
	idx := make([]int, benchQueries)
	msgs := make([][]byte, benchQueries)
	for q := range msgs {
		idx[q] = int(uint64(q) * 0x9E3779B97F4A7C15 % uint64(tenants))
		msgs[q] = byTenantRequest(b, idx[q])
		bs.checkByTenant(b, idx[q], msgs[q])
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q := i % benchQueries
		if out := bs.srv.Handle(bs.sess, msgs[q]); len(out) < 100 {
			b.Fatal("short response")
		}
	}
}

// TestLocateAtScale runs the benchmarks' Locates on a store of 20,000
// objects and checks their answers: by Name (the first, last and some
// middle objects) and by vendor attribute (10 objects each, newest
// first).
func TestLocateAtScale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a store of 20,000 objects")
	}
	const n = 20_000
	bs := getBenchStore(t, n)
	for _, i := range []int{0, 1, 9_999, 12_345, n - 1} {
		bs.checkByName(t, i, byNameRequest(t, i))
	}
	for _, tenant := range []int{0, 1, 777, n/10 - 1} {
		bs.checkByTenant(t, tenant, byTenantRequest(t, tenant))
	}
	// Timing sanity: a selective Locate must not scan the store.
	msg := byTenantRequest(t, 1234)
	start := time.Now()
	for range 100 {
		bs.located(t, msg)
	}
	if d := time.Since(start) / 100; d > 20*time.Millisecond {
		t.Errorf("Locate by vendor attribute takes %v over %d objects: is it scanning?", d, n)
	}
}
