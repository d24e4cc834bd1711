//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/kmipd/kmipd/hsm"
)

// openCache opens a backend on token with a key cache of n keys per
// session and a pool of pool sessions.
func openCache(t testing.TB, token string, n, pool int) *Backend {
	t.Helper()
	needHSM(t)
	o := testOptions(token)
	o.KeyCache, o.PoolSize, o.HealthInterval = n, pool, -1
	b, err := Open(o)
	if err != nil {
		t.Fatalf("Open(%s): %v", token, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// sessionKeys counts the session objects (CKA_TOKEN false) on b's token
// with C_FindObjects, less b's master-key copies: the keys b has unwrapped
// and not destroyed. No other backend may be open on the token.
func sessionKeys(t *testing.T, b *Backend) int {
	t.Helper()
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	p := b.m.p
	if err := p.FindObjectsInit(b.anchor, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		hs, _, err := p.FindObjects(b.anchor, 256)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) == 0 {
			break
		}
		n += len(hs)
	}
	if err := p.FindObjectsFinal(b.anchor); err != nil {
		t.Fatal(err)
	}
	for _, k := range b.keks {
		if k.wrap != k.wrapTok {
			n--
		}
		if k.gcm != k.gcmTok {
			n--
		}
	}
	return n
}

// cachedHandles returns the handles cached in b's idle sessions.
func cachedHandles(b *Backend) []pkcs11.ObjectHandle {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	var hs []pkcs11.ObjectHandle
	for range len(b.idle) {
		s := <-b.idle
		if s.cache != nil {
			for e := s.cache.lru.next; e != &s.cache.lru; e = e.next {
				hs = append(hs, e.h)
			}
		}
		b.idle <- s
	}
	return hs
}

// objectGone reports whether handle h no longer names an object.
func objectGone(b *Backend, h pkcs11.ObjectHandle) bool {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	_, err := b.m.p.GetAttributeValue(b.anchor, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, nil)})
	return isCKR(err, pkcs11.CKR_OBJECT_HANDLE_INVALID)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Ensure that keys used from the cache give the results of keys unwrapped
// for each operation: the AES-GCM known answer of the GCM specification
// (McGrew and Viega, test case 16), encrypted by one backend and decrypted
// by the other both ways, HMAC-SHA256 against crypto/hmac, and ECDSA
// signatures that verify.
func TestKeyCache_KnownAnswer(t *testing.T) {
	cached := openCache(t, mainToken, 8, 2)
	plain := openCache(t, mainToken, 0, 2)
	key := mustHex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
	iv := mustHex("cafebabefacedbaddecaf888")
	pt := mustHex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
	aad := mustHex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
	want := mustHex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" +
		"76fc6ece0f4e1768cddf8853bb2d551b")
	const id = "kat-key"
	blob, err := cached.SealKey(bg, id, key)
	if err != nil {
		t.Fatal(err)
	}
	enc := hsm.SymOp{Encrypt: true, Mode: hsm.ModeGCM, IV: iv, AAD: aad, TagLen: 16, Data: pt}
	dec := hsm.SymOp{Mode: hsm.ModeGCM, IV: iv, AAD: aad, TagLen: 16, Data: want}
	for i := range 3 { // a miss, then hits
		ct, err := cached.SymmetricCrypt(bg, id, blob, enc)
		if err != nil || !bytes.Equal(ct, want) {
			t.Fatalf("cached encryption %d: %x, %v; want %x", i, ct, err, want)
		}
		if got, err := plain.SymmetricCrypt(bg, id, blob, hsm.SymOp{Mode: hsm.ModeGCM, IV: iv, AAD: aad, TagLen: 16, Data: ct}); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("uncached decryption of the cached encryption: %x, %v", got, err)
		}
		ct, err = plain.SymmetricCrypt(bg, id, blob, enc)
		if err != nil || !bytes.Equal(ct, want) {
			t.Fatalf("uncached encryption: %x, %v", ct, err)
		}
		if got, err := cached.SymmetricCrypt(bg, id, blob, dec); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("cached decryption %d: %x, %v", i, got, err)
		}
	}
	// A bad tag fails through a cached key as it does through a fresh one.
	bad := bytes.Clone(want)
	bad[len(bad)-1] ^= 1
	if _, err := cached.SymmetricCrypt(bg, id, blob, hsm.SymOp{Mode: hsm.ModeGCM, IV: iv, AAD: aad, TagLen: 16, Data: bad}); !errors.Is(err, hsm.ErrCryptoFailed) {
		t.Fatalf("cached decryption with a bad tag: %v", err)
	}
	// The same blob presented for another object is refused, not served
	// from the cache.
	if _, err := cached.SymmetricCrypt(bg, "other-id", blob, enc); !errors.Is(err, hsm.ErrBlobCorrupt) {
		t.Fatalf("blob of %s used as other-id: %v", id, err)
	}

	// HMAC-SHA256 with a key the HSM generated; the test reads it to
	// compute the expected MAC with crypto/hmac.
	const macID = "mac-key"
	macBlob, err := cached.GenerateSymmetric(bg, macID, 32)
	if err != nil {
		t.Fatal(err)
	}
	macKey, err := cached.Open(bg, macID, macBlob, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("what the MAC covers")
	m := hmac.New(sha256.New, macKey)
	m.Write(msg)
	wantMAC := m.Sum(nil)
	for i := range 3 {
		for name, be := range map[string]*Backend{"cached": cached, "uncached": plain} {
			got, err := be.MAC(bg, macID, macBlob, hsm.HMACSHA256, msg)
			if err != nil || !bytes.Equal(got, wantMAC) {
				t.Fatalf("%s HMAC %d: %x, %v; want %x", name, i, got, err, wantMAC)
			}
		}
	}
	// The same AES key as an AES-CMAC key is another cached object (an
	// HMAC key is a generic secret, a CMAC key an AES key).
	if _, err := cached.MAC(bg, id, blob, hsm.CMAC, msg); err != nil {
		t.Fatalf("CMAC with the GCM key: %v", err)
	}

	const ecID = "ec-key"
	kp, err := cached.GenerateKeyPair(bg, ecID, hsm.KeyPairSpec{Algorithm: hsm.KeyPairEC, Curve: "P-256"})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(kp.PublicKeyDER)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(msg)
	for i := range 3 {
		sig, err := cached.Sign(bg, ecID, kp.PrivateBlob, hsm.SignOp{Mech: hsm.SignECDSA, Digest: digest[:]})
		if err != nil || !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatalf("cached ECDSA signature %d does not verify: %v", i, err)
		}
	}
	st := cached.Stats()
	// GCM: 1 miss and 5 hits (3 encryptions, 3 decryptions), 1 hit (bad
	// tag); the blob for another id: 1 miss; HMAC 1 miss, 2 hits; CMAC 1
	// miss; ECDSA 1 miss, 2 hits.
	if st.KeyCacheMisses != 5 || st.KeyCacheHits != 6+2+2 {
		t.Errorf("stats %+v: want 5 misses and 10 hits", st)
	}
	if ps := plain.Stats(); ps.KeyCacheHits != 0 || ps.KeyCacheMisses != 0 || ps.KeyCacheHandles != 0 {
		t.Errorf("uncached backend counted %+v", ps)
	}
}

// Ensure that a session never holds more unwrapped keys than the bound:
// the least recently used is destroyed, counted as an eviction, and the
// session objects on the token (C_FindObjects) match what the cache holds.
func TestKeyCache_Bound(t *testing.T) {
	const bound, pool, keys = 3, 2, 10
	b := openCache(t, cacheToken, bound, pool)
	if n := sessionKeys(t, b); n != 0 {
		t.Fatalf("%d session keys before any operation", n)
	}
	blobs := make([][]byte, keys)
	for i := range blobs {
		var err error
		if blobs[i], err = b.GenerateSymmetric(bg, fmt.Sprint("k", i), 32); err != nil {
			t.Fatal(err)
		}
	}
	iv := make([]byte, 12)
	use := func(i int) {
		t.Helper()
		if _, err := b.SymmetricCrypt(bg, fmt.Sprint("k", i), blobs[i], hsm.SymOp{Encrypt: true, Mode: hsm.ModeGCM, IV: iv, TagLen: 16, Data: iv}); err != nil {
			t.Fatal(err)
		}
	}
	// One goroutine: one session.
	for i := range keys {
		use(i)
		if n := sessionKeys(t, b); n > bound {
			t.Fatalf("after key %d: %d session keys, bound %d", i, n, bound)
		}
	}
	st := b.Stats()
	if st.KeyCacheMisses != keys || st.KeyCacheEvictions != keys-bound || st.KeyCacheHandles != bound {
		t.Fatalf("stats %+v: want %d misses, %d evictions, %d handles", st, keys, keys-bound, bound)
	}
	use(keys - 1) // most recently used: a hit
	use(0)        // evicted long ago: a miss
	if st := b.Stats(); st.KeyCacheHits != 1 || st.KeyCacheMisses != keys+1 {
		t.Fatalf("stats %+v: want 1 hit, %d misses", st, keys+1)
	}

	// Concurrent use over the whole pool.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 40 {
				i := (g*7 + j*3) % keys
				if _, err := b.SymmetricCrypt(bg, fmt.Sprint("k", i), blobs[i], hsm.SymOp{Encrypt: true, Mode: hsm.ModeGCM, IV: iv, TagLen: 16, Data: iv}); err != nil {
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
	n := sessionKeys(t, b)
	if n > bound*pool {
		t.Fatalf("%d session keys, bound %d × %d sessions", n, bound, pool)
	}
	if st := b.Stats(); int(st.KeyCacheHandles) != n || len(cachedHandles(b)) != n {
		t.Fatalf("%d session keys on the token, stats %+v, %d cached", n, st, len(cachedHandles(b)))
	}

	// Close destroys them.
	b.Close()
	o := openCache(t, cacheToken, 0, 1)
	if n := sessionKeys(t, o); n != 0 {
		t.Fatalf("%d session keys after Close", n)
	}
}

// Ensure that ForgetKey (called after Destroy and Revoke) destroys the
// object's cached handles in every session and leaves others alone.
func TestKeyCache_Forget(t *testing.T) {
	b := openCache(t, cacheToken, 4, 2)
	blobA, _ := b.GenerateSymmetric(bg, "a", 32)
	blobB, _ := b.GenerateSymmetric(bg, "b", 32)
	mac := func(id string, blob []byte) []byte {
		t.Helper()
		out, err := b.MAC(bg, id, blob, hsm.HMACSHA256, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Two sessions each cache a: two goroutines hold one session each.
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 20 {
				if _, err := b.MAC(bg, "a", blobA, hsm.HMACSHA256, []byte("x")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	macB := mac("b", blobB)
	before := cachedHandles(b)
	if n := sessionKeys(t, b); n != len(before) || n < 2 {
		t.Fatalf("%d session keys, %d cached", n, len(before))
	}
	b.ForgetKey("b-not-cached") // no effect
	if n := sessionKeys(t, b); n != len(before) {
		t.Fatalf("ForgetKey of an uncached id changed the session keys: %d, was %d", n, len(before))
	}
	b.ForgetKey("a")
	after := cachedHandles(b)
	if len(after) != 1 || sessionKeys(t, b) != 1 || b.Stats().KeyCacheHandles != 1 {
		t.Fatalf("after ForgetKey(a): %d cached, %d session keys, stats %+v", len(after), sessionKeys(t, b), b.Stats())
	}
	for _, h := range before {
		if h != after[0] && !objectGone(b, h) {
			t.Errorf("handle %d of a still names an object after ForgetKey", h)
		}
	}
	// b's handle stays; a is unwrapped again.
	if objectGone(b, after[0]) {
		t.Fatal("the cached key of b was destroyed by ForgetKey(a)")
	}
	if got := mac("b", blobB); !bytes.Equal(got, macB) {
		t.Fatalf("MAC with b after ForgetKey(a): %x, want %x", got, macB)
	}
	misses := b.Stats().KeyCacheMisses
	mac("a", blobA)
	if b.Stats().KeyCacheMisses != misses+1 {
		t.Fatal("a was served from the cache after ForgetKey(a)")
	}
}

// Ensure that master-key rotation drops every cached key: making a new
// version current, and retiring the old one, after which a blob under it
// can no longer be used, cached or not.
func TestKeyCache_Rotation(t *testing.T) {
	needHSM(t)
	// The current version is 1 at first, one more in each run (-count).
	var b *Backend
	for v := uint32(1); b == nil && v <= 64; v++ {
		o := testOptions(cacheRotToken)
		o.KeyCache, o.PoolSize, o.HealthInterval, o.KEKVersion = 4, 1, -1, v
		b, _ = Open(o)
	}
	if b == nil {
		t.Fatal("no master-key version on the token")
	}
	defer b.Close()
	cur, _ := b.KeyVersions()
	blob, _ := b.GenerateSymmetric(bg, "r", 32)
	macOf := func() ([]byte, error) { return b.MAC(bg, "r", blob, hsm.HMACSHA256, []byte("x")) }
	want, err := macOf()
	if err != nil {
		t.Fatal(err)
	}
	if n := sessionKeys(t, b); n != 1 {
		t.Fatalf("%d session keys, want 1", n)
	}
	if err := b.UseKeyVersion(bg, cur+1, true); err != nil {
		t.Fatal(err)
	}
	if n, st := sessionKeys(t, b), b.Stats(); n != 0 || st.KeyCacheHandles != 0 {
		t.Fatalf("after UseKeyVersion(%d): %d session keys, stats %+v", cur+1, n, st)
	}
	// The old blob still opens (unwrapped again) until its version retires.
	if got, err := macOf(); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("MAC under version 1 after rotation: %x, %v", got, err)
	}
	if n := sessionKeys(t, b); n != 1 {
		t.Fatalf("%d session keys, want 1", n)
	}
	if err := b.RetireKeyVersion(bg, cur); err != nil {
		t.Fatal(err)
	}
	if n, st := sessionKeys(t, b), b.Stats(); n != 0 || st.KeyCacheHandles != 0 {
		t.Fatalf("after RetireKeyVersion(%d): %d session keys, stats %+v", cur, n, st)
	}
	if _, err := macOf(); !errors.Is(err, hsm.ErrKeyVersion) {
		t.Fatalf("MAC with a blob under the retired version: %v", err)
	}
}

// Ensure that losing the sessions under the cache (C_CloseAllSessions,
// C_Logout, C_Finalize behind the backend's back) recovers: results stay
// right, and no handle of a lost session is used or counted.
func TestKeyCache_SessionLoss(t *testing.T) {
	b := openCache(t, cacheToken, 4, 2)
	blobs := map[string][]byte{}
	want := map[string][]byte{}
	for _, id := range []string{"l1", "l2", "l3"} {
		blob, err := b.GenerateSymmetric(bg, id, 32)
		if err != nil {
			t.Fatal(err)
		}
		blobs[id] = blob
		key, err := b.Open(bg, id, blob, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		want[id] = m.Sum(nil)
	}
	check := func(what string) {
		t.Helper()
		for range 2 {
			for id, blob := range blobs {
				got, err := b.MAC(bg, id, blob, hsm.HMACSHA256, []byte(id))
				if err != nil || !bytes.Equal(got, want[id]) {
					t.Fatalf("%s: MAC with %s: %x, %v", what, id, got, err)
				}
			}
		}
		if n, st := sessionKeys(t, b), b.Stats(); n != int(st.KeyCacheHandles) || n != len(cachedHandles(b)) || n > 4*2 {
			t.Fatalf("%s: %d session keys, stats %+v, %d cached", what, n, st, len(cachedHandles(b)))
		}
	}
	check("warm-up")
	p := b.m.p
	if err := p.CloseAllSessions(b.slot); err != nil {
		t.Fatal(err)
	}
	check("after C_CloseAllSessions")
	b.m.mu.Lock()
	_ = p.Logout(b.anchor)
	b.m.mu.Unlock()
	check("after C_Logout")
	b.m.mu.Lock()
	_ = p.Finalize()
	b.m.mu.Unlock()
	check("after C_Finalize")
	if err := b.Health(bg); err != nil {
		t.Fatal(err)
	}
}

// Ensure that concurrent operations, ForgetKey and rotation share the
// cache without a data race (run with -race) and without wrong results.
func TestKeyCache_Concurrent(t *testing.T) {
	b := openCache(t, cacheToken, 2, 3)
	const keys = 5
	blobs := make([][]byte, keys)
	want := make([][]byte, keys)
	for i := range keys {
		id := fmt.Sprint("c", i)
		blobs[i], _ = b.GenerateSymmetric(bg, id, 32)
		key, err := b.Open(bg, id, blobs[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte("data"))
		want[i] = m.Sum(nil)
	}
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 60 {
				i := (g + j) % keys
				id := fmt.Sprint("c", i)
				if g == 0 && j%10 == 0 {
					b.ForgetKey(id)
					continue
				}
				got, err := b.MAC(bg, id, blobs[i], hsm.HMACSHA256, []byte("data"))
				if err != nil || !bytes.Equal(got, want[i]) {
					t.Errorf("MAC with %s: %x, %v", id, got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n, st := sessionKeys(t, b), b.Stats(); n != int(st.KeyCacheHandles) || n > 2*3 {
		t.Fatalf("%d session keys, stats %+v", n, st)
	}
}

// Ensure that the key cache size is checked.
func TestKeyCache_Options(t *testing.T) {
	for _, n := range []int{-1, MaxKeyCache + 1} {
		o := Options{Module: "libsofthsm2.so", Token: "t", PIN: "1234", KeyCache: n}
		if err := o.setDefaults(); err == nil {
			t.Errorf("KeyCache %d accepted", n)
		}
	}
}

// Ensure that an HSM handing out a handle the cache holds for another key
// (its object destroyed behind the backend's back, the number reused) is
// taken as lost objects: the session is closed and the operation retried,
// with the right result. SoftHSM numbers handles in sequence, so the
// test plants a cache entry on the number the next unwrap gets.
func TestKeyCache_ReusedHandle(t *testing.T) {
	b := openCache(t, cacheToken, 4, 1)
	blobA, _ := b.GenerateSymmetric(bg, "ra", 32)
	blobB, _ := b.GenerateSymmetric(bg, "rb", 32)
	keyB, err := b.Open(bg, "rb", blobB, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.MAC(bg, "ra", blobA, hsm.HMACSHA256, []byte("x")); err != nil {
		t.Fatal(err)
	}
	hs := cachedHandles(b)
	if len(hs) != 1 {
		t.Fatalf("%d cached handles, want 1", len(hs))
	}
	// The planted entry stands for a key whose object is gone.
	b.m.mu.Lock()
	s := <-b.idle
	ghost := &cacheEntry{id: "ghost", h: hs[0] + 1}
	ghost.key[0] = 1
	s.cache.m[ghost.key], s.cache.byHandle[ghost.h] = ghost, ghost
	s.cache.pushFront(ghost)
	b.handles.Add(1)
	b.cachedIDs["ghost"]++
	b.idle <- s
	b.m.mu.Unlock()
	got, err := b.MAC(bg, "rb", blobB, hsm.HMACSHA256, []byte("x"))
	m := hmac.New(sha256.New, keyB)
	m.Write([]byte("x"))
	if err != nil || !bytes.Equal(got, m.Sum(nil)) {
		t.Fatalf("MAC after a reused handle: %x, %v", got, err)
	}
	if b.Stats().Errors == 0 {
		t.Fatal("no failed call counted: the reused handle went unnoticed (or SoftHSM numbered it otherwise)")
	}
	if n, st := sessionKeys(t, b), b.Stats(); n != 1 || st.KeyCacheHandles != 1 || len(cachedHandles(b)) != 1 {
		t.Fatalf("%d session keys, stats %+v, %d cached; want 1 (rb)", n, st, len(cachedHandles(b)))
	}
}
