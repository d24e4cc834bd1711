package lifecycle

import (
	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/internal/secp256k1"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
)

// Derive Key with Derivation Method Asymmetric Key (KMIP 2.0 §6.1.11,
// 1.4 §4.6): the request names two objects, a Private Key and the other
// party's Public Key (in either order; the first is the base object, which
// gets the Derived Key link), both Active and allowing Derive Key. The
// Cryptographic Algorithm of the Derivation Parameters' Cryptographic
// Parameters, if given, must be ECDH (or EC). The keys are on one curve:
// P-256, P-384 or P-521 (crypto/ecdh) or secp256k1 (internal/secp256k1). The
// shared secret Z, the x-coordinate of the agreed point (SP 800-56A
// §5.7.1.2, RFC 5903 §9), is the derived key material, cut to the
// requested length; asking for more than Z holds fails with Invalid Field.
// No key derivation function is applied: a client that wants one derives
// again from the result (HKDF, NIST800-108-C).

// agreeECDH computes Z from the base object (its material is baseMat) and
// the peer object (peerMat).
func agreeECDH(base *objects.Object, baseMat []byte, peer *objects.Object, peerMat []byte, p *kmip.CryptoParams, n int) ([]byte, error) {
	if p.Has(kmip.ParamCryptographicAlgorithm) && p.CryptographicAlgorithm != kmip.CryptographicAlgorithmECDH &&
		p.CryptographicAlgorithm != kmip.CryptographicAlgorithmEC {
		return nil, errUnsupportedParams("Asymmetric Key derivation with %s is not supported (ECDH is)", p.CryptographicAlgorithm)
	}
	privMat, pubMat := baseMat, peerMat
	switch {
	case base.Type == kmip.ObjectTypePrivateKey && peer.Type == kmip.ObjectTypePublicKey:
	case base.Type == kmip.ObjectTypePublicKey && peer.Type == kmip.ObjectTypePrivateKey:
		privMat, pubMat = peerMat, baseMat
	default:
		return nil, kmip.Errorf(kmip.ResultReasonInvalidObjectType, "Asymmetric Key derivation takes a Private Key and a Public Key")
	}
	priv, err := keyform.Parse(privMat, true)
	if err != nil {
		return nil, err
	}
	pub, err := keyform.Parse(pubMat, false)
	if err != nil {
		return nil, err
	}
	if priv.Encrypted || priv.Alg != kmip.CryptographicAlgorithmEC || pub.Alg != kmip.CryptographicAlgorithmEC {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidObjectType, "ECDH needs elliptic curve keys")
	}
	if priv.Curve != pub.Curve {
		return nil, errBadParams("the keys are on different curves (%s, %s)", priv.Curve.Name, pub.Curve.Name)
	}
	var e keyform.ECPrivateKey
	if !keyform.UnmarshalAll(priv.Inner, &e) {
		return nil, keyform.BadKey("malformed EC private key")
	}
	size := (int(priv.Curve.Bits) + 7) / 8
	if len(e.PrivateKey) > size {
		return nil, keyform.BadKey("malformed EC private key")
	}
	scalar := make([]byte, size)
	defer clear(scalar)
	copy(scalar[size-len(e.PrivateKey):], e.PrivateKey)
	var z []byte
	switch {
	case secp256k1.IsCurve(priv.Curve):
		k, ok := secp256k1.ParsePrivate(privMat)
		if !ok {
			return nil, keyform.BadKey("malformed secp256k1 private key")
		}
		defer k.Wipe()
		if z, ok = k.ECDH(pub.Inner); !ok {
			return nil, keyform.BadKey("the public key is not a point of secp256k1")
		}
	case priv.Curve.ECDH != nil:
		c := priv.Curve.ECDH()
		k, err := c.NewPrivateKey(scalar)
		if err != nil {
			return nil, keyform.BadKey("invalid %s private key", priv.Curve.Name)
		}
		q, err := c.NewPublicKey(pub.Inner)
		if err != nil {
			return nil, keyform.BadKey("the public key is not a point of %s", priv.Curve.Name)
		}
		if z, err = k.ECDH(q); err != nil {
			return nil, errCrypto("ECDH failed: %v", err)
		}
	default:
		return nil, errUnsupportedParams("ECDH on curve %s is not supported", priv.Curve.Name)
	}
	if n > len(z) {
		clear(z)
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "ECDH on %s yields %d bits, fewer than asked for", priv.Curve.Name, 8*len(z))
	}
	return truncate(z, n), nil
}
