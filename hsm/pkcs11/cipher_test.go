//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"testing"

	"github.com/kmipd/kmipd/hsm"
)

// TestCipher compares AES and HMAC inside the HSM with Go's.
func TestCipher(t *testing.T) {
	b := openTest(t, mainToken)
	for _, n := range []int{16, 24, 32} {
		key := make([]byte, n)
		rand.Read(key)
		const id = "cipher-key"
		blob, err := b.SealKey(bg, id, key)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := aes.NewCipher(key)
		iv := make([]byte, 16)
		rand.Read(iv)
		pt := make([]byte, 48)
		rand.Read(pt)
		crypt := func(op hsm.SymOp) []byte {
			t.Helper()
			out, err := b.SymmetricCrypt(bg, id, blob, op)
			if err != nil {
				t.Fatalf("%d-byte key, mode %d, encrypt %v: %v", n, op.Mode, op.Encrypt, err)
			}
			return out
		}
		roundTrip := func(mode hsm.CipherMode, iv, data, want []byte) {
			t.Helper()
			ct := crypt(hsm.SymOp{Encrypt: true, Mode: mode, IV: iv, Data: data})
			if !bytes.Equal(ct, want) {
				t.Fatalf("%d-byte key, mode %d: HSM %x, Go %x", n, mode, ct, want)
			}
			if got := crypt(hsm.SymOp{Mode: mode, IV: iv, Data: ct}); !bytes.Equal(got, data) {
				t.Fatalf("%d-byte key, mode %d: decrypted %x, want %x", n, mode, got, data)
			}
		}
		// ECB
		want := make([]byte, len(pt))
		for i := 0; i < len(pt); i += 16 {
			blk.Encrypt(want[i:], pt[i:i+16])
		}
		roundTrip(hsm.ModeECB, nil, pt, want)
		// CBC
		want = make([]byte, len(pt))
		cipher.NewCBCEncrypter(blk, iv).CryptBlocks(want, pt)
		roundTrip(hsm.ModeCBC, iv, pt, want)
		// CBC with PKCS#5 padding
		odd := pt[:37]
		padded := append(append([]byte(nil), odd...), bytes.Repeat([]byte{11}, 11)...)
		want = make([]byte, len(padded))
		cipher.NewCBCEncrypter(blk, iv).CryptBlocks(want, padded)
		roundTrip(hsm.ModeCBCPad, iv, odd, want)
		// CTR, with a counter block that carries into the upper half.
		ctrIV := bytes.Repeat([]byte{0xff}, 16)
		ctrIV[0] = 1
		want = make([]byte, len(odd))
		cipher.NewCTR(blk, ctrIV).XORKeyStream(want, odd)
		roundTrip(hsm.ModeCTR, ctrIV, odd, want)
		// GCM, full and shortened tags, 12- and 16-byte IVs.
		aad := []byte("additional data")
		for _, ivLen := range []int{12, 16} {
			for _, tagLen := range []int{12, 16} {
				a, _ := cipher.NewGCMWithNonceSize(blk, ivLen)
				want := a.Seal(nil, iv[:ivLen], odd, aad)
				want = want[:len(odd)+tagLen] // a short tag is the full one's leading bytes
				op := hsm.SymOp{Encrypt: true, Mode: hsm.ModeGCM, IV: iv[:ivLen], AAD: aad, TagLen: tagLen, Data: odd}
				if got := crypt(op); !bytes.Equal(got, want) {
					t.Fatalf("GCM iv %d tag %d: HSM %x, Go %x", ivLen, tagLen, got, want)
				}
				op.Encrypt, op.Data = false, want
				if got := crypt(op); !bytes.Equal(got, odd) {
					t.Fatalf("GCM iv %d tag %d: decrypted %x", ivLen, tagLen, got)
				}
				bad := append([]byte(nil), want...)
				bad[len(bad)-1] ^= 1
				op.Data = bad
				if _, err := b.SymmetricCrypt(bg, id, blob, op); !errors.Is(err, hsm.ErrCryptoFailed) {
					t.Fatalf("GCM with a bad tag: %v, want ErrCryptoFailed", err)
				}
			}
		}
		// Bad data does not break the backend.
		if _, err := b.SymmetricCrypt(bg, id, blob, hsm.SymOp{Encrypt: true, Mode: hsm.ModeCBC, IV: iv, Data: odd}); !errors.Is(err, hsm.ErrCryptoFailed) {
			t.Fatalf("CBC without padding of %d bytes: %v, want ErrCryptoFailed", len(odd), err)
		}
		if err := b.Health(bg); err != nil {
			t.Fatalf("after failed operations: %v", err)
		}
		// The blob is bound to its identifier.
		if _, err := b.SymmetricCrypt(bg, "other", blob, hsm.SymOp{Encrypt: true, Mode: hsm.ModeECB, Data: pt}); err == nil {
			t.Fatal("a blob used under another identifier worked")
		}
	}
}

func TestCipherMAC(t *testing.T) {
	b := openTest(t, mainToken)
	data := []byte("the data to authenticate")
	for _, n := range []int{16, 32, 40, 64} {
		key := make([]byte, n)
		rand.Read(key)
		const id = "mac-key"
		blob, err := b.SealKey(bg, id, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			mech hsm.MACMech
			h    func() hash.Hash
			min  int // SoftHSM refuses shorter keys (CKR_KEY_SIZE_RANGE)
		}{
			{hsm.HMACSHA1, sha1.New, 20},
			{hsm.HMACSHA256, sha256.New, 32},
			{hsm.HMACSHA384, sha512.New384, 48},
			{hsm.HMACSHA512, sha512.New, 64},
		} {
			got, err := b.MAC(bg, id, blob, tc.mech, data)
			if n < tc.min {
				if !errors.Is(err, hsm.ErrNotSupported) {
					t.Fatalf("%d-byte key, mech %d: %v, want ErrNotSupported", n, tc.mech, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%d-byte key, mech %d: %v", n, tc.mech, err)
			}
			m := hmac.New(tc.h, key)
			m.Write(data)
			if want := m.Sum(nil); !bytes.Equal(got, want) {
				t.Fatalf("%d-byte key, mech %d: HSM %x, Go %x", n, tc.mech, got, want)
			}
		}
	}
}

func TestCipherNotSupported(t *testing.T) {
	b := openTest(t, mainToken)
	const id = "odd-key"
	// 20 bytes: sealed with C_Encrypt, not held as an HSM key.
	blob, err := b.SealKey(bg, id, make([]byte, 20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.MAC(bg, id, blob, hsm.HMACSHA256, nil); !errors.Is(err, hsm.ErrNotSupported) {
		t.Fatalf("MAC with a sealed key: %v", err)
	}
	blob, err = b.SealKey(bg, id, make([]byte, 40)) // generic secret
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SymmetricCrypt(bg, id, blob, hsm.SymOp{Encrypt: true, Mode: hsm.ModeECB, Data: make([]byte, 16)}); !errors.Is(err, hsm.ErrNotSupported) {
		t.Fatalf("AES with a 40-byte key: %v", err)
	}
	blob, err = b.SealKey(bg, id, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SymmetricCrypt(bg, id, blob, hsm.SymOp{Encrypt: true, Mode: 99}); !errors.Is(err, hsm.ErrNotSupported) {
		t.Fatalf("unknown mode: %v", err)
	}
}
