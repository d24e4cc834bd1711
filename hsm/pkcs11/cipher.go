//go:build cgo

package pkcs11

import (
	"context"
	"encoding/binary"
	"fmt"
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
)

// usableBlob parses a kind-0x03 blob of a secret key; other blobs cannot
// be used inside the HSM.
func usableBlob(blob []byte) (wrapBlob, error) {
	h, err := hsm.BlobKind(blob)
	if err != nil {
		return wrapBlob{}, err
	}
	if h.Kind != hsm.KindPKCS11Wrap {
		return wrapBlob{}, fmt.Errorf("%w: a %v blob is not a key held by the HSM", hsm.ErrNotSupported, h.Kind)
	}
	w, err := parseWrapBlob(blob)
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
	err = b.do(ctx, true, func(o *op) error {
		key, err := o.unwrapBlob(&w, id, cryptTmpl)
		if err != nil {
			return err
		}
		defer o.destroy(key)
		if sop.Encrypt {
			if err := o.p.EncryptInit(o.s, mechs, key); err != nil {
				return cryptErr("C_EncryptInit", err, false)
			}
			if out, err = o.p.Encrypt(o.s, sop.Data); err != nil {
				return cryptErr("C_Encrypt", err, false)
			}
			return nil
		}
		if err := o.p.DecryptInit(o.s, mechs, key); err != nil {
			return cryptErr("C_DecryptInit", err, false)
		}
		if out, err = o.p.Decrypt(o.s, sop.Data); err != nil {
			return cryptErr("C_Decrypt", err, true)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MAC returns the HMAC of data keyed with the key in blob (bound to id),
// computed inside the HSM with C_Sign (CKM_SHA_1_HMAC, CKM_SHA256_HMAC,
// CKM_SHA384_HMAC or CKM_SHA512_HMAC) on a sensitive, non-extractable
// session copy of the key, destroyed afterwards.
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
	default:
		return nil, fmt.Errorf("%w: MAC mechanism %d", hsm.ErrNotSupported, mech)
	}
	w, err := usableBlob(blob)
	if err != nil {
		return nil, err
	}
	mechs := []*pkcs11.Mechanism{pkcs11.NewMechanism(m, nil)}
	var out []byte
	err = b.do(ctx, true, func(o *op) error {
		key, err := o.unwrapBlob(&w, id, macTmpl)
		if err != nil {
			return err
		}
		defer o.destroy(key)
		if err := o.p.SignInit(o.s, mechs, key); err != nil {
			return cryptErr("C_SignInit", err, false)
		}
		if out, err = o.p.Sign(o.s, data); err != nil {
			return cryptErr("C_Sign", err, false)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
