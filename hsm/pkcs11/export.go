//go:build cgo

package pkcs11

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"

	"github.com/kmipd/kmipd/hsm"
)

// RewrapKey returns the key held in blob (bound to id) wrapped under the
// wrapping key of spec, for KMIP Get/Export with a Key Wrapping
// Specification. Everything happens inside the HSM:
//
//  1. the key is unwrapped under the wrap KEK into a sensitive session
//     object (a kind-0x02 blob is decrypted and imported instead);
//  2. the wrapping key is made a session object with CKA_WRAP: an AES key
//     of this backend (spec.KeyBlob, bound to spec.KeyID) is unwrapped the
//     same way, non-extractable; an RSA public key (spec.PublicKey) is
//     imported;
//  3. C_WrapKey with CKM_AES_KEY_WRAP (RFC 3394), CKM_AES_KEY_WRAP_PAD
//     (RFC 5649) or CKM_RSA_PKCS_OAEP (SHA-1, MGF1-SHA-1: SoftHSM 2.6.1
//     rejects SHA-256) produces the result;
//  4. both session objects are destroyed.
//
// With a kind-0x03 key, neither key's plaintext ever exists outside the
// HSM, which is what a Sensitive object needs. Private keys are wrapped as
// PKCS#8 zero-padded to a multiple of 8 bytes (as SoftHSM wraps them).
// Secret keys whose length is not a multiple of 8 are refused for AES key
// wrapping, since SoftHSM would pad them and change their length.
func (b *Backend) RewrapKey(ctx context.Context, id string, blob []byte, spec hsm.WrapSpec) ([]byte, error) {
	var mech []*pkcs11.Mechanism
	switch spec.Mechanism {
	case hsm.WrapAESKeyWrap:
		mech = mechKW
	case hsm.WrapAESKeyWrapPad:
		mech = mechKWP
	case hsm.WrapRSAOAEPSHA1:
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_OAEP,
			pkcs11.NewOAEPParams(pkcs11.CKM_SHA_1, pkcs11.CKG_MGF1_SHA1, pkcs11.CKZ_DATA_SPECIFIED, nil))}
	default:
		return nil, fmt.Errorf("%w: wrapping mechanism %d", hsm.ErrNotSupported, spec.Mechanism)
	}
	var rsaPub *rsa.PublicKey
	if spec.Mechanism == hsm.WrapRSAOAEPSHA1 {
		var ok bool
		if rsaPub, ok = spec.PublicKey.(*rsa.PublicKey); !ok || spec.KeyBlob != nil {
			return nil, errors.New("pkcs11: RSA-OAEP wrapping needs an *rsa.PublicKey and no key blob")
		}
	} else if spec.KeyBlob == nil || spec.PublicKey != nil {
		return nil, errors.New("pkcs11: AES key wrapping needs the wrapping key's blob and no public key")
	}
	h, err := hsm.BlobKind(blob)
	if err != nil {
		return nil, err
	}
	var target *wrapBlob
	switch h.Kind {
	case hsm.KindPKCS11Wrap:
		w, err := parseWrapBlob(blob)
		if err != nil {
			return nil, err
		}
		if !w.private() && w.keyLen%8 != 0 && spec.Mechanism != hsm.WrapRSAOAEPSHA1 {
			return nil, fmt.Errorf("%w: AES key wrap of a %d-byte key", hsm.ErrNotSupported, w.keyLen)
		}
		target = &w
	case hsm.KindPKCS11:
	default:
		return nil, fmt.Errorf("%w: blob was sealed by the %v backend", hsm.ErrKeyVersion, h.Kind)
	}
	var out []byte
	err = b.do(ctx, true, func(o *op) error {
		// The key to export.
		var key pkcs11.ObjectHandle
		if target != nil {
			var err error
			if key, err = o.unwrapBlob(target, id, sealedTmpl); err != nil {
				return err
			}
		} else {
			pt, err := o.openGCM(id, blob)
			if err != nil {
				return err
			}
			if len(pt)%8 != 0 && spec.Mechanism != hsm.WrapRSAOAEPSHA1 {
				clear(pt)
				return fmt.Errorf("%w: AES key wrap of a %d-byte key", hsm.ErrNotSupported, len(pt))
			}
			key, err = o.importSecret(pt, pkcs11.CKK_GENERIC_SECRET, false)
			clear(pt)
			if err != nil {
				return err
			}
		}
		defer o.destroy(key)
		// The wrapping key.
		wk, err := o.wrappingKey(spec, rsaPub)
		if err != nil {
			return err
		}
		defer o.destroy(wk)
		if out, err = o.p.WrapKey(o.s, mech, wk, key); err != nil {
			return call("C_WrapKey", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// importSecret creates a sensitive session secret key holding v; wrap
// makes it a wrapping key (non-extractable), otherwise it is extractable
// only wrapped.
func (o *op) importSecret(v []byte, ckk uint, wrap bool) (pkcs11.ObjectHandle, error) {
	tmpl := append(secretTmpl(ckk, true, !wrap), pkcs11.NewAttribute(pkcs11.CKA_VALUE, v))
	if wrap {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_WRAP, true))
	}
	h, err := o.p.CreateObject(o.s, tmpl)
	if err != nil {
		return 0, call("C_CreateObject", err)
	}
	return h, nil
}

// wrappingKeyTmpl unwraps an AES wrapping key: usable for wrapping only,
// never readable or extractable.
var wrappingKeyTmpl = append(secretTmpl(pkcs11.CKK_AES, true, false), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true))

// wrappingKey makes the session object that wraps the exported key.
func (o *op) wrappingKey(spec hsm.WrapSpec, pub *rsa.PublicKey) (pkcs11.ObjectHandle, error) {
	if pub != nil {
		h, err := o.p.CreateObject(o.s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, pub.N.Bytes()),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(pub.E)).Bytes()),
		})
		if err != nil {
			return 0, call("C_CreateObject", err)
		}
		return h, nil
	}
	kh, err := hsm.BlobKind(spec.KeyBlob)
	if err != nil {
		return 0, fmt.Errorf("wrapping key: %w", err)
	}
	switch kh.Kind {
	case hsm.KindPKCS11Wrap:
		w, err := parseWrapBlob(spec.KeyBlob)
		if err != nil {
			return 0, fmt.Errorf("wrapping key: %w", err)
		}
		if w.keyType != keyTypeAES {
			return 0, fmt.Errorf("%w: the wrapping key is not an AES key", hsm.ErrNotSupported)
		}
		return o.unwrapBlob(&w, spec.KeyID, wrappingKeyTmpl)
	case hsm.KindPKCS11:
		pt, err := o.openGCM(spec.KeyID, spec.KeyBlob)
		if err != nil {
			return 0, err
		}
		defer clear(pt)
		switch len(pt) {
		case 16, 24, 32:
		default:
			return 0, fmt.Errorf("%w: a %d-byte wrapping key is not an AES key", hsm.ErrNotSupported, len(pt))
		}
		return o.importSecret(pt, pkcs11.CKK_AES, true)
	}
	return 0, fmt.Errorf("%w: wrapping key sealed by the %v backend", hsm.ErrKeyVersion, kh.Kind)
}
