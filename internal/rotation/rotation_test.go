package rotation_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/internal/rotation"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
)

func TestOwnsKind(t *testing.T) {
	for _, tc := range []struct {
		backend string
		kind    hsm.Kind
		want    bool
	}{
		{"software", hsm.KindSoftware, true},
		{"software", hsm.KindPKCS11, false},
		{"software", hsm.KindPKCS11Wrap, false},
		{"pkcs11", hsm.KindPKCS11, true},
		{"pkcs11", hsm.KindPKCS11Wrap, true},
		{"pkcs11", hsm.KindSoftware, false},
		{"other", hsm.KindSoftware, false},
	} {
		if got := rotation.OwnsKind(tc.backend, tc.kind); got != tc.want {
			t.Errorf("OwnsKind(%q, %v) = %v", tc.backend, tc.kind, got)
		}
	}
}

func TestMigratingOpensWithTheBackendThatSealed(t *testing.T) {
	ctx := context.Background()
	old, tok := openSoft(t), newFakeToken(t)
	m := &rotation.Migrating{Backend: tok, Old: old}
	oldBlob, err := old.Seal(ctx, "a", []byte("old material"))
	if err != nil {
		t.Fatal(err)
	}
	newBlob, err := m.Seal(ctx, "b", []byte("new material"))
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := hsm.BlobKind(newBlob); h.Kind != hsm.KindPKCS11 {
		t.Fatalf("Migrating sealed a %v blob, want the new backend's", h.Kind)
	}
	if got, err := m.Open(ctx, "a", oldBlob, nil); err != nil || string(got) != "old material" {
		t.Errorf("Open of the old backend's blob = %q, %v", got, err)
	}
	if got, err := m.Open(ctx, "b", newBlob, nil); err != nil || string(got) != "new material" {
		t.Errorf("Open of the new backend's blob = %q, %v", got, err)
	}
	if _, err := m.Open(ctx, "b", []byte{0xA1}, nil); !errors.Is(err, hsm.ErrBlobCorrupt) {
		t.Errorf("Open of a malformed blob = %v, want ErrBlobCorrupt", err)
	}
	if err := m.Health(ctx); err != nil {
		t.Errorf("Health = %v", err)
	}
	if err := m.Close(); err != nil || !tok.closed {
		t.Errorf("Close = %v, token closed %v", err, tok.closed)
	}
	if _, err := old.Open(ctx, "a", oldBlob, nil); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("the old backend still opens after Close: %v", err)
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	db, tok := openStore(t), newFakeToken(t)
	secrets := fill(t, db, tok, 20)
	var saved []uint32
	var out bytes.Buffer
	var calls [][2]int
	forgot := 0
	o := rotation.RotateOptions{
		Out:            &out,
		Progress:       func(done, total int) { calls = append(calls, [2]int{done, total}) },
		Batch:          7,
		SaveKeyVersion: func(v uint32) error { saved = append(saved, v); return nil },
		Forget:         func() { forgot++ },
	}
	if err := rotation.Rotate(ctx, tok, db, o); err != nil {
		t.Fatal(err)
	}
	checkAll(t, db, tok, secrets, func(h hsm.Header) bool { return h.KeyVersion == 2 })
	if !slices.Equal(saved, []uint32{2}) || forgot != 1 || !slices.Equal(tok.retired, []uint32{1}) {
		t.Errorf("saved %v, forgot %d times, retired %v; want [2], once, [1]", saved, forgot, tok.retired)
	}
	want := "kmipd: created master-key version 2 and made it current\n" +
		"kmipd: 20 blobs re-wrapped under master-key version 2\n" +
		"kmipd: retired master-key version 1 (nothing refers to it)\n"
	if out.String() != want {
		t.Errorf("output\n%s\nwant\n%s", out.String(), want)
	}
	if want := [][2]int{{0, 20}, {7, 20}, {14, 20}, {20, 20}}; !slices.Equal(calls, want) {
		t.Errorf("progress %v, want %v", calls, want)
	}
	if v, err := rotation.BlobVersions(db, "pkcs11"); err != nil || len(v) != 1 || v[2] != 20 {
		t.Errorf("BlobVersions = %v, %v", v, err)
	}

	// --keep-old keeps version 2 once nothing refers to it.
	out.Reset()
	o.KeepOld = true
	if err := rotation.Rotate(ctx, tok, db, o); err != nil {
		t.Fatal(err)
	}
	checkAll(t, db, tok, secrets, func(h hsm.Header) bool { return h.KeyVersion == 3 })
	if _, loaded := tok.KeyVersions(); !slices.Equal(loaded, []uint32{2, 3}) || !strings.Contains(out.String(), "version 2 is no longer used; kept (--keep-old)") {
		t.Errorf("after a rotation keeping old versions: loaded %v, output\n%s", loaded, out.String())
	}
}

func TestRotateResumes(t *testing.T) {
	ctx := context.Background()
	db, tok := openStore(t), newFakeToken(t)
	secrets := fill(t, db, tok, 12)
	// The first steps of a rotation, then a re-wrap that stops after 5.
	if err := tok.UseKeyVersion(ctx, 2, true); err != nil {
		t.Fatal(err)
	}
	done := 0
	n, err := rotation.Rewrap(ctx, db, func(h hsm.Header) bool { return h.KeyVersion != 2 },
		func(ctx context.Context, o *objects.Object) ([]byte, error) {
			if done == 5 {
				return nil, errors.New("interrupted")
			}
			done++
			return tok.Rewrap(ctx, o.ID, o.Blob)
		}, 5, func(int, int) {})
	if err == nil || n != 5 {
		t.Fatalf("interrupted Rewrap = %d, %v", n, err)
	}
	// Every blob reads, whichever version it is under.
	checkAll(t, db, tok, secrets, func(h hsm.Header) bool { return true })

	var out bytes.Buffer
	err = rotation.Rotate(ctx, tok, db, rotation.RotateOptions{Out: &out, Progress: func(int, int) {},
		SaveKeyVersion: func(v uint32) error { t.Errorf("resuming saved version %d", v); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "kmipd: resuming the rotation to master-key version 2: 7 blobs to re-wrap\n") ||
		!strings.Contains(out.String(), "kmipd: 7 blobs re-wrapped under master-key version 2\n") {
		t.Errorf("resumed rotation output\n%s", out.String())
	}
	checkAll(t, db, tok, secrets, func(h hsm.Header) bool { return h.KeyVersion == 2 })
}

func TestRotateRefusals(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	sw := openSoft(t)
	fill(t, db, sw, 2)
	err := rotation.Rotate(ctx, sw, db, rotation.RotateOptions{})
	if err == nil || !strings.Contains(err.Error(), "the software backend has a single master key and cannot rotate it") {
		t.Errorf("Rotate on the software backend = %v", err)
	}

	db, tok := openStore(t), newFakeToken(t)
	secrets := fill(t, db, tok, 3)
	err = rotation.Rotate(ctx, tok, db, rotation.RotateOptions{Out: &bytes.Buffer{}, Progress: func(int, int) {},
		SaveKeyVersion: func(uint32) error { return errors.New("read-only file system") }})
	if err == nil || !strings.Contains(err.Error(), "master-key version 2 is on the token, but the config was not updated: read-only file system") {
		t.Errorf("Rotate with a failing SaveKeyVersion = %v", err)
	}
	// Nothing was re-wrapped under the version the config does not name.
	checkAll(t, db, tok, secrets, func(h hsm.Header) bool { return h.KeyVersion == 1 })
}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	db, sw, tok := openStore(t), openSoft(t), newFakeToken(t)
	secrets := fill(t, db, sw, 9)
	var last [2]int
	n, err := rotation.Migrate(ctx, db, &rotation.Migrating{Backend: tok, Old: sw}, "software", "pkcs11", 4,
		func(done, total int) { last = [2]int{done, total} })
	if err != nil || n != 9 || last != [2]int{9, 9} {
		t.Fatalf("Migrate to pkcs11 = %d, %v (progress %v)", n, err, last)
	}
	checkAll(t, db, tok, secrets, func(h hsm.Header) bool { return rotation.OwnsKind("pkcs11", h.Kind) })
	// Symmetric keys become keys of the token, Secret Data opaque blobs.
	if tok.sealKeys != 6 {
		t.Errorf("SealKey called %d times, want 6 (the symmetric keys)", tok.sealKeys)
	}
	for id := range secrets {
		o, _ := getObject(t, db, id)
		h, _ := hsm.BlobKind(o.Blob)
		if sym := o.Type.String() == "SymmetricKey"; sym != (h.Kind == hsm.KindPKCS11Wrap) {
			t.Errorf("object %s (%v) migrated to a %v blob", id, o.Type, h.Kind)
		}
	}

	// And back; run again, there is nothing left to move.
	sw2 := openSoft(t)
	for range 2 {
		if _, err := rotation.Migrate(ctx, db, &rotation.Migrating{Backend: sw2, Old: tok}, "pkcs11", "software", 0, func(int, int) {}); err != nil {
			t.Fatal(err)
		}
	}
	checkAll(t, db, sw2, secrets, func(h hsm.Header) bool { return h.Kind == hsm.KindSoftware })
}

func TestMigrateInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	db, sw, tok := openStore(t), openSoft(t), newFakeToken(t)
	secrets := fill(t, db, sw, 6)
	cancel()
	_, err := rotation.Migrate(ctx, db, &rotation.Migrating{Backend: tok, Old: sw}, "software", "pkcs11", 2, func(int, int) {})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "migration interrupted after 0 blobs") ||
		!strings.Contains(err.Error(), "run kmipd hsm migrate --to pkcs11 again") {
		t.Fatalf("cancelled Migrate = %v", err)
	}
	checkAll(t, db, sw, secrets, func(h hsm.Header) bool { return h.Kind == hsm.KindSoftware })
}

func TestRewrapSkipsObjectsChangedMeanwhile(t *testing.T) {
	ctx := context.Background()
	db, sw, tok := openStore(t), openSoft(t), newFakeToken(t)
	secrets := fill(t, db, sw, 4)
	m := &rotation.Migrating{Backend: tok, Old: sw}
	need := func(h hsm.Header) bool { return h.Kind == hsm.KindSoftware }
	changed := false
	convert := func(ctx context.Context, o *objects.Object) ([]byte, error) {
		if o.ID == "obj-001" && !changed {
			// A client changes the object while its blob is converted:
			// the stale result must not overwrite the change.
			changed = true
			cur, _ := getObject(t, db, o.ID)
			cur.Owner = "bob" // given to another identity
			if err := db.Update(func(tx *store.Tx) error { return putObject(tx, cur) }); err != nil {
				return nil, err
			}
		}
		pt, err := m.Open(ctx, o.ID, o.Blob, nil)
		if err != nil {
			return nil, err
		}
		return tok.Seal(ctx, o.ID, pt)
	}
	n, err := rotation.Rewrap(ctx, db, need, convert, 10, func(int, int) {})
	if err != nil || n != 4 {
		t.Fatalf("Rewrap = %d, %v; want 4 (the changed object in a second pass)", n, err)
	}
	checkAll(t, db, tok, secrets, func(h hsm.Header) bool { return h.Kind == hsm.KindPKCS11 })
	if o, rec := getObject(t, db, "obj-001"); o.Owner != "bob" || rec.Owner != "bob" {
		t.Errorf("the change made during the re-wrap was lost: owner %q, record owner %q", o.Owner, rec.Owner)
	}

	// An object that changes under every pass stops the re-wrap.
	db2 := openStore(t)
	fill(t, db2, sw, 1)
	_, err = rotation.Rewrap(ctx, db2, need, func(ctx context.Context, o *objects.Object) ([]byte, error) {
		cur, _ := getObject(t, db2, o.ID)
		cur.Owner += "+"
		if err := db2.Update(func(tx *store.Tx) error { return putObject(tx, cur) }); err != nil {
			return nil, err
		}
		return tok.Seal(ctx, o.ID, []byte("x"))
	}, 10, func(int, int) {})
	if err == nil || !strings.Contains(err.Error(), "objects keep changing") {
		t.Errorf("Rewrap of an object that keeps changing = %v", err)
	}
}
