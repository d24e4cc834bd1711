//go:build cgo

package pkcs11

import (
	"context"
	"crypto"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
	"math/big"
	"strconv"

	"github.com/miekg/pkcs11"

	"github.com/kmipd/kmipd/hsm"
)

var _ hsm.Cipher = (*Backend)(nil)

// Session-object templates for keys used inside the HSM: sensitive, never
// extractable, able to do only what the operation needs.
var (
	cryptTmpl = append(secretTmpl(pkcs11.CKK_AES, true, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))
	// SoftHSM's HMAC mechanisms want a generic secret key.
	macTmpl = append(secretTmpl(pkcs11.CKK_GENERIC_SECRET, true, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true))
	// CKM_AES_CMAC wants an AES key.
	cmacTmpl = append(secretTmpl(pkcs11.CKK_AES, true, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true))
)

// heldBlob parses a kind-0x03 blob, a key the HSM holds; other blobs
// cannot be used inside the HSM.
func heldBlob(blob []byte) (wrapBlob, error) {
	h, err := hsm.BlobKind(blob)
	if err != nil {
		return wrapBlob{}, err
	}
	if h.Kind != hsm.KindPKCS11Wrap {
		return wrapBlob{}, fmt.Errorf("%w: a %v blob is not a key held by the HSM", hsm.ErrNotSupported, h.Kind)
	}
	return parseWrapBlob(blob)
}

// usableBlob parses a kind-0x03 blob of a secret key.
func usableBlob(blob []byte) (wrapBlob, error) {
	w, err := heldBlob(blob)
	if err != nil {
		return wrapBlob{}, err
	}
	if w.private() {
		return wrapBlob{}, fmt.Errorf("%w: not a secret key", hsm.ErrNotSupported)
	}
	return w, nil
}

// ctrParams is CK_AES_CTR_PARAMS for a 128-bit counter block.
func ctrParams(iv []byte) []byte {
	n := strconv.IntSize / 8 // CK_ULONG is unsigned long
	p := make([]byte, n+16)
	if n == 8 {
		binary.NativeEndian.PutUint64(p, 128)
	} else {
		binary.NativeEndian.PutUint32(p, 128)
	}
	copy(p[n:], iv)
	return p
}

// cryptErr classifies the failure of an operation on the caller's data:
// data the mechanism rejects (SoftHSM reports a GCM tag mismatch as
// CKR_GENERAL_ERROR) is ErrCryptoFailed, a mechanism or key the token does
// not take ErrNotSupported; neither counts as a failure of the HSM.
func cryptErr(fn string, err error, decrypt bool) error {
	c, _ := ckr(err)
	switch c {
	case pkcs11.CKR_DATA_LEN_RANGE, pkcs11.CKR_DATA_INVALID,
		pkcs11.CKR_ENCRYPTED_DATA_INVALID, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE:
		return fmt.Errorf("%w: %s: %s", hsm.ErrCryptoFailed, fn, ckrName(err))
	case pkcs11.CKR_GENERAL_ERROR:
		if decrypt {
			return fmt.Errorf("%w: %s: %s", hsm.ErrCryptoFailed, fn, ckrName(err))
		}
	case pkcs11.CKR_MECHANISM_INVALID, pkcs11.CKR_MECHANISM_PARAM_INVALID,
		pkcs11.CKR_KEY_TYPE_INCONSISTENT, pkcs11.CKR_KEY_SIZE_RANGE:
		return fmt.Errorf("%w: %s: %s", hsm.ErrNotSupported, fn, ckrName(err))
	}
	return call(fn, err)
}

// SymmetricCrypt encrypts or decrypts sop.Data with the AES key in blob
// (bound to id) inside the HSM: the key is unwrapped into a sensitive,
// non-extractable session object that can only encrypt and decrypt, used
// with CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD, CKM_AES_CTR or
// CKM_AES_GCM, and destroyed. Keys sealed with C_Encrypt (lengths that are
// not a multiple of 8) and non-AES keys are not supported.
func (b *Backend) SymmetricCrypt(ctx context.Context, id string, blob []byte, sop hsm.SymOp) ([]byte, error) {
	w, err := usableBlob(blob)
	if err != nil {
		return nil, err
	}
	if w.keyType != keyTypeAES {
		return nil, fmt.Errorf("%w: not an AES key", hsm.ErrNotSupported)
	}
	var mech *pkcs11.Mechanism
	var gcm *pkcs11.GCMParams
	switch sop.Mode {
	case hsm.ModeECB:
		mech = pkcs11.NewMechanism(pkcs11.CKM_AES_ECB, nil)
	case hsm.ModeCBC, hsm.ModeCBCPad:
		if len(sop.IV) != 16 {
			return nil, fmt.Errorf("pkcs11: the CBC IV is %d bytes long, not 16", len(sop.IV))
		}
		m := uint(pkcs11.CKM_AES_CBC)
		if sop.Mode == hsm.ModeCBCPad {
			m = pkcs11.CKM_AES_CBC_PAD
		}
		mech = pkcs11.NewMechanism(m, sop.IV)
	case hsm.ModeCTR:
		if len(sop.IV) != 16 {
			return nil, fmt.Errorf("pkcs11: the CTR counter block is %d bytes long, not 16", len(sop.IV))
		}
		mech = pkcs11.NewMechanism(pkcs11.CKM_AES_CTR, ctrParams(sop.IV))
	case hsm.ModeGCM:
		if sop.TagLen < 12 || sop.TagLen > 16 || len(sop.IV) == 0 {
			return nil, fmt.Errorf("%w: GCM with a %d-byte IV and a %d-byte tag", hsm.ErrNotSupported, len(sop.IV), sop.TagLen)
		}
		if !sop.Encrypt && len(sop.Data) < sop.TagLen {
			return nil, fmt.Errorf("%w: GCM input shorter than its tag", hsm.ErrCryptoFailed)
		}
		gcm = pkcs11.NewGCMParams(sop.IV, sop.AAD, sop.TagLen*8)
		defer gcm.Free()
		mech = pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, gcm)
	default:
		return nil, fmt.Errorf("%w: cipher mode %d", hsm.ErrNotSupported, sop.Mode)
	}
	mechs := []*pkcs11.Mechanism{mech}
	var out []byte
	kind := opDecrypt
	if sop.Encrypt {
		kind = opEncrypt
	}
	out, err = b.oneShot(ctx, &w, id, blob, useCrypt, cryptTmpl, mechs, kind, sop.Data)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MAC returns the HMAC or AES-CMAC of data keyed with the key in blob
// (bound to id), computed inside the HSM with C_Sign (CKM_SHA_1_HMAC,
// CKM_SHA256_HMAC, CKM_SHA384_HMAC, CKM_SHA512_HMAC or CKM_AES_CMAC) on a
// sensitive, non-extractable session copy of the key, destroyed afterwards.
func (b *Backend) MAC(ctx context.Context, id string, blob []byte, mech hsm.MACMech, data []byte) ([]byte, error) {
	var m uint
	switch mech {
	case hsm.HMACSHA1:
		m = pkcs11.CKM_SHA_1_HMAC
	case hsm.HMACSHA256:
		m = pkcs11.CKM_SHA256_HMAC
	case hsm.HMACSHA384:
		m = pkcs11.CKM_SHA384_HMAC
	case hsm.HMACSHA512:
		m = pkcs11.CKM_SHA512_HMAC
	case hsm.CMAC:
		m = pkcs11.CKM_AES_CMAC
	default:
		return nil, fmt.Errorf("%w: MAC mechanism %d", hsm.ErrNotSupported, mech)
	}
	w, err := usableBlob(blob)
	if err != nil {
		return nil, err
	}
	tmpl, use := macTmpl, useMAC
	if mech == hsm.CMAC {
		if w.keyType != keyTypeAES {
			return nil, fmt.Errorf("%w: CMAC with a key that is not an AES key", hsm.ErrNotSupported)
		}
		tmpl, use = cmacTmpl, useCMAC
	}
	mechs := []*pkcs11.Mechanism{pkcs11.NewMechanism(m, nil)}
	var out []byte
	out, err = b.oneShot(ctx, &w, id, blob, use, tmpl, mechs, opSign, data)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// privTmpl unwraps a private key for use inside the HSM: sensitive, never
// extractable, able to sign and (RSA) decrypt.
func privTmpl(ckk uint) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckk),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
	}
	if ckk == pkcs11.CKK_RSA {
		t = append(t, pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))
	}
	return t
}

var (
	rsaPrivTmpl = privTmpl(pkcs11.CKK_RSA)
	ecPrivTmpl  = privTmpl(pkcs11.CKK_EC)
)

// privateBlob parses a kind-0x03 blob of a private key of keyType.
func privateBlob(blob []byte, keyType byte) (wrapBlob, error) {
	w, err := heldBlob(blob)
	if err != nil {
		return wrapBlob{}, err
	}
	if w.keyType != keyType {
		return wrapBlob{}, fmt.Errorf("%w: the key is not of the type the mechanism needs", hsm.ErrNotSupported)
	}
	return w, nil
}

// pssParams is CK_RSA_PKCS_PSS_PARAMS: three CK_ULONGs.
func pssParams(hashAlg, mgf uint, salt int) []byte {
	n := strconv.IntSize / 8
	p := make([]byte, 3*n)
	for i, v := range []uint{hashAlg, mgf, uint(salt)} {
		if n == 8 {
			binary.NativeEndian.PutUint64(p[i*n:], uint64(v))
		} else {
			binary.NativeEndian.PutUint32(p[i*n:], uint32(v))
		}
	}
	return p
}

// pssHashes maps the hashes of RSA-PSS onto CKM_ and CKG_MGF1_ values.
var pssHashes = map[crypto.Hash][2]uint{
	crypto.SHA1:   {pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1},
	crypto.SHA224: {pkcs11.CKM_SHA224, pkcs11.CKG_MGF1_SHA224},
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

// Sign signs sop.Digest with the private key in blob (bound to id) inside
// the HSM: the key is unwrapped into a sensitive, non-extractable session
// object, used with CKM_RSA_PKCS, CKM_RSA_PKCS_PSS or CKM_ECDSA (SoftHSM
// has no hashing ECDSA mechanism; the caller hashes) and destroyed. SoftHSM
// takes any PSS salt length, 0 included, but MGF1 only with the message
// hash: another MGF1 hash is ErrNotSupported. An
// ECDSA signature comes back from the HSM as r ‖ s and is returned as
// ASN.1 DER.
func (b *Backend) Sign(ctx context.Context, id string, blob []byte, sop hsm.SignOp) ([]byte, error) {
	var mech *pkcs11.Mechanism
	var w wrapBlob
	var err error
	tmpl, use := rsaPrivTmpl, useRSA
	switch sop.Mech {
	case hsm.SignRSAPKCS1:
		w, err = privateBlob(blob, keyTypeRSA)
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil)
	case hsm.SignRSAPSS:
		if sop.MGFHash == 0 {
			sop.MGFHash = sop.Hash
		}
		h, ok := pssHashes[sop.Hash]
		m, mok := pssHashes[sop.MGFHash]
		if !ok || !mok || len(sop.Digest) != sop.Hash.Size() || sop.SaltLen < 0 {
			return nil, fmt.Errorf("%w: RSA-PSS with %v, MGF1-%v and a %d-byte salt", hsm.ErrNotSupported, sop.Hash, sop.MGFHash, sop.SaltLen)
		}
		w, err = privateBlob(blob, keyTypeRSA)
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pssParams(h[0], m[1], sop.SaltLen))
	case hsm.SignECDSA:
		w, err = privateBlob(blob, keyTypeEC)
		mech = pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)
		tmpl, use = ecPrivTmpl, useEC
	default:
		return nil, fmt.Errorf("%w: signature mechanism %d", hsm.ErrNotSupported, sop.Mech)
	}
	if err != nil {
		return nil, err
	}
	mechs := []*pkcs11.Mechanism{mech}
	var out []byte
	out, err = b.oneShot(ctx, &w, id, blob, use, tmpl, mechs, opSign, sop.Digest)
	if err != nil {
		return nil, err
	}
	if sop.Mech != hsm.SignECDSA {
		return out, nil
	}
	if len(out) == 0 || len(out)%2 != 0 {
		return nil, fmt.Errorf("pkcs11: ECDSA signature of %d bytes", len(out))
	}
	n := len(out) / 2
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(out[:n]), new(big.Int).SetBytes(out[n:])})
}

// Decrypt decrypts ciphertext with the RSA private key in blob (bound to
// id) inside the HSM, on a sensitive, non-extractable session copy of the
// key destroyed afterwards: CKM_RSA_PKCS_OAEP with SHA-1, MGF1-SHA-1 and
// no label (all SoftHSM 2.6.1 takes) or CKM_RSA_X_509. A label is not
// supported.
func (b *Backend) Decrypt(ctx context.Context, id string, blob []byte, dm hsm.DecryptMech, label, ciphertext []byte) ([]byte, error) {
	var mech *pkcs11.Mechanism
	switch dm {
	case hsm.DecryptRSAOAEPSHA1:
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_OAEP,
			pkcs11.NewOAEPParams(pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1, pkcs11.CKZ_DATA_SPECIFIED, nil))
	case hsm.DecryptRSARaw:
		mech = pkcs11.NewMechanism(pkcs11.CKM_RSA_X_509, nil)
	default:
		return nil, fmt.Errorf("%w: decryption mechanism %d", hsm.ErrNotSupported, dm)
	}
	if len(label) != 0 {
		// SoftHSM 2.6.1 ignores the OAEP label and then fails every
		// ciphertext made with one (CKR_GENERAL_ERROR).
		return nil, fmt.Errorf("%w: an OAEP label", hsm.ErrNotSupported)
	}
	w, err := privateBlob(blob, keyTypeRSA)
	if err != nil {
		return nil, err
	}
	mechs := []*pkcs11.Mechanism{mech}
	var out []byte
	out, err = b.oneShot(ctx, &w, id, blob, useRSA, rsaPrivTmpl, mechs, opDecrypt, ciphertext)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// oneShotKind is the single-part PKCS#11 operation of oneShot.
type oneShotKind int

const (
	opEncrypt oneShotKind = iota
	opDecrypt
	opSign
)

// oneShot runs one single-part operation on data with the key in w (bound
// to id; blob is w serialised) as a session object made from tmpl for use:
// one the session has cached, or one unwrapped now and cached, or (caching
// off) unwrapped for this operation and destroyed.
func (b *Backend) oneShot(ctx context.Context, w *wrapBlob, id string, blob []byte, use keyUse, tmpl []*pkcs11.Attribute, mechs []*pkcs11.Mechanism, kind oneShotKind, data []byte) ([]byte, error) {
	var out []byte
	err := b.do(ctx, true, func(o *op) error {
		key, temporary, err := o.cachedKey(use, id, blob, w, tmpl)
		if err != nil {
			return err
		}
		if temporary {
			defer o.destroy(key)
		}
		switch kind {
		case opEncrypt:
			if err := o.p.EncryptInit(o.s, mechs, key); err != nil {
				return cryptErr("C_EncryptInit", err, false)
			}
			out, err = o.p.Encrypt(o.s, data)
			return cryptErr("C_Encrypt", err, false)
		case opDecrypt:
			if err := o.p.DecryptInit(o.s, mechs, key); err != nil {
				return cryptErr("C_DecryptInit", err, false)
			}
			out, err = o.p.Decrypt(o.s, data)
			return cryptErr("C_Decrypt", err, true)
		default:
			if err := o.p.SignInit(o.s, mechs, key); err != nil {
				if isCKR(err, pkcs11.CKR_ARGUMENTS_BAD) {
					// SoftHSM's answer to mechanism parameters it does not
					// take, such as an RSA-PSS MGF1 hash other than hashAlg.
					return fmt.Errorf("%w: C_SignInit: %s", hsm.ErrNotSupported, ckrName(err))
				}
				return cryptErr("C_SignInit", err, false)
			}
			out, err = o.p.Sign(o.s, data)
			return cryptErr("C_Sign", err, false)
		}
	})
	return out, err
}
