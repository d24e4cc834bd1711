package lifecycle

import (
	"crypto"
	"crypto/hkdf"
	"crypto/hmac"
	"hash"

	"github.com/kmipd/kmipd/internal/kdf"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// Derive Key (KMIP 2.0 §6.1.11; 1.4 §4.6) makes a new Symmetric Key or
// Secret Data object from the key material of a Pre-Active or Active base
// object whose Cryptographic Usage Mask allows Derive Key. The new object takes the
// request's attributes (its Cryptographic Length, in bits, is required)
// and the server's, as on Create; it gets a Derivation Base Object link to
// the base object, which gets a Derived Key link to it; its identifier
// becomes the ID Placeholder. The methods, with K the base material, D the
// Derivation Data and H the Hashing Algorithm of the Derivation
// Parameters' Cryptographic Parameters:
//
//   - PBKDF2 (RFC 8018): password K, the Salt and Iteration Count, PRF
//     HMAC-H (H defaults to SHA-1; TC-DERIVEKEY-3/4 are RFC 6070's vectors);
//   - HASH: H(K || D), H defaulting to SHA-256;
//   - HMAC: HMAC-H(K, D), H defaulting to SHA-256; with a Salt, or for more
//     than one digest, HKDF (RFC 5869) with the Salt and info D;
//   - ENCRYPT: D encrypted with K under the Cryptographic Parameters (ECB,
//     CBC, CTR, ChaCha20) and the Initialization Vector, cut to length;
//   - NIST800-108-C: the SP 800-108 KDF in counter mode, a 32-bit counter
//     before the fixed input D, with the MAC the Cryptographic Parameters
//     select as MAC does (HMAC-SHA-256 by default, CMAC for AES keys);
//   - HKDF (RFC 5869): input K, the Salt, info D, hash H (default SHA-256);
//   - Asymmetric Key: ECDH between a Private Key and a Public Key, the two
//     objects the request names (derive_key_ecdh.go).
//
// HASH yields at most one digest. The other methods (feedback and
// double-pipeline SP 800-108, AWS Signature Version 4) are not supported.

// maxIterations bounds PBKDF2's cost for one request.
const maxIterations = 10_000_000

func (s *Service) deriveKey(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.DeriveKeyRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	kft := kmip.KeyFormatTypeRaw
	switch req.ObjectType {
	case kmip.ObjectTypeSymmetricKey:
	case kmip.ObjectTypeSecretData:
		kft = kmip.KeyFormatTypeOpaque
	default:
		return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "Derive Key makes Symmetric Keys and Secret Data, not %s", req.ObjectType)
	}
	agree := req.Method == kmip.DerivationMethodAsymmetricKey
	switch {
	case agree && len(req.UniqueIDs) != 2:
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Asymmetric Key derivation names a Private Key and a Public Key")
	case !agree && len(req.UniqueIDs) > 1:
		return kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "derivation from several objects is not supported")
	}
	baseID, err := resolveID(c, req.UniqueIDs[0])
	if err != nil {
		return err
	}
	var peerID string
	if agree {
		if peerID, err = resolveID(c, req.UniqueIDs[1]); err != nil {
			return err
		}
	}
	var id string
	err = s.update(c, func(tx *store.Tx) error {
		base, err := s.load(tx, c, baseID, true)
		if err != nil {
			return err
		}
		if err := usable(base, kmip.OperationDeriveKey, now(c)); err != nil {
			return err
		}
		var peer *objects.Object // the other key of an Asymmetric Key derivation
		if agree {
			if peer, err = s.load(tx, c, peerID, false); err != nil {
				return err
			}
			if err := usable(peer, kmip.OperationDeriveKey, now(c)); err != nil {
				return err
			}
		}
		if id, err = tx.NewID(); err != nil {
			return err
		}
		o := s.newOwned(c, id, req.ObjectType)
		if err := applyRequestAttrs(o, req.Attributes); err != nil {
			return err
		}
		bits, ok := o.Int(ttlv.TagCryptographicLength)
		if !ok || bits <= 0 || bits%8 != 0 || bits > 8192 {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Derive Key needs a Cryptographic Length, a multiple of 8 up to 8192 bits")
		}
		n := int(bits / 8)
		if alg, ok := o.Enum(ttlv.TagCryptographicAlgorithm); ok && req.ObjectType == kmip.ObjectTypeSymmetricKey {
			a := kmip.CryptographicAlgorithm(alg)
			// 168-bit Triple DES keys are 24 bytes long. A length the
			// cipher does not define (PyKMIP derives a 160-bit AES key) is
			// derived as asked: the key is kept, and only an operation that
			// needs a valid key refuses it, saying why.
			if want, known := keyBytes(a, bits); known {
				n = want
			}
		}
		var material []byte
		err = s.withMaterial(c.Context(), base, func(k []byte) error {
			var err error
			if peer != nil {
				return s.withMaterial(c.Context(), peer, func(pk []byte) error {
					material, err = agreeECDH(base, k, peer, pk, &req.Derivation.Params, n)
					return err
				})
			}
			material, err = deriveMaterial(base, k, &req, n)
			return err
		})
		if err != nil {
			return err
		}
		defer clear(material)
		blob, err := s.cfg.Backend.Seal(c.Context(), id, material)
		if err != nil {
			return err
		}
		o.Blob, o.KeyFormat = blob, kft
		if req.ObjectType == kmip.ObjectTypeSecretData {
			o.DataType = uint32(kmip.SecretDataTypeSeed)
		}
		o.Add(objects.LinkAttr(kmip.LinkTypeDerivationBaseObjectLink, base.ID))
		initServerAttrs(c, o, material, kft)
		base.Add(objects.LinkAttr(kmip.LinkTypeDerivedKeyLink, id))
		base.SetDate(ttlv.TagLastChangeDate, now(c))
		if err := s.save(tx, base); err != nil {
			return err
		}
		return s.saveNew(tx, c, o)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = id
	w.AddText(ttlv.TagUniqueIdentifier, id)
	return nil
}

// deriveMaterial computes n bytes of derived material from the base
// object's material k.
func deriveMaterial(base *objects.Object, k []byte, req *kmip.DeriveKeyRequest, n int) ([]byte, error) {
	d := &req.Derivation
	p := &d.Params
	data := d.DerivationData
	switch req.Method {
	case kmip.DerivationMethodPBKDF2:
		h, err := hashParam(p, crypto.SHA1)
		if err != nil {
			return nil, err
		}
		if d.Salt == nil || !d.HasIterationCount {
			return nil, errMissing("PBKDF2 needs a Salt and an Iteration Count")
		}
		if d.IterationCount < 1 || d.IterationCount > maxIterations {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "Iteration Count must be between 1 and %d", maxIterations)
		}
		return kdf.PBKDF2(h, k, d.Salt, int(d.IterationCount), n), nil
	case kmip.DerivationMethodHASH, kmip.DerivationMethodHMAC:
		h, err := hashParam(p, crypto.SHA256)
		if err != nil {
			return nil, err
		}
		if req.Method == kmip.DerivationMethodHMAC && (d.Salt != nil || n > h.Size()) {
			// KMIP names the method, not the construction. With a Salt, or
			// more bytes than one HMAC gives, the client means the HMAC-based
			// KDF of RFC 5869 (HKDF: Salt, Derivation Data as its info), as
			// PyKMIP does; otherwise one HMAC of the Derivation Data under
			// the key, truncated, as TC-DERIVEKEY-2 has it.
			out, err := hkdf.Key(h.New, k, d.Salt, string(data), n)
			if err != nil {
				return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "HMAC (HKDF) derivation: %v", err)
			}
			return out, nil
		}
		if n > h.Size() {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "%s derivation with %s yields at most %d bits", req.Method, h, 8*h.Size())
		}
		var f hash.Hash
		if req.Method == kmip.DerivationMethodHMAC {
			f = hmac.New(h.New, k)
		} else {
			f = h.New()
			f.Write(k)
		}
		f.Write(data)
		out := f.Sum(nil)
		return truncate(out, n), nil
	case kmip.DerivationMethodENCRYPT:
		return deriveEncrypt(base, k, d, n)
	case kmip.DerivationMethodNIST800_108_C:
		mp := *p
		if !mp.Has(kmip.ParamHashingAlgorithm) && !mp.Has(kmip.ParamCryptographicAlgorithm) && !mp.Has(kmip.ParamBlockCipherMode) {
			if _, ok := hmacHash(keyAlgorithm(base)); !ok && !isBlockCipher(keyAlgorithm(base)) {
				mp.Set |= kmip.ParamHashingAlgorithm
				mp.HashingAlgorithm = kmip.HashingAlgorithmSHA_256
			}
		}
		prf, err := macHash(base, &mp, k)
		if err != nil {
			return nil, err
		}
		return kdf.Counter(prf, data, n), nil
	case kmip.DerivationMethodHKDF:
		h, err := hashParam(p, crypto.SHA256)
		if err != nil {
			return nil, err
		}
		out, err := hkdf.Key(h.New, k, d.Salt, string(data), n)
		if err != nil {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "HKDF: %v", err)
		}
		return out, nil
	}
	return nil, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "Derivation Method %s is not supported", req.Method)
}

func isBlockCipher(a kmip.CryptographicAlgorithm) bool {
	return a == kmip.CryptographicAlgorithmAES || a == kmip.CryptographicAlgorithmDES3
}

// truncate keeps the first n bytes of b, wiping the rest.
func truncate(b []byte, n int) []byte {
	clear(b[n:])
	return b[:n:n]
}

// deriveEncrypt encrypts the Derivation Data with the base key.
func deriveEncrypt(base *objects.Object, k []byte, d *kmip.DerivationParameters, n int) ([]byte, error) {
	if base.Type != kmip.ObjectTypeSymmetricKey {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidObjectType, "ENCRYPT derivation needs a symmetric base key")
	}
	if d.DerivationData == nil {
		return nil, errMissing("ENCRYPT derivation needs Derivation Data")
	}
	p := keyParams(base, &d.Params)
	su, err := newSymSetup(base, &p, d.InitializationVector, nil, len(k), true)
	if err != nil {
		return nil, err
	}
	if su.ivMade {
		return nil, errMissing("ENCRYPT derivation needs an Initialization Vector")
	}
	if su.aead() {
		return nil, errUnsupportedParams("ENCRYPT derivation with authenticated encryption is not supported")
	}
	part, err := newCipherPart(&su, k, true)
	if err != nil {
		return nil, err
	}
	defer part.wipe()
	out, err := part.update(nil, d.DerivationData)
	if err == nil {
		out, _, err = part.final(out, nil)
	}
	if err != nil {
		return nil, err
	}
	if len(out) < n {
		clear(out)
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "the Derivation Data yields %d bits, fewer than asked for", 8*len(out))
	}
	return truncate(out, n), nil
}
