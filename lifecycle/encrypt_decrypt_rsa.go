package lifecycle

import (
	"crypto"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"

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
		out, err = s.rsaDecryptHSM(o, pad == kmip.PaddingMethodPKCS1V1_5, &oaep, req.Data)
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
	err := s.withMaterial(o, func(material []byte) error {
		if encrypt {
			k, err := parsePublicKey(o, material)
			if err != nil {
				return err
			}
			pub, ok := k.(*rsa.PublicKey)
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
		k, err := parsePrivateKey(material)
		if err != nil {
			return err
		}
		priv, ok := k.(*rsa.PrivateKey)
		if !ok {
			return errBadParams("not an RSA key")
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
	})
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
