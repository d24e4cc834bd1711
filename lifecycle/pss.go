package lifecycle

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"

	"github.com/kmipd/kmipd/internal/rsapss"
	"github.com/kmipd/kmipd/kmip"
)

// RSA-PSS parameters (RFC 8017 §8.1) are honoured exactly:
//
//   - Salt Length, in bytes, is the salt's exact length, 0 included: Sign
//     makes a salt of that length and Signature Verify accepts only that
//     length.
//   - Without Salt Length, Sign uses a salt as long as the hash (what most
//     implementations and PKCS#11 tokens use, and RFC 8017 §9.1 note 4
//     suggests). Signature Verify accepts that length and the maximum one,
//     emLen − hLen − 2 (crypto/rsa's and OpenSSL's signing default; the
//     OASIS test vectors CS-AC-M-1 sign with it and CS-AC-M-2 verify it
//     without a Salt Length), and no other.
//   - Mask Generator Hashing Algorithm (KMIP 1.4 and 2.x) names the MGF1
//     hash; without it MGF1 uses the Hashing Algorithm. Mask Generator may
//     only be MGF1 and Trailer Field only 1 (0xBC).
//
// crypto/rsa does the common case, one hash and a salt of one byte or
// more; internal/rsapss does an empty salt and an MGF1 hash of its own.

// pssSaltDefault is sigSetup.salt when the request gave no Salt Length.
const pssSaltDefault = -1

// pssParams reads the PSS parameters of p into su, for the hash h.
func (su *sigSetup) pssParams(p *kmip.CryptoParams, h crypto.Hash) error {
	if p.Has(kmip.ParamMaskGenerator) && p.MaskGenerator != kmip.MaskGeneratorMGF1 {
		return errUnsupportedParams("mask generator %s is not supported", p.MaskGenerator)
	}
	su.mgf = h
	if p.Has(kmip.ParamMaskGeneratorHashingAlgorithm) {
		mh, ok := hashFor(p.MaskGeneratorHashingAlgorithm)
		if !ok || !mh.Available() {
			return errUnsupportedParams("MGF1 with %s is not supported", p.MaskGeneratorHashingAlgorithm)
		}
		su.mgf = mh
	}
	if p.Has(kmip.ParamTrailerField) && p.TrailerField != 1 {
		return errUnsupportedParams("only the 0xBC trailer field is supported")
	}
	su.salt = pssSaltDefault
	if p.Has(kmip.ParamSaltLength) {
		if p.SaltLength < 0 {
			return errBadParams("invalid Salt Length %d", p.SaltLength)
		}
		su.salt = int(p.SaltLength)
	}
	return nil
}

// pssSignSalt is the salt length Sign uses.
func (su *sigSetup) pssSignSalt() int {
	if su.salt == pssSaltDefault {
		return su.hash.Size()
	}
	return su.salt
}

func (su *sigSetup) pssSign(k *rsa.PrivateKey, digest []byte) ([]byte, error) {
	salt := su.pssSignSalt()
	if su.mgf == su.hash && salt > 0 {
		return rsa.SignPSS(rand.Reader, k, su.hash, digest, &rsa.PSSOptions{SaltLength: salt})
	}
	return rsapss.Sign(rand.Reader, k, su.hash, su.mgf, digest, salt)
}

func (su *sigSetup) pssVerify(pub *rsa.PublicKey, digest, sig []byte) bool {
	if su.salt != pssSaltDefault {
		return su.pssVerifyLen(pub, digest, sig, su.salt)
	}
	emLen := (pub.N.BitLen() - 1 + 7) / 8
	maxSalt := emLen - su.hash.Size() - 2
	return su.pssVerifyLen(pub, digest, sig, su.hash.Size()) ||
		maxSalt != su.hash.Size() && su.pssVerifyLen(pub, digest, sig, maxSalt)
}

// pssVerifyLen verifies with a salt of exactly salt bytes.
func (su *sigSetup) pssVerifyLen(pub *rsa.PublicKey, digest, sig []byte, salt int) bool {
	if salt < 0 {
		return false
	}
	if su.mgf == su.hash && salt > 0 {
		return rsa.VerifyPSS(pub, su.hash, digest, sig, &rsa.PSSOptions{SaltLength: salt}) == nil
	}
	return rsapss.Verify(pub, su.hash, su.mgf, digest, sig, salt) == nil
}
