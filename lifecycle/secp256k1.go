package lifecycle

import (
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/kmip"
)

// secp256k1 keys (SEC 2 §2.4.1, KMIP Recommended Curve SECP256K1).
//
// Go's crypto/ecdsa and crypto/ecdh implement the NIST curves only, so keys
// on secp256k1 (which internal/keyform stores like any other EC key: PKCS#8 holding
// an RFC 5915 ECPrivateKey, and a SubjectPublicKeyInfo) are used through
// github.com/decred/dcrd/dcrec/secp256k1/v4, the curve implementation of the
// Decred node, which is constant time for secret scalars:
//
//   - Create Key Pair generates them (EC, ECDSA or ECDH with Cryptographic
//     Domain Parameters naming SECP256K1);
//   - Sign makes deterministic ECDSA signatures (RFC 6979) with a low S
//     (BIP 62), DER encoded as for the other curves; Signature Verify
//     accepts any S in range, as ECDSA does;
//   - Derive Key with the Asymmetric Key method agrees a secret by ECDH
//     (derive_key_ecdh.go).
//
// k1Private and k1Public fit such keys into the crypto.Signer and
// crypto.PublicKey shapes the signature code works with.

// k1Private is a secp256k1 private key.
type k1Private struct{ key *secp256k1.PrivateKey }

// k1Public is a secp256k1 public key.
type k1Public struct{ key *secp256k1.PublicKey }

// Public returns the public half.
func (k *k1Private) Public() crypto.PublicKey { return &k1Public{k.key.PubKey()} }

// Sign signs a digest (truncated to 256 bits as ECDSA does) and returns the
// DER-encoded signature. The nonce comes from RFC 6979, so rand is unused.
func (k *k1Private) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return k1ecdsa.Sign(k.key, digest).Serialize(), nil
}

// wipe zeroes the private scalar.
func (k *k1Private) wipe() { k.key.Zero() }

// verify checks a DER-encoded ECDSA signature over digest.
func (p *k1Public) verify(digest, sig []byte) bool {
	s, err := k1ecdsa.ParseDERSignature(sig)
	return err == nil && s.Verify(digest, p.key)
}

// k1Curve reports whether an EC key is on secp256k1.
func k1Curve(c *keyform.Curve) bool {
	return c != nil && c.Name == kmip.RecommendedCurveSECP256K1
}

// parseK1Private reads a secp256k1 private key from PKCS#8 or a bare RFC
// 5915 ECPrivateKey; false when the material is neither.
func parseK1Private(material []byte) (*k1Private, bool) {
	var scalar []byte
	if k, err := keyform.Parse(material, true); err == nil && !k.Encrypted {
		if k.Alg != kmip.CryptographicAlgorithmEC || !k1Curve(k.Curve) {
			return nil, false
		}
		var e keyform.ECPrivateKey
		if !keyform.UnmarshalAll(k.Inner, &e) {
			return nil, false
		}
		scalar = e.PrivateKey
	} else {
		var e keyform.ECPrivateKey
		if !keyform.UnmarshalAll(material, &e) || e.Version != 1 {
			return nil, false
		}
		if c, ok := keyform.CurveByOID(e.Curve); !ok || !k1Curve(c) {
			return nil, false
		}
		scalar = e.PrivateKey
	}
	if len(scalar) == 0 || len(scalar) > 32 {
		return nil, false
	}
	var s secp256k1.ModNScalar
	var b [32]byte
	copy(b[32-len(scalar):], scalar)
	overflow := s.SetBytes(&b)
	clear(b[:])
	if overflow != 0 || s.IsZero() {
		return nil, false
	}
	return &k1Private{secp256k1.NewPrivateKey(&s)}, true
}

// parseK1Public reads a secp256k1 public key from a SubjectPublicKeyInfo.
func parseK1Public(material []byte) (*k1Public, bool) {
	k, err := keyform.Parse(material, false)
	if err != nil || k.Alg != kmip.CryptographicAlgorithmEC || !k1Curve(k.Curve) {
		return nil, false
	}
	pub, err := secp256k1.ParsePubKey(k.Inner)
	if err != nil {
		return nil, false
	}
	return &k1Public{pub}, true
}

// generateK1 makes a secp256k1 key pair as PKCS#8 and SubjectPublicKeyInfo
// DER, the public key uncompressed (SEC 1 §2.3.3), as for the other curves.
func generateK1(c *keyform.Curve) (privDER, pubDER []byte, err error) {
	priv, err := secp256k1.GeneratePrivateKeyFromRand(rand.Reader)
	if err != nil {
		return nil, nil, kmip.Errorf(kmip.ResultReasonCryptographicFailure, "key generation: %v", err)
	}
	defer priv.Zero()
	scalar := priv.Key.Bytes()
	defer clear(scalar[:])
	pub := priv.PubKey().SerializeUncompressed()
	inner := keyform.MustMarshal(keyform.ECPrivateKey{
		Version:    1,
		PrivateKey: scalar[:],
		Curve:      c.OID,
		PublicKey:  asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)},
	})
	defer clear(inner)
	return keyform.WrapPKCS8(keyform.OIDEC, keyform.OIDParams(c.OID), inner), keyform.WrapSPKI(keyform.OIDEC, keyform.OIDParams(c.OID), pub), nil
}
