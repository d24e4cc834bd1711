package lifecycle

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"slices"

	//lint:ignore SA1019 clients still derive and decrypt with Blowfish keys they hold (PyKMIP's suite); kmipd never chooses it
	"golang.org/x/crypto/blowfish"
	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/internal/ciphermode"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// Encrypt and Decrypt (KMIP 2.0 §6.1.17, §6.1.14) with symmetric keys:
//
//   - AES: ECB and CBC (Padding Method PKCS5 or None), CTR (the IV is the
//     initial 128-bit counter block) and GCM (any IV length, Tag Length 12
//     to 16 bytes, Additional Data);
//   - Triple DES and Blowfish: ECB, CBC, CTR;
//   - ChaCha20 (no Block Cipher Mode): an 8-byte IV is the original nonce
//     with a 64-bit counter, as the CS-BC-M-CHACHA20 vectors use it; a
//     12-byte IV the RFC 8439 nonce, counting from Initial Counter Value
//     (default 0); a 16-byte IV a little-endian 32-bit counter followed by
//     the 12-byte nonce;
//   - ChaCha20-Poly1305 (RFC 8439; Block Cipher Mode AEAD or none): 12-byte
//     nonce, or 24 bytes for XChaCha20-Poly1305; Tag Length 12 to 16.
//
// Without an IV/Counter/Nonce, or with Random IV true, Encrypt makes one
// (the IV Length in bits if the parameters give it, else the mode's usual
// size) and returns it; Decrypt then needs it back (Invalid Message when it
// lacks it). A shortened tag is the leading bytes of the full one.
//
// Multi-part: block modes hold back partial blocks (and, decrypting with
// padding, the last block until the end); stream modes answer at once; GCM
// encryption streams too (internal/streamgcm); authenticated decryption, and
// ChaCha20-Poly1305 encryption, buffer until the Final request so that no
// unauthenticated plaintext is ever returned.

func (s *Service) encrypt(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.CryptoRequest
	if err := req.Decode(c.Item.Payload, kmip.OperationEncrypt); err != nil {
		return err
	}
	return s.cipherOp(c, w, &req, kmip.OperationEncrypt)
}

func (s *Service) decrypt(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.CryptoRequest
	if err := req.Decode(c.Item.Payload, kmip.OperationDecrypt); err != nil {
		return err
	}
	return s.cipherOp(c, w, &req, kmip.OperationDecrypt)
}

func (s *Service) cipherOp(c *kmip.Call, w *ttlv.Builder, req *kmip.CryptoRequest, op kmip.Operation) error {
	if req.Streaming() {
		return s.cipherStream(c, w, req, op)
	}
	o, err := s.useKey(c, req.UniqueID, op)
	if err != nil {
		return err
	}
	if req.Data == nil {
		return errMissing("%s request lacks Data", op)
	}
	p := keyParams(o, &req.Params)
	switch {
	case o.Type == kmip.ObjectTypeSymmetricKey:
		return s.symOneShot(c, w, o, &p, req, op == kmip.OperationEncrypt)
	case o.Type == kmip.ObjectTypePublicKey && op == kmip.OperationEncrypt,
		o.Type == kmip.ObjectTypeCertificate && op == kmip.OperationEncrypt && o.DataType == uint32(kmip.CertificateTypeX_509),
		o.Type == kmip.ObjectTypePrivateKey && op == kmip.OperationDecrypt:
		return s.rsaCipher(c, w, o, &p, req, op == kmip.OperationEncrypt)
	}
	return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "%s cannot use a %s", op, o.Type)
}

// symSetup is a symmetric cipher fully specified.
type symSetup struct {
	alg    kmip.CryptographicAlgorithm // AES, DES3, ChaCha20, ChaCha20Poly1305
	mode   kmip.BlockCipherMode        // ECB, CBC, CTR, GCM; 0 for the ChaCha family
	pad    bool                        // PKCS#5 padding (ECB, CBC)
	tagLen int                         // GCM, ChaCha20-Poly1305
	iv     []byte
	ivMade bool // the server generated iv: return it
	ctr    uint32
}

func (su *symSetup) aead() bool {
	return su.mode == kmip.BlockCipherModeGCM || su.alg == kmip.CryptographicAlgorithmChaCha20Poly1305
}

// symFamily groups algorithms that share key material.
func symFamily(a kmip.CryptographicAlgorithm) kmip.CryptographicAlgorithm {
	if a == kmip.CryptographicAlgorithmChaCha20Poly1305 {
		return kmip.CryptographicAlgorithmChaCha20
	}
	return a
}

// invalidTagLength is the General Failure the CS-BC-M-GCM-1 and
// CHACHA20POLY1305-1 vectors expect for a Tag Length out of range.
func invalidTagLength(n int32) error {
	return kmip.Errorf(kmip.ResultReasonGeneralFailure, "invalid tag length %d", n)
}

// newSymSetup validates the parameters p and the request's IV for a cipher
// with the key o (whose material is keyLen bytes long) and, encrypting,
// generates the IV if needed. tag is the Authenticated Encryption Tag of a
// Decrypt (nil if the request has none yet).
func newSymSetup(o *objects.Object, p *kmip.CryptoParams, iv, tag []byte, keyLen int, encrypt bool) (symSetup, error) {
	var su symSetup
	su.alg = keyAlgorithm(o)
	if p.Has(kmip.ParamCryptographicAlgorithm) {
		if su.alg != 0 && symFamily(p.CryptographicAlgorithm) != symFamily(su.alg) {
			return su, errBadParams("a %s key cannot be used for %s", su.alg, p.CryptographicAlgorithm)
		}
		su.alg = p.CryptographicAlgorithm
	}
	mode := p.BlockCipherMode
	hasMode := p.Has(kmip.ParamBlockCipherMode)
	var blockSize int
	switch su.alg {
	case kmip.CryptographicAlgorithmAES:
		if keyLen != 16 && keyLen != 24 && keyLen != 32 {
			return su, errBadParams("AES keys are 128, 192 or 256 bits long")
		}
		blockSize = aes.BlockSize
	case kmip.CryptographicAlgorithmDES3:
		if keyLen != 16 && keyLen != 24 {
			return su, errBadParams("Triple DES keys are 128 or 192 bits long")
		}
		blockSize = des.BlockSize
	case kmip.CryptographicAlgorithmBlowfish:
		// Legacy, but clients still derive and decrypt with it (PyKMIP's
		// suite derives by Blowfish-CBC encryption).
		if keyLen < 4 || keyLen > 56 {
			return su, errBadParams("Blowfish keys are 32 to 448 bits long")
		}
		blockSize = blowfish.BlockSize
	case kmip.CryptographicAlgorithmChaCha20, kmip.CryptographicAlgorithmChaCha20Poly1305:
		if keyLen != chacha20.KeySize {
			return su, errBadParams("ChaCha20 keys are 256 bits long")
		}
		switch {
		case hasMode && mode == kmip.BlockCipherModeAEAD:
			su.alg = kmip.CryptographicAlgorithmChaCha20Poly1305
		case hasMode:
			return su, errUnsupportedParams("%s does not take Block Cipher Mode %s", su.alg, mode)
		}
	case 0:
		return su, errBadParams("the key has no Cryptographic Algorithm")
	default:
		return su, errUnsupportedParams("symmetric encryption with %s is not supported", su.alg)
	}
	if blockSize != 0 {
		if !hasMode {
			return su, errBadParams("%s needs a Block Cipher Mode", su.alg)
		}
		switch mode {
		case kmip.BlockCipherModeECB, kmip.BlockCipherModeCBC, kmip.BlockCipherModeCTR:
		case kmip.BlockCipherModeGCM:
			if su.alg != kmip.CryptographicAlgorithmAES {
				return su, errUnsupportedParams("GCM needs AES")
			}
		default:
			return su, errUnsupportedParams("Block Cipher Mode %s is not supported", mode)
		}
		su.mode = mode
	}
	if su.mode == kmip.BlockCipherModeECB || su.mode == kmip.BlockCipherModeCBC {
		switch {
		case !p.Has(kmip.ParamPaddingMethod), p.PaddingMethod == kmip.PaddingMethodNone:
		case p.PaddingMethod == kmip.PaddingMethodPKCS5:
			su.pad = true
		default:
			return su, errUnsupportedParams("Padding Method %s is not supported", p.PaddingMethod)
		}
	}
	if su.aead() {
		switch {
		case p.Has(kmip.ParamTagLength):
			if p.TagLength < 12 || p.TagLength > 16 {
				return su, invalidTagLength(p.TagLength)
			}
			su.tagLen = int(p.TagLength)
			if !encrypt && tag != nil && len(tag) != su.tagLen {
				return su, errCrypto("the tag is %d bytes long, not %d", len(tag), su.tagLen)
			}
		case !encrypt && tag != nil:
			if len(tag) < 12 || len(tag) > 16 {
				return su, errCrypto("invalid tag length %d", len(tag))
			}
			su.tagLen = len(tag)
		case encrypt:
			su.tagLen = 16
		default:
			su.tagLen = 0 // that of the tag, when it comes
		}
	}
	// The IV.
	var ivLen int // required length; 0: any (GCM), -1: none (ECB)
	switch {
	case su.mode == kmip.BlockCipherModeECB:
		ivLen = -1
	case su.mode == kmip.BlockCipherModeCBC, su.mode == kmip.BlockCipherModeCTR:
		ivLen = blockSize
	}
	if ivLen < 0 {
		return su, nil
	}
	ivBits := p.IVLength
	if p.Has(kmip.ParamIVLength) {
		var err error
		if ivBits, err = ivLengthBits(p.IVLength, ivLen, su); err != nil {
			return su, err
		}
	}
	if p.RandomIV && iv != nil && encrypt {
		return su, errBadParams("Random IV is set: the server makes the IV")
	}
	if iv == nil {
		if !encrypt {
			return su, errMissing("missing IV/Counter/Nonce")
		}
		n := ivLen
		switch {
		case p.Has(kmip.ParamIVLength):
			n = int(ivBits / 8)
		case n == 0:
			n = 12 // GCM, ChaCha20, ChaCha20-Poly1305
		}
		if n > 256 {
			return su, errBadParams("IV Length %d bits is more than kmipd makes (2048 bits)", ivBits)
		}
		b, err := randomBytes(n)
		if err != nil {
			return su, err
		}
		iv, su.ivMade = b, true
	}
	if ivLen > 0 && len(iv) != ivLen {
		return su, errBadParams("the IV of %s %s is %d bytes long", su.alg, su.mode, ivLen)
	}
	switch n := len(iv); {
	case n == 0:
		return su, errBadParams("empty IV/Counter/Nonce")
	case su.alg == kmip.CryptographicAlgorithmChaCha20 && n != 8 && n != 12 && n != 16:
		return su, errBadParams("a ChaCha20 IV is 8, 12 or 16 bytes long")
	case su.alg == kmip.CryptographicAlgorithmChaCha20Poly1305 && n != chacha20poly1305.NonceSize && n != chacha20poly1305.NonceSizeX:
		return su, errBadParams("a ChaCha20-Poly1305 nonce is 12 or 24 bytes long")
	}
	su.iv = iv
	if su.alg == kmip.CryptographicAlgorithmChaCha20 && p.Has(kmip.ParamInitialCounterValue) {
		if len(iv) == 16 {
			return su, errBadParams("a 16-byte ChaCha20 IV carries its own counter")
		}
		su.ctr = uint32(p.InitialCounterValue)
	}
	return su, nil
}

// ivLengthBits checks the IV Length of Cryptographic Parameters, which
// KMIP gives in bits, against the IV the mode takes (ivLen bytes; 0: any
// length). Some clients send bytes (ovh/kmip-go: 16 for CBC, 12 for GCM);
// where a number cannot be a bit length for the mode but is the mode's
// length in bytes, it is read as bytes rather than refused. It returns the
// length in bits.
func ivLengthBits(n int32, ivLen int, su symSetup) (int32, error) {
	switch {
	case n > 0 && n%8 == 0 && (ivLen == 0 || int(n/8) == ivLen):
		return n, nil
	case ivLen > 0 && int(n) == ivLen:
		return 8 * n, nil // 16 for AES-CBC: the block size in bytes
	case ivLen == 0 && n > 0 && n%8 != 0 && n <= 32:
		return 8 * n, nil // 12 for GCM: no bit length, the usual nonce in bytes
	}
	if ivLen > 0 {
		return 0, errBadParams("IV Length %d does not fit %s %s: KMIP counts IV Length in bits, and its IV is %d bits (%d bytes)", n, su.alg, su.mode, 8*ivLen, ivLen)
	}
	return 0, errBadParams("IV Length %d is not a whole number of bytes: KMIP counts IV Length in bits (96 for a 12-byte nonce)", n)
}

// newBlock returns the block cipher of a setup.
func newBlock(su *symSetup, key []byte) (cipher.Block, error) {
	if su.alg == kmip.CryptographicAlgorithmDES3 {
		if len(key) == 16 { // two-key Triple DES: K1 K2 K1
			k := make([]byte, 24)
			copy(k, key)
			copy(k[16:], key[:8])
			b, err := des.NewTripleDESCipher(k)
			clear(k)
			return b, err
		}
		return des.NewTripleDESCipher(key)
	}
	if su.alg == kmip.CryptographicAlgorithmBlowfish {
		return blowfish.NewCipher(key)
	}
	return aes.NewCipher(key)
}

// newAEAD returns the AEAD of a setup.
func newAEAD(su *symSetup, key []byte) (cipher.AEAD, error) {
	if su.alg == kmip.CryptographicAlgorithmChaCha20Poly1305 {
		if len(su.iv) == chacha20poly1305.NonceSizeX {
			return chacha20poly1305.NewX(key)
		}
		return chacha20poly1305.New(key)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(su.iv) == 12 {
		return cipher.NewGCM(b)
	}
	return cipher.NewGCMWithNonceSize(b, len(su.iv))
}

// aeadSeal appends the ciphertext of data to dst and returns it with the
// tag shortened to tagLen bytes (both alias the result).
func aeadSeal(a cipher.AEAD, dst, iv, data, aad []byte, tagLen int) (out, tag []byte) {
	sealed := a.Seal(dst, iv, data, aad)
	n := len(sealed) - a.Overhead()
	return sealed[:n], sealed[n : n+tagLen : n+tagLen]
}

// aeadOpen appends the plaintext of ct to dst after checking tag, which may
// be shorter than the AEAD's: a shortened tag is checked against the
// leading bytes of the full one, recomputed from the plaintext, which is
// never returned unless the tag matches.
func aeadOpen(a cipher.AEAD, dst, iv, ct, tag, aad []byte) ([]byte, error) {
	start := len(dst)
	if len(tag) == a.Overhead() {
		dst = append(dst, ct...)
		dst = append(dst, tag...)
		pt, err := a.Open(dst[start:start], iv, dst[start:], aad)
		if err != nil {
			clear(dst[start:])
			return dst[:start], errCrypto("authentication failed")
		}
		return dst[:start+len(pt)], nil
	}
	// The keystream is the encryption of zeros (GCM and ChaCha20-Poly1305
	// both XOR it with the plaintext, whatever the additional data).
	dst = slices.Grow(dst, len(ct)+a.Overhead())
	region := dst[start : start+len(ct)]
	clear(region)
	ks := a.Seal(region[:0], iv, region, aad)
	subtle.XORBytes(region, ks[:len(ct)], ct)
	full := a.Seal(nil, iv, region, aad)
	ok := subtle.ConstantTimeCompare(full[len(ct):len(ct)+len(tag)], tag) == 1
	clear(full)
	if !ok {
		clear(dst[start : start+len(ct)+a.Overhead()])
		return dst[:start], errCrypto("authentication failed")
	}
	return dst[:start+len(ct)], nil
}

// symOneShot serves a single-part Encrypt or Decrypt with a symmetric key.
func (s *Service) symOneShot(c *kmip.Call, w *ttlv.Builder, o *objects.Object, p *kmip.CryptoParams, req *kmip.CryptoRequest, encrypt bool) error {
	if heldByHSM(o) {
		if err := s.symOneShotHSM(c, w, o, p, req, encrypt); !s.hsmFallback(o, err) {
			return err
		}
	}
	return s.withMaterial(c.Context(), o, func(key []byte) error {
		su, err := newSymSetup(o, p, req.IV, req.AuthTag, len(key), encrypt)
		if err != nil {
			return err
		}
		if su.aead() && !encrypt && req.AuthTag == nil {
			return errMissing("missing Authenticated Encryption Tag")
		}
		if !su.aead() && (req.AAD != nil || req.AuthTag != nil) {
			return errBadParams("Additional Data and Tag belong to authenticated encryption")
		}
		if encrypt {
			if err := s.consumeUsage(c, o, len(req.Data), true); err != nil {
				return err
			}
		}
		buf := getScratch()
		out := (*buf)[:0]
		defer func() { putScratch(buf, out) }()
		var tag []byte
		if su.aead() {
			a, err := newAEAD(&su, key)
			if err != nil {
				return err
			}
			if encrypt {
				out, tag = aeadSeal(a, out, su.iv, req.Data, req.AAD, su.tagLen)
			} else if out, err = aeadOpen(a, out, su.iv, req.Data, req.AuthTag, req.AAD); err != nil {
				return err
			}
		} else {
			part, err := newCipherPart(&su, key, encrypt)
			if err != nil {
				return err
			}
			out, err = part.update(out, req.Data)
			if err == nil {
				out, _, err = part.final(out, nil)
			}
			part.wipe()
			if err != nil {
				return err
			}
		}
		w.AddText(ttlv.TagUniqueIdentifier, o.ID)
		w.AddBytes(ttlv.TagData, out)
		if su.ivMade {
			w.AddBytes(ttlv.TagIVCounterNonce, su.iv)
		}
		if tag != nil {
			w.AddBytes(ttlv.TagAuthenticatedEncryptionTag, tag)
		}
		return nil
	})
}

// symOneShotHSM serves a single-part Encrypt or Decrypt with a key held by
// the HSM, inside it ([hsm.Cipher]): AES in ECB, CBC, CTR and GCM. PKCS#5
// padding of ECB is added and checked here (it involves no key). Anything
// else is errNotInHSM, before any usage is counted or output written.
func (s *Service) symOneShotHSM(c *kmip.Call, w *ttlv.Builder, o *objects.Object, p *kmip.CryptoParams, req *kmip.CryptoRequest, encrypt bool) error {
	ci, ok := s.hsmCipher()
	if !ok {
		return errNotInHSM(o, "Encrypt or Decrypt")
	}
	bits, _ := o.Int(ttlv.TagCryptographicLength)
	su, err := newSymSetup(o, p, req.IV, req.AuthTag, int(bits)/8, encrypt)
	if err != nil {
		return err
	}
	if su.alg != kmip.CryptographicAlgorithmAES {
		return errNotInHSM(o, su.alg.String())
	}
	if su.aead() && !encrypt && req.AuthTag == nil {
		return errMissing("missing Authenticated Encryption Tag")
	}
	if !su.aead() && (req.AAD != nil || req.AuthTag != nil) {
		return errBadParams("Additional Data and Tag belong to authenticated encryption")
	}
	op := hsm.SymOp{Encrypt: encrypt, IV: su.iv, Data: req.Data}
	failure := "the HSM rejected the data"
	ecbPad := false
	switch su.mode {
	case kmip.BlockCipherModeECB:
		op.Mode, op.IV, ecbPad = hsm.ModeECB, nil, su.pad
	case kmip.BlockCipherModeCBC:
		op.Mode = hsm.ModeCBC
		if su.pad {
			op.Mode, failure = hsm.ModeCBCPad, "invalid padding"
		}
	case kmip.BlockCipherModeCTR:
		op.Mode = hsm.ModeCTR
	case kmip.BlockCipherModeGCM:
		op.Mode, op.AAD, op.TagLen, failure = hsm.ModeGCM, req.AAD, su.tagLen, "authentication failed"
		if !encrypt {
			op.TagLen = len(req.AuthTag)
			op.Data = append(append(make([]byte, 0, len(req.Data)+len(req.AuthTag)), req.Data...), req.AuthTag...)
		}
	default:
		return errNotInHSM(o, "Block Cipher Mode "+su.mode.String())
	}
	if op.Mode == hsm.ModeECB || op.Mode == hsm.ModeCBC {
		switch {
		case encrypt && ecbPad:
			n := aes.BlockSize - len(req.Data)%aes.BlockSize
			op.Data = append(append(make([]byte, 0, len(req.Data)+n), req.Data...), bytes.Repeat([]byte{byte(n)}, n)...)
		case len(req.Data)%aes.BlockSize == 0 && (len(req.Data) > 0 || !ecbPad):
		case encrypt:
			return errBadParams("the data is not a whole number of %d-byte blocks and no padding was asked for", aes.BlockSize)
		default:
			return errCrypto("the ciphertext is not a whole number of blocks")
		}
	}
	out, err := ci.SymmetricCrypt(c.Context(), o.ID, o.Blob, op)
	if copied := len(op.Data) != len(req.Data); copied {
		clear(op.Data) // plaintext with its padding, or ciphertext and tag
	}
	if err != nil {
		return hsmCryptErr(o, err, "AES "+su.mode.String(), failure)
	}
	defer clear(out)
	// Counted after the HSM accepted the operation, so a fallback to Go
	// (hsmFallback) does not count it twice; nothing is returned over the limit.
	if encrypt {
		if err := s.consumeUsage(c, o, len(req.Data), true); err != nil {
			return err
		}
	}
	if ecbPad && !encrypt {
		n, ok := ciphermode.UnpadPKCS5(out[len(out)-aes.BlockSize:])
		if !ok {
			return errCrypto("invalid padding")
		}
		out = out[:len(out)-n]
	}
	var tag []byte
	if op.Mode == hsm.ModeGCM && encrypt {
		if len(out) != len(req.Data)+su.tagLen {
			return errCrypto("the HSM returned %d bytes for %d", len(out), len(req.Data))
		}
		out, tag = out[:len(req.Data)], out[len(req.Data):]
	}
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	w.AddBytes(ttlv.TagData, out)
	if su.ivMade {
		w.AddBytes(ttlv.TagIVCounterNonce, su.iv)
	}
	if tag != nil {
		w.AddBytes(ttlv.TagAuthenticatedEncryptionTag, tag)
	}
	return nil
}

// cipherStream serves one request of a multi-part Encrypt or Decrypt.
func (s *Service) cipherStream(c *kmip.Call, w *ttlv.Builder, req *kmip.CryptoRequest, op kmip.Operation) error {
	encrypt := op == kmip.OperationEncrypt
	var o *objects.Object
	var madeIV []byte
	var step *streamStep
	var err error
	if req.Init {
		if o, err = s.useKey(c, req.UniqueID, op); err != nil {
			return err
		}
		if o.Type != kmip.ObjectTypeSymmetricKey {
			return kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "multi-part %s needs a symmetric key", op)
		}
		p := keyParams(o, &req.Params)
		step, err = s.beginStream(c, req, op, o.ID, func(st *stream) error {
			return s.withMaterial(c.Context(), o, func(key []byte) error {
				su, err := newSymSetup(o, &p, req.IV, nil, len(key), encrypt)
				if err != nil {
					return err
				}
				if !su.aead() && req.AAD != nil {
					return errBadParams("Additional Data belongs to authenticated encryption")
				}
				if su.ivMade {
					madeIV = su.iv
				}
				st.cipher, err = newStreamPart(&su, key, encrypt, req.AAD)
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
		if req.IV != nil || req.AAD != nil {
			err = errBadParams("IV and Additional Data belong to the first request of a multi-part %s", op)
			step.finish(w, true, err)
			return err
		}
	}
	var tag []byte
	buf := getScratch()
	out := (*buf)[:0]
	defer func() { putScratch(buf, out) }()
	err = func() error {
		st := step.st
		if req.AuthTag != nil && (encrypt || !req.Final) {
			return errBadParams("the Authenticated Encryption Tag belongs to the final request")
		}
		if encrypt {
			if err := s.consumeUsage(c, o, len(req.Data), req.Init); err != nil {
				return err
			}
		}
		if st.cipher.buffers() {
			if err := step.t.hold(st, len(req.Data)); err != nil {
				return err
			}
		}
		var err error
		if out, err = st.cipher.update(out, req.Data); err != nil {
			return err
		}
		if req.Final {
			if out, tag, err = st.cipher.final(out, req.AuthTag); err != nil {
				return err
			}
		}
		w.AddText(ttlv.TagUniqueIdentifier, o.ID)
		if len(out) > 0 {
			w.AddBytes(ttlv.TagData, out)
		}
		if madeIV != nil {
			w.AddBytes(ttlv.TagIVCounterNonce, madeIV)
		}
		return nil
	}()
	step.finish(w, req.Final, err)
	if err != nil {
		return err
	}
	if tag != nil {
		w.AddBytes(ttlv.TagAuthenticatedEncryptionTag, tag)
	}
	return nil
}
