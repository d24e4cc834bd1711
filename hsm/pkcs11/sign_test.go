//go:build cgo

package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/internal/rsapss"
)

// TestCipherSign signs inside the HSM and verifies with Go.
func TestCipherSign(t *testing.T) {
	b := openTest(t, mainToken)
	const id = "sign-key"
	msg := []byte("the message to sign")
	for _, spec := range []hsm.KeyPairSpec{
		{Algorithm: hsm.KeyPairRSA, Bits: 2048},
		{Algorithm: hsm.KeyPairEC, Curve: "P-256"},
		{Algorithm: hsm.KeyPairEC, Curve: "P-384"},
	} {
		kp, err := b.GenerateKeyPair(bg, id, spec)
		if err != nil {
			t.Fatalf("%+v: %v", spec, err)
		}
		pub, err := x509.ParsePKIXPublicKey(kp.PublicKeyDER)
		if err != nil {
			t.Fatal(err)
		}
		switch p := pub.(type) {
		case *rsa.PublicKey:
			for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
				hh := h.New()
				hh.Write(msg)
				digest := hh.Sum(nil)
				// PKCS#1 v1.5: DigestInfo ‖ digest, padded in the HSM.
				sig, err := b.Sign(bg, id, kp.PrivateBlob, hsm.SignOp{Mech: hsm.SignRSAPKCS1, Digest: append(digestInfo(h), digest...)})
				if err != nil {
					t.Fatalf("PKCS#1 v1.5 %v: %v", h, err)
				}
				if err := rsa.VerifyPKCS1v15(p, h, digest, sig); err != nil {
					t.Fatalf("PKCS#1 v1.5 %v: %v", h, err)
				}
				for _, salt := range []int{0, 20, h.Size()} {
					sig, err := b.Sign(bg, id, kp.PrivateBlob, hsm.SignOp{Mech: hsm.SignRSAPSS, Hash: h, SaltLen: salt, Digest: digest})
					if err != nil {
						t.Fatalf("PSS %v salt %d: %v", h, salt, err)
					}
					// rsapss checks the exact salt length (crypto/rsa reads 0 as any).
					if err := rsapss.Verify(p, h, h, digest, sig, salt); err != nil {
						t.Fatalf("PSS %v salt %d: %v", h, salt, err)
					}
					if err := rsapss.Verify(p, h, h, digest, sig, salt+1); err == nil {
						t.Fatalf("PSS %v salt %d verifies with a %d-byte salt", h, salt, salt+1)
					}
				}
				// MGF1 with another hash: SoftHSM refuses it ("Hash and MGF
				// don't match"), which must be ErrNotSupported; a token that
				// does it must do it right.
				mgf := crypto.SHA1
				if h == crypto.SHA1 {
					mgf = crypto.SHA256
				}
				sig, err = b.Sign(bg, id, kp.PrivateBlob, hsm.SignOp{Mech: hsm.SignRSAPSS, Hash: h, MGFHash: mgf, SaltLen: h.Size(), Digest: digest})
				switch {
				case errors.Is(err, hsm.ErrNotSupported):
				case err != nil:
					t.Fatalf("PSS %v with MGF1-%v: %v, want a signature or ErrNotSupported", h, mgf, err)
				default:
					if err := rsapss.Verify(p, h, mgf, digest, sig, h.Size()); err != nil {
						t.Fatalf("PSS %v with MGF1-%v: %v", h, mgf, err)
					}
				}
			}
			// Raw PKCS#1 v1.5 (no DigestInfo) verifies with hash 0.
			digest := sha256.Sum256(msg)
			sig, err := b.Sign(bg, id, kp.PrivateBlob, hsm.SignOp{Mech: hsm.SignRSAPKCS1, Digest: digest[:]})
			if err != nil {
				t.Fatal(err)
			}
			if err := rsa.VerifyPKCS1v15(p, 0, digest[:], sig); err != nil {
				t.Fatalf("unhashed PKCS#1 v1.5: %v", err)
			}
			// An RSA key cannot do ECDSA.
			if _, err := b.Sign(bg, id, kp.PrivateBlob, hsm.SignOp{Mech: hsm.SignECDSA, Digest: digest[:]}); !errors.Is(err, hsm.ErrNotSupported) {
				t.Fatalf("ECDSA with an RSA key: %v", err)
			}
		case *ecdsa.PublicKey:
			for _, digest := range [][]byte{sha1Sum(msg), sha256Sum(msg), sha384Sum(msg)} {
				sig, err := b.Sign(bg, id, kp.PrivateBlob, hsm.SignOp{Mech: hsm.SignECDSA, Digest: digest})
				if err != nil {
					t.Fatalf("%s ECDSA over %d bytes: %v", spec.Curve, len(digest), err)
				}
				if !ecdsa.VerifyASN1(p, digest, sig) {
					t.Fatalf("%s ECDSA over %d bytes: the signature %x does not verify", spec.Curve, len(digest), sig)
				}
			}
			if _, err := b.Sign(bg, id, kp.PrivateBlob, hsm.SignOp{Mech: hsm.SignRSAPKCS1, Digest: sha256Sum(msg)}); !errors.Is(err, hsm.ErrNotSupported) {
				t.Fatalf("RSA with an EC key: %v", err)
			}
		}
		// The blob is bound to its identifier.
		if _, err := b.Sign(bg, "other", kp.PrivateBlob, hsm.SignOp{Mech: hsm.SignECDSA, Digest: sha256Sum(msg)}); err == nil {
			t.Fatal("a private key blob used under another identifier worked")
		}
	}
}

// TestCipherDecrypt decrypts Go-made RSA ciphertexts inside the HSM.
func TestCipherDecrypt(t *testing.T) {
	b := openTest(t, mainToken)
	const id = "decrypt-key"
	kp, err := b.GenerateKeyPair(bg, id, hsm.KeyPairSpec{Algorithm: hsm.KeyPairRSA, Bits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKIXPublicKey(kp.PublicKeyDER)
	if err != nil {
		t.Fatal(err)
	}
	pub := k.(*rsa.PublicKey)
	msg := []byte("a secret message")
	for _, label := range [][]byte{nil} {
		ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, msg, label)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Decrypt(bg, id, kp.PrivateBlob, hsm.DecryptRSAOAEPSHA1, label, ct)
		if err != nil {
			t.Fatalf("OAEP, label %q: %v", label, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("OAEP, label %q: %q", label, got)
		}
		ct[10] ^= 1
		if _, err := b.Decrypt(bg, id, kp.PrivateBlob, hsm.DecryptRSAOAEPSHA1, label, ct); !errors.Is(err, hsm.ErrCryptoFailed) {
			t.Fatalf("OAEP of a damaged ciphertext: %v, want ErrCryptoFailed", err)
		}
	}
	// SoftHSM ignores OAEP labels: refused.
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, msg, []byte("a label"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(bg, id, kp.PrivateBlob, hsm.DecryptRSAOAEPSHA1, []byte("a label"), ct); !errors.Is(err, hsm.ErrNotSupported) {
		t.Fatalf("OAEP with a label: %v, want ErrNotSupported", err)
	}
	// Raw RSA: the PKCS#1 v1.5 encoding comes back whole.
	//lint:ignore SA1019 testing PKCS#1 v1.5 decryption.
	ct, err = rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
	if err != nil {
		t.Fatal(err)
	}
	em, err := b.Decrypt(bg, id, kp.PrivateBlob, hsm.DecryptRSARaw, nil, ct)
	if err != nil {
		t.Fatal(err)
	}
	if len(em) != pub.Size() || em[0] != 0 || em[1] != 2 || !bytes.HasSuffix(em, append([]byte{0}, msg...)) {
		t.Fatalf("raw RSA gave %x", em)
	}
	// Go's c^d mod n, computed from the encoding, is the ciphertext.
	if c := new(big.Int).Exp(new(big.Int).SetBytes(em), big.NewInt(int64(pub.E)), pub.N); !bytes.Equal(c.FillBytes(make([]byte, pub.Size())), ct) {
		t.Fatal("raw RSA output does not re-encrypt to the ciphertext")
	}
	if err := b.Health(bg); err != nil {
		t.Fatalf("after failed operations: %v", err)
	}
	// A symmetric key cannot decrypt.
	blob, err := b.SealKey(bg, id, make([]byte, 16))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decrypt(bg, id, blob, hsm.DecryptRSAOAEPSHA1, nil, ct); !errors.Is(err, hsm.ErrNotSupported) {
		t.Fatalf("RSA decryption with an AES key: %v", err)
	}
}

// TestCipherCMAC checks AES-CMAC inside the HSM against RFC 4493.
func TestCipherCMAC(t *testing.T) {
	b := openTest(t, mainToken)
	const id = "cmac-key"
	key, _ := hex.DecodeString("2b7e151628aed2a6abf7158809cf4f3c")
	blob, err := b.SealKey(bg, id, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ msg, mac string }{
		{"", "bb1d6929e95937287fa37d129b756746"},
		{"6bc1bee22e409f96e93d7e117393172a", "070a16b46b4d4144f79bdd9dd04a287c"},
		{"6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411", "dfa66747de9ae63030ca32611497c827"},
	} {
		msg, _ := hex.DecodeString(tc.msg)
		got, err := b.MAC(bg, id, blob, hsm.CMAC, msg)
		if err != nil {
			t.Fatalf("CMAC of %q: %v", tc.msg, err)
		}
		if hex.EncodeToString(got) != tc.mac {
			t.Fatalf("CMAC of %q: %x, want %s", tc.msg, got, tc.mac)
		}
	}
	// CMAC needs an AES key.
	blob, err = b.SealKey(bg, id, make([]byte, 40))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.MAC(bg, id, blob, hsm.CMAC, nil); !errors.Is(err, hsm.ErrNotSupported) {
		t.Fatalf("CMAC with a 40-byte generic secret: %v", err)
	}
}

// digestInfo is the DER prefix of a PKCS#1 v1.5 DigestInfo for h.
func digestInfo(h crypto.Hash) []byte {
	oid := map[crypto.Hash]string{
		crypto.SHA1:   "3021300906052b0e03021a05000414",
		crypto.SHA256: "3031300d060960864801650304020105000420",
		crypto.SHA384: "3041300d060960864801650304020205000430",
		crypto.SHA512: "3051300d060960864801650304020305000440",
	}[h]
	b, _ := hex.DecodeString(oid)
	return b
}

func sha1Sum(b []byte) []byte   { s := sha1.Sum(b); return s[:] }
func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func sha384Sum(b []byte) []byte { s := sha512.Sum384(b); return s[:] }
