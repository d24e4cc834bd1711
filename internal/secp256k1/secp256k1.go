// Package secp256k1 uses keys on secp256k1 (SEC 2 §2.4.1, KMIP
// Recommended Curve SECP256K1): it reads them from their stored encodings,
// generates them, signs, verifies and agrees secrets with them.
package secp256k1

import (
	"crypto"
	"crypto/rand"
	"encoding/asn1"
	"io"

	dcr "github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/kmip"
)

// Go's crypto/ecdsa and crypto/ecdh implement the NIST curves only, so keys
// on secp256k1 (stored like any other EC key, see internal/keyform: PKCS#8
// holding an RFC 5915 ECPrivateKey, and a SubjectPublicKeyInfo) are used through
// github.com/decred/dcrd/dcrec/secp256k1/v4, the curve implementation of the
// Decred node, which is constant time for secret scalars:
//
//   - Create Key Pair generates them (EC, ECDSA or ECDH with Cryptographic
//     Domain Parameters naming SECP256K1);
//   - Sign makes deterministic ECDSA signatures (RFC 6979) with a low S
//     (BIP 62), DER encoded as for the other curves; Signature Verify
//     accepts any S in range, as ECDSA does;
//   - Derive Key with the Asymmetric Key method agrees a secret by ECDH.
//
// PrivateKey and PublicKey fit such keys into the crypto.Signer and
// crypto.PublicKey shapes the signature code works with.

// PrivateKey is a secp256k1 private key.
type PrivateKey struct{ key *dcr.PrivateKey }

// PublicKey is a secp256k1 public key.
type PublicKey struct{ key *dcr.PublicKey }

// Public returns the public half.
func (k *PrivateKey) Public() crypto.PublicKey { return &PublicKey{k.key.PubKey()} }

// Sign signs a digest (truncated to 256 bits as ECDSA does) and returns the
// DER-encoded signature. The nonce comes from RFC 6979, so rand is unused.
func (k *PrivateKey) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return k1ecdsa.Sign(k.key, digest).Serialize(), nil
}

// Wipe zeroes the private scalar.
func (k *PrivateKey) Wipe() { k.key.Zero() }

// ECDH returns the secret agreed with the public point peer (SEC 1
// §3.3.1 encoding), false when peer is not a point of the curve.
func (k *PrivateKey) ECDH(peer []byte) ([]byte, bool) {
	q, err := dcr.ParsePubKey(peer)
	if err != nil {
		return nil, false
	}
	return dcr.GenerateSharedSecret(k.key, q), true
}

// Verify checks a DER-encoded ECDSA signature over digest.
func (p *PublicKey) Verify(digest, sig []byte) bool {
	s, err := k1ecdsa.ParseDERSignature(sig)
	return err == nil && s.Verify(digest, p.key)
}

// IsCurve reports whether an EC key is on secp256k1.
func IsCurve(c *keyform.Curve) bool {
	return c != nil && c.Name == kmip.RecommendedCurveSECP256K1
}

// ParsePrivate reads a secp256k1 private key from PKCS#8 or a bare RFC
// 5915 ECPrivateKey; false when the material is neither.
func ParsePrivate(material []byte) (*PrivateKey, bool) {
	var scalar []byte
	if k, err := keyform.Parse(material, true); err == nil && !k.Encrypted {
		if k.Alg != kmip.CryptographicAlgorithmEC || !IsCurve(k.Curve) {
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
		if c, ok := keyform.CurveByOID(e.Curve); !ok || !IsCurve(c) {
			return nil, false
		}
		scalar = e.PrivateKey
	}
	if len(scalar) == 0 || len(scalar) > 32 {
		return nil, false
	}
	var s dcr.ModNScalar
	var b [32]byte
	copy(b[32-len(scalar):], scalar)
	overflow := s.SetBytes(&b)
	clear(b[:])
	if overflow != 0 || s.IsZero() {
		return nil, false
	}
	return &PrivateKey{dcr.NewPrivateKey(&s)}, true
}

// ParsePublic reads a secp256k1 public key from a SubjectPublicKeyInfo.
func ParsePublic(material []byte) (*PublicKey, bool) {
	k, err := keyform.Parse(material, false)
	if err != nil || k.Alg != kmip.CryptographicAlgorithmEC || !IsCurve(k.Curve) {
		return nil, false
	}
	pub, err := dcr.ParsePubKey(k.Inner)
	if err != nil {
		return nil, false
	}
	return &PublicKey{pub}, true
}

// Generate makes a secp256k1 key pair as PKCS#8 and SubjectPublicKeyInfo
// DER, the public key uncompressed (SEC 1 §2.3.3), as for the other curves.
func Generate(c *keyform.Curve) (privDER, pubDER []byte, err error) {
	priv, err := dcr.GeneratePrivateKeyFromRand(rand.Reader)
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
