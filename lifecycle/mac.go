package lifecycle

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"hash"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/internal/cmac"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// MAC, MAC Verify (KMIP 2.0 §6.1.30, §6.1.31) and Hash (§6.1.23).
//
// The MAC algorithm is, in this order: HMAC when the Cryptographic
// Algorithm (of the parameters, else of the key) is one of the HMAC
// algorithms (SHA-1, SHA-2, SHA-3); CMAC (NIST SP 800-38B) when the Block
// Cipher Mode is CMAC; HMAC with the parameters' Hashing Algorithm when
// they give one; CMAC when the key is an AES or Triple DES key. CS-AC-M-4
// shows the first rule: an AES key whose Cryptographic Parameters say
// HMAC-SHA256 makes HMAC-SHA256 MACs. MAC Verify compares in constant time
// and answers Valid or Invalid; the MAC Data may be a truncated MAC
// (mac_verify.go).

// macHash returns the MAC p and the key o call for, keyed with key.
func macHash(o *objects.Object, p *kmip.CryptoParams, key []byte) (hash.Hash, error) {
	if o.Type != kmip.ObjectTypeSymmetricKey && o.Type != kmip.ObjectTypeSecretData {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidObjectType, "MACs need a symmetric key, not a %s", o.Type)
	}
	if len(key) == 0 {
		return nil, errBadParams("empty MAC key")
	}
	alg := keyAlgorithm(o)
	if p.Has(kmip.ParamCryptographicAlgorithm) {
		alg = p.CryptographicAlgorithm
	}
	cmacMode := p.Has(kmip.ParamBlockCipherMode) && p.BlockCipherMode == kmip.BlockCipherModeCMAC
	if p.Has(kmip.ParamBlockCipherMode) && !cmacMode {
		return nil, errUnsupportedParams("MACs with Block Cipher Mode %s are not supported", p.BlockCipherMode)
	}
	if h, ok := hmacHash(alg); ok {
		return hmac.New(h.New, key), nil
	}
	if !cmacMode && p.Has(kmip.ParamHashingAlgorithm) {
		h, err := hashParam(p, 0)
		if err != nil {
			return nil, err
		}
		return hmac.New(h.New, key), nil
	}
	var b cipher.Block
	var err error
	switch alg {
	case kmip.CryptographicAlgorithmAES:
		b, err = aes.NewCipher(key)
	case kmip.CryptographicAlgorithmDES3:
		su := symSetup{alg: alg}
		if len(key) != 16 && len(key) != 24 {
			return nil, errBadParams("Triple DES keys are 128 or 192 bits long")
		}
		b, err = newBlock(&su, key)
	default:
		return nil, errUnsupportedParams("MACs with %s are not supported", alg)
	}
	if err != nil {
		return nil, errBadParams("invalid CMAC key: %v", err)
	}
	return cmac.New(b), nil
}

// hmacHash returns the hash of an HMAC algorithm.
func hmacHash(a kmip.CryptographicAlgorithm) (crypto.Hash, bool) {
	switch a {
	case kmip.CryptographicAlgorithmHMAC_SHA1:
		return crypto.SHA1, true
	case kmip.CryptographicAlgorithmHMAC_SHA224:
		return crypto.SHA224, true
	case kmip.CryptographicAlgorithmHMAC_SHA256:
		return crypto.SHA256, true
	case kmip.CryptographicAlgorithmHMAC_SHA384:
		return crypto.SHA384, true
	case kmip.CryptographicAlgorithmHMAC_SHA512:
		return crypto.SHA512, true
	case kmip.CryptographicAlgorithmHMAC_SHA3_224:
		return crypto.SHA3_224, true
	case kmip.CryptographicAlgorithmHMAC_SHA3_256:
		return crypto.SHA3_256, true
	case kmip.CryptographicAlgorithmHMAC_SHA3_384:
		return crypto.SHA3_384, true
	case kmip.CryptographicAlgorithmHMAC_SHA3_512:
		return crypto.SHA3_512, true
	}
	return 0, false
}

func (s *Service) mac(c *kmip.Call, w *ttlv.Builder) error {
	return s.macOp(c, w, kmip.OperationMAC)
}

func (s *Service) macVerify(c *kmip.Call, w *ttlv.Builder) error {
	return s.macOp(c, w, kmip.OperationMACVerify)
}

func (s *Service) macOp(c *kmip.Call, w *ttlv.Builder, op kmip.Operation) error {
	var req kmip.CryptoRequest
	if err := req.Decode(c.Item.Payload, op); err != nil {
		return err
	}
	if req.Streaming() {
		return s.macStream(c, w, &req, op)
	}
	o, err := s.useKey(c, req.UniqueID, op)
	if err != nil {
		return err
	}
	if req.Data == nil {
		return errMissing("%s request lacks Data", op)
	}
	verify := op == kmip.OperationMACVerify
	if verify && req.MACData == nil {
		return errMissing("MAC Verify request lacks MAC Data")
	}
	p := keyParams(o, &req.Params)
	var sum [64]byte
	var tag []byte
	if heldByHSM(o) {
		tag, err = s.macHSM(c, o, &p, req.Data, verify)
	}
	if !heldByHSM(o) || s.hsmFallback(o, err) {
		err = s.withMaterial(c.Context(), o, func(key []byte) error {
			h, err := macHash(o, &p, key)
			if err != nil {
				return err
			}
			if !verify {
				if err := s.consumeUsage(c, o, len(req.Data), true); err != nil {
					return err
				}
			}
			h.Write(req.Data)
			tag = h.Sum(sum[:0])
			return nil
		})
	}
	if err != nil {
		return err
	}
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	if verify {
		valid, err := macMatches(tag, req.MACData)
		if err != nil {
			return err
		}
		writeValidity(w, valid)
	} else {
		w.AddBytes(ttlv.TagMACData, tag)
	}
	return nil
}

// macHSM computes an HMAC or AES-CMAC with a key held by the HSM, inside
// it ([hsm.Cipher]). The MAC is chosen as macHash chooses it; Triple DES
// CMAC, the hashes the HSM lacks and keys shorter than SoftHSM accepts for
// the hash (its output length) are Feature Not Supported.
func (s *Service) macHSM(c *kmip.Call, o *objects.Object, p *kmip.CryptoParams, data []byte, verify bool) ([]byte, error) {
	if o.Type != kmip.ObjectTypeSymmetricKey && o.Type != kmip.ObjectTypeSecretData {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidObjectType, "MACs need a symmetric key, not a %s", o.Type)
	}
	alg := keyAlgorithm(o)
	if p.Has(kmip.ParamCryptographicAlgorithm) {
		alg = p.CryptographicAlgorithm
	}
	cmacMode := p.Has(kmip.ParamBlockCipherMode) && p.BlockCipherMode == kmip.BlockCipherModeCMAC
	if p.Has(kmip.ParamBlockCipherMode) && !cmacMode {
		return nil, errUnsupportedParams("MACs with Block Cipher Mode %s are not supported", p.BlockCipherMode)
	}
	h, ok := hmacHash(alg)
	if !ok && !cmacMode && p.Has(kmip.ParamHashingAlgorithm) {
		var err error
		if h, err = hashParam(p, 0); err != nil {
			return nil, err
		}
		ok = true
	}
	var mech hsm.MACMech
	what := "HMAC-" + h.String()
	switch {
	case !ok && alg != kmip.CryptographicAlgorithmAES:
		return nil, errNotInHSM(o, "CMAC with "+alg.String())
	case !ok:
		mech, what = hsm.CMAC, "AES-CMAC"
	case h == crypto.SHA1:
		mech = hsm.HMACSHA1
	case h == crypto.SHA256:
		mech = hsm.HMACSHA256
	case h == crypto.SHA384:
		mech = hsm.HMACSHA384
	case h == crypto.SHA512:
		mech = hsm.HMACSHA512
	default:
		return nil, errNotInHSM(o, "HMAC with "+h.String())
	}
	ci, ok := s.hsmCipher()
	if !ok {
		return nil, errNotInHSM(o, "MAC")
	}
	tag, err := ci.MAC(c.Context(), o.ID, o.Blob, mech, data)
	if err != nil {
		return nil, hsmCryptErr(o, err, what, "the HSM rejected the MAC")
	}
	// Counted after the HSM accepted it, as in symOneShotHSM.
	if !verify {
		if err := s.consumeUsage(c, o, len(data), true); err != nil {
			return nil, err
		}
	}
	return tag, nil
}

// macStream serves one request of a multi-part MAC or MAC Verify.
func (s *Service) macStream(c *kmip.Call, w *ttlv.Builder, req *kmip.CryptoRequest, op kmip.Operation) error {
	var o *objects.Object
	var step *streamStep
	var err error
	if req.Init {
		if o, err = s.useKey(c, req.UniqueID, op); err != nil {
			return err
		}
		p := keyParams(o, &req.Params)
		step, err = s.beginStream(c, req, op, o.ID, func(st *stream) error {
			return s.withMaterial(c.Context(), o, func(key []byte) error {
				st.h, err = macHash(o, &p, key)
				return err
			})
		})
		if err != nil {
			return err
		}
	} else {
		if step, o, err = s.resumeStream(c, w, req, op); err != nil {
			return err
		}
	}
	err = func() error {
		st := step.st
		if req.MACData != nil {
			st.expect = append(st.expect[:0], req.MACData...)
		}
		if op == kmip.OperationMAC {
			if err := s.consumeUsage(c, o, len(req.Data), req.Init); err != nil {
				return err
			}
		}
		st.h.Write(req.Data)
		w.AddText(ttlv.TagUniqueIdentifier, o.ID)
		if !req.Final {
			return nil
		}
		tag := st.h.Sum(nil)
		if op == kmip.OperationMAC {
			w.AddBytes(ttlv.TagMACData, tag)
			return nil
		}
		if st.expect == nil {
			return errMissing("MAC Verify lacks MAC Data")
		}
		valid, err := macMatches(tag, st.expect)
		if err != nil {
			return err
		}
		writeValidity(w, valid)
		return nil
	}()
	step.finish(w, req.Final, err)
	return err
}
