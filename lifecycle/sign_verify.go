package lifecycle

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"sync"

	"github.com/kmipd/kmipd/internal/secp256k1"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// The asymmetric operations: RSA Encrypt and Decrypt (OAEP, PKCS#1 v1.5;
// encrypt_decrypt_rsa.go), Sign and Signature Verify (RSA-PSS, RSA PKCS#1 v1.5, ECDSA on the NIST
// curves and secp256k1, Ed25519), each on Data or on Digested Data.
//
// Key material: a Private Key holds PKCS#8 DER and a Public Key X.509
// SubjectPublicKeyInfo DER (the convention of Register and Create Key
// Pair); PKCS#1 and SEC 1 (ECPrivateKey) DER are read too. A key is parsed
// once per cached version of its object (asymkey.go). secp256k1 keys go through the
// curve library of internal/secp256k1; other keys Go cannot use (other curves,
// DSA, Ed448) fail with Unsupported Cryptographic Parameters.
//
// Defaults, when neither the request nor the key's Cryptographic
// Parameters say: RSA encryption uses OAEP with SHA-1 and MGF1-SHA-1 (the
// RFC 8017 defaults); RSA signatures use PKCS#1 v1.5; the hash is SHA-256
// for RSA and the curve's (SHA-256, -384, -512) for ECDSA; RSA-PSS
// parameters are in pss.go.
// Digested Data without a Hashing Algorithm is signed as it is (PKCS#1
// v1.5 without a DigestInfo, ECDSA on the value; PSS takes the hash whose
// size matches).

// parsePrivateKey reads private key material.
func parsePrivateKey(material []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(material); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errUnsupportedParams("unsupported private key type %T", k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(material); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(material); err == nil {
		return k, nil
	}
	if k, ok := secp256k1.ParsePrivate(material); ok {
		return k, nil
	}
	return nil, errUnsupportedParams("the private key's algorithm or curve is not supported for cryptographic operations")
}

// parsePublicKey reads public key material, the public half of a private
// key's, or the public key of an X.509 certificate.
func parsePublicKey(o *objects.Object, material []byte) (crypto.PublicKey, error) {
	if o.Type == kmip.ObjectTypePrivateKey {
		k, err := parsePrivateKey(material)
		if err != nil {
			return nil, err
		}
		return k.Public(), nil
	}
	if o.Type == kmip.ObjectTypeCertificate {
		cert, err := x509.ParseCertificate(material)
		if err != nil {
			return nil, errUnsupportedParams("the certificate's public key is not supported for cryptographic operations")
		}
		return cert.PublicKey, nil
	}
	if k, err := x509.ParsePKIXPublicKey(material); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(material); err == nil {
		return k, nil
	}
	if k, ok := secp256k1.ParsePublic(material); ok {
		return k, nil
	}
	return nil, errUnsupportedParams("the public key's algorithm or curve is not supported for cryptographic operations")
}

// Signature kinds.
const (
	sigRSAPKCS1 = iota + 1
	sigRSAPSS
	sigECDSA
	sigEd25519
)

// sigSetup is a signature scheme fully specified for a key.
type sigSetup struct {
	kind int
	hash crypto.Hash // 0: the message is signed as it is
	mgf  crypto.Hash // PSS: the MGF1 hash
	salt int         // PSS: the salt length in bytes, or pssSaltDefault
}

// errMismatch marks parameters that name another algorithm than the
// key's: Signature Verify answers Invalid for them rather than failing
// (TC-ECDSA-SIGN-DIGESTEDDATA-1 verifies an ECDSA signature "with RSA").
var errMismatch = errors.New("parameters for another algorithm")

// newSigSetup decides the scheme for public key pub with parameters p;
// digested tells whether the request carries Digested Data of n bytes.
func newSigSetup(pub crypto.PublicKey, p *kmip.CryptoParams, digested bool, n int) (sigSetup, error) {
	var su sigSetup
	alg := p.CryptographicAlgorithm
	hasAlg := p.Has(kmip.ParamCryptographicAlgorithm)
	pad := p.PaddingMethod
	hasPad := p.Has(kmip.ParamPaddingMethod)
	var dsaHash crypto.Hash
	if p.Has(kmip.ParamDigitalSignatureAlgorithm) {
		var ok bool
		if alg, pad, dsaHash, ok = splitSignatureAlgorithm(p.DigitalSignatureAlgorithm); !ok {
			return su, errUnsupportedParams("Digital Signature Algorithm %s is not supported", p.DigitalSignatureAlgorithm)
		}
		hasAlg, hasPad = true, pad != 0
	}
	var def crypto.Hash
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if hasAlg && alg != kmip.CryptographicAlgorithmRSA {
			return su, errMismatch
		}
		su.kind, def = sigRSAPKCS1, crypto.SHA256
		switch {
		case !hasPad, pad == kmip.PaddingMethodPKCS1V1_5:
		case pad == kmip.PaddingMethodPSS:
			su.kind = sigRSAPSS
		default:
			return su, errUnsupportedParams("RSA signatures with Padding Method %s are not supported", pad)
		}
	case *ecdsa.PublicKey:
		if hasAlg && alg != kmip.CryptographicAlgorithmECDSA && alg != kmip.CryptographicAlgorithmEC {
			return su, errMismatch
		}
		su.kind = sigECDSA
		switch k.Curve {
		case elliptic.P384():
			def = crypto.SHA384
		case elliptic.P521():
			def = crypto.SHA512
		default:
			def = crypto.SHA256
		}
	case *secp256k1.PublicKey:
		if hasAlg && alg != kmip.CryptographicAlgorithmECDSA && alg != kmip.CryptographicAlgorithmEC {
			return su, errMismatch
		}
		su.kind, def = sigECDSA, crypto.SHA256
	case ed25519.PublicKey:
		if hasAlg && alg != kmip.CryptographicAlgorithmEd25519 {
			return su, errMismatch
		}
		su.kind = sigEd25519
	default:
		return su, errUnsupportedParams("signatures with %T keys are not supported", pub)
	}
	h, err := hashParam(p, def)
	if err != nil {
		return su, err
	}
	if dsaHash != 0 {
		if p.Has(kmip.ParamHashingAlgorithm) && h != dsaHash {
			return su, errBadParams("the Hashing Algorithm contradicts the Digital Signature Algorithm")
		}
		h = dsaHash
	}
	if digested && !p.Has(kmip.ParamHashingAlgorithm) && dsaHash == 0 {
		h = 0
		if su.kind == sigRSAPSS {
			h = hashOfSize(n)
		}
	}
	switch su.kind {
	case sigEd25519:
		// Pure Ed25519 signs the message; Ed25519ph a SHA-512 digest.
		switch {
		case digested && (h == 0 || h == crypto.SHA512):
			h = crypto.SHA512
		case digested, p.Has(kmip.ParamHashingAlgorithm) && h != crypto.SHA512:
			return su, errUnsupportedParams("Ed25519 signs messages or SHA-512 digests")
		default:
			h = 0
		}
	case sigRSAPSS:
		if h == 0 {
			return su, errBadParams("PSS needs a Hashing Algorithm")
		}
		if p.Has(kmip.ParamMaskGenerator) && p.MaskGenerator != kmip.MaskGeneratorMGF1 {
			return su, errUnsupportedParams("mask generator %s is not supported", p.MaskGenerator)
		}
		if err := su.pssParams(p, h); err != nil {
			return su, err
		}
	}
	su.hash = h
	if digested && h != 0 && n != h.Size() {
		return su, errBadParams("Digested Data of %d bytes is no %s digest", n, h)
	}
	return su, nil
}

// hashOfSize guesses the SHA-2 hash a digest of n bytes came from.
func hashOfSize(n int) crypto.Hash {
	switch n {
	case 20:
		return crypto.SHA1
	case 28:
		return crypto.SHA224
	case 32:
		return crypto.SHA256
	case 48:
		return crypto.SHA384
	case 64:
		return crypto.SHA512
	}
	return 0
}

// splitSignatureAlgorithm maps a Digital Signature Algorithm onto the
// algorithm, padding and hash it stands for.
func splitSignatureAlgorithm(d kmip.DigitalSignatureAlgorithm) (kmip.CryptographicAlgorithm, kmip.PaddingMethod, crypto.Hash, bool) {
	rsa, ec := kmip.CryptographicAlgorithmRSA, kmip.CryptographicAlgorithmECDSA
	pkcs := kmip.PaddingMethodPKCS1V1_5
	switch d {
	case kmip.DigitalSignatureAlgorithmSHA_1WithRSAEncryption:
		return rsa, pkcs, crypto.SHA1, true
	case kmip.DigitalSignatureAlgorithmSHA_224WithRSAEncryption:
		return rsa, pkcs, crypto.SHA224, true
	case kmip.DigitalSignatureAlgorithmSHA_256WithRSAEncryption:
		return rsa, pkcs, crypto.SHA256, true
	case kmip.DigitalSignatureAlgorithmSHA_384WithRSAEncryption:
		return rsa, pkcs, crypto.SHA384, true
	case kmip.DigitalSignatureAlgorithmSHA_512WithRSAEncryption:
		return rsa, pkcs, crypto.SHA512, true
	case kmip.DigitalSignatureAlgorithmSHA3_256WithRSAEncryption:
		return rsa, pkcs, crypto.SHA3_256, true
	case kmip.DigitalSignatureAlgorithmSHA3_384WithRSAEncryption:
		return rsa, pkcs, crypto.SHA3_384, true
	case kmip.DigitalSignatureAlgorithmSHA3_512WithRSAEncryption:
		return rsa, pkcs, crypto.SHA3_512, true
	case kmip.DigitalSignatureAlgorithmRSASSA_PSS:
		return rsa, kmip.PaddingMethodPSS, 0, true
	case kmip.DigitalSignatureAlgorithmECDSAWithSHA_1:
		return ec, 0, crypto.SHA1, true
	case kmip.DigitalSignatureAlgorithmECDSAWithSHA224:
		return ec, 0, crypto.SHA224, true
	case kmip.DigitalSignatureAlgorithmECDSAWithSHA256:
		return ec, 0, crypto.SHA256, true
	case kmip.DigitalSignatureAlgorithmECDSAWithSHA384:
		return ec, 0, crypto.SHA384, true
	case kmip.DigitalSignatureAlgorithmECDSAWithSHA512:
		return ec, 0, crypto.SHA512, true
	}
	return 0, 0, 0, false
}

// digestBuf holds a digest, so that the SHA-2 hashes need no allocation;
// it escapes into crypto/ecdsa and crypto/rsa, hence the pool.
type digestBuf [64]byte

var digestPool = sync.Pool{New: func() any { return new(digestBuf) }}

// digestOf returns what the scheme signs: the Digested Data as given, the
// hash of the Data (in d), or the Data itself (pure Ed25519, or no hash).
func (su *sigSetup) digestOf(d *digestBuf, data []byte, digested bool) []byte {
	if digested || su.hash == 0 {
		return data
	}
	switch su.hash {
	case crypto.SHA256:
		*(*[32]byte)(d[:]) = sha256.Sum256(data)
	case crypto.SHA384:
		*(*[48]byte)(d[:]) = sha512.Sum384(data)
	case crypto.SHA512:
		*d = sha512.Sum512(data)
	default:
		h := su.hash.New()
		h.Write(data)
		return h.Sum(d[:0])
	}
	return d[:su.hash.Size()]
}

// sign signs digest (or, for pure Ed25519 and unhashed schemes, the
// message) with k.
func (su *sigSetup) sign(k crypto.Signer, digest []byte) ([]byte, error) {
	switch su.kind {
	case sigRSAPKCS1:
		return rsa.SignPKCS1v15(nil, k.(*rsa.PrivateKey), su.hash, digest)
	case sigRSAPSS:
		return su.pssSign(k.(*rsa.PrivateKey), digest)
	case sigECDSA:
		if ek, ok := k.(*ecdsa.PrivateKey); ok {
			return ecdsa.SignASN1(rand.Reader, ek, digest)
		}
		return k.Sign(rand.Reader, digest, su.hash) // secp256k1
	case sigEd25519:
		if ek, ok := k.(ed25519.PrivateKey); ok && su.hash == 0 {
			return ed25519.Sign(ek, digest), nil // pure Ed25519, without the Options
		}
		return k.Sign(nil, digest, &ed25519.Options{Hash: su.hash})
	}
	return nil, errUnsupportedParams("unsupported signature scheme")
}

// verify checks sig over digest (or the message) with pub.
func (su *sigSetup) verify(pub crypto.PublicKey, digest, sig []byte) bool {
	switch su.kind {
	case sigRSAPKCS1:
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), su.hash, digest, sig) == nil
	case sigRSAPSS:
		return su.pssVerify(pub.(*rsa.PublicKey), digest, sig)
	case sigECDSA:
		if k1, ok := pub.(*secp256k1.PublicKey); ok {
			return k1.Verify(digest, sig)
		}
		return ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest, sig)
	case sigEd25519:
		if su.hash == 0 {
			return ed25519.Verify(pub.(ed25519.PublicKey), digest, sig)
		}
		return ed25519.VerifyWithOptions(pub.(ed25519.PublicKey), digest, sig, &ed25519.Options{Hash: su.hash}) == nil
	}
	return false
}

// sigKeyType checks that o can be used for op.
func sigKeyType(o *objects.Object, op kmip.Operation) error {
	switch {
	case o.Type == kmip.ObjectTypePrivateKey,
		o.Type == kmip.ObjectTypePublicKey && op == kmip.OperationSignatureVerify,
		o.Type == kmip.ObjectTypeCertificate && op == kmip.OperationSignatureVerify && o.DataType == uint32(kmip.CertificateTypeX_509):
		return nil
	}
	return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "%s cannot use a %s", op, o.Type)
}

// sigKey finds the key of a single-part Sign or Signature Verify request
// and checks it can do op; msg is the Digested Data if given (digested),
// else the Data.
func (s *Service) sigKey(c *kmip.Call, req *kmip.CryptoRequest, op kmip.Operation) (o *objects.Object, msg []byte, digested bool, err error) {
	if o, err = s.useKey(c, req.UniqueID, op); err != nil {
		return nil, nil, false, err
	}
	if err := sigKeyType(o, op); err != nil {
		return nil, nil, false, err
	}
	if req.DigestedData != nil {
		return o, req.DigestedData, true, nil
	}
	return o, req.Data, false, nil
}

// sign implements Sign (KMIP 2.0 §6.1.48).
func (s *Service) sign(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.CryptoRequest
	if err := req.Decode(c.Item.Payload, kmip.OperationSign); err != nil {
		return err
	}
	if req.Streaming() {
		return s.sigStream(c, w, &req, kmip.OperationSign)
	}
	o, msg, digested, err := s.sigKey(c, &req, kmip.OperationSign)
	if err != nil {
		return err
	}
	if msg == nil {
		return errMissing("Sign request lacks Data")
	}
	p := keyParams(o, &req.Params)
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	return s.signWith(c.Context(), w, o, &p, msg, digested, func() error { return s.consumeUsage(c, o, len(msg), true) })
}

// signWith writes the Signature Data of msg (a message or, if digested, a
// digest) made with the key o. charge, if not nil, is called once the
// request is known to be valid: before signing in Go, after the HSM signed
// with a key it holds (signHSM), so that a fallback does not count twice.
func (s *Service) signWith(ctx context.Context, w *ttlv.Builder, o *objects.Object, p *kmip.CryptoParams, msg []byte, digested bool, charge func() error) error {
	if heldByHSM(o) {
		sig, err := s.signHSM(ctx, o, p, msg, digested, charge)
		if err == nil {
			w.AddBytes(ttlv.TagSignatureData, sig)
			return nil
		}
		if !s.hsmFallback(o, err) {
			return err
		}
	}
	k, err := s.signingKey(ctx, o)
	if err != nil {
		return err
	}
	su, err := newSigSetup(k.pub, p, digested, len(msg))
	if errors.Is(err, errMismatch) {
		return errBadParams("the parameters are for another algorithm than the key's")
	}
	if err != nil {
		return err
	}
	if charge != nil {
		if err := charge(); err != nil {
			return err
		}
	}
	d := digestPool.Get().(*digestBuf)
	defer digestPool.Put(d)
	sig, err := su.sign(k.priv, su.digestOf(d, msg, digested))
	if err != nil {
		return errCrypto("signing failed: %v", err)
	}
	w.AddBytes(ttlv.TagSignatureData, sig)
	return nil
}

// signingKey is asymKey for a private key.
func (s *Service) signingKey(ctx context.Context, o *objects.Object) (*parsedKey, error) {
	k, err := s.asymKey(ctx, o)
	if err == nil && k.priv == nil {
		err = kmip.Errorf(kmip.ResultReasonInvalidObjectType, "object %q is no private key", o.ID)
	}
	return k, err
}

// signatureVerify implements Signature Verify (KMIP 2.0 §6.1.49). A wrong
// signature is a success with Validity Indicator Invalid.
func (s *Service) signatureVerify(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.CryptoRequest
	if err := req.Decode(c.Item.Payload, kmip.OperationSignatureVerify); err != nil {
		return err
	}
	if req.Streaming() {
		return s.sigStream(c, w, &req, kmip.OperationSignatureVerify)
	}
	o, msg, digested, err := s.sigKey(c, &req, kmip.OperationSignatureVerify)
	if err != nil {
		return err
	}
	if msg == nil || req.SignatureData == nil {
		return errMissing("Signature Verify request lacks Data or Signature Data")
	}
	p := keyParams(o, &req.Params)
	valid, err := s.verifyWith(c.Context(), o, &p, msg, req.SignatureData, digested)
	if err != nil {
		return err
	}
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	writeValidity(w, valid)
	return nil
}

// verifyWith verifies sig over msg (a message or, if digested, a digest)
// with the key o.
func (s *Service) verifyWith(ctx context.Context, o *objects.Object, p *kmip.CryptoParams, msg, sig []byte, digested bool) (bool, error) {
	k, err := s.asymKey(ctx, o)
	if err != nil {
		return false, err
	}
	su, err := newSigSetup(k.pub, p, digested, len(msg))
	if errors.Is(err, errMismatch) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	d := digestPool.Get().(*digestBuf)
	defer digestPool.Put(d)
	return su.verify(k.pub, su.digestOf(d, msg, digested), sig), nil
}

func writeValidity(w *ttlv.Builder, valid bool) {
	v := kmip.ValidityIndicatorInvalid
	if valid {
		v = kmip.ValidityIndicatorValid
	}
	w.AddEnum(ttlv.TagValidityIndicator, uint32(v))
}

// sigStream serves one request of a multi-part Sign or Signature Verify:
// a message is hashed as it comes (pure Ed25519 buffers it), Digested Data
// is buffered; the key (asymKey) signs or verifies at the end.
func (s *Service) sigStream(c *kmip.Call, w *ttlv.Builder, req *kmip.CryptoRequest, op kmip.Operation) error {
	var o *objects.Object
	var step *streamStep
	var err error
	if req.Init {
		if o, err = s.useKey(c, req.UniqueID, op); err != nil {
			return err
		}
		if err := sigKeyType(o, op); err != nil {
			return err
		}
		p := keyParams(o, &req.Params)
		step, err = s.beginStream(c, req, op, o.ID, func(st *stream) error {
			st.params = cloneParams(p)
			st.digest = req.DigestedData != nil
			if st.digest {
				return nil // the scheme depends on the digest's length
			}
			return s.sigPublic(c.Context(), o, op, func(pub crypto.PublicKey) error {
				var err error
				st.sig, err = newSigSetup(pub, &st.params, false, 0)
				switch {
				case errors.Is(err, errMismatch) && op == kmip.OperationSignatureVerify:
					st.mismatch = true
				case errors.Is(err, errMismatch):
					return errBadParams("the parameters are for another algorithm than the key's")
				case err != nil:
					return err
				case st.sig.hash != 0:
					st.h = st.sig.hash.New()
				}
				return nil
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
		if st.digest && req.Data != nil || !st.digest && req.DigestedData != nil {
			return errBadParams("a multi-part operation takes Data or Digested Data throughout")
		}
		part := req.Data
		if st.digest {
			part = req.DigestedData
		}
		if req.SignatureData != nil {
			st.expect = append(st.expect[:0], req.SignatureData...)
		}
		if op == kmip.OperationSign {
			if err := s.consumeUsage(c, o, len(part), req.Init); err != nil {
				return err
			}
		}
		if st.h != nil {
			st.h.Write(part)
		} else if err := step.t.buffer(st, &st.msg, part); err != nil {
			return err
		}
		w.AddText(ttlv.TagUniqueIdentifier, o.ID)
		if !req.Final {
			return nil
		}
		return s.sigFinal(c.Context(), w, o, st, op)
	}()
	step.finish(w, req.Final, err)
	return err
}

// sigFinal signs or verifies what a stream gathered.
func (s *Service) sigFinal(ctx context.Context, w *ttlv.Builder, o *objects.Object, st *stream, op kmip.Operation) error {
	verify := op == kmip.OperationSignatureVerify
	if verify && st.expect == nil {
		return errMissing("Signature Verify lacks Signature Data")
	}
	if verify && st.mismatch {
		writeValidity(w, false)
		return nil
	}
	if st.digest {
		if verify {
			valid, err := s.verifyWith(ctx, o, &st.params, st.msg, st.expect, true)
			if err != nil {
				return err
			}
			writeValidity(w, valid)
			return nil
		}
		return s.signWith(ctx, w, o, &st.params, st.msg, true, nil)
	}
	msg := st.msg // pure Ed25519: the message itself
	if st.h != nil {
		msg = st.h.Sum(nil)
	}
	if !verify && heldByHSM(o) {
		sig, err := s.signHSMWith(ctx, o, &st.sig, msg)
		if err == nil {
			w.AddBytes(ttlv.TagSignatureData, sig)
			return nil
		}
		if !s.hsmFallback(o, err) {
			return err
		}
	}
	if verify {
		k, err := s.asymKey(ctx, o)
		if err != nil {
			return err
		}
		writeValidity(w, st.sig.verify(k.pub, msg, st.expect))
		return nil
	}
	k, err := s.signingKey(ctx, o)
	if err != nil {
		return err
	}
	sig, err := st.sig.sign(k.priv, msg)
	if err != nil {
		return errCrypto("signing failed: %v", err)
	}
	w.AddBytes(ttlv.TagSignatureData, sig)
	return nil
}

// sigPublic calls fn with the public key that decides o's signature
// scheme: for Sign with a private key the HSM holds, a stand-in of its
// algorithm and curve (hsmSigKey), so that the key need not leave the HSM.
func (s *Service) sigPublic(ctx context.Context, o *objects.Object, op kmip.Operation, fn func(pub crypto.PublicKey) error) error {
	if op == kmip.OperationSign && heldByHSM(o) {
		if pub, ok := hsmSigKey(o); ok {
			return fn(pub)
		}
	}
	k, err := s.asymKey(ctx, o)
	if err != nil {
		return err
	}
	return fn(k.pub)
}
