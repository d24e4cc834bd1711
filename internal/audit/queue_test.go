package audit

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// echoHandler answers an item like a Get: the Unique Identifier the
// request named, and 32 bytes of key. It allocates nothing.
type echoHandler struct{}

var echoKey = make([]byte, 32)

func (echoHandler) ServeKMIP(c *kmip.Call, w *ttlv.Builder) error {
	it, ok := c.Item.Payload.Find(ttlv.TagUniqueIdentifier)
	if !ok {
		return &kmip.Error{Reason: kmip.ResultReasonItemNotFound, Message: "no identifier"}
	}
	w.AddTextBytes(ttlv.TagUniqueIdentifier, it.Data)
	w.AddBytes(ttlv.TagKeyMaterial, echoKey)
	return nil
}

func getRequest(t testing.TB, id string) []byte {
	t.Helper()
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationGet, nil, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, id) })
	msg, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// trailRecords verifies the closed trail at o.Path and returns its
// operation records.
func trailRecords(t *testing.T, o Options) []Record {
	t.Helper()
	key := mustKey(t, o.KeyPath)
	if _, err := VerifyFile(o.Path, key); err != nil {
		t.Fatalf("the trail does not verify: %v", err)
	}
	f, err := os.Open(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f, key)
	var recs []Record
	for {
		rec, _, err := r.Next()
		if err == io.EOF {
			return recs
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind == KindOp {
			recs = append(recs, *rec)
		}
	}
}

// Ensure that a queued record is the line the Record of the same item
// would be, byte for byte, whatever the item and its outcome.
func TestQueue_LineIsTheRecordsLine(t *testing.T) {
	fp := sha256.Sum256([]byte("cert"))
	id := &kmip.Identity{Name: "alice \"a\" é", Fingerprint: fp}
	now := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.FixedZone("x", 3600))
	var uids ttlv.Builder
	for i := range maxUIDs + 3 {
		uids.AddText(ttlv.TagUniqueIdentifier, fmt.Sprintf("u-%d", i))
	}
	uids.AddText(ttlv.TagPrivateKeyUniqueIdentifier, "priv\x01\xff")
	uids.AddInt32(ttlv.TagUniqueIdentifier, 7) // not text: not listed
	resp, _ := uids.Bytes()
	for i, tc := range []struct {
		id      *kmip.Identity
		remote  net.Addr
		reqID   kmip.RequestID
		item    bool
		payload func(b *ttlv.Builder)
		resp    []byte
		err     error
	}{
		{id: id, remote: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}, reqID: kmip.RequestID{Prefix: 0xabc, N: 17}, item: true,
			payload: func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "key-1") }, resp: resp},
		{id: &kmip.Identity{Name: "bob"}, remote: &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 5696, Zone: "eth0"}, item: true,
			err: &kmip.Error{Reason: kmip.ResultReasonItemNotFound, Message: "x"}},
		{remote: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1).To4(), Port: 1}, item: true, err: &kmip.Pending{}},
		{remote: &net.UnixAddr{Name: "/run/x\"y", Net: "unix"}, item: false},
		{item: true, payload: func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "bad\x00\xc3") }, resp: []byte{}},
	} {
		c := &kmip.Call{Identity: tc.id, RemoteAddr: tc.remote, Version: kmip.V2_0, Now: now, RequestID: tc.reqID}
		if tc.item {
			var p ttlv.Builder
			if tc.payload != nil {
				tc.payload(&p)
			}
			pb, _ := p.Bytes()
			c.Item = &kmip.BatchItem{Operation: kmip.OperationGet, Payload: ttlv.Value(pb)}
		}
		var w ttlv.Builder
		w.AddInt32(ttlv.TagBatchCount, 1) // something before the payload
		mark := w.Len()
		if tc.resp != nil {
			w.AddRaw(tc.resp)
		}
		rec := newRecord(c)
		rec.outcome(tc.err, &w, mark)
		op := newOp(c)
		op.outcome(tc.err, &w, mark)
		want := string(rec.appendBody(nil))
		var who whoCache
		for j, c := range []*whoCache{nil, &who, &who} { // formatted, cached, from the cache
			if got := string(op.appendBody(nil, c)); got != want {
				t.Errorf("case %d (%d):\n got %s\nwant %s", i, j, got, want)
			}
		}
		putOp(op)
	}
	// And one line as it must look.
	c := &kmip.Call{Identity: id, RemoteAddr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}, Version: kmip.V1_4,
		Now: now, RequestID: kmip.RequestID{Prefix: 0xabc, N: 17}, Item: &kmip.BatchItem{Operation: kmip.OperationDestroy}}
	op := newOp(c)
	op.outcome(&kmip.Error{Reason: kmip.ResultReasonPermissionDenied}, nil, 0)
	const want = `,"time":"2026-05-06T06:08:09.123456Z","kind":"op","identity":"alice \"a\" é",` +
		`"fingerprint":"06298432e8066b29e2223bcc23aa9504b56ae508fabf3435508869b9c3190e22","remote":"192.0.2.7:40000",` +
		`"version":"1.4","request":"0000000000000abc-17","operation":"Destroy","status":"OperationFailed","reason":"PermissionDenied"`
	if got := string(op.appendBody(nil, nil)); got != want {
		t.Errorf("line:\n got %s\nwant %s", got, want)
	}
}

// auditedServer serves echoHandler through Wrap(tr).
func auditedServer(tr *Trail) (*kmip.Server, func() *kmip.Session) {
	srv := &kmip.Server{Handler: Wrap(echoHandler{}, tr)}
	return srv, func() *kmip.Session {
		return srv.NewSession(kmip.Identity{Name: "alice", Fingerprint: [32]byte{1}},
			&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000})
	}
}

// served checks a response to a request for id.
func served(t testing.TB, out []byte, id string) error {
	var resp kmip.Response
	if err := resp.Parse(append([]byte(nil), out...), kmip.Limits{}); err != nil {
		return err
	}
	if len(resp.Items) != 1 || resp.Items[0].Status != kmip.ResultStatusSuccess {
		return fmt.Errorf("%s: %+v", id, resp.Items)
	}
	return nil
}

// Ensure that records of concurrent requests form one valid chain that
// holds each of them exactly once.
func TestQueue_ConcurrentRequestsChainOnce(t *testing.T) {
	for _, mode := range []SyncMode{SyncInterval, SyncAlways} {
		t.Run(string(mode), func(t *testing.T) {
			o := testOptions(t)
			o.Sync, o.WALSize, o.CheckpointInterval = mode, MinWALSize, 50 // the ring wraps and fills; checkpoints among the lines
			tr := openTrail(t, o)
			srv, session := auditedServer(tr)
			const workers, each = 16, 150
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sess := session()
					for i := range each {
						id := fmt.Sprintf("w%d-%d", w, i)
						if err := served(t, srv.Handle(sess, getRequest(t, id)), id); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, r := range trailRecords(t, o) {
				if r.Operation != "Get" || r.Status != "Success" || len(r.ResponseUIDs) != 1 || r.ResponseUIDs[0] != r.RequestUID {
					t.Fatalf("record %d: %+v", r.Seq, r)
				}
				seen[r.RequestUID]++
			}
			for w := range workers {
				for i := range each {
					if id := fmt.Sprintf("w%d-%d", w, i); seen[id] != 1 {
						t.Errorf("%s recorded %d times", id, seen[id])
					}
				}
			}
			if len(seen) != workers*each {
				t.Errorf("%d records, want %d", len(seen), workers*each)
			}
		})
	}
}

// Ensure that with SyncAlways a request is answered only once its record
// is on stable storage.
func TestQueue_SyncAlwaysAnswersDurable(t *testing.T) {
	o := testOptions(t)
	o.Sync = SyncAlways
	tr := openTrail(t, o)
	srv, session := auditedServer(tr)
	sess := session()
	for i := range 20 {
		id := fmt.Sprintf("k-%d", i)
		if err := served(t, srv.Handle(sess, getRequest(t, id)), id); err != nil {
			t.Fatal(err)
		}
		written := tr.written.Load()
		tr.smu.Lock()
		synced := tr.synced
		tr.smu.Unlock()
		if synced < written {
			t.Fatalf("answered with record %d written and %d synced", written, synced)
		}
	}
}

// Ensure that a flusher that cannot write makes requests wait once the
// ring is full, with nothing lost or reordered, and that every record is
// written once it goes on.
func TestWAL_BackpressureWhenTheFlusherStalls(t *testing.T) {
	o := testOptions(t)
	o.WALSize = MinWALSize
	tr := openTrail(t, o)
	srv, session := auditedServer(tr)
	tr.fmu.Lock() // the flusher waits for it
	stalled := true
	defer func() {
		if stalled {
			tr.fmu.Unlock()
		}
	}()
	// Far more lines than the ring holds (a line is about 300 bytes).
	n := 2 * MinWALSize / 200
	var answered atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("b-%d", i)
			err := served(t, srv.Handle(session(), getRequest(t, id)), id)
			answered.Add(1)
			if err != nil {
				errs <- err
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		tr.mu.Lock()
		waits, free := tr.ringWaits, tr.w.free()
		tr.mu.Unlock()
		if waits > 0 && free < 512 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ring has %d bytes free and %d waits, want it full", free, waits)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	a := int(answered.Load())
	if a == 0 || a >= n {
		t.Fatalf("%d of %d requests answered while the flusher was stalled, want those the ring held", a, n)
	}
	tr.mu.Lock()
	if got := tr.written.Load(); got > uint64(a)+2 { // the open checkpoint, and one line not yet answered
		t.Errorf("%d lines in the ring, %d requests answered", got, a)
	}
	tr.mu.Unlock()
	stalled = false
	tr.fmu.Unlock()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	recs := trailRecords(t, o)
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[r.RequestUID] {
			t.Errorf("%s recorded twice", r.RequestUID)
		}
		seen[r.RequestUID] = true
	}
	for i := range n {
		if !seen[fmt.Sprintf("b-%d", i)] {
			t.Errorf("b-%d not recorded", i)
		}
	}
}

// Ensure that Close writes what the ring holds before the close
// checkpoint and empties the ring, and that a request after Close is
// refused, not lost silently.
func TestWAL_CloseDrains(t *testing.T) {
	o := testOptions(t)
	tr := openTrail(t, o)
	srv, session := auditedServer(tr)
	tr.fmu.Lock()
	for i := range 3 {
		id := fmt.Sprintf("c-%d", i)
		if err := served(t, srv.Handle(session(), getRequest(t, id)), id); err != nil {
			tr.fmu.Unlock()
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(o.Path); err != nil || fi.Size() != tr.size {
		tr.fmu.Unlock()
		t.Fatalf("trail file %v, %v: want the open checkpoint only (%d bytes)", fi, err, tr.size)
	}
	closed := make(chan error)
	go func() { closed <- tr.Close() }()
	time.Sleep(50 * time.Millisecond)
	tr.fmu.Unlock()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := tr.appendOp(newOp(&kmip.Call{}), false); !errors.Is(err, ErrClosed) {
		t.Fatalf("a record after Close: %v, want ErrClosed", err)
	}
	if recs := trailRecords(t, o); len(recs) != 3 {
		t.Fatalf("%d records, want the 3 in the ring", len(recs))
	}
	if left, err := readWAL(WALPath(o.Path)); err != nil || len(left) != 0 {
		t.Fatalf("ring after Close: %d bytes, %v; want empty", len(left), err)
	}
}

// TestAllocs_AuditedGet guards the zero-allocation audited path: the
// request's record, its queueing and its writing.
func TestAllocs_AuditedGet(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	o := testOptions(t)
	o.Sync = SyncInterval
	tr := openTrail(t, o)
	srv, session := auditedServer(tr)
	sess := session()
	msg := getRequest(t, "6c1bd2c4-7c5e-4e1f-9d9b-3a1e0d1f2a3b")
	srv.Handle(sess, msg) // warm the buffers
	if n := testing.AllocsPerRun(500, func() { srv.Handle(sess, msg) }); n != 0 {
		t.Fatalf("an audited Get allocates %v times, want 0", n)
	}
}
