//go:build linux

package lifecycle_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/store/storetest"
	"github.com/kmipd/kmipd/ttlv"
)

// TestGet_FullDisk: Get writes on the first Get of an object (Fresh becomes
// false, and a state change its dates made is persisted with it). On a full
// disk that write failed and so did the Get, though the object and its
// material were fine. The Get is now served, by the state computed in
// memory, and the lost write counted; once the disk has room, the next Get
// persists it.
func TestGet_FullDisk(t *testing.T) {
	fs := storetest.MountTmpfs(t, 4<<20)
	be := softBackend(t, t.TempDir())
	db, err := store.Open(filepath.Join(fs, "kmipd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := lifecycle.NewService(lifecycle.Config{Store: db, Backend: be, Logger: zerolog.Nop()})
	t0 := time.Now().Unix()
	var clock atomic.Int64
	clock.Store(t0)
	srv := &kmip.Server{Handler: svc, Logger: zerolog.Nop(), Now: func() time.Time { return time.Unix(clock.Load(), 0) }}
	sess := srv.NewSession(kmip.Identity{Name: "alice"}, nil)
	do := func(op kmip.Operation, payload func(b *ttlv.Builder)) (*kmip.ResponseItem, error) {
		t.Helper()
		var w kmip.RequestWriter
		w.Begin(nil, kmip.V2_0, 1, nil)
		w.Item(op, nil, payload)
		msg, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		var r kmip.Response
		if err := r.Parse(srv.Handle(sess, msg), kmip.Limits{}); err != nil {
			t.Fatal(err)
		}
		return &r.Items[0], r.Items[0].Err()
	}
	// A 40 KiB secret, Active and due to deactivate in an hour: its first
	// Get rewrites the whole record, which needs pages the file does not
	// have yet.
	secret := bytes.Repeat([]byte("0123456789abcdef"), 40<<10/16)
	it, err := do(kmip.OperationRegister, pl(fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData)),
		attrsWrap(kmip.V2_0, maskAttr(kmip.V2_0, deriveMask), func(b *ttlv.Builder) {
			b.AddDateTime(ttlv.TagActivationDate, t0-3600)
			b.AddDateTime(ttlv.TagDeactivationDate, t0+3600)
		}),
		func(b *ttlv.Builder) {
			b.Begin(ttlv.TagSecretData)
			b.AddEnum(ttlv.TagSecretDataType, uint32(kmip.SecretDataTypeSeed))
			b.Begin(ttlv.TagKeyBlock)
			b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeOpaque))
			b.Begin(ttlv.TagKeyValue)
			b.AddBytes(ttlv.TagKeyMaterial, secret)
			b.End()
			b.End()
			b.End()
		}))
	if err != nil {
		t.Fatal(err)
	}
	id := string(out2text(it))
	get := func() error {
		t.Helper()
		it, err := do(kmip.OperationGet, fUID(id))
		if err != nil {
			return err
		}
		if km, ok := findPath(it.Payload, ttlv.TagSecretData, ttlv.TagKeyBlock, ttlv.TagKeyValue, ttlv.TagKeyMaterial); !ok || !bytes.Equal(km.Data, secret) {
			t.Fatalf("Get returned other material: %s", ttlv.Format(it.Payload))
		}
		return nil
	}
	state := func() kmip.State {
		t.Helper()
		it, err := do(kmip.OperationGetAttributes, fUID(id))
		if err != nil {
			t.Fatal(err)
		}
		st, ok := findPath(it.Payload, ttlv.TagAttributes, ttlv.TagState)
		if !ok {
			t.Fatalf("no State: %s", ttlv.Format(it.Payload))
		}
		return kmip.State(st.Uint32())
	}

	free := storetest.Fill(t, fs)
	clock.Store(t0 + 7200) // past the Deactivation Date
	failures := db.CommitFailures()
	if err := get(); err != nil {
		t.Fatalf("Get on a full disk: %v", err)
	}
	if db.CommitFailures() == failures {
		t.Fatal("the Get's write did not fail: the disk is not full enough for this test")
	}
	if n := svc.LostWrites(); n != 1 {
		t.Errorf("LostWrites = %d, want 1", n)
	}
	if err := db.Ready(); err == nil || !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("store Ready = %v, want the commit's ENOSPC", err)
	}
	// The answers go by the state the dates give, not the stored one.
	if st := state(); st != kmip.StateDeactivated {
		t.Errorf("State %s, want Deactivated (its Deactivation Date has passed)", st)
	}
	if o := storedObject(t, db, id); o.State() != kmip.StateActive {
		t.Fatalf("stored state %s: the failed write was persisted?", o.State())
	}
	if err := get(); err != nil {
		t.Fatalf("second Get on a full disk: %v", err)
	}
	if n := svc.LostWrites(); n != 2 {
		t.Errorf("LostWrites = %d, want 2 (each Get tries again)", n)
	}

	// With room again the next Get persists both changes.
	free()
	if err := get(); err != nil {
		t.Fatal(err)
	}
	if n := svc.LostWrites(); n != 2 {
		t.Errorf("LostWrites = %d after the disk has room, want still 2", n)
	}
	if err := db.Ready(); err != nil {
		t.Errorf("store Ready after a successful commit: %v", err)
	}
	o := storedObject(t, db, id)
	if fresh, _ := o.Bool(ttlv.TagFresh); fresh || o.State() != kmip.StateDeactivated {
		t.Errorf("stored: Fresh %v, State %s; want false, Deactivated", fresh, o.State())
	}
}
