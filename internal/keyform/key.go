// Package keyform converts asymmetric keys between the encodings KMIP
// clients use (PKCS#1, PKCS#8, RFC 5915 ECPrivateKey, X.509
// SubjectPublicKeyInfo, the Transparent key structures) and the one
// canonical encoding kmipd stores, and knows the named elliptic curves.
//
// kmipd seals one canonical encoding per asymmetric key, whatever format the
// client used:
//
//   - a Private Key as a PKCS#8 PrivateKeyInfo (RFC 5208), Object.KeyFormat
//     PKCS_8;
//   - a Public Key as an X.509 SubjectPublicKeyInfo (RFC 5280),
//     Object.KeyFormat X_509.
//
// Conversions are structural (encoding/asn1), not through crypto/x509, so a
// key on a curve Go does not implement (secp256k1, Brainpool) or a small
// legacy key is stored and returned as well, and the inner encoding the
// client sent is kept byte for byte: a PKCS#1 RSAPrivateKey or an RFC 5915
// ECPrivateKey is wrapped unchanged in the PKCS#8 structure and unwrapped
// unchanged on Get. The format the object was registered in (PKCS#1 for
// RSA keys kmipd generates) is kept in the Key Format Type attribute and is
// what Get returns by default.
package keyform

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"

	"github.com/kmipd/kmipd/kmip"
)

// Algorithm identifiers (RFC 8017, RFC 5480, RFC 3279, RFC 8410).
var (
	oidRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidDSA     = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	OIDEC      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1} // id-ecPublicKey
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448   = asn1.ObjectIdentifier{1, 3, 101, 113}
)

// asn1Null is the NULL parameters of rsaEncryption.
var asn1Null = asn1.RawValue{Tag: asn1.TagNull, FullBytes: []byte{asn1.TagNull, 0}}

// ASN.1 structures, parsed without crypto/x509 so that any curve and key
// size is accepted. Trailing optional fields (PKCS#8 attributes, RSA other
// prime infos) are ignored by encoding/asn1 when parsing and, as the inner
// encodings are kept as received, never lost.
type pkcs8Info struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// encryptedPKCS8 is an EncryptedPrivateKeyInfo (RFC 5208 §6), which KMIP
// also calls PKCS#8: kmipd cannot decrypt it and keeps it as it is.
type encryptedPKCS8 struct {
	Algo pkix.AlgorithmIdentifier
	Data []byte
}

type spkiInfo struct {
	Algo      pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

type pkcs1Private struct {
	Version                   int
	N, E, D, P, Q, Dp, Dq, Qi *big.Int
}

type pkcs1Public struct {
	N, E *big.Int
}

// ECPrivateKey is an RFC 5915 ECPrivateKey.
type ECPrivateKey struct {
	Version    int
	PrivateKey []byte
	Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

type dssParams struct {
	P, Q, G *big.Int
}

// Key is a parsed canonical key.
type Key struct {
	Private bool
	Alg     kmip.CryptographicAlgorithm // RSA, DSA, EC, Ed25519 or Ed448
	DER     []byte                      // PKCS#8 or SubjectPublicKeyInfo
	Inner   []byte                      // PKCS#8 privateKey octets; SPKI subjectPublicKey bits
	Params  []byte                      // the algorithm parameters' DER (nil when absent)
	Curve   *Curve                      // EC keys
	Bits    int32                       // Cryptographic Length

	// Encrypted marks a private key registered as an encrypted PKCS#8
	// EncryptedPrivateKeyInfo: it is returned as such and converts to
	// nothing; Alg and Bits are unknown (0).
	Encrypted bool
}

// BadKey is the Invalid Field error of malformed key material.
func BadKey(format string, args ...any) error {
	return kmip.Errorf(kmip.ResultReasonInvalidField, "key material: "+format, args...)
}

// UnmarshalAll parses der into out and reports whether it was one whole
// value.
func UnmarshalAll(der []byte, out any) bool {
	rest, err := asn1.Unmarshal(der, out)
	return err == nil && len(rest) == 0
}

// MustMarshal DER-encodes a value known to be well formed.
func MustMarshal(v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		// Only kmipd's own well-formed values are marshalled here.
		panic("keyform: asn1: " + err.Error())
	}
	return b
}

// Parse parses the canonical encoding of a private (PKCS#8) or public
// (SubjectPublicKeyInfo) key and checks its inner structure.
func Parse(der []byte, private bool) (*Key, error) {
	k := &Key{Private: private, DER: der}
	var algo pkix.AlgorithmIdentifier
	if private {
		var p pkcs8Info
		if !UnmarshalAll(der, &p) || p.Version < 0 || p.Version > 1 {
			var e encryptedPKCS8
			if UnmarshalAll(der, &e) && len(e.Data) > 0 {
				k.Encrypted = true
				return k, nil
			}
			return nil, BadKey("not a PKCS#8 private key")
		}
		algo, k.Inner = p.Algo, p.PrivateKey
	} else {
		var p spkiInfo
		if !UnmarshalAll(der, &p) || p.PublicKey.BitLength%8 != 0 {
			return nil, BadKey("not an X.509 SubjectPublicKeyInfo")
		}
		algo, k.Inner = p.Algo, p.PublicKey.Bytes
	}
	if len(algo.Parameters.FullBytes) > 0 {
		k.Params = algo.Parameters.FullBytes
	}
	switch {
	case algo.Algorithm.Equal(oidRSA):
		k.Alg = kmip.CryptographicAlgorithmRSA
		if private {
			var r pkcs1Private
			if !UnmarshalAll(k.Inner, &r) || r.N == nil || r.N.Sign() <= 0 {
				return nil, BadKey("malformed PKCS#1 RSA private key")
			}
			k.Bits = int32(r.N.BitLen())
		} else {
			var r pkcs1Public
			if !UnmarshalAll(k.Inner, &r) || r.N == nil || r.N.Sign() <= 0 || r.E.Sign() <= 0 {
				return nil, BadKey("malformed PKCS#1 RSA public key")
			}
			k.Bits = int32(r.N.BitLen())
		}
	case algo.Algorithm.Equal(OIDEC):
		k.Alg = kmip.CryptographicAlgorithmEC
		var oid asn1.ObjectIdentifier
		if k.Params != nil && !UnmarshalAll(k.Params, &oid) {
			return nil, BadKey("EC keys must name their curve")
		}
		if private {
			var e ECPrivateKey
			if !UnmarshalAll(k.Inner, &e) || e.Version != 1 || len(e.PrivateKey) == 0 {
				return nil, BadKey("malformed EC private key")
			}
			if oid == nil {
				oid = e.Curve
			}
		} else if len(k.Inner) == 0 {
			return nil, BadKey("empty EC public key")
		}
		c, ok := CurveByOID(oid)
		if !ok {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "unsupported elliptic curve %v", oid)
		}
		k.Curve, k.Bits = c, c.Bits
	case algo.Algorithm.Equal(oidDSA):
		k.Alg = kmip.CryptographicAlgorithmDSA
		var p dssParams
		if k.Params == nil || !UnmarshalAll(k.Params, &p) || p.P == nil || p.P.Sign() <= 0 {
			return nil, BadKey("DSA keys must carry their domain parameters")
		}
		var x *big.Int
		if !UnmarshalAll(k.Inner, &x) {
			return nil, BadKey("malformed DSA key")
		}
		k.Bits = int32(p.P.BitLen())
	case algo.Algorithm.Equal(oidEd25519):
		k.Alg, k.Bits = kmip.CryptographicAlgorithmEd25519, 255
		if !edKeyOK(k.Inner, private, 32) {
			return nil, BadKey("malformed Ed25519 key")
		}
	case algo.Algorithm.Equal(oidEd448):
		k.Alg, k.Bits = kmip.CryptographicAlgorithmEd448, 448
		if !edKeyOK(k.Inner, private, 57) {
			return nil, BadKey("malformed Ed448 key")
		}
	default:
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "unsupported key algorithm %v", algo.Algorithm)
	}
	return k, nil
}

// edKeyOK checks an RFC 8410 key: a public key is the n key bytes, a
// private key an OCTET STRING of them.
func edKeyOK(inner []byte, private bool, n int) bool {
	if !private {
		return len(inner) == n
	}
	var seed []byte
	return UnmarshalAll(inner, &seed) && len(seed) == n
}

// WrapPKCS8 wraps a private key's inner encoding in a PKCS#8
// PrivateKeyInfo.
func WrapPKCS8(oid asn1.ObjectIdentifier, params asn1.RawValue, inner []byte) []byte {
	return MustMarshal(pkcs8Info{Algo: pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: params}, PrivateKey: inner})
}

// WrapSPKI wraps a public key in a SubjectPublicKeyInfo.
func WrapSPKI(oid asn1.ObjectIdentifier, params asn1.RawValue, key []byte) []byte {
	return MustMarshal(spkiInfo{
		Algo:      pkix.AlgorithmIdentifier{Algorithm: oid, Parameters: params},
		PublicKey: asn1.BitString{Bytes: key, BitLength: 8 * len(key)},
	})
}

// OIDParams are algorithm parameters naming a curve.
func OIDParams(oid asn1.ObjectIdentifier) asn1.RawValue {
	return asn1.RawValue{FullBytes: MustMarshal(oid)}
}

// Hints are what the request says about a key besides its material,
