package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// fakeService is a small KMIP handler with transactions: Create makes a
// random key, Get returns it, Activate panics.
type fakeService struct {
	mu         sync.Mutex // held by a transaction
	objs       map[string][]byte
	n          int
	failCommit bool
}

type fakeTx struct{ objs map[string][]byte }

type fakeTxKey struct{}

func (s *fakeService) RunBatch(c *kmip.Call, fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &fakeTx{objs: maps.Clone(s.objs)}
	parent := c.Ctx
	c.Ctx = context.WithValue(c.Context(), fakeTxKey{}, tx)
	defer func() { c.Ctx = parent }()
	if err := fn(); err != nil {
		return err
	}
	if s.failCommit {
		return errors.New("commit failed")
	}
	s.objs = tx.objs
	return nil
}

func (s *fakeService) update(c *kmip.Call, fn func(m map[string][]byte) error) error {
	if tx, ok := c.Context().Value(fakeTxKey{}).(*fakeTx); ok {
		return fn(tx.objs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := maps.Clone(s.objs)
	if err := fn(m); err != nil {
		return err
	}
	s.objs = m
	return nil
}

func (s *fakeService) ServeKMIP(c *kmip.Call, w *ttlv.Builder) error {
	switch c.Item.Operation {
	case kmip.OperationCreate:
		key := make([]byte, 32)
		rand.Read(key)
		var id string
		err := s.update(c, func(m map[string][]byte) error {
			s.n++
			id = fmt.Sprintf("key-%d", s.n)
			m[id] = key
			return nil
		})
		if err != nil {
			return err
		}
		c.Batch.IDPlaceholder = id
		w.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		w.AddText(ttlv.TagUniqueIdentifier, id)
	case kmip.OperationGet:
		id := c.Batch.IDPlaceholder
		if it, ok := c.Item.Payload.Find(ttlv.TagUniqueIdentifier); ok {
			id = string(it.Data)
		}
		var key []byte
		s.update(c, func(m map[string][]byte) error { key = m[id]; return nil })
		if key == nil {
			return kmip.Errorf(kmip.ResultReasonItemNotFound, "no %s", id)
		}
		w.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		w.AddText(ttlv.TagUniqueIdentifier, id)
		w.Begin(ttlv.TagSymmetricKey)
		w.AddBytes(ttlv.TagKeyMaterial, key)
		w.End()
	case kmip.OperationActivate:
		panic("boom")
	case kmip.OperationLocate:
		return &kmip.Pending{CorrelationValue: []byte{1}}
	default:
		return kmip.ErrOperationNotSupported
	}
	return nil
}

func (s *fakeService) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.objs[id]
	return ok
}

func (s *fakeService) key(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objs[id]
}

type harness struct {
	svc  *fakeService
	tr   *Trail
	o    Options
	srv  *kmip.Server
	sess *kmip.Session
	cert []byte
}

func newHarness(t *testing.T, failClosed bool) *harness {
	t.Helper()
	o := testOptions(t)
	o.FailClosed = failClosed
	h := &harness{svc: &fakeService{objs: map[string][]byte{}}, o: o, cert: []byte("a client certificate")}
	h.tr = openTrail(t, o)
	h.srv = &kmip.Server{Handler: Wrap(h.svc, h.tr)}
	h.sess = h.srv.NewSession(kmip.Identity{Name: "alice", Fingerprint: sha256.Sum256(h.cert)},
		&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000})
	return h
}

type item struct {
	op      kmip.Operation
	payload func(b *ttlv.Builder)
}

func uid(id string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, id) }
}

// do sends one request and returns its response items.
func (h *harness) do(t *testing.T, undo bool, items ...item) []kmip.ResponseItem {
	t.Helper()
	var w kmip.RequestWriter
	var o *kmip.RequestOptions
	if undo {
		o = &kmip.RequestOptions{BatchErrorContinuation: kmip.BatchErrorContinuationOptionUndo}
	}
	w.Begin(nil, kmip.V2_0, len(items), o)
	for i, it := range items {
		w.Item(it.op, []byte{byte(i)}, it.payload)
	}
	msg, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	out := h.srv.Handle(h.sess, msg)
	var resp kmip.Response
	if err := resp.Parse(bytes.Clone(out), kmip.Limits{}); err != nil {
		t.Fatal(err)
	}
	return resp.Items
}

// records closes the trail, verifies it and returns its operation records.
func (h *harness) records(t *testing.T) []Record {
	t.Helper()
	h.tr.Close()
	f, err := os.Open(h.o.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := NewReader(f, mustKey(t, h.o.KeyPath))
	var recs []Record
	for {
		rec, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if rec.Kind != KindCheckpoint {
			recs = append(recs, *rec)
		}
	}
	return recs
}

func summary(recs []Record) string {
	var s []string
	for _, r := range recs {
		x := r.Kind + ":" + r.Operation + r.Event + ":" + r.Status + ":" + r.Reason
		if r.Supersedes != 0 {
			x += fmt.Sprintf(":supersedes=%d", r.Supersedes)
		}
		s = append(s, x)
	}
	return strings.Join(s, " ")
}

func TestWrapRecordsOperations(t *testing.T) {
	h := newHarness(t, false)
	res := h.do(t, false, item{kmip.OperationCreate, nil})
	if res[0].Status != kmip.ResultStatusSuccess {
		t.Fatalf("Create: %v", res[0].Err())
	}
	res = h.do(t, false, item{kmip.OperationGet, uid("key-1")})
	if res[0].Status != kmip.ResultStatusSuccess {
		t.Fatalf("Get: %v", res[0].Err())
	}
	key := h.svc.key("key-1")
	if !bytes.Contains(res[0].Payload, key) {
		t.Fatal("Get did not return the key")
	}
	h.do(t, false, item{kmip.OperationGet, uid("nope")})
	res = h.do(t, false, item{kmip.OperationActivate, uid("key-1")})
	if res[0].Reason != kmip.ResultReasonGeneralFailure {
		t.Fatalf("panicking Activate: %+v", res[0])
	}
	recs := h.records(t)
	if got, want := summary(recs), "op:Create:Success: op:Get:Success: op:Get:OperationFailed:ItemNotFound op:Activate:OperationFailed:GeneralFailure"; got != want {
		t.Fatalf("records\n%s\nwant\n%s", got, want)
	}
	fp := sha256.Sum256(h.cert)
	for _, r := range recs {
		if r.Identity != "alice" || r.Fingerprint != hex.EncodeToString(fp[:]) || r.Remote != "192.0.2.7:40000" || r.Version != "2.0" || r.Time.IsZero() {
			t.Errorf("record lacks who, where or when: %+v", r)
		}
	}
	if len(recs[0].ResponseUIDs) != 1 || recs[0].ResponseUIDs[0] != "key-1" || recs[0].RequestUID != "" {
		t.Errorf("Create record identifiers: %+v", recs[0])
	}
	if recs[1].RequestUID != "key-1" || len(recs[1].ResponseUIDs) != 1 || recs[1].ResponseUIDs[0] != "key-1" {
		t.Errorf("Get record identifiers: %+v", recs[1])
	}
	if recs[2].RequestUID != "nope" || recs[2].ResponseUIDs != nil {
		t.Errorf("failed Get record: %+v", recs[2])
	}
	data, _ := os.ReadFile(h.o.Path)
	for _, form := range []string{string(key), hex.EncodeToString(key), strings.ToUpper(hex.EncodeToString(key)),
		base64.StdEncoding.EncodeToString(key)[:40], base64.URLEncoding.EncodeToString(key)[:40]} {
		if bytes.Contains(data, []byte(form)) {
			t.Fatalf("the trail contains the key material (%q)", form)
		}
	}
}

// An item answered Operation Pending is recorded as such, not as a
// failure.
func TestWrapRecordsPending(t *testing.T) {
	h := newHarness(t, true)
	if res := h.do(t, false, item{kmip.OperationLocate, nil}); res[0].Status != kmip.ResultStatusOperationPending {
		t.Fatalf("Locate: %+v", res[0])
	}
	if got, want := summary(h.records(t)), "op:Locate:OperationPending:"; got != want {
		t.Fatalf("records %s, want %s", got, want)
	}
}

func TestWrapKeepsBatcher(t *testing.T) {
	tr := openTrail(t, testOptions(t))
	if _, ok := Wrap(&fakeService{}, tr).(kmip.Batcher); !ok {
		t.Fatal("wrapping a Batcher lost RunBatch")
	}
	plain := kmip.HandlerFunc(func(*kmip.Call, *ttlv.Builder) error { return nil })
	if _, ok := Wrap(plain, tr).(kmip.Batcher); ok {
		t.Fatal("wrapping a plain handler made a Batcher")
	}
	if Wrap(plain, nil) == nil {
		t.Fatal("Wrap with no trail")
	}
}

func TestWrapUndoBatch(t *testing.T) {
	h := newHarness(t, false)
	// The Get fails: the Create is undone.
	res := h.do(t, true, item{kmip.OperationCreate, nil}, item{kmip.OperationGet, uid("nope")})
	if res[0].Status != kmip.ResultStatusOperationUndone || res[1].Reason != kmip.ResultReasonItemNotFound {
		t.Fatalf("undo batch: %+v", res)
	}
	if h.svc.has("key-1") {
		t.Fatal("the undone Create left its key")
	}
	// Both succeed: committed.
	res = h.do(t, true, item{kmip.OperationCreate, nil}, item{kmip.OperationGet, nil})
	if res[0].Status != kmip.ResultStatusSuccess || res[1].Status != kmip.ResultStatusSuccess || !h.svc.has("key-2") {
		t.Fatalf("good batch: %+v", res)
	}
	// The commit fails: every item fails.
	h.svc.failCommit = true
	res = h.do(t, true, item{kmip.OperationCreate, nil}, item{kmip.OperationGet, nil})
	if res[0].Reason != kmip.ResultReasonGeneralFailure || h.svc.has("key-3") {
		t.Fatalf("failed commit: %+v", res)
	}
	recs := h.records(t)
	want := "op:Create:OperationUndone: op:Get:OperationFailed:ItemNotFound " +
		"op:Create:Success: op:Get:Success: " +
		"op:Create:Success: op:Get:Success: op:Create:OperationFailed:GeneralFailure:supersedes=6 op:Get:OperationFailed:GeneralFailure:supersedes=7"
	if got := summary(recs); got != want {
		t.Fatalf("records\n%s\nwant\n%s", got, want)
	}
}

func failWrites(tr *Trail, fail bool) {
	tr.fmu.Lock()
	defer tr.fmu.Unlock()
	tr.failWrite = nil
	if fail {
		tr.failWrite = func(*os.File, []byte) (int, error) { return 0, syscall.EIO }
	}
}

func TestWrapFailClosed(t *testing.T) {
	h := newHarness(t, true)
	h.do(t, false, item{kmip.OperationCreate, nil}) // key-1
	key := h.svc.key("key-1")
	failWrites(h.tr, true)

	res := h.do(t, false, item{kmip.OperationCreate, nil})
	if res[0].Reason != kmip.ResultReasonGeneralFailure || h.svc.has("key-2") {
		t.Fatalf("Create without a trail: %+v; stored: %v", res[0], h.svc.has("key-2"))
	}
	res = h.do(t, false, item{kmip.OperationGet, uid("key-1")})
	if res[0].Reason != kmip.ResultReasonGeneralFailure || bytes.Contains(res[0].Payload, key) {
		t.Fatalf("Get without a trail: %+v", res[0])
	}
	res = h.do(t, true, item{kmip.OperationCreate, nil}, item{kmip.OperationGet, uid("key-1")})
	if res[0].Reason != kmip.ResultReasonGeneralFailure || res[1].Reason != kmip.ResultReasonGeneralFailure || h.svc.has("key-3") {
		t.Fatalf("Undo batch without a trail: %+v", res)
	}
	failWrites(h.tr, false)
	res = h.do(t, false, item{kmip.OperationGet, uid("key-1")})
	if res[0].Status != kmip.ResultStatusSuccess {
		t.Fatalf("Get once the trail is back: %v", res[0].Err())
	}
	// The refused Create's record reached the ring before its write
	// failed: the trail has it, superseded. The two operations refused
	// before they ran are counted in the gap record.
	recs := h.records(t)
	if got := summary(recs); !strings.HasPrefix(got, "op:Create:Success: op:Create:Success: op:Create:OperationFailed:GeneralFailure:supersedes=3 event:gap:: op:Get:Success:") {
		t.Fatalf("records: %s", got)
	}
	if !strings.HasPrefix(recs[3].Detail, "2 operations were refused") {
		t.Fatalf("gap: %+v", recs[3])
	}
}

func TestWrapFailOpen(t *testing.T) {
	h := newHarness(t, false)
	failWrites(h.tr, true)
	res := h.do(t, false, item{kmip.OperationCreate, nil})
	if res[0].Status != kmip.ResultStatusSuccess || !h.svc.has("key-1") {
		t.Fatalf("fail-open Create: %v", res[0].Err())
	}
	res = h.do(t, true, item{kmip.OperationCreate, nil}, item{kmip.OperationGet, nil})
	if res[1].Status != kmip.ResultStatusSuccess {
		t.Fatalf("fail-open batch: %v", res[1].Err())
	}
	// The records wait in the ring for the file.
	failWrites(h.tr, false)
	h.do(t, false, item{kmip.OperationGet, uid("key-1")})
	recs := h.records(t)
	if got := summary(recs); got != "op:Create:Success: op:Create:Success: op:Get:Success: op:Get:Success:" {
		t.Fatalf("records: %s", got)
	}
}
