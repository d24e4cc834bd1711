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
	"crypto/x509"
	"errors"
	"testing"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/internal/keywrap"
)

func TestGenerateKeyPair(t *testing.T) {
	b := openTest(t, mainToken)
	for _, spec := range []hsm.KeyPairSpec{
		{Algorithm: hsm.KeyPairRSA, Bits: 2048},
		{Algorithm: hsm.KeyPairEC, Curve: "P-256"},
		{Algorithm: hsm.KeyPairEC, Curve: "P-384"},
	} {
		kp, err := b.GenerateKeyPair(bg, "priv-1", spec)
		if err != nil {
			t.Fatalf("%+v: %v", spec, err)
		}
		pub, err := x509.ParsePKIXPublicKey(kp.PublicKeyDER)
		if err != nil {
			t.Fatalf("%+v: public key: %v", spec, err)
		}
		der, err := b.Open(bg, "priv-1", kp.PrivateBlob, nil)
		if err != nil {
			t.Fatalf("%+v: Open private key: %v", spec, err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatalf("%+v: PKCS#8: %v", spec, err)
		}
		if rest, _ := x509.MarshalPKCS8PrivateKey(priv); len(rest) == 0 {
			t.Fatal("re-encoding failed")
		}
		signer := priv.(crypto.Signer)
		if !signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
			t.Fatalf("%+v: private and public key do not match", spec)
		}
		digest := sha256.Sum256([]byte("message"))
		sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		switch p := pub.(type) {
		case *rsa.PublicKey:
			if p.N.BitLen() != 2048 {
				t.Errorf("RSA modulus of %d bits", p.N.BitLen())
			}
			if err := rsa.VerifyPKCS1v15(p, crypto.SHA256, digest[:], sig); err != nil {
				t.Error(err)
			}
		case *ecdsa.PublicKey:
			if !ecdsa.VerifyASN1(p, digest[:], sig) {
				t.Error("ECDSA signature does not verify")
			}
		}
		if _, err := b.Open(bg, "priv-2", kp.PrivateBlob, nil); !errors.Is(err, hsm.ErrBlobCorrupt) {
			t.Errorf("private key blob opened for another id: %v", err)
		}
	}
	for _, spec := range []hsm.KeyPairSpec{{Algorithm: hsm.KeyPairRSA, Bits: 1024}, {Algorithm: hsm.KeyPairEC, Curve: "P-224"}, {}} {
		if _, err := b.GenerateKeyPair(bg, "x", spec); !errors.Is(err, hsm.ErrNotSupported) {
			t.Errorf("%+v: %v, want ErrNotSupported", spec, err)
		}
	}
}

func TestRewrapKey(t *testing.T) {
	b := openTest(t, mainToken)
	keyBlob, _ := b.GenerateSymmetric(bg, "key", 32)
	key, _ := b.Open(bg, "key", keyBlob, nil)
	kekBlob, _ := b.GenerateSymmetric(bg, "kek", 32)
	kek, _ := b.Open(bg, "kek", kekBlob, nil) // the test needs it to check; a client has it

	// KWP (RFC 5649) and KW (RFC 3394) under an HSM-generated AES key.
	out, err := b.RewrapKey(bg, "key", keyBlob, hsm.WrapSpec{Mechanism: hsm.WrapAESKeyWrapPad, KeyID: "kek", KeyBlob: kekBlob})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := keywrap.UnwrapKeyPad(kek, out); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("KWP export does not unwrap to the key: %v", err)
	}
	out, err = b.RewrapKey(bg, "key", keyBlob, hsm.WrapSpec{Mechanism: hsm.WrapAESKeyWrap, KeyID: "kek", KeyBlob: kekBlob})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := keywrap.UnwrapKey(kek, out); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("KW export does not unwrap to the key: %v", err)
	}
	// A wrapping key registered by a client (sealed) and a registered key.
	clientKEK := make([]byte, 16)
	rand.Read(clientKEK)
	sealedKEK, _ := b.Seal(bg, "ckek", clientKEK)
	regKey := make([]byte, 24)
	rand.Read(regKey)
	sealedKey, _ := b.Seal(bg, "reg", regKey)
	out, err = b.RewrapKey(bg, "reg", sealedKey, hsm.WrapSpec{Mechanism: hsm.WrapAESKeyWrapPad, KeyID: "ckek", KeyBlob: sealedKEK})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := keywrap.UnwrapKeyPad(clientKEK, out); err != nil || !bytes.Equal(got, regKey) {
		t.Fatalf("export of a registered key: %v", err)
	}
	// RSA-OAEP (SHA-1) under a client's public key.
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	out, err = b.RewrapKey(bg, "key", keyBlob, hsm.WrapSpec{Mechanism: hsm.WrapRSAOAEPSHA1, PublicKey: &rk.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rsa.DecryptOAEP(sha1.New(), nil, rk, out, nil); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("RSA-OAEP export: %v", err)
	}
	// Refusals.
	for name, c := range map[string]struct {
		id, kekID string
		blob, kek []byte
		mech      hsm.WrapMechanism
		want      error
	}{
		"wrong key id":      {"other", "kek", keyBlob, kekBlob, hsm.WrapAESKeyWrapPad, hsm.ErrBlobCorrupt},
		"wrong kek id":      {"key", "other", keyBlob, kekBlob, hsm.WrapAESKeyWrapPad, hsm.ErrBlobCorrupt},
		"odd length":        {"odd", "kek", mustSeal(t, b, "odd", 20), kekBlob, hsm.WrapAESKeyWrap, hsm.ErrNotSupported},
		"non-AES kek":       {"key", "g", keyBlob, mustGen(t, b, "g", 40), hsm.WrapAESKeyWrap, hsm.ErrNotSupported},
		"software blob":     {"key", "kek", append([]byte{hsm.FormatV1, byte(hsm.KindSoftware)}, keyBlob[2:]...), kekBlob, hsm.WrapAESKeyWrap, hsm.ErrKeyVersion},
		"unknown mechanism": {"key", "kek", keyBlob, kekBlob, 99, hsm.ErrNotSupported},
	} {
		_, err := b.RewrapKey(bg, c.id, c.blob, hsm.WrapSpec{Mechanism: c.mech, KeyID: c.kekID, KeyBlob: c.kek})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

func mustSeal(t *testing.T, b *Backend, id string, n int) []byte {
	t.Helper()
	blob, err := b.Seal(bg, id, make([]byte, n))
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

func mustGen(t *testing.T, b *Backend, id string, n int) []byte {
	t.Helper()
	blob, err := b.GenerateSymmetric(bg, id, n)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}
