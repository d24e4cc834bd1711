package lifecycle

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/hex"
	"errors"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
)

// Sign and RSA Decrypt with a private key held by the HSM run inside it
// ([hsm.Cipher]), as symOneShotHSM does for AES: the HSM signs what Go
// hashed (RSA PKCS#1 v1.5 with the DigestInfo prepended here, RSA-PSS,
// ECDSA) and decrypts RSA-OAEP with SHA-1 and raw RSA, from which PKCS#1
// v1.5 is unpadded with implicit rejection (rsaDecryptHSM, in
// encrypt_decrypt_rsa.go). What it cannot do is errNotInHSM; the caller
// falls back to Go when the key may leave the HSM (hsmFallback).

// hsmSigKey returns a stand-in for the public key of o, a private key the
// HSM holds, that decides the signature scheme as the real one would
// (newSigSetup looks only at the key's type and curve). The HSM makes RSA
// keys and EC keys on the NIST curves (hsm.KeyPairSpec); their attributes
// say which.
func hsmSigKey(o *objects.Object) (crypto.PublicKey, bool) {
	if o.Type != kmip.ObjectTypePrivateKey {
		return nil, false
	}
	spec, err := keyPairSpecOf(o)
	if err != nil {
		return nil, false
	}
	hs, ok := spec.hsmSpec()
	if !ok {
		return nil, false
	}
	switch hs.Algorithm {
	case hsm.KeyPairRSA:
		return &rsa.PublicKey{}, true
	case hsm.KeyPairEC:
		c := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[hs.Curve]
		return &ecdsa.PublicKey{Curve: c}, c != nil
	}
	return nil, false
}

// signHSM signs msg (a message or, if digested, a digest) with o, a key
// held by the HSM, inside it. charge, if not nil, is called once the HSM
// has signed.
func (s *Service) signHSM(ctx context.Context, o *objects.Object, p *kmip.CryptoParams, msg []byte, digested bool, charge func() error) ([]byte, error) {
	pub, ok := hsmSigKey(o)
	if !ok {
		return nil, errNotInHSM(o, "signatures")
	}
	su, err := newSigSetup(pub, p, digested, len(msg))
	if errors.Is(err, errMismatch) {
		return nil, errBadParams("the parameters are for another algorithm than the key's")
	}
	if err != nil {
		return nil, err
	}
	d := digestPool.Get().(*digestBuf)
	defer digestPool.Put(d)
	sig, err := s.signHSMWith(ctx, o, &su, su.digestOf(d, msg, digested))
	if err != nil {
		return nil, err
	}
	// Counted after the HSM accepted it, as in symOneShotHSM.
	if charge != nil {
		if err := charge(); err != nil {
			return nil, err
		}
	}
	return sig, nil
}

// signHSMWith signs digest (what su.sign would sign) with o inside the
// HSM, in the format of su.sign.
func (s *Service) signHSMWith(ctx context.Context, o *objects.Object, su *sigSetup, digest []byte) ([]byte, error) {
	ci, ok := s.hsmCipher()
	if !ok {
		return nil, errNotInHSM(o, "signatures")
	}
	var op hsm.SignOp
	what := "signatures"
	switch su.kind {
	case sigRSAPKCS1:
		what = "RSA PKCS#1 v1.5 signatures"
		prefix, ok := pkcs1Prefixes[su.hash]
		if !ok && su.hash != 0 {
			return nil, errNotInHSM(o, what+" with "+su.hash.String())
		}
		if su.hash != 0 && len(digest) != su.hash.Size() {
			return nil, errBadParams("a %s digest is %d bytes long", su.hash, su.hash.Size())
		}
		op = hsm.SignOp{Mech: hsm.SignRSAPKCS1, Digest: append(append(make([]byte, 0, len(prefix)+len(digest)), prefix...), digest...)}
	case sigRSAPSS:
		what = "RSA-PSS signatures with " + su.hash.String()
		if su.mgf != su.hash {
			what += " and MGF1-" + su.mgf.String()
		}
		op = hsm.SignOp{Mech: hsm.SignRSAPSS, Hash: su.hash, MGFHash: su.mgf, SaltLen: su.pssSignSalt(), Digest: digest}
	case sigECDSA:
		what = "ECDSA signatures"
		op = hsm.SignOp{Mech: hsm.SignECDSA, Digest: digest}
	default:
		return nil, errNotInHSM(o, what)
	}
	sig, err := ci.Sign(ctx, o.ID, o.Blob, op)
	if err != nil {
		return nil, hsmCryptErr(o, err, what, "signing failed")
	}
	return sig, nil
}

// pkcs1Prefixes are the DER DigestInfo prefixes of PKCS#1 v1.5 signatures
// (RFC 8017 §9.2 note 1), as crypto/rsa prepends them.
var pkcs1Prefixes = func() map[crypto.Hash][]byte {
	m := make(map[crypto.Hash][]byte)
	for h, x := range map[crypto.Hash]string{
		crypto.SHA1:     "3021300906052b0e03021a05000414",
		crypto.SHA224:   "302d300d06096086480165030402040500041c",
		crypto.SHA256:   "3031300d060960864801650304020105000420",
		crypto.SHA384:   "3041300d060960864801650304020205000430",
		crypto.SHA512:   "3051300d060960864801650304020305000440",
		crypto.SHA3_224: "302d300d06096086480165030402070500041c",
		crypto.SHA3_256: "3031300d060960864801650304020805000420",
		crypto.SHA3_384: "3041300d060960864801650304020905000430",
		crypto.SHA3_512: "3051300d060960864801650304020a05000440",
	} {
		b, err := hex.DecodeString(x)
		if err != nil {
			panic(err)
		}
		m[h] = b
	}
	return m
}()
