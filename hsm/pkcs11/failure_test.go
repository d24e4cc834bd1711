//go:build cgo

package pkcs11

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/kmipd/kmipd/hsm"
)

// roundTrip creates and opens a key, failing the test on error.
func roundTrip(t *testing.T, b *Backend, what string) {
	t.Helper()
	blob, err := b.GenerateSymmetric(bg, "rt", 32)
	if err != nil {
		t.Fatalf("%s: GenerateSymmetric: %v", what, err)
	}
	if _, err := b.Open(bg, "rt", blob, nil); err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
}

// TestStaleHandles breaks the backend's sessions, login and handles behind
// its back; the next operation recovers (hsm.md §5).
func TestStaleHandles(t *testing.T) {
	b := openTest(t, mainToken)
	blob, err := b.GenerateSymmetric(bg, "s", 32)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, b, "warm-up") // leaves an idle pooled session
	p := b.m.p

	// C_CloseAllSessions: every session is gone, the process is logged
	// out, the KEK copies are destroyed.
	if err := p.CloseAllSessions(b.slot); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(bg, "s", blob, nil); err != nil {
		t.Fatalf("Open after C_CloseAllSessions: %v", err)
	}
	roundTrip(t, b, "after C_CloseAllSessions")

	// C_Logout on the anchor: sessions stay, private handles go.
	if err := p.Logout(b.anchor); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(bg, "s", blob, nil); err != nil {
		t.Fatalf("Open after C_Logout: %v", err)
	}
	roundTrip(t, b, "after C_Logout")

	// A destroyed KEK copy: CKR_*_HANDLE_INVALID.
	b.m.mu.Lock()
	k := b.keks[1]
	_ = p.DestroyObject(b.anchor, k.wrap)
	_ = p.DestroyObject(b.anchor, k.gcm)
	b.m.mu.Unlock()
	if _, err := b.Open(bg, "s", blob, nil); err != nil {
		t.Fatalf("Open with stale KEK handles: %v", err)
	}
	roundTrip(t, b, "after stale KEK handles")

	// C_Finalize behind the backend's back (CKR_CRYPTOKI_NOT_INITIALIZED).
	b.m.mu.Lock()
	_ = p.Finalize()
	b.m.mu.Unlock()
	if _, err := b.Open(bg, "s", blob, nil); err != nil {
		t.Fatalf("Open after C_Finalize: %v", err)
	}
	roundTrip(t, b, "after C_Finalize")
	if err := b.Health(bg); err != nil {
		t.Fatalf("Health: %v", err)
	}
}

// TestTokenRemoved deletes a token's files under a running backend: it
// must fail closed (ErrUnavailable, health red), never answer from stale
// state, and keep failing fast.
func TestTokenRemoved(t *testing.T) {
	b := openTest(t, removedToken)
	blob, err := b.GenerateSymmetric(bg, "r", 32)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Health(bg); err != nil {
		t.Fatal(err)
	}
	dir := softhsm.TokenDir(removedToken)
	if dir == "" {
		t.Fatal("token directory unknown")
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// The health check notices (operations run on session copies of the
	// master keys, which SoftHSM keeps in memory).
	if err := b.Health(bg); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Health with the token removed: %v, want ErrUnavailable", err)
	}
	if _, err := b.Open(bg, "r", blob, nil); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Open with the token removed: %v, want ErrUnavailable", err)
	}
	if _, err := b.GenerateSymmetric(bg, "r", 32); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("GenerateSymmetric with the token removed: %v, want ErrUnavailable", err)
	}
	if err := b.Health(bg); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Health with the token removed: %v, want ErrUnavailable", err)
	}
	// Failing fast: no recovery attempt within RecoveryInterval.
	start := time.Now()
	for range 100 {
		if _, err := b.Seal(bg, "r", []byte("x")); !errors.Is(err, hsm.ErrUnavailable) {
			t.Fatalf("Seal with the token removed: %v", err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("100 failing operations took %v", d)
	}
	// Other tokens of the process recover from the library's
	// re-initialisation.
	b2 := openTest(t, mainToken)
	roundTrip(t, b2, "main token after another token was removed")
}

func TestRotation(t *testing.T) {
	b := openTest(t, rotateToken)
	if cur, all := b.KeyVersions(); cur != 1 || len(all) != 1 {
		t.Fatalf("KeyVersions = %d %v", cur, all)
	}
	key1, _ := b.GenerateSymmetric(bg, "k1", 32)
	data1, _ := b.Seal(bg, "d1", []byte("registered data"))
	want1, _ := b.Open(bg, "k1", key1, nil)

	if err := b.UseKeyVersion(bg, 2, false); !errors.Is(err, hsm.ErrKeyVersion) {
		t.Fatalf("UseKeyVersion(2) without create: %v", err)
	}
	if err := b.UseKeyVersion(bg, 2, true); err != nil {
		t.Fatal(err)
	}
	if cur, all := b.KeyVersions(); cur != 2 || len(all) != 2 {
		t.Fatalf("KeyVersions = %d %v", cur, all)
	}
	// New blobs get version 2; old blobs still open.
	key2, _ := b.GenerateSymmetric(bg, "k2", 32)
	if h, _ := hsm.BlobKind(key2); h.KeyVersion != 2 {
		t.Fatalf("new blob under version %d", h.KeyVersion)
	}
	if got, err := b.Open(bg, "k1", key1, nil); err != nil || string(got) != string(want1) {
		t.Fatalf("old blob after rotation: %v", err)
	}
	// Rewrap moves blobs to version 2 inside the HSM.
	r1, err := b.Rewrap(bg, "k1", key1)
	if err != nil {
		t.Fatal(err)
	}
	rd1, err := b.Rewrap(bg, "d1", data1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range [][]byte{r1, rd1} {
		if h, _ := hsm.BlobKind(r); h.KeyVersion != 2 {
			t.Fatalf("rewrapped blob under version %d", h.KeyVersion)
		}
	}
	if got, err := b.Open(bg, "k1", r1, nil); err != nil || string(got) != string(want1) {
		t.Fatalf("rewrapped key: %v", err)
	}
	if got, err := b.Open(bg, "d1", rd1, nil); err != nil || string(got) != "registered data" {
		t.Fatalf("rewrapped data: %q %v", got, err)
	}
	if _, err := b.Rewrap(bg, "k2", key1); !errors.Is(err, hsm.ErrBlobCorrupt) {
		t.Fatalf("Rewrap for the wrong id: %v", err)
	}
	if same, err := b.Rewrap(bg, "k1", r1); err != nil || &same[0] != &r1[0] {
		t.Fatalf("Rewrap of a current blob: %v (copied: %v)", err, err == nil)
	}
	// Retire version 1: its blobs no longer open.
	if err := b.RetireKeyVersion(bg, 2); err == nil {
		t.Fatal("retired the current version")
	}
	if err := b.RetireKeyVersion(bg, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.RetireKeyVersion(bg, 1); err != nil {
		t.Fatalf("retiring twice: %v", err)
	}
	if _, err := b.Open(bg, "k1", key1, nil); !errors.Is(err, hsm.ErrKeyVersion) {
		t.Fatalf("blob of a retired version: %v", err)
	}
	if _, err := b.Open(bg, "k1", r1, nil); err != nil {
		t.Fatal(err)
	}
	// A new process finds version 2 only.
	o := testOptions(rotateToken)
	o.KEKVersion = 2
	b2, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	if cur, all := b2.KeyVersions(); cur != 2 || len(all) != 1 {
		t.Fatalf("KeyVersions after retiring = %d %v", cur, all)
	}
	if _, err := Open(testOptions(rotateToken)); err == nil {
		t.Fatal("Open with the retired version as current succeeded")
	}
	// UseKeyVersion adopts a version that already exists.
	if err := b2.UseKeyVersion(bg, 3, true); err != nil {
		t.Fatal(err)
	}
	if err := b.UseKeyVersion(bg, 3, false); err != nil {
		t.Fatalf("adopting version 3: %v", err)
	}
}

// TestRecoveryKeepsLogin checks that a backend's recovery does not log out
// another backend sharing the token.
func TestRecoveryKeepsLogin(t *testing.T) {
	b1 := openTest(t, mainToken)
	b2 := openTest(t, mainToken)
	b1.m.mu.Lock()
	_ = b1.m.p.CloseSession(b1.anchor)
	b1.m.mu.Unlock()
	roundTrip(t, b1, "b1 after losing its anchor")
	roundTrip(t, b2, "b2")
	var si pkcs11.SessionInfo
	b2.m.mu.RLock()
	si, err := b2.m.p.GetSessionInfo(b2.anchor)
	b2.m.mu.RUnlock()
	if err != nil || si.State != pkcs11.CKS_RW_USER_FUNCTIONS {
		t.Fatalf("b2's anchor: %+v %v", si, err)
	}
}

// TestHealthMonitor: the background health check marks a backend whose
// token vanished unavailable without any operation noticing first.
func TestHealthMonitor(t *testing.T) {
	needHSM(t)
	o := testOptions(monitorToken)
	o.HealthInterval = 20 * time.Millisecond
	b, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	blob, err := b.GenerateSymmetric(bg, "m", 32)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(softhsm.TokenDir(monitorToken)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.m.mu.RLock()
		broken := b.broken
		b.m.mu.RUnlock()
		if broken != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the health monitor did not notice the removed token")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := b.Open(bg, "m", blob, nil); !errors.Is(err, hsm.ErrUnavailable) {
		t.Fatalf("Open after the monitor noticed: %v, want ErrUnavailable", err)
	}
}
