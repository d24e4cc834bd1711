//go:build cgo

package pkcs11

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/miekg/pkcs11"

	"github.com/kmipd/kmipd/hsm"
)

// Mechanisms without parameters are immutable and shared.
var (
	mechKWP        = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP_PAD, nil)}
	mechKW         = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_WRAP, nil)}
	mechAESKeyGen  = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}
	mechGenericGen = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_GENERIC_SECRET_KEY_GEN, nil)}
)

// Prebuilt templates. cAttributeList only reads them, so they can be
// shared by concurrent operations.
var (
	// aesGenTmpl[n] generates an n-byte AES session key that can be
	// wrapped but never read.
	aesGenTmpl = map[int][]*pkcs11.Attribute{16: genTmpl(pkcs11.CKK_AES, 16), 24: genTmpl(pkcs11.CKK_AES, 24), 32: genTmpl(pkcs11.CKK_AES, 32)}
	// readableTmpl unwraps a key whose value may be read (Open).
	readableTmpl = secretTmpl(pkcs11.CKK_GENERIC_SECRET, false, true)
	// sealedTmpl unwraps a key that can be wrapped again but never read
	// (Rewrap, RewrapKey).
	sealedTmpl = secretTmpl(pkcs11.CKK_GENERIC_SECRET, true, true)
	valueAttr  = []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}
)

func secretTmpl(keyType uint, sensitive, extractable bool) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, sensitive),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, extractable),
	}
}

func genTmpl(keyType uint, n int) []*pkcs11.Attribute {
	return append(secretTmpl(keyType, true, true), pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, n))
}

// wrappable reports whether a key of n bytes is stored wrapped (kind 0x03):
// SoftHSM's CKM_AES_KEY_WRAP_PAD is RFC 5649 only for multiples of 8.
func wrappable(n int) bool { return n >= 8 && n%8 == 0 && n <= MaxGenerate }

// gcmEncrypt encrypts pt with AES-GCM under key (C_Encrypt) and returns
// ciphertext ‖ tag.
func (o *op) gcmEncrypt(key pkcs11.ObjectHandle, iv, aad, pt []byte) ([]byte, error) {
	params := pkcs11.NewGCMParams(iv, aad, gcmTagBits)
	defer params.Free()
	if err := o.p.EncryptInit(o.s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, key); err != nil {
		return nil, call("C_EncryptInit", err)
	}
	ct, err := o.p.Encrypt(o.s, pt)
	if err != nil {
		return nil, call("C_Encrypt", err)
	}
	if len(ct) != len(pt)+hsm.TagSize {
		return nil, fmt.Errorf("pkcs11: C_Encrypt(CKM_AES_GCM) returned %d bytes for %d", len(ct), len(pt))
	}
	return ct, nil
}

// gcmDecrypt authenticates and decrypts ct ‖ tag under key (C_Decrypt).
func (o *op) gcmDecrypt(key pkcs11.ObjectHandle, iv, aad, ct []byte) ([]byte, error) {
	params := pkcs11.NewGCMParams(iv, aad, gcmTagBits)
	defer params.Free()
	if err := o.p.DecryptInit(o.s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, key); err != nil {
		return nil, call("C_DecryptInit", err)
	}
	pt, err := o.p.Decrypt(o.s, ct)
	if err != nil {
		return nil, call("C_Decrypt", err)
	}
	return pt, nil
}

// sealGCM returns a kind-0x02 blob of pt for id under version v.
func (o *op) sealGCM(v uint32, id string, pt []byte) ([]byte, error) {
	k, err := o.kek(v)
	if err != nil {
		return nil, err
	}
	const pre = hsm.HeaderSize + hsm.NonceSize
	blob := make([]byte, pre, hsm.Overhead+len(pt))
	hsm.AppendHeader(blob[:0], hsm.Header{Kind: hsm.KindPKCS11, KeyVersion: v})
	nonce := blob[hsm.HeaderSize:pre]
	rand.Read(nonce)
	ct, err := o.gcmEncrypt(k.gcm, nonce, hsm.AppendAAD(nil, id), pt)
	if err != nil {
		return nil, err
	}
	return append(blob, ct...), nil
}

// openGCM decrypts a kind-0x02 blob; the caller clears the result.
func (o *op) openGCM(id string, blob []byte) ([]byte, error) {
	h, nonce, sealed, err := hsm.ParseBlob(blob)
	if err != nil {
		return nil, err
	}
	k, err := o.kek(h.KeyVersion)
	if err != nil {
		return nil, err
	}
	return o.gcmDecrypt(k.gcm, nonce, hsm.AppendAAD(nil, id), sealed)
}

// sealWrapped returns a kind-0x03 blob around wrapped, bound to id by a
// GMAC under the GCM KEK of version v.
func (o *op) sealWrapped(v uint32, id string, keyType byte, keyLen uint32, wrapped []byte) ([]byte, error) {
	k, err := o.kek(v)
	if err != nil {
		return nil, err
	}
	blob := make([]byte, 0, wrapPrefixSize+len(wrapped))
	blob = appendWrapFixed(blob, v, keyType, keyLen)
	iv := blob[wrapFixedSize : wrapFixedSize+hsm.NonceSize]
	rand.Read(iv)
	tag, err := o.gcmEncrypt(k.gcm, iv, appendWrapAAD(nil, blob[:wrapFixedSize], wrapped, id), nil)
	if err != nil {
		return nil, err
	}
	blob = append(blob[:wrapFixedSize+hsm.NonceSize], tag...)
	return append(blob, wrapped...), nil
}

// unwrapBlob checks a kind-0x03 blob's binding to id and unwraps it under
// its wrap KEK into a session object made from tmpl. The caller destroys
// the object.
func (o *op) unwrapBlob(w *wrapBlob, id string, tmpl []*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	k, err := o.kek(w.version)
	if err != nil {
		return 0, err
	}
	pt, err := o.gcmDecrypt(k.gcm, w.iv, appendWrapAAD(nil, w.fixed, w.wrapped, id), w.tag)
	if err != nil {
		return 0, err
	}
	if len(pt) != 0 {
		return 0, fmt.Errorf("%w: binding tag of %d bytes", hsm.ErrBlobCorrupt, len(pt)+hsm.TagSize)
	}
	h, err := o.p.UnwrapKey(o.s, mechKWP, k.wrap, w.wrapped, tmpl)
	if err != nil {
		return 0, call("C_UnwrapKey", err)
	}
	return h, nil
}

// GenerateSymmetric generates nbytes of key material inside the HSM
// (1 ≤ nbytes ≤ MaxGenerate). A key whose length is a multiple of 8 bytes
// is generated as a session key object (CKM_AES_KEY_GEN for 16, 24 and 32
// bytes, CKM_GENERIC_SECRET_KEY_GEN otherwise), wrapped with
// CKM_AES_KEY_WRAP_PAD under the wrap KEK, bound to id and destroyed: its
// plaintext never leaves the HSM. Other lengths come from C_GenerateRandom
// and are sealed with C_Encrypt (see the package documentation).
func (b *Backend) GenerateSymmetric(ctx context.Context, id string, nbytes int) ([]byte, error) {
	if nbytes <= 0 || nbytes > MaxGenerate {
		return nil, fmt.Errorf("pkcs11: cannot generate %d bytes of key material", nbytes)
	}
	var blob []byte
	err := b.do(ctx, false, func(o *op) error {
		v := o.b.current
		if !wrappable(nbytes) {
			r, err := o.p.GenerateRandom(o.s, nbytes)
			if err != nil {
				return call("C_GenerateRandom", err)
			}
			defer clear(r)
			blob, err = o.sealGCM(v, id, r)
			return err
		}
		k, err := o.kek(v)
		if err != nil {
			return err
		}
		mech, tmpl, keyType := mechAESKeyGen, aesGenTmpl[nbytes], keyTypeAES
		if tmpl == nil {
			mech, tmpl, keyType = mechGenericGen, genTmpl(pkcs11.CKK_GENERIC_SECRET, nbytes), keyTypeGeneric
		}
		h, err := o.p.GenerateKey(o.s, mech, tmpl)
		if err != nil {
			return call("C_GenerateKey", err)
		}
		defer o.destroy(h)
		wrapped, err := o.p.WrapKey(o.s, mechKWP, k.wrap, h)
		if err != nil {
			return call("C_WrapKey", err)
		}
		blob, err = o.sealWrapped(v, id, keyType, uint32(nbytes), wrapped)
		return err
	})
	if err != nil {
		return nil, err
	}
	return blob, nil
}

// Seal protects client-supplied material for id: AES-GCM by C_Encrypt
// under the GCM KEK, with the object identifier as associated data.
func (b *Backend) Seal(ctx context.Context, id string, plaintext []byte) ([]byte, error) {
	var blob []byte
	err := b.do(ctx, false, func(o *op) error {
		var err error
		blob, err = o.sealGCM(o.b.current, id, plaintext)
		return err
	})
	if err != nil {
		return nil, err
	}
	return blob, nil
}

// SealKey protects client-supplied symmetric key material as an HSM key:
// it is imported as a session key object (C_CreateObject) and stored
// wrapped like a generated key, so that RewrapKey and Rewrap handle it
// inside the HSM. Lengths that are not a multiple of 8 bytes are sealed as
// by Seal.
func (b *Backend) SealKey(ctx context.Context, id string, key []byte) ([]byte, error) {
	if !wrappable(len(key)) {
		return b.Seal(ctx, id, key)
	}
	keyType, ckk := keyTypeGeneric, uint(pkcs11.CKK_GENERIC_SECRET)
	switch len(key) {
	case 16, 24, 32:
		keyType, ckk = keyTypeAES, pkcs11.CKK_AES
	}
	var blob []byte
	err := b.do(ctx, false, func(o *op) error {
		v := o.b.current
		k, err := o.kek(v)
		if err != nil {
			return err
		}
		tmpl := append(secretTmpl(ckk, true, true), pkcs11.NewAttribute(pkcs11.CKA_VALUE, key))
		h, err := o.p.CreateObject(o.s, tmpl)
		if err != nil {
			return call("C_CreateObject", err)
		}
		defer o.destroy(h)
		wrapped, err := o.p.WrapKey(o.s, mechKWP, k.wrap, h)
		if err != nil {
			return call("C_WrapKey", err)
		}
		blob, err = o.sealWrapped(v, id, keyType, uint32(len(key)), wrapped)
		return err
	})
	if err != nil {
		return nil, err
	}
	return blob, nil
}

// Open authenticates blob, which must have been made for id by this
// backend, and appends the plaintext to dst. For a wrapped key it unwraps
// the key inside the HSM into a readable session object, reads CKA_VALUE
// and destroys the object.
func (b *Backend) Open(ctx context.Context, id string, blob []byte, dst []byte) ([]byte, error) {
	h, err := hsm.BlobKind(blob)
	if err != nil {
		return nil, err
	}
	var out []byte
	switch h.Kind {
	case hsm.KindPKCS11:
		err = b.do(ctx, true, func(o *op) error {
			pt, err := o.openGCM(id, blob)
			if err != nil {
				return err
			}
			out = append(dst, pt...)
			clear(pt)
			return nil
		})
	case hsm.KindPKCS11Wrap:
		w, perr := parseWrapBlob(blob)
		if perr != nil {
			return nil, perr
		}
		err = b.do(ctx, true, func(o *op) error {
			h, err := o.unwrapBlob(&w, id, readableTmpl)
			if err != nil {
				return err
			}
			defer o.destroy(h)
			attrs, err := o.p.GetAttributeValue(o.s, h, valueAttr)
			if err != nil {
				return call("C_GetAttributeValue", err)
			}
			val := attrs[0].Value
			defer clear(val)
			n := int(w.keyLen)
			if w.private() {
				if n, err = derLength(val); err != nil {
					return err
				}
			} else if len(val) != n {
				return fmt.Errorf("%w: unwrapped %d bytes, want %d", hsm.ErrBlobCorrupt, len(val), n)
			}
			out = append(dst, val[:n]...)
			return nil
		})
	default:
		return nil, fmt.Errorf("%w: blob was sealed by the %v backend", hsm.ErrKeyVersion, h.Kind)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Rewrap returns blob protected under the current master-key version. A
// wrapped key is unwrapped under the old wrap KEK into a sensitive session
// object and wrapped under the new one, inside the HSM; a kind-0x02 blob is
// decrypted and encrypted again.
func (b *Backend) Rewrap(ctx context.Context, id string, blob []byte) ([]byte, error) {
	h, err := hsm.BlobKind(blob)
	if err != nil {
		return nil, err
	}
	var out []byte
	switch h.Kind {
	case hsm.KindPKCS11:
		err = b.do(ctx, true, func(o *op) error {
			if h.KeyVersion == o.b.current {
				out = blob
				return nil
			}
			pt, err := o.openGCM(id, blob)
			if err != nil {
				return err
			}
			defer clear(pt)
			out, err = o.sealGCM(o.b.current, id, pt)
			return err
		})
	case hsm.KindPKCS11Wrap:
		w, perr := parseWrapBlob(blob)
		if perr != nil {
			return nil, perr
		}
		err = b.do(ctx, true, func(o *op) error {
			v := o.b.current
			if w.version == v {
				out = blob
				return nil
			}
			k, err := o.kek(v)
			if err != nil {
				return err
			}
			h, err := o.unwrapBlob(&w, id, sealedTmpl)
			if err != nil {
				return err
			}
			defer o.destroy(h)
			wrapped, err := o.p.WrapKey(o.s, mechKWP, k.wrap, h)
			if err != nil {
				return call("C_WrapKey", err)
			}
			if len(wrapped) != len(w.wrapped) {
				return fmt.Errorf("pkcs11: re-wrapping changed the wrapped key from %d to %d bytes", len(w.wrapped), len(wrapped))
			}
			out, err = o.sealWrapped(v, id, w.keyType, w.keyLen, wrapped)
			return err
		})
	default:
		return nil, fmt.Errorf("%w: blob was sealed by the %v backend", hsm.ErrKeyVersion, h.Kind)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
