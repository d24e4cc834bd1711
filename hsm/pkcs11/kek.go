//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/miekg/pkcs11"

	"github.com/kmipd/kmipd/hsm"
)

// CreateKEK creates master-key version opts.KEKVersion (1 by default) on
// the token: the wrap KEK and the GCM KEK, as non-extractable token
// objects. It fails with an error wrapping ErrKEKExists if either label is
// taken.
func CreateKEK(opts Options) error {
	if err := opts.setDefaults(); err != nil {
		return err
	}
	m, err := loadModule(opts.Module)
	if err != nil {
		return err
	}
	b := &Backend{m: m, token: opts.Token, pin: opts.PIN, kekLabel: opts.KEKLabel, keks: map[uint32]*kek{}}
	m.mu.Lock()
	defer m.mu.Unlock()
	defer b.disconnect()
	b.epoch = m.epoch
	if b.slot, err = findSlot(m.p, b.token); err != nil {
		return err
	}
	if err := b.openAnchor(); err != nil {
		return err
	}
	v := opts.KEKVersion
	for _, gcm := range []bool{false, true} {
		hs, err := b.findObjects(kekLabel(b.kekLabel, v, gcm), nil)
		if err != nil {
			return err
		}
		if len(hs) > 0 {
			return fmt.Errorf("%w: token %q already holds %q", ErrKEKExists, b.token, kekLabel(b.kekLabel, v, gcm))
		}
	}
	_, err = b.createKEK(v)
	return err
}

// loadKEKs finds every master-key version from the current one down and
// copies each into a session object. The current version must exist.
func (b *Backend) loadKEKs() error {
	b.dropKEKCopies()
	keks := map[uint32]*kek{}
	for v := b.current; v >= 1; v-- {
		k, err := b.findKEK(v)
		if err != nil {
			return err
		}
		if k == nil {
			if v == b.current {
				return fmt.Errorf("%w: master key %q (version %d) not found on token %q; it is created by `kmipd init --hsm pkcs11`",
					hsm.ErrUnavailable, kekLabel(b.kekLabel, v, false), v, b.token)
			}
			continue
		}
		keks[v] = k
	}
	b.keks = keks
	return nil
}

// dropKEKCopies destroys the session copies of the master keys.
func (b *Backend) dropKEKCopies() {
	if !b.hasAnchor {
		return
	}
	for _, k := range b.keks {
		if k.wrap != k.wrapTok {
			_ = b.m.p.DestroyObject(b.anchor, k.wrap)
		}
		if k.gcm != k.gcmTok {
			_ = b.m.p.DestroyObject(b.anchor, k.gcm)
		}
	}
	b.keks = nil
}

// findKEK finds master-key version v by label and ID and checks that it is
// a non-extractable AES key. It returns nil, nil if neither half exists.
func (b *Backend) findKEK(v uint32) (*kek, error) {
	var tok [2]pkcs11.ObjectHandle
	found := 0
	for i, gcm := range []bool{false, true} {
		label := kekLabel(b.kekLabel, v, gcm)
		hs, err := b.findObjects(label, kekID(v, gcm))
		if err != nil {
			return nil, err
		}
		switch len(hs) {
		case 0:
			continue
		case 1:
		default:
			return nil, fmt.Errorf("pkcs11: token %q holds %d keys labelled %q", b.token, len(hs), label)
		}
		if err := b.checkKEK(hs[0], label); err != nil {
			return nil, err
		}
		tok[i] = hs[0]
		found++
	}
	switch found {
	case 0:
		return nil, nil
	case 1:
		return nil, fmt.Errorf("pkcs11: master-key version %d on token %q is incomplete: want both %q and %q",
			v, b.token, kekLabel(b.kekLabel, v, false), kekLabel(b.kekLabel, v, true))
	}
	k := &kek{wrapTok: tok[0], gcmTok: tok[1], wrap: tok[0], gcm: tok[1]}
	// A session copy spares SoftHSM re-reading the token object's file on
	// every use (2.2× faster wrapping, hsm.md §3). Tokens may refuse.
	copyTmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)}
	if h, err := b.m.p.CopyObject(b.anchor, k.wrapTok, copyTmpl); err == nil {
		k.wrap = h
	}
	if h, err := b.m.p.CopyObject(b.anchor, k.gcmTok, copyTmpl); err == nil {
		k.gcm = h
	}
	return k, nil
}

func (b *Backend) checkKEK(h pkcs11.ObjectHandle, label string) error {
	attrs, err := b.m.p.GetAttributeValue(b.anchor, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
	})
	if err != nil {
		return fmt.Errorf("pkcs11: master key %q: %w", label, call("C_GetAttributeValue", err))
	}
	if !ulongIs(attrs[0].Value, pkcs11.CKK_AES) {
		return fmt.Errorf("pkcs11: master key %q on token %q is not an AES key", label, b.token)
	}
	if !boolIs(attrs[1].Value, false) || !boolIs(attrs[2].Value, true) {
		return fmt.Errorf("pkcs11: master key %q on token %q is extractable or not sensitive; refusing to use it", label, b.token)
	}
	return nil
}

// findObjects returns the token secret keys with the given label (and ID,
// if not nil), using the anchor session.
func (b *Backend) findObjects(label string, id []byte) ([]pkcs11.ObjectHandle, error) {
	p := b.m.p
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if id != nil {
		tmpl = append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	}
	if err := p.FindObjectsInit(b.anchor, tmpl); err != nil {
		return nil, call("C_FindObjectsInit", err)
	}
	hs, _, err := p.FindObjects(b.anchor, 4)
	if ferr := p.FindObjectsFinal(b.anchor); err == nil && ferr != nil {
		err = call("C_FindObjectsFinal", ferr)
	}
	if err != nil {
		return nil, call("C_FindObjects", err)
	}
	return hs, nil
}

// createKEK creates master-key version v on the token and returns it
// (with session copies). The caller holds m.mu for writing.
func (b *Backend) createKEK(v uint32) (*kek, error) {
	var made []pkcs11.ObjectHandle
	for _, gcm := range []bool{false, true} {
		h, err := b.generateKEK(v, gcm)
		if err != nil {
			for _, h := range made {
				_ = b.m.p.DestroyObject(b.anchor, h)
			}
			return nil, err
		}
		made = append(made, h)
	}
	k, err := b.findKEK(v)
	if err == nil && k == nil {
		err = fmt.Errorf("pkcs11: master-key version %d not found after creating it", v)
	}
	return k, err
}

func (b *Backend) generateKEK(v uint32, gcm bool) (pkcs11.ObjectHandle, error) {
	label := kekLabel(b.kekLabel, v, gcm)
	usage := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, !gcm),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, !gcm),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, gcm),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, gcm),
	}
	allowed := uint(pkcs11.CKM_AES_KEY_WRAP_PAD)
	if gcm {
		allowed = pkcs11.CKM_AES_GCM
	}
	tmpl := append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, kekID(v, gcm)),
	}, usage...)
	mech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}
	h, err := b.m.p.GenerateKey(b.anchor, mech, append(tmpl, pkcs11.NewAttribute(pkcs11.CKA_ALLOWED_MECHANISMS, ulongBytes(allowed))))
	if isCKR(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID, pkcs11.CKR_TEMPLATE_INCONSISTENT, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID) {
		// Tokens before PKCS#11 2.40 lack CKA_ALLOWED_MECHANISMS.
		h, err = b.m.p.GenerateKey(b.anchor, mech, tmpl)
	}
	if err != nil {
		return 0, fmt.Errorf("pkcs11: create master key %q on token %q: %w", label, b.token, call("C_GenerateKey", err))
	}
	return h, nil
}

// KeyVersions returns the current master-key version and every version on
// the token, ascending.
func (b *Backend) KeyVersions() (current uint32, loaded []uint32) {
	b.m.mu.RLock()
	defer b.m.mu.RUnlock()
	for v := range b.keks {
		loaded = append(loaded, v)
	}
	slices.Sort(loaded)
	return b.current, loaded
}

// UseKeyVersion makes master-key version v current for new blobs. If v is
// not on the token, it is created when create is true (`kmipd hsm rotate`)
// and an error otherwise. A version created earlier by an interrupted
// rotation is adopted.
func (b *Backend) UseKeyVersion(ctx context.Context, v uint32, create bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if v == 0 {
		return errors.New("pkcs11: master-key version 0")
	}
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	if b.closed {
		return errClosed
	}
	if b.broken != nil {
		return fmt.Errorf("%w: %w", hsm.ErrUnavailable, b.broken)
	}
	k := b.keks[v]
	if k == nil {
		var err error
		if k, err = b.findKEK(v); err != nil {
			return err
		}
		if k == nil {
			if !create {
				return fmt.Errorf("%w: master key %q (version %d) not found on token %q", hsm.ErrKeyVersion, kekLabel(b.kekLabel, v, false), v, b.token)
			}
			if k, err = b.createKEK(v); err != nil {
				return err
			}
		}
		b.keks[v] = k
	}
	if v != b.current {
		// Rotation: no key unwrapped under the old versions outlives it.
		b.forgetAll("")
	}
	b.current = v
	return nil
}

// RetireKeyVersion destroys master-key version v on the token. Blobs under
// it can no longer be opened. Retiring a version that is not on the token
// succeeds.
func (b *Backend) RetireKeyVersion(ctx context.Context, v uint32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	if b.closed {
		return errClosed
	}
	if v == b.current {
		return fmt.Errorf("pkcs11: cannot retire the current master-key version %d", v)
	}
	// Blobs under v can no longer be opened; neither may their keys be
	// used from the cache.
	b.forgetAll("")
	if k := b.keks[v]; k != nil {
		if k.wrap != k.wrapTok {
			_ = b.m.p.DestroyObject(b.anchor, k.wrap)
		}
		if k.gcm != k.gcmTok {
			_ = b.m.p.DestroyObject(b.anchor, k.gcm)
		}
		delete(b.keks, v)
	}
	for _, gcm := range []bool{false, true} {
		hs, err := b.findObjects(kekLabel(b.kekLabel, v, gcm), kekID(v, gcm))
		if err != nil {
			return err
		}
		for _, h := range hs {
			if err := b.m.p.DestroyObject(b.anchor, h); err != nil {
				return fmt.Errorf("pkcs11: retire %q: %w", kekLabel(b.kekLabel, v, gcm), call("C_DestroyObject", err))
			}
		}
	}
	return nil
}

// ulongBytes encodes x as a CK_ULONG.
func ulongBytes(x uint) []byte { return pkcs11.NewAttribute(0, x).Value }

func ulongIs(v []byte, x uint) bool { return string(v) == string(ulongBytes(x)) }

func boolIs(v []byte, x bool) bool { return len(v) == 1 && (v[0] != 0) == x }
