//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/internal/keywrap"
)

func TestGenerateOpen(t *testing.T) {
	b := openTest(t, mainToken)
	if b.Name() != "pkcs11" {
		t.Errorf("Name %q", b.Name())
	}
	for _, n := range []int{8, 16, 24, 32, 40, 64, 512, 1, 9, 20, 33} {
		blob, err := b.GenerateSymmetric(bg, "obj-1", n)
		if err != nil {
			t.Fatalf("GenerateSymmetric(%d): %v", n, err)
		}
		h, err := hsm.BlobKind(blob)
		if err != nil {
			t.Fatal(err)
		}
		wantKind := hsm.KindPKCS11
		if n%8 == 0 {
			wantKind = hsm.KindPKCS11Wrap
			if len(blob) != wrapPrefixSize+n+8 {
				t.Errorf("%d-byte key: %d-byte blob, want %d", n, len(blob), wrapPrefixSize+n+8)
			}
		} else if len(blob) != hsm.Overhead+n {
			t.Errorf("%d-byte key: %d-byte blob, want %d", n, len(blob), hsm.Overhead+n)
		}
		if h.Kind != wantKind || h.KeyVersion != 1 {
			t.Errorf("%d-byte key: header %+v, want kind %v version 1", n, h, wantKind)
		}
		prefix := []byte("prefix")
		key, err := b.Open(bg, "obj-1", blob, prefix)
		if err != nil {
			t.Fatalf("Open(%d-byte key): %v", n, err)
		}
		if len(key) != len(prefix)+n || !bytes.HasPrefix(key, prefix) {
			t.Fatalf("Open(%d-byte key) = %d bytes, want prefix + %d", n, len(key), n)
		}
		if n >= 16 && bytes.Count(key[len(prefix):], []byte{0}) == n {
			t.Errorf("%d-byte key is all zeros", n)
		}
		if bytes.Contains(blob, key[len(prefix):]) && n >= 8 {
			t.Errorf("%d-byte key appears in its blob", n)
		}
		// Bound to the object identifier.
		if _, err := b.Open(bg, "obj-2", blob, nil); !errors.Is(err, hsm.ErrBlobCorrupt) {
			t.Errorf("Open of a %d-byte key's blob for another object: %v, want ErrBlobCorrupt", n, err)
		}
	}
	// Two keys differ.
	b1, _ := b.GenerateSymmetric(bg, "x", 32)
	b2, _ := b.GenerateSymmetric(bg, "x", 32)
	k1, _ := b.Open(bg, "x", b1, nil)
	k2, _ := b.Open(bg, "x", b2, nil)
	if bytes.Equal(k1, k2) {
		t.Error("two generated keys are equal")
	}
	for _, n := range []int{0, -1, MaxGenerate + 1} {
		if _, err := b.GenerateSymmetric(bg, "x", n); err == nil {
			t.Errorf("GenerateSymmetric(%d) succeeded", n)
		}
	}
}

func TestSealOpen(t *testing.T) {
	b := openTest(t, mainToken)
	for _, n := range []int{0, 1, 31, 32, 1000, 70000} {
		pt := make([]byte, n)
		rand.Read(pt)
		blob, err := b.Seal(bg, "id-7", pt)
		if err != nil {
			t.Fatalf("Seal(%d): %v", n, err)
		}
		if h, _ := hsm.BlobKind(blob); h.Kind != hsm.KindPKCS11 || len(blob) != hsm.Overhead+n {
			t.Fatalf("Seal(%d): kind %v, %d bytes", n, h.Kind, len(blob))
		}
		got, err := b.Open(bg, "id-7", blob, nil)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open(Seal(%d)) = %d bytes, %v", n, len(got), err)
		}
		if _, err := b.Open(bg, "id-8", blob, nil); !errors.Is(err, hsm.ErrBlobCorrupt) {
			t.Fatalf("Open for another id: %v", err)
		}
	}
}

func TestSealKey(t *testing.T) {
	b := openTest(t, mainToken)
	for _, n := range []int{16, 24, 32, 48, 20} {
		key := make([]byte, n)
		rand.Read(key)
		blob, err := b.SealKey(bg, "k", key)
		if err != nil {
			t.Fatalf("SealKey(%d): %v", n, err)
		}
		want := hsm.KindPKCS11Wrap
		if n%8 != 0 {
			want = hsm.KindPKCS11
		}
		if h, _ := hsm.BlobKind(blob); h.Kind != want {
			t.Errorf("SealKey(%d): kind %v, want %v", n, h.Kind, want)
		}
		got, err := b.Open(bg, "k", blob, nil)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("Open(SealKey(%d)): %x, %v", n, got, err)
		}
	}
}

func TestTamperedBlob(t *testing.T) {
	b := openTest(t, mainToken)
	wrapped, err := b.GenerateSymmetric(bg, "t", 32)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := b.Seal(bg, "t", []byte("some secret data"))
	if err != nil {
		t.Fatal(err)
	}
	for name, blob := range map[string][]byte{"wrapped": wrapped, "sealed": sealed} {
		for i := hsm.HeaderSize; i < len(blob); i++ {
			bad := bytes.Clone(blob)
			bad[i] ^= 0x20
			if _, err := b.Open(bg, "t", bad, nil); !errors.Is(err, hsm.ErrBlobCorrupt) {
				t.Fatalf("%s blob with byte %d flipped: %v, want ErrBlobCorrupt", name, i, err)
			}
		}
		for _, n := range []int{0, 5, hsm.HeaderSize, 20, len(blob) - 1} {
			if _, err := b.Open(bg, "t", blob[:n], nil); !errors.Is(err, hsm.ErrBlobCorrupt) {
				t.Errorf("%s blob truncated to %d bytes: %v, want ErrBlobCorrupt", name, n, err)
			}
		}
		// Another master-key version or backend kind.
		bad := bytes.Clone(blob)
		bad[5] = 9
		if _, err := b.Open(bg, "t", bad, nil); !errors.Is(err, hsm.ErrKeyVersion) {
			t.Errorf("%s blob of version 9: %v, want ErrKeyVersion", name, err)
		}
	}
	// A software-backend blob.
	bad := bytes.Clone(sealed)
	bad[1] = byte(hsm.KindSoftware)
	if _, err := b.Open(bg, "t", bad, nil); !errors.Is(err, hsm.ErrKeyVersion) {
		t.Errorf("software blob: %v, want ErrKeyVersion", err)
	}
	// The kind-0x03 blob swapped with a kind-0x02 header.
	bad = bytes.Clone(wrapped)
	bad[1] = byte(hsm.KindPKCS11)
	if _, err := b.Open(bg, "t", bad, nil); !errors.Is(err, hsm.ErrBlobCorrupt) {
		t.Errorf("wrapped blob read as sealed: %v, want ErrBlobCorrupt", err)
	}
	// None of this made the backend unhealthy.
	if err := b.Health(bg); err != nil {
		t.Fatalf("Health after tampered blobs: %v", err)
	}
	if _, err := b.Open(bg, "t", wrapped, nil); err != nil {
		t.Fatalf("Open of the intact blob: %v", err)
	}
}

func TestParseWrapBlob(t *testing.T) {
	w := appendWrapFixed(nil, 3, keyTypeAES, 32)
	w = append(w, make([]byte, hsm.NonceSize+hsm.TagSize+40)...)
	if p, err := parseWrapBlob(w); err != nil || p.version != 3 || p.keyLen != 32 || len(p.wrapped) != 40 {
		t.Fatalf("parseWrapBlob: %+v, %v", p, err)
	}
	for name, mod := range map[string]func([]byte) []byte{
		"wrong length":   func(b []byte) []byte { b[11] = 24; return b },
		"zero length":    func(b []byte) []byte { b[11] = 0; return b },
		"unknown alg":    func(b []byte) []byte { b[6] = 2; return b },
		"unknown type":   func(b []byte) []byte { b[7] = 9; return b },
		"private length": func(b []byte) []byte { b[7] = keyTypeRSA; return b },
		"not multiple":   func(b []byte) []byte { return append(b, 0) },
		"short":          func(b []byte) []byte { return b[:wrapPrefixSize+8] },
		"version 0":      func(b []byte) []byte { b[5] = 0; return b },
	} {
		if _, err := parseWrapBlob(mod(bytes.Clone(w))); !errors.Is(err, hsm.ErrBlobCorrupt) {
			t.Errorf("%s: %v, want ErrBlobCorrupt", name, err)
		}
	}
}

func TestKEKNotExtractable(t *testing.T) {
	b := openTest(t, mainToken)
	err := b.do(bg, false, func(o *op) error {
		k, err := o.kek(1)
		if err != nil {
			return err
		}
		for _, h := range []pkcs11.ObjectHandle{k.wrapTok, k.gcmTok, k.wrap, k.gcm} {
			if _, err := o.p.GetAttributeValue(o.s, h, valueAttr); !isCKR(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
				t.Errorf("reading the KEK's value: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
			}
			attrs, err := o.p.GetAttributeValue(o.s, h, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil), pkcs11.NewAttribute(pkcs11.CKA_NEVER_EXTRACTABLE, nil),
			})
			if err != nil || !boolIs(attrs[0].Value, false) || !boolIs(attrs[1].Value, true) {
				t.Errorf("KEK attributes: %v %v", attrs, err)
			}
		}
		if k.wrap == k.wrapTok || k.gcm == k.gcmTok {
			t.Error("SoftHSM allows C_CopyObject, but the KEKs were not copied to session objects")
		}
		// The wrap KEK does not encrypt, the GCM KEK does not wrap.
		if _, err := o.gcmEncrypt(k.wrap, make([]byte, 12), nil, []byte("x")); err == nil {
			t.Error("the wrap KEK encrypts")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	needHSM(t)
	// Wrong PIN: a clear error, no retry loop.
	o := testOptions(mainToken)
	o.PIN = "0000"
	if _, err := Open(o); err == nil || !strings.Contains(err.Error(), "CKR_PIN_INCORRECT") {
		t.Errorf("Open with a wrong PIN: %v", err)
	}
	// Unknown token.
	o = testOptions("no-such-token")
	if _, err := Open(o); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Open of a missing token: %v", err)
	}
	// Missing module.
	o = testOptions(mainToken)
	o.Module = "/nonexistent/libsofthsm2.so"
	if _, err := Open(o); err == nil {
		t.Error("Open with a missing module succeeded")
	}
	// A token without master key: Open fails closed until CreateKEK.
	if _, err := Open(testOptions(emptyToken)); !errors.Is(err, hsm.ErrUnavailable) || !strings.Contains(err.Error(), "kmipd init") {
		t.Errorf("Open without a master key: %v", err)
	}
	// A missing older version is fine, a missing current one is not.
	o = testOptions(mainToken)
	o.KEKVersion = 2
	if _, err := Open(o); err == nil {
		t.Error("Open with a missing current master-key version succeeded")
	}
	o = testOptions(mainToken)
	o.KEKLabel = "other-label"
	if err := CreateKEK(o); err != nil {
		t.Fatalf("CreateKEK with another label: %v", err)
	}
	if err := CreateKEK(o); !errors.Is(err, ErrKEKExists) {
		t.Errorf("CreateKEK twice: %v, want ErrKEKExists", err)
	}
	b, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Blobs of one label's KEK do not open under another's.
	b1 := openTest(t, mainToken)
	blob, err := b1.GenerateSymmetric(bg, "a", 32)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(bg, "a", blob, nil); !errors.Is(err, hsm.ErrBlobCorrupt) {
		t.Errorf("blob opened under another KEK: %v", err)
	}
}

func TestClose(t *testing.T) {
	b := openTest(t, mainToken)
	blob, err := b.GenerateSymmetric(bg, "c", 32)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.Open(bg, "c", blob, nil); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("Open after Close: %v", err)
	}
	if _, err := b.GenerateSymmetric(bg, "c", 32); !errors.Is(err, hsm.ErrUnavailable) {
		t.Errorf("GenerateSymmetric after Close: %v", err)
	}
	// Another backend of the process still works: Close never logs out.
	b2 := openTest(t, mainToken)
	if _, err := b2.Open(bg, "c", blob, nil); err != nil {
		t.Fatalf("another backend after Close: %v", err)
	}
}

func TestRandom(t *testing.T) {
	b := openTest(t, mainToken)
	p := make([]byte, 64)
	if err := b.Random(bg, p); err != nil {
		t.Fatal(err)
	}
	if bytes.Count(p, []byte{0}) > 16 {
		t.Errorf("Random: %x", p)
	}
	if err := b.Random(bg, nil); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrent runs many goroutines on a small pool: every operation
// must own its session (SoftHSM crashes otherwise).
func TestConcurrent(t *testing.T) {
	needHSM(t)
	o := testOptions(mainToken)
	o.PoolSize = 3
	b, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := string(rune('a' + g))
			for i := range 60 {
				var blob []byte
				var err error
				if i%2 == 0 {
					blob, err = b.GenerateSymmetric(bg, id, 32)
				} else {
					blob, err = b.Seal(bg, id, []byte("material"))
				}
				if err == nil {
					_, err = b.Open(bg, id, blob, nil)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n := len(b.idle); n > 3 {
		t.Errorf("%d idle sessions, pool size 3", n)
	}
}

// TestParity checks that SoftHSM's CKM_AES_KEY_WRAP_PAD and the software
// backend's RFC 5649 implementation agree byte for byte, both ways, with a
// KEK known to both (imported into the HSM as a session object).
func TestParity(t *testing.T) {
	b := openTest(t, mainToken)
	kek := make([]byte, 32)
	rand.Read(kek)
	err := b.do(bg, false, func(o *op) error {
		kh, err := o.p.CreateObject(o.s, append(secretTmpl(pkcs11.CKK_AES, true, false),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, kek),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true)))
		if err != nil {
			return err
		}
		defer o.destroy(kh)
		for _, n := range []int{16, 24, 32, 64} {
			// HSM-generated key, wrapped by the HSM, unwrapped in Go.
			h, err := o.p.GenerateKey(o.s, mechGenericGen, append(secretTmpl(pkcs11.CKK_GENERIC_SECRET, false, true),
				pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, n)))
			if err != nil {
				return err
			}
			attrs, err := o.p.GetAttributeValue(o.s, h, valueAttr)
			if err != nil {
				return err
			}
			key := attrs[0].Value
			hw, err := o.p.WrapKey(o.s, mechKWP, kh, h)
			o.destroy(h)
			if err != nil {
				return err
			}
			gw, err := keywrap.WrapKeyPad(kek, key)
			if err != nil {
				return err
			}
			if !bytes.Equal(hw, gw) {
				t.Errorf("%d-byte key: SoftHSM KWP %x, Go RFC 5649 %x", n, hw, gw)
			}
			if got, err := keywrap.UnwrapKeyPad(kek, hw); err != nil || !bytes.Equal(got, key) {
				t.Errorf("%d-byte key: Go cannot unwrap SoftHSM's KWP: %v", n, err)
			}
			// Go-wrapped key unwrapped by the HSM.
			key2 := make([]byte, n)
			rand.Read(key2)
			gw2, _ := keywrap.WrapKeyPad(kek, key2)
			h2, err := o.p.UnwrapKey(o.s, mechKWP, kh, gw2, readableTmpl)
			if err != nil {
				return err
			}
			attrs, err = o.p.GetAttributeValue(o.s, h2, valueAttr)
			o.destroy(h2)
			if err != nil {
				return err
			}
			if !bytes.Equal(attrs[0].Value, key2) {
				t.Errorf("%d-byte key: SoftHSM unwrapped Go's KWP to %x, want %x", n, attrs[0].Value, key2)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
