package secp256k1

import (
	"bytes"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/kmip"
)

var oidSecp256k1 = asn1.ObjectIdentifier{1, 3, 132, 0, 10} // SEC 2 §A.2

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ecPrivate is the bare RFC 5915 ECPrivateKey of scalar k.
func ecPrivate(k []byte) []byte {
	return keyform.MustMarshal(keyform.ECPrivateKey{Version: 1, PrivateKey: k, Curve: oidSecp256k1})
}

// Multiples of the generator: G is given in SEC 2 v2 §2.4.1; 2G, 3G and
// (n−1)G = −G are in the secp256k1 test vectors published by Chuck Batson
// (https://chuckbatson.wordpress.com/2014/11/26/secp256k1-test-vectors/).
func TestPublicPoints(t *testing.T) {
	for _, c := range []struct{ k, x, y string }{
		{"01",
			"79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798",
			"483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8"},
		{"02",
			"C6047F9441ED7D6D3045406E95C07CD85C778E4B8CEF3CA7ABAC09B95C709EE5",
			"1AE168FEA63DC339A3C58419466CEAEEF7F632653266D0E1236431A950CFE52A"},
		{"03",
			"F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9",
			"388F7B0F632DE8140FE337E62A37F3566500A99934C2231B6CB9FD7584B8E672"},
		{"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364140",
			"79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798",
			"B7C52588D95C3B9AA25B0403F1EEF75702E84BB7597AABE663B82F6F04EF2777"},
	} {
		priv, ok := ParsePrivate(ecPrivate(unhex(t, c.k)))
		if !ok {
			t.Fatalf("k = %s not read", c.k)
		}
		want := unhex(t, "04"+c.x+c.y)
		if got := priv.Public().(*PublicKey).key.SerializeUncompressed(); !bytes.Equal(got, want) {
			t.Fatalf("k = %s: %X, want %X", c.k, got, want)
		}
		// The SubjectPublicKeyInfo of the point reads as the same key.
		pub, ok := ParsePublic(keyform.WrapSPKI(keyform.OIDEC, keyform.OIDParams(oidSecp256k1), want))
		if !ok || !pub.key.IsEqual(priv.key.PubKey()) {
			t.Fatalf("k = %s: SubjectPublicKeyInfo not read", c.k)
		}
	}
	// 0 and the group order n are no private keys.
	for _, k := range []string{"00", "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141"} {
		if _, ok := ParsePrivate(ecPrivate(unhex(t, k))); ok {
			t.Fatalf("k = %s was read", k)
		}
	}
}

// Deterministic ECDSA (RFC 6979) over SHA-256 with private key 1 and the
// message "Satoshi Nakamoto", as in the secp256k1 RFC 6979 vectors used by
// Bitcoin libraries (e.g. python-ecdsa, Trezor): r and low s.
func TestSign_RFC6979(t *testing.T) {
	priv, ok := ParsePrivate(ecPrivate([]byte{1}))
	if !ok {
		t.Fatal("key not read")
	}
	digest := sha256.Sum256([]byte("Satoshi Nakamoto"))
	sig, err := priv.Sign(nil, digest[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		t.Fatal(err)
	}
	if r := rs.R.Text(16); r != "934b1ea10a4b3c1757e2b0c017d0b6143ce3c9a7e6a4a49860d7a6ab210ee3d8" {
		t.Fatalf("r = %s", r)
	}
	if s := rs.S.Text(16); s != "2442ce9d2b916064108014783e923ec36b49743e2ffa1c4496f01a512aafd9e5" {
		t.Fatalf("s = %s", s)
	}
	pub := priv.Public().(*PublicKey)
	if !pub.Verify(digest[:], sig) {
		t.Fatal("signature not verified")
	}
	digest[0] ^= 1
	if pub.Verify(digest[:], sig) {
		t.Fatal("signature verified over another digest")
	}
}

// A generated pair is a PKCS#8 private key and a SubjectPublicKeyInfo on
// secp256k1 whose halves match; ECDH agrees on both sides.
func TestGenerateECDH(t *testing.T) {
	c, _ := keyform.CurveByEnum(kmip.RecommendedCurveSECP256K1)
	if !IsCurve(c) {
		t.Fatal("secp256k1 not recognised")
	}
	if p256, _ := keyform.CurveByEnum(kmip.RecommendedCurveP_256); IsCurve(p256) {
		t.Fatal("P-256 taken for secp256k1")
	}
	privA, pubA, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	privB, pubB, err := Generate(c)
	if err != nil {
		t.Fatal(err)
	}
	a, okA := ParsePrivate(privA)
	b, okB := ParsePrivate(privB)
	pa, okPA := ParsePublic(pubA)
	pb, okPB := ParsePublic(pubB)
	if !okA || !okB || !okPA || !okPB || !pa.key.IsEqual(a.key.PubKey()) || !pb.key.IsEqual(b.key.PubKey()) {
		t.Fatal("generated keys not read back")
	}
	kb, _ := keyform.Parse(pubB, false)
	ka, _ := keyform.Parse(pubA, false)
	zA, ok1 := a.ECDH(kb.Inner)
	zB, ok2 := b.ECDH(ka.Inner)
	if !ok1 || !ok2 || !bytes.Equal(zA, zB) || len(zA) != 32 {
		t.Fatalf("ECDH: %x / %x", zA, zB)
	}
	if _, ok := a.ECDH([]byte{4, 1, 2}); ok {
		t.Fatal("agreed with a non-point")
	}
	a.Wipe()
	if !a.key.Key.IsZero() {
		t.Fatal("Wipe left the scalar")
	}
}
