package lifecycle_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/store"
)

// uuidFor is a fixed identifier of the server's form (a lowercase version
// 4 UUID) named by label, for tests that import under chosen identifiers.
func uuidFor(label string) string {
	h := sha256.Sum256([]byte(label))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// TestImport_IdentifiersTheCallerMayOwn: a client other than an admin
// imports only under identifiers of the server's form, and an identifier
// held by another owner's object is refused in the same words as any other
// it may not use: Permission Denied, not Object Already Exists, which told
// Bob that Alice's identifier exists when Get says Object Not Found.
func TestImport_IdentifiersTheCallerMayOwn(t *testing.T) {
	e := newEnv(t)
	alice := e.srv.Dial(t, "alice", kmip.V2_0)
	bob := e.srv.Dial(t, "bob", kmip.V2_0)
	admin := e.srv.Dial(t, "admin", kmip.V2_0)
	key := bytes.Repeat([]byte{7}, 16)
	aliceID := ieRegisterAES(t, alice, key, 0, nil)
	x, err := ieExport(t, alice, byID(aliceID))
	if err != nil {
		t.Fatal(err)
	}
	imp := func(c *kmip.Client, id string, replace *bool) error {
		_, err := ieImport(t, c, id, kmip.ObjectTypeSymmetricKey, replace, 0, ieRenameUID(t, x.attrsRaw, aliceID, id), x.obj.Raw)
		return err
	}
	denied := func(err error, id string) {
		t.Helper()
		wantReason(t, err, kmip.ResultReasonPermissionDenied)
		msg := err.(*kmip.Error).Message
		if !strings.Contains(msg, id) || strings.Contains(msg, "exist") {
			t.Errorf("message %q: should name %q and not say whether it exists", msg, id)
		}
	}
	// Bob cannot tell Alice's identifier from one nobody holds.
	_, err = do(t, bob, kmip.OperationGet, byID(aliceID))
	wantReason(t, err, kmip.ResultReasonObjectNotFound)
	denied(imp(bob, aliceID, &ieTrue), aliceID)
	denied(imp(bob, aliceID, &ieFalse), aliceID)
	denied(imp(bob, aliceID, nil), aliceID)
	// Identifiers of another form are refused alike, whether or not taken.
	for _, id := range []string{"payroll-master-key", strings.ToUpper(uuidFor("upper")),
		"00000000-0000-0000-0000-000000000000", uuidFor("x")[:35], uuidFor("x") + "0"} {
		denied(imp(bob, id, nil), id)
	}
	// Nothing of Alice's changed.
	if !bytes.Equal(getKey(t, alice, aliceID), key) {
		t.Fatal("Alice's key changed")
	}
	// A fresh identifier of the server's form is Bob's.
	bobID := uuidFor("bob's")
	if !store.IsNewIDForm(bobID) {
		t.Fatalf("%s is not of the server's form", bobID)
	}
	if err := imp(bob, bobID, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(getKey(t, bob, bobID), key) {
		t.Fatal("Bob's import")
	}
	_, err = do(t, alice, kmip.OperationGet, byID(bobID))
	wantReason(t, err, kmip.ResultReasonObjectNotFound)
	// His own identifier behaves as before: Object Already Exists, or
	// replaced with Replace Existing.
	wantReason(t, imp(bob, bobID, nil), kmip.ResultReasonObjectAlreadyExists)
	if err := imp(bob, bobID, &ieTrue); err != nil {
		t.Fatal(err)
	}
	// So does Alice's for Alice.
	wantReason(t, imp(alice, aliceID, &ieFalse), kmip.ResultReasonObjectAlreadyExists)
	if err := imp(alice, aliceID, &ieTrue); err != nil {
		t.Fatal(err)
	}
	// An admin imports under any identifier, and replaces anyone's object,
	// which keeps its owner.
	if err := imp(admin, "payroll-master-key", nil); err != nil {
		t.Fatal(err)
	}
	if err := imp(admin, bobID, &ieTrue); err != nil {
		t.Fatal(err)
	}
	getKey(t, bob, bobID)
}

func TestIsNewIDForm(t *testing.T) {
	db := newEnv(t).db
	err := db.Update(func(tx *store.Tx) error {
		for range 1000 {
			id, err := tx.NewID()
			if err != nil {
				return err
			}
			if !store.IsNewIDForm(id) {
				t.Fatalf("NewID gave %q, which IsNewIDForm refuses", id)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "x", "6ba7b810-9dad-11d1-80b4-00c04fd430c8" /* v1 */, "6ba7b810-9dad-41d1-c0b4-00c04fd430c8", /* variant */
		"6BA7B810-9DAD-41D1-80B4-00C04FD430C8", "6ba7b8109dad41d180b400c04fd430c8", "6ba7b810-9dad-41d1-80b4-00c04fd430cg"} {
		if store.IsNewIDForm(id) {
			t.Errorf("IsNewIDForm(%q) = true", id)
		}
	}
}
