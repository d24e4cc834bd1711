// Package rsapss implements RSASSA-PSS (RFC 8017 §8.1) with EMSA-PSS
// (§9.1) where the salt length and the MGF1 hash are chosen freely.
//
// It exists because crypto/rsa cannot do two things KMIP clients ask for:
// its SignPSS and VerifyPSS always use the message hash for MGF1 (KMIP's
// Mask Generator Hashing Algorithm may name another), and a SaltLength of
// 0 means "automatic" there, so an empty salt cannot be asked for. What
// crypto/rsa can do (one hash, a salt of one byte or more) is best left to
// it.
//
// The private-key operation uses filippo.io/bigmod, the standalone copy of
// the constant-time modular arithmetic inside crypto/rsa: as in crypto/rsa
// since Go 1.20, its exponentiation does not depend on the secret values,
// so no blinding is needed. Each signature is checked with the public key
// before it is returned, as crypto/rsa does, so that a faulty computation
// cannot reveal a factor of the modulus.
package rsapss

import (
	"crypto"
	"crypto/rsa"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"

	"filippo.io/bigmod"
)

// ErrVerification means a signature is not valid for the message, key and
// parameters.
var ErrVerification = errors.New("rsapss: verification error")

// Sign signs digest, the hash of a message under hash, with priv:
// EMSA-PSS with MGF1 over mgfHash and saltLen random bytes of salt read
// from random (none when saltLen is 0).
func Sign(random io.Reader, priv *rsa.PrivateKey, hash, mgfHash crypto.Hash, digest []byte, saltLen int) ([]byte, error) {
	if err := checkHashes(hash, mgfHash); err != nil {
		return nil, err
	}
	if saltLen < 0 {
		return nil, fmt.Errorf("rsapss: invalid salt length %d", saltLen)
	}
	if !validKey(&priv.PublicKey) || priv.D == nil || priv.D.Sign() <= 0 {
		return nil, errors.New("rsapss: invalid private key")
	}
	salt := make([]byte, saltLen)
	if _, err := io.ReadFull(random, salt); err != nil {
		return nil, fmt.Errorf("rsapss: reading the salt: %w", err)
	}
	n, err := bigmod.NewModulus(priv.N.Bytes())
	if err != nil {
		return nil, fmt.Errorf("rsapss: invalid modulus: %w", err)
	}
	em, err := encode(digest, salt, priv.N.BitLen()-1, hash.New(), mgfHash.New())
	if err != nil {
		return nil, err
	}
	m, err := bigmod.NewNat().SetBytes(em, n)
	if err != nil {
		return nil, fmt.Errorf("rsapss: encoded message out of range: %w", err)
	}
	s := bigmod.NewNat().Exp(m, priv.D.Bytes(), n)
	if bigmod.NewNat().ExpShortVarTime(s, uint(priv.E), n).Equal(m) != 1 {
		return nil, errors.New("rsapss: the signature does not verify; the private key is inconsistent")
	}
	return s.Bytes(n), nil
}

// Verify checks that sig is the RSASSA-PSS signature of digest (the hash
// of a message under hash) with pub, MGF1 over mgfHash and a salt of
// exactly saltLen bytes. It returns nil or an error wrapping
// ErrVerification.
func Verify(pub *rsa.PublicKey, hash, mgfHash crypto.Hash, digest, sig []byte, saltLen int) error {
	if err := checkHashes(hash, mgfHash); err != nil {
		return err
	}
	if !validKey(pub) {
		return ErrVerification
	}
	k := (pub.N.BitLen() + 7) / 8
	if len(sig) != k || saltLen < 0 {
		return ErrVerification
	}
	n, err := bigmod.NewModulus(pub.N.Bytes())
	if err != nil {
		return ErrVerification
	}
	s, err := bigmod.NewNat().SetBytes(sig, n)
	if err != nil {
		return ErrVerification // s ≥ n (RFC 8017 §5.2.2 step 1)
	}
	em := bigmod.NewNat().ExpShortVarTime(s, uint(pub.E), n).Bytes(n)
	emBits := pub.N.BitLen() - 1
	if emLen := (emBits + 7) / 8; emLen < len(em) {
		if em[0] != 0 {
			return ErrVerification
		}
		em = em[1:]
	}
	return verify(digest, em, emBits, saltLen, hash.New(), mgfHash.New())
}

// validKey reports whether pub can be used with bigmod: an odd modulus
// (bigmod's Montgomery arithmetic panics on an even one, and a client may
// register any public key) and an exponent of at least 3.
func validKey(pub *rsa.PublicKey) bool {
	return pub.N != nil && pub.N.Sign() > 0 && pub.N.Bit(0) == 1 && pub.N.BitLen() > 16 && pub.E >= 3
}

func checkHashes(hash, mgfHash crypto.Hash) error {
	if !hash.Available() || !mgfHash.Available() {
		return fmt.Errorf("rsapss: hash %v or MGF1 hash %v unavailable", hash, mgfHash)
	}
	return nil
}

// encode is EMSA-PSS-ENCODE (RFC 8017 §9.1.1) of the message hash mHash
// into emBits bits, with hash h, MGF1 over mgf and the given salt.
func encode(mHash, salt []byte, emBits int, h, mgf hash.Hash) ([]byte, error) {
	hLen, sLen := h.Size(), len(salt)
	emLen := (emBits + 7) / 8
	if len(mHash) != hLen {
		return nil, fmt.Errorf("rsapss: a digest of %d bytes for a %d-byte hash", len(mHash), hLen)
	}
	if emLen < hLen+sLen+2 {
		return nil, fmt.Errorf("rsapss: a %d-bit key is too short for a %d-byte hash and a %d-byte salt", emBits+1, hLen, sLen)
	}
	em := make([]byte, emLen)
	psLen := emLen - sLen - hLen - 2
	db := em[:emLen-hLen-1]
	// H = Hash(0x00×8 ‖ mHash ‖ salt), after DB in EM.
	var zeros [8]byte
	h.Write(zeros[:])
	h.Write(mHash)
	h.Write(salt)
	hv := em[emLen-hLen-1 : emLen-1]
	copy(hv, h.Sum(nil))
	// DB = PS ‖ 0x01 ‖ salt, masked with MGF1(H).
	db[psLen] = 0x01
	copy(db[psLen+1:], salt)
	mgf1XOR(db, mgf, hv)
	db[0] &= 0xff >> (8*emLen - emBits)
	em[emLen-1] = 0xbc
	return em, nil
}

// verify is EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with a salt of exactly sLen
// bytes. It changes em.
func verify(mHash, em []byte, emBits, sLen int, h, mgf hash.Hash) error {
	hLen := h.Size()
	emLen := (emBits + 7) / 8
	if len(mHash) != hLen || len(em) != emLen || emLen < hLen+sLen+2 || em[emLen-1] != 0xbc {
		return ErrVerification
	}
	db, hv := em[:emLen-hLen-1], em[emLen-hLen-1:emLen-1]
	top := byte(0xff >> (8*emLen - emBits))
	if db[0]&^top != 0 {
		return ErrVerification
	}
	mgf1XOR(db, mgf, hv)
	db[0] &= top
	psLen := emLen - hLen - sLen - 2
	for _, b := range db[:psLen] {
		if b != 0 {
			return ErrVerification
		}
	}
	if db[psLen] != 0x01 {
		return ErrVerification
	}
	var zeros [8]byte
	h.Write(zeros[:])
	h.Write(mHash)
	h.Write(db[len(db)-sLen:])
	if subtle.ConstantTimeCompare(h.Sum(nil), hv) != 1 {
		return ErrVerification
	}
	return nil
}

// mgf1XOR XORs out with MGF1(seed) (RFC 8017 §B.2.1) over h.
func mgf1XOR(out []byte, h hash.Hash, seed []byte) {
	var counter [4]byte
	var digest []byte
	for done := 0; done < len(out); {
		h.Reset()
		h.Write(seed)
		h.Write(counter[:])
		digest = h.Sum(digest[:0])
		done += subtle.XORBytes(out[done:], out[done:], digest)
		for i := 3; i >= 0; i-- {
			if counter[i]++; counter[i] != 0 {
				break
			}
		}
	}
}
