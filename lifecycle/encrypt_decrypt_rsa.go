package lifecycle

import (
	"context"
	"crypto"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// rsaCipher serves Encrypt with an RSA public key and Decrypt with an RSA
// private key.
func (s *Service) rsaCipher(c *kmip.Call, w *ttlv.Builder, o *objects.Object, p *kmip.CryptoParams, req *kmip.CryptoRequest, encrypt bool) error {
	if req.IV != nil || req.AAD != nil || req.AuthTag != nil {
		return errBadParams("RSA takes no IV, Additional Data or Tag")
	}
	if p.Has(kmip.ParamCryptographicAlgorithm) && p.CryptographicAlgorithm != kmip.CryptographicAlgorithmRSA {
		return errBadParams("an RSA key cannot be used for %s", p.CryptographicAlgorithm)
	}
	pad := kmip.PaddingMethodOAEP
	if p.Has(kmip.ParamPaddingMethod) {
		pad = p.PaddingMethod
	}
	var oaep rsa.OAEPOptions
	switch pad {
	case kmip.PaddingMethodOAEP:
		h, err := hashParam(p, crypto.SHA1)
		if err != nil {
			return err
		}
		mgf := crypto.SHA1
		if p.Has(kmip.ParamMaskGenerator) && p.MaskGenerator != kmip.MaskGeneratorMGF1 {
			return errUnsupportedParams("mask generator %s is not supported", p.MaskGenerator)
		}
		if p.Has(kmip.ParamMaskGeneratorHashingAlgorithm) {
			var ok bool
			if mgf, ok = hashFor(p.MaskGeneratorHashingAlgorithm); !ok {
				return errUnsupportedParams("hashing algorithm %s is not supported", p.MaskGeneratorHashingAlgorithm)
			}
		}
		oaep = rsa.OAEPOptions{Hash: h, MGFHash: mgf, Label: p.PSource}
	case kmip.PaddingMethodPKCS1V1_5:
	default:
		return errUnsupportedParams("RSA encryption with Padding Method %s is not supported", pad)
	}
	var out []byte
	var err error
	if !encrypt && heldByHSM(o) {
		out, err = s.rsaDecryptHSM(c.Context(), o, pad == kmip.PaddingMethodPKCS1V1_5, &oaep, req.Data)
	}
	if encrypt || !heldByHSM(o) || s.hsmFallback(o, err) {
		out, err = s.rsaCipherGo(c, o, pad, &oaep, req.Data, encrypt)
	}
	defer clear(out)
	if err != nil {
		return err
	}
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	w.AddBytes(ttlv.TagData, out)
	return nil
}

// rsaCipherGo is rsaCipher in Go, with the key material.
func (s *Service) rsaCipherGo(c *kmip.Call, o *objects.Object, pad kmip.PaddingMethod, oaep *rsa.OAEPOptions, data []byte, encrypt bool) ([]byte, error) {
	var out []byte
	k, err := s.asymKey(c.Context(), o)
	if err != nil {
		return nil, err
	}
	err = func() error {
		if encrypt {
			pub, ok := k.pub.(*rsa.PublicKey)
			if !ok {
				return errBadParams("not an RSA key")
			}
			if err := s.consumeUsage(c, o, len(data), true); err != nil {
				return err
			}
			if pad == kmip.PaddingMethodOAEP {
				out, err = rsa.EncryptOAEPWithOptions(rand.Reader, pub, data, oaep)
			} else {
				// PKCS#1 v1.5 stays for the clients that need it; see
				// pkcs1v15Decrypt for the decryption side.
				//lint:ignore SA1019 KMIP clients ask for PKCS#1 v1.5 encryption by name.
				out, err = rsa.EncryptPKCS1v15(rand.Reader, pub, data)
			}
			if err != nil {
				return errCrypto("RSA encryption failed: %v", err)
			}
			return nil
		}
		priv, ok := k.priv.(*rsa.PrivateKey)
		if !ok {
			return errBadParams("not an RSA private key")
		}
		if pad == kmip.PaddingMethodOAEP {
			out, err = priv.Decrypt(nil, data, oaep)
		} else {
			out, err = pkcs1v15Decrypt(priv, data)
		}
		if err != nil {
			return errCrypto("RSA decryption failed")
		}
		return nil
	}()
	return out, err
}

// pkcs1v15Decrypt decrypts a PKCS#1 v1.5 ciphertext with implicit
// rejection, as OpenSSL 3.2 does after draft-irtf-cfrg-rsa-guidance: a
// ciphertext whose padding is wrong yields a message of pseudo-random
// length and content, determined by the key and the ciphertext, instead of
// an error, so that the server cannot serve as a Bleichenbacher padding
// oracle. Both messages are computed every time; only a ciphertext of the
// wrong length, which says nothing secret, is refused.
func pkcs1v15Decrypt(priv *rsa.PrivateKey, ct []byte) ([]byte, error) {
	k := priv.Size()
	if len(ct) != k || k < 11 {
		return nil, errCrypto("the ciphertext is not %d bytes long", k)
	}
	synthetic, err := implicitRejection(priv.D.Bytes(), ct, k)
	if err != nil {
		return nil, err
	}
	//lint:ignore SA1019 the error is not disclosed: a synthetic message replaces it.
	pt, err := rsa.DecryptPKCS1v15(nil, priv, ct)
	if err != nil {
		return synthetic, nil
	}
	clear(synthetic)
	return pt, nil
}

// implicitRejection returns the synthetic message a PKCS#1 v1.5 decryption
// of ct with a bad padding yields, for a modulus of k bytes: 0 to k-11
// bytes that depend on ct and on secret, which only the private key can
// produce. The key-derivation key is HMAC-SHA256 of ct under SHA-256 of
// the secret; HKDF-Expand of it gives the length and the message.
func implicitRejection(secret, ct []byte, k int) ([]byte, error) {
	dk := sha256.Sum256(secret)
	mac := hmac.New(sha256.New, dk[:])
	mac.Write(ct)
	kdk := mac.Sum(nil)
	clear(dk[:])
	stream, err := hkdf.Expand(sha256.New, kdk, "kmipd PKCS#1 v1.5 implicit rejection", 2+k)
	clear(kdk)
	if err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(stream)) % (k - 10) // 0 .. k-11
	return stream[2 : 2+n], nil
}

// rsaDecryptHSM decrypts ct with o, an RSA private key held by the HSM,
// inside it: OAEP with SHA-1, MGF1-SHA-1 and no label, or PKCS#1 v1.5.
// PKCS#1 v1.5 is raw RSA in the HSM and the padding is checked here in
// constant time, with implicit rejection as pkcs1v15Decrypt: a bad padding
// yields a synthetic message, keyed by a secret only the private key can
// make (the raw decryption of a fixed value), rather than an error that
// would make kmipd a padding oracle.
func (s *Service) rsaDecryptHSM(ctx context.Context, o *objects.Object, pkcs1 bool, oaep *rsa.OAEPOptions, ct []byte) ([]byte, error) {
	ci, ok := s.hsmCipher()
	if !ok {
		return nil, errNotInHSM(o, "RSA decryption")
	}
	if !pkcs1 {
		if oaep.Hash != crypto.SHA1 || oaep.MGFHash != crypto.SHA1 || len(oaep.Label) != 0 {
			return nil, errNotInHSM(o, "RSA-OAEP other than with SHA-1, MGF1-SHA-1 and no label")
		}
		out, err := ci.Decrypt(ctx, o.ID, o.Blob, hsm.DecryptRSAOAEPSHA1, nil, ct)
		if err != nil {
			return nil, hsmCryptErr(o, err, "RSA-OAEP", "RSA decryption failed")
		}
		return out, nil
	}
	em, err := ci.Decrypt(ctx, o.ID, o.Blob, hsm.DecryptRSARaw, nil, ct)
	if err != nil {
		return nil, hsmCryptErr(o, err, "RSA PKCS#1 v1.5", "RSA decryption failed")
	}
	defer clear(em)
	k := len(em)
	if k != len(ct) || k < 11 {
		return nil, errCrypto("the ciphertext is not %d bytes long", k)
	}
	// The secret: the raw decryption of a fixed value below the modulus
	// (its first byte is zero), hashed.
	fixed := make([]byte, k)
	for i, ctr := 1, uint32(0); i < k; ctr++ {
		var c [4]byte
		binary.BigEndian.PutUint32(c[:], ctr)
		h := sha256.Sum256(append([]byte("kmipd PKCS#1 v1.5 implicit rejection secret"), c[:]...))
		i += copy(fixed[i:], h[:])
	}
	sec, err := ci.Decrypt(ctx, o.ID, o.Blob, hsm.DecryptRSARaw, nil, fixed)
	if err != nil {
		return nil, hsmCryptErr(o, err, "RSA PKCS#1 v1.5", "RSA decryption failed")
	}
	synthetic, err := implicitRejection(sec, ct, k)
	clear(sec)
	if err != nil {
		return nil, err
	}
	valid, index := pkcs1v15Unpad(em)
	if valid != 1 {
		return synthetic, nil
	}
	clear(synthetic)
	return append([]byte(nil), em[index:]...), nil
}

// pkcs1v15Unpad checks the PKCS#1 v1.5 encryption padding of em in
// constant time (as crypto/rsa does): valid is 1 when it is right, and
// the message starts at index.
func pkcs1v15Unpad(em []byte) (valid, index int) {
	first := subtle.ConstantTimeByteEq(em[0], 0)
	second := subtle.ConstantTimeByteEq(em[1], 2)
	looking := 1
	for i := 2; i < len(em); i++ {
		zero := subtle.ConstantTimeByteEq(em[i], 0)
		index = subtle.ConstantTimeSelect(looking&zero, i, index)
		looking = subtle.ConstantTimeSelect(zero, 0, looking)
	}
	// At least 8 bytes of non-zero padding.
	validPS := subtle.ConstantTimeLessOrEq(2+8, index)
	valid = first & second & (^looking & 1) & validPS
	index = subtle.ConstantTimeSelect(valid, index+1, 0)
	return valid, index
}
