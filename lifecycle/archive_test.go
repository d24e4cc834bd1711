package lifecycle_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// Archive and Recover (KMIP 2.0 §6.1.4, §6.1.39), the Storage Status Mask
// of Locate (§6.1.27), Log (§6.1.28), Set Endpoint Role (§6.1.46), Obtain
// Lease (§6.1.36) and Get Usage Allocation (§6.1.23).

func arLocate(t *testing.T, c *kmip.Client, payload func(b *ttlv.Builder)) (ids []string, located int32) {
	t.Helper()
	it, err := do(t, c, kmip.OperationLocate, payload)
	if err != nil {
		t.Fatalf("locate: %v", err)
	}
	located = -1
	p := it.Payload
	for !p.Empty() {
		x, _ := p.Next()
		switch x.Tag {
		case ttlv.TagUniqueIdentifier:
			ids = append(ids, string(x.Data))
		case ttlv.TagLocatedItems:
			located = x.Int32()
		}
	}
	return ids, located
}

func arMask(m kmip.StorageStatusMask, more ...func(b *ttlv.Builder)) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.AddInt32(ttlv.TagStorageStatusMask, int32(m))
		for _, f := range more {
			f(b)
		}
	}
}

func arIDs(t *testing.T, got []string, want ...string) {
	t.Helper()
	aoStrings(t, "located", got, want)
}

func TestArchive_Operations(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			id := create(t, c, "archive-"+ver.String())
			key := getKey(t, c, id)
			before := time.Now().Add(-time.Second).Unix()
			aoOK(t, c, kmip.OperationArchive, id, byID(id))
			// The Archive Date is set by the server (KMIP 2.0 §4.4) and
			// the metadata stays readable.
			a := attrsOf(t, c, id)
			ad, ok := a[ttlv.TagArchiveDate]
			if !ok || ad.Int64() < before || ad.Int64() > time.Now().Unix()+1 {
				t.Fatalf("Archive Date present %v value %d", ok, ad.Int64())
			}
			if _, err := do(t, c, kmip.OperationGetAttributeList, byID(id)); err != nil {
				t.Fatalf("Get Attribute List of an archived key: %v", err)
			}
			// Everything that uses or changes the key fails with Object
			// Archived (0x0D, in KMIP 1.x as in 2.x).
			archived := kmip.ResultReasonObjectArchived
			for _, op := range []kmip.Operation{kmip.OperationGet, kmip.OperationExport, kmip.OperationActivate,
				kmip.OperationDestroy, kmip.OperationReKey, kmip.OperationObtainLease} {
				_, err := do(t, c, op, byID(id))
				wantReason(t, err, archived)
			}
			_, err := do(t, c, kmip.OperationRevoke, func(b *ttlv.Builder) {
				b.AddText(ttlv.TagUniqueIdentifier, id)
				b.Begin(ttlv.TagRevocationReason)
				b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeKeyCompromise))
				b.End()
			})
			wantReason(t, err, archived)
			_, err = do(t, c, kmip.OperationEncrypt, func(b *ttlv.Builder) {
				b.AddText(ttlv.TagUniqueIdentifier, id)
				b.AddBytes(ttlv.TagData, []byte("0123456789abcdef"))
			})
			wantReason(t, err, archived)
			if ver.V2() {
				_, err = do(t, c, kmip.OperationAddAttribute, aoPayload(byID(id), aoNew(aoVendor("x", "k", "v"))))
			} else {
				_, err = do(t, c, kmip.OperationAddAttribute, aoPayload(byID(id), aoV1("x-k", -1, aoText(ttlv.TagAttributeValue, "v"))))
			}
			wantReason(t, err, archived)
			// Archive again changes nothing.
			aoOK(t, c, kmip.OperationArchive, id, byID(id))
			if ad2 := attrsOf(t, c, id)[ttlv.TagArchiveDate]; ad2.Int64() != ad.Int64() {
				t.Fatalf("second Archive moved the Archive Date %d → %d", ad.Int64(), ad2.Int64())
			}
			// Recover: on line again, the Archive Date deleted (§4.4).
			aoOK(t, c, kmip.OperationRecover, id, byID(id))
			if _, ok := attrsOf(t, c, id)[ttlv.TagArchiveDate]; ok {
				t.Fatal("Archive Date still present after Recover")
			}
			if !bytes.Equal(getKey(t, c, id), key) {
				t.Fatal("key changed across Archive/Recover")
			}
			aoOK(t, c, kmip.OperationRecover, id, byID(id)) // on line already: no-op
			if _, err := do(t, c, kmip.OperationActivate, byID(id)); err != nil {
				t.Fatalf("activate after recover: %v", err)
			}
		})
	}
}

func TestArchive_Locate(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	var ids []string
	for _, n := range []string{"ar-a", "ar-b", "ar-c", "ar-d"} {
		ids = append(ids, create(t, c, n))
		time.Sleep(2 * time.Millisecond)
	}
	aoOK(t, c, kmip.OperationArchive, ids[1], byID(ids[1]))
	aoOK(t, c, kmip.OperationDestroy, ids[3], byID(ids[3]))
	const (
		on  = kmip.StorageStatusMaskOnLineStorage
		arc = kmip.StorageStatusMaskArchivalStorage
		des = kmip.StorageStatusMaskDestroyedStorage
	)
	// Default (On-line Storage): the archived and destroyed keys are out.
	got, n := arLocate(t, c, nil)
	arIDs(t, got, ids[2], ids[0])
	if n != 2 {
		t.Errorf("Located Items %d, want 2", n)
	}
	got, _ = arLocate(t, c, arMask(arc))
	arIDs(t, got, ids[1])
	got, _ = arLocate(t, c, arMask(on|arc))
	arIDs(t, got, ids[2], ids[1], ids[0])
	got, _ = arLocate(t, c, arMask(arc|des))
	arIDs(t, got, ids[3], ids[1])
	got, _ = arLocate(t, c, arMask(on|arc|des))
	arIDs(t, got, ids[3], ids[2], ids[1], ids[0])
	// Offset and Maximum Items count within the classes asked for.
	got, n = arLocate(t, c, arMask(on|arc|des, func(b *ttlv.Builder) {
		b.AddInt32(ttlv.TagMaximumItems, 2)
		b.AddInt32(ttlv.TagOffsetItems, 1)
	}))
	arIDs(t, got, ids[2], ids[1])
	if n != 4 {
		t.Errorf("Located Items %d, want 4", n)
	}
	// With a filter: by name, the archived key only with the Archival bit.
	byName := func(name string) func(b *ttlv.Builder) {
		return func(b *ttlv.Builder) {
			b.Begin(ttlv.TagAttributes)
			aoName(name)(b)
			b.End()
		}
	}
	got, _ = arLocate(t, c, byName("ar-b"))
	arIDs(t, got)
	got, _ = arLocate(t, c, arMask(arc, byName("ar-b")))
	arIDs(t, got, ids[1])
	// A single match sets the ID Placeholder (§6.1): Recover by it.
	items := aoBatch(t, c, nil,
		aoItem{kmip.OperationLocate, arMask(arc)},
		aoItem{kmip.OperationRecover, nil})
	for i, it := range items {
		if it.Status != kmip.ResultStatusSuccess {
			t.Fatalf("item %d: %s %s", i, it.Reason, it.Message)
		}
	}
	got, _ = arLocate(t, c, nil)
	arIDs(t, got, ids[2], ids[1], ids[0])
	got, _ = arLocate(t, c, arMask(arc))
	arIDs(t, got)
	// 1.x has no Destroyed bit but has Archival.
	c1 := e.srv.Dial(t, "alice", kmip.V1_4)
	aoOK(t, c1, kmip.OperationArchive, ids[0], byID(ids[0]))
	got, _ = arLocate(t, c1, arMask(arc))
	arIDs(t, got, ids[0])
	got, _ = arLocate(t, c1, nil)
	arIDs(t, got, ids[2], ids[1])
}

func TestArchive_Refusals(t *testing.T) {
	e := newEnv(t)
	alice := e.srv.Dial(t, "alice", kmip.V2_0)
	bob := e.srv.Dial(t, "bob", kmip.V2_0)
	id := create(t, alice, "ar-refusals")
	// Another client's key is not found, for Archive as for anything.
	_, err := do(t, bob, kmip.OperationArchive, byID(id))
	wantReason(t, err, kmip.ResultReasonObjectNotFound)
	_, err = do(t, alice, kmip.OperationArchive, byID("no-such-object"))
	wantReason(t, err, kmip.ResultReasonObjectNotFound)
	_, err = do(t, alice, kmip.OperationRecover, byID("no-such-object"))
	wantReason(t, err, kmip.ResultReasonObjectNotFound)
	// Clients cannot set the Archive Date themselves: it is the
	// server's (KMIP 2.0 §4.4).
	past := time.Now().Add(-time.Hour).Unix()
	_, err = do(t, alice, kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 128, "", func(b *ttlv.Builder) {
			b.AddDateTime(ttlv.TagArchiveDate, past)
		})(b)
	})
	wantReason(t, err, kmip.ResultReasonAttributeReadOnly)
	for _, op := range []kmip.Operation{kmip.OperationAddAttribute, kmip.OperationSetAttribute} {
		_, err = do(t, alice, op, aoPayload(byID(id), aoNew(func(b *ttlv.Builder) { b.AddDateTime(ttlv.TagArchiveDate, past) })))
		wantReason(t, err, kmip.ResultReasonAttributeReadOnly)
	}
	aoOK(t, alice, kmip.OperationArchive, id, byID(id))
	_, err = do(t, alice, kmip.OperationDeleteAttribute, aoPayload(byID(id), aoRef(ttlv.TagArchiveDate)))
	wantReason(t, err, kmip.ResultReasonObjectArchived)
	aoOK(t, alice, kmip.OperationRecover, id, byID(id))
	// A destroyed key has nothing left to archive.
	aoOK(t, alice, kmip.OperationDestroy, id, byID(id))
	_, err = do(t, alice, kmip.OperationArchive, byID(id))
	wantReason(t, err, kmip.ResultReasonObjectDestroyed)
}

// TestArchive_BatchUndo: an Archive undone with its batch (Batch Error
// Continuation Undo, KMIP 2.0 §9.6) leaves the key on line.
func TestArchive_BatchUndo(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	id := create(t, c, "ar-undo")
	items := aoBatch(t, c, &kmip.RequestOptions{BatchErrorContinuation: kmip.BatchErrorContinuationOptionUndo},
		aoItem{kmip.OperationArchive, byID(id)},
		aoItem{kmip.OperationGet, byID("no-such-object")})
	if items[0].Status != kmip.ResultStatusOperationUndone {
		t.Fatalf("archive item: %s", items[0].Status)
	}
	if _, ok := attrsOf(t, c, id)[ttlv.TagArchiveDate]; ok {
		t.Fatal("undone Archive left an Archive Date")
	}
	got, _ := arLocate(t, c, nil)
	arIDs(t, got, id)
	getKey(t, c, id)
}

// TestArchive_Import: Import stores attributes as given (§6.1.24), the
// Archive Date included: the imported object is in archival storage.
func TestArchive_Import(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	id := ieRegisterAES(t, c, bytes.Repeat([]byte{0x31}, 16), 0, nil)
	x, err := ieExport(t, c, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	var ab ttlv.Builder
	ab.Begin(ttlv.TagAttributes)
	ab.AddRaw(x.attrs[0].Raw) // the Unique Identifier
	ab.AddDateTime(ttlv.TagArchiveDate, time.Now().Add(-time.Hour).Unix())
	ab.End()
	araw, _ := ab.Bytes()
	if _, err := ieImport(t, c, id, kmip.ObjectTypeSymmetricKey, &ieTrue, 0, araw, x.obj.Raw); err != nil {
		t.Fatal(err)
	}
	_, err = do(t, c, kmip.OperationGet, byID(id))
	wantReason(t, err, kmip.ResultReasonObjectArchived)
	got, _ := arLocate(t, c, arMask(kmip.StorageStatusMaskArchivalStorage))
	arIDs(t, got, id)
	// Replaced by its on-line export, it is on line again.
	if _, err := ieImport(t, c, id, kmip.ObjectTypeSymmetricKey, &ieTrue, 0, x.attrsRaw, x.obj.Raw); err != nil {
		t.Fatal(err)
	}
	got, _ = arLocate(t, c, nil)
	arIDs(t, got, id)
	got, _ = arLocate(t, c, arMask(kmip.StorageStatusMaskArchivalStorage))
	arIDs(t, got)
}

// arLogEnv is newEnv with the service's log captured.
func arLogEnv(t *testing.T) (*kmiptest.Server, *arLog) {
	t.Helper()
	dir := t.TempDir()
	be := softBackend(t, dir)
	db, err := store.Open(filepath.Join(dir, "kmipd.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs := &arLog{}
	svc := lifecycle.NewService(lifecycle.Config{Store: db, Backend: be, Admins: []string{"admin"}, Logger: zerolog.New(logs)})
	return kmiptest.Start(t, kmiptest.MustPKI(t, "alice", "admin"), svc), logs
}

type arLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *arLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *arLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestLogAndSetEndpointRole follows BL-M-1-21 (Log answers an empty
// payload) and KMIP 2.0 §6.1.46.
func TestLogAndSetEndpointRole(t *testing.T) {
	srv, logs := arLogEnv(t)
	// Operations on the server itself: an admin's (the server role), not
	// an ordinary user's.
	user := srv.Dial(t, "alice", kmip.V2_1)
	_, err := do(t, user, kmip.OperationLog, func(b *ttlv.Builder) { b.AddText(ttlv.TagLogMessage, "x") })
	wantReason(t, err, kmip.ResultReasonPermissionDenied)
	c := srv.Dial(t, "admin", kmip.V2_1)
	it, err := do(t, c, kmip.OperationLog, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagLogMessage, "Registered a symmetric key.")
	})
	if err != nil {
		t.Fatalf("log: %v", err)
	}
	if !it.Payload.Empty() {
		t.Fatalf("Log response payload not empty: %s", ttlv.Format(it.Payload))
	}
	out := logs.String()
	if !strings.Contains(out, `"level":"info"`) || !strings.Contains(out, `"identity":"admin"`) ||
		!strings.Contains(out, "Registered a symmetric key.") {
		t.Fatalf("server log lacks the client's message: %s", out)
	}
	_, err = do(t, c, kmip.OperationLog, nil)
	wantReason(t, err, kmip.ResultReasonInvalidMessage)
	for _, role := range []kmip.EndpointRole{kmip.EndpointRoleServer, kmip.EndpointRoleClient} {
		it, err := do(t, c, kmip.OperationSetEndpointRole, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagEndpointRole, uint32(role))
		})
		if err != nil || !it.Payload.Empty() {
			t.Fatalf("Set Endpoint Role %s: %v", role, err)
		}
	}
	_, err = do(t, c, kmip.OperationSetEndpointRole, func(b *ttlv.Builder) { b.AddEnum(ttlv.TagEndpointRole, 7) })
	wantReason(t, err, kmip.ResultReasonInvalidField)
}

// TestQuery_ListsNewOperations: Query reports the operations of this file
// to 2.0 clients and, of them, those 1.4 has to 1.4 clients.
func TestQuery_ListsNewOperations(t *testing.T) {
	e := newEnv(t)
	ops := func(ver kmip.Version) map[kmip.Operation]bool {
		c := e.srv.Dial(t, "alice", ver)
		it, err := do(t, c, kmip.OperationQuery, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryOperations))
		})
		if err != nil {
			t.Fatal(err)
		}
		m := map[kmip.Operation]bool{}
		p := it.Payload
		for !p.Empty() {
			x, _ := p.Next()
			if x.Tag == ttlv.TagOperation {
				m[kmip.Operation(x.Uint32())] = true
			}
		}
		return m
	}
	v2, v1 := ops(kmip.V2_0), ops(kmip.V1_4)
	for _, op := range []kmip.Operation{kmip.OperationExport, kmip.OperationImport, kmip.OperationArchive,
		kmip.OperationRecover, kmip.OperationObtainLease, kmip.OperationGetUsageAllocation,
		kmip.OperationLog, kmip.OperationSetEndpointRole} {
		if !v2[op] {
			t.Errorf("2.0 Query lacks %s", op)
		}
	}
	for _, op := range []kmip.Operation{kmip.OperationExport, kmip.OperationImport, kmip.OperationArchive,
		kmip.OperationRecover, kmip.OperationObtainLease, kmip.OperationGetUsageAllocation} {
		if !v1[op] {
			t.Errorf("1.4 Query lacks %s", op)
		}
	}
	if v1[kmip.OperationLog] || v1[kmip.OperationSetEndpointRole] {
		t.Error("1.4 Query lists 2.0-only operations")
	}
}

// TestObtainLease: KMIP 2.0 §6.1.36 — Unique Identifier, Lease Time and
// Last Change Date.
func TestObtainLease(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	id := create(t, c, "lease")
	a := attrsOf(t, c, id)
	it, err := do(t, c, kmip.OperationObtainLease, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	p := it.Payload
	var uid []byte
	var lease uint32
	var changed int64
	if !p.ReadText(ttlv.TagUniqueIdentifier, &uid) || !p.ReadInterval(ttlv.TagLeaseTime, &lease) ||
		!p.ReadDateTime(ttlv.TagLastChangeDate, &changed) || !p.Empty() {
		t.Fatalf("Obtain Lease response: %s", ttlv.Format(it.Payload))
	}
	if string(uid) != id || lease != 3600 || changed != a[ttlv.TagLastChangeDate].Int64() {
		t.Fatalf("lease %s %d %d", uid, lease, changed)
	}
	aoOK(t, c, kmip.OperationDestroy, id, byID(id))
	_, err = do(t, c, kmip.OperationObtainLease, byID(id))
	wantReason(t, err, kmip.ResultReasonObjectDestroyed)
}

// TestGetUsageAllocation: KMIP 2.0 §6.1.23 — units are taken from the
// Usage Limits Count of an Active key; more than is left is refused.
func TestGetUsageAllocation(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	id := aoCreate(t, c, "alloc", func(b *ttlv.Builder) {
		b.Begin(ttlv.TagUsageLimits)
		b.AddLong(ttlv.TagUsageLimitsTotal, 100)
		b.AddEnum(ttlv.TagUsageLimitsUnit, uint32(kmip.UsageLimitsUnitObject))
		b.End()
	})
	alloc := func(n int64) error {
		_, err := do(t, c, kmip.OperationGetUsageAllocation, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			b.AddLong(ttlv.TagUsageLimitsCount, n)
		})
		return err
	}
	wantReason(t, alloc(10), kmip.ResultReasonWrongKeyLifecycleState)
	aoOK(t, c, kmip.OperationActivate, id, byID(id))
	if err := alloc(60); err != nil {
		t.Fatal(err)
	}
	count := func() int64 {
		ul, _ := aoFirst(aoGet2(t, c, id, aoRef(ttlv.TagUsageLimits)), ttlv.TagUsageLimits)
		v, _ := ul.Children().Find(ttlv.TagUsageLimitsCount)
		return v.Int64()
	}
	if n := count(); n != 40 {
		t.Fatalf("Usage Limits Count %d after allocating 60 of 100", n)
	}
	wantReason(t, alloc(41), kmip.ResultReasonUsageLimitExceeded)
	if err := alloc(40); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("Usage Limits Count %d", n)
	}
	wantReason(t, alloc(0), kmip.ResultReasonInvalidField)
	plain := create(t, c, "no-limits")
	aoOK(t, c, kmip.OperationActivate, plain, byID(plain))
	_, err := do(t, c, kmip.OperationGetUsageAllocation, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, plain)
		b.AddLong(ttlv.TagUsageLimitsCount, 1)
	})
	wantReason(t, err, kmip.ResultReasonPermissionDenied)
}
