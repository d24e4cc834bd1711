package lifecycle

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"testing"

	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/internal/secp256k1"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
)

// TestParseKey_OwnsItsMemory checks what the parsed-key cache relies on: a
// key parsed from material stays whole once the material is wiped, for
// every key type Sign and Signature Verify take.
func TestParseKey_OwnsItsMemory(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := keyform.CurveByEnum(kmip.RecommendedCurveSECP256K1)
	k1priv, k1pub, err := secp256k1.Generate(k1)
	if err != nil {
		t.Fatal(err)
	}
	type pair struct {
		name       string
		priv, pub  []byte
		hash       crypto.Hash
		ed25519Key bool
	}
	pairs := []pair{{name: "secp256k1", priv: k1priv, pub: k1pub, hash: crypto.SHA256}}
	for _, k := range []struct {
		name string
		s    crypto.Signer
		hash crypto.Hash
	}{{"RSA", rk, crypto.SHA256}, {"ECDSA", ek, crypto.SHA256}, {"Ed25519", edk, 0}} {
		priv, err := x509.MarshalPKCS8PrivateKey(k.s)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.MarshalPKIXPublicKey(k.s.Public())
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, pair{k.name, priv, pub, k.hash, k.hash == 0})
	}
	msg := []byte("parsed once, used many times")
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			privMat, pubMat := append([]byte(nil), p.priv...), append([]byte(nil), p.pub...)
			priv, err := parseKey(&objects.Object{Type: kmip.ObjectTypePrivateKey}, privMat)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := parseKey(&objects.Object{Type: kmip.ObjectTypePublicKey}, pubMat)
			if err != nil {
				t.Fatal(err)
			}
			clear(privMat)
			clear(pubMat)
			su := sigSetup{kind: sigECDSA, hash: p.hash}
			digest := msg
			switch {
			case p.ed25519Key:
				su.kind = sigEd25519
			case p.name == "RSA":
				su.kind = sigRSAPKCS1
			}
			if p.hash != 0 {
				d := sha256.Sum256(msg)
				digest = d[:]
			}
			sig, err := su.sign(priv.priv, digest)
			if err != nil {
				t.Fatal(err)
			}
			if !su.verify(pub.pub, digest, sig) || !su.verify(priv.pub, digest, sig) {
				t.Fatal("a signature does not verify once the material is wiped")
			}
		})
	}
}
