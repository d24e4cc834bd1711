//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/kmipd/kmipd/hsm"
)

// connect finds the slot, opens and logs in the anchor session and loads
// the master keys. The caller holds m.mu for writing.
func (b *Backend) connect() error {
	b.epoch = b.m.epoch
	b.hasAnchor = false
	slot, err := findSlot(b.m.p, b.token)
	if err != nil {
		return err
	}
	b.slot = slot
	if err := b.openAnchor(); err != nil {
		return err
	}
	return b.loadKEKs()
}

// openAnchor opens a new anchor session and logs it in; the previous
// anchor, if any, is closed afterwards, so the process never drops to zero
// sessions (which would log it out). The caller holds m.mu for writing.
func (b *Backend) openAnchor() error {
	p := b.m.p
	s, err := p.OpenSession(b.slot, sessionFlags)
	if err != nil {
		if isCKR(err, pkcs11.CKR_TOKEN_NOT_RECOGNIZED) {
			return fmt.Errorf("pkcs11: token %q is not initialised: %w", b.token, call("C_OpenSession", err))
		}
		return fmt.Errorf("pkcs11: token %q: %w", b.token, call("C_OpenSession", err))
	}
	if err := p.Login(s, pkcs11.CKU_USER, b.pin); err != nil && !isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		_ = p.CloseSession(s)
		return fmt.Errorf("pkcs11: log in to token %q: %w", b.token, call("C_Login", err))
	}
	if b.hasAnchor {
		// The KEK copies were objects of the old anchor session.
		b.keks = nil
		_ = p.CloseSession(b.anchor)
	}
	b.anchor, b.hasAnchor = s, true
	return nil
}

// disconnect closes every session of the backend. It never logs out: the
// login state belongs to the whole process. The caller holds m.mu for
// writing.
func (b *Backend) disconnect() {
	b.drainPool()
	if b.hasAnchor {
		if b.epoch == b.m.epoch {
			b.dropKEKCopies()
			_ = b.m.p.CloseSession(b.anchor)
		}
		b.hasAnchor = false
	}
}

func (b *Backend) drainPool() {
	for {
		select {
		case s := <-b.idle:
			b.closeSession(s)
		default:
			return
		}
	}
}

// op is one operation's exclusive use of a session.
type op struct {
	p  *pkcs11.Ctx
	s  pkcs11.SessionHandle
	ss *session // s with its key cache
	b  *Backend
}

// kek returns master-key version v, or an error wrapping hsm.ErrKeyVersion.
func (o *op) kek(v uint32) (*kek, error) {
	if k := o.b.keks[v]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: master-key version %d is not on token %q", hsm.ErrKeyVersion, v, o.b.token)
}

func (o *op) destroy(h pkcs11.ObjectHandle) { _ = o.p.DestroyObject(o.s, h) }

// errBroken marks try's refusal to work while the backend is unavailable.
type errBroken struct{ err error }

func (e errBroken) Error() string { return e.err.Error() }
func (e errBroken) Unwrap() error { return e.err }

// try runs fn with a session of the pool. It returns the recovery
// generation it ran in.
func (b *Backend) try(ctx context.Context, fn func(o *op) error) (gen uint64, err error) {
	b.m.mu.RLock()
	defer b.m.mu.RUnlock()
	if b.closed {
		return 0, errClosed
	}
	gen = b.gen
	if b.broken != nil {
		return gen, errBroken{b.broken}
	}
	select {
	case b.sem <- struct{}{}:
	default:
		// Every session is busy: count the wait (metrics), then wait,
		// for at most PoolWait.
		b.waits.Add(1)
		t := time.NewTimer(b.poolWait)
		defer t.Stop()
		select {
		case b.sem <- struct{}{}:
		case <-ctx.Done():
			return gen, ctx.Err()
		case <-t.C:
			return gen, fmt.Errorf("%w: no PKCS#11 session free within %v (pool of %d)", hsm.ErrBusy, b.poolWait, cap(b.sem))
		}
	}
	defer func() { <-b.sem }()
	var s *session
	select {
	case s = <-b.idle:
	default:
		h, err := b.m.p.OpenSession(b.slot, sessionFlags)
		if err != nil {
			return gen, call("C_OpenSession", err)
		}
		s = b.newSession(h)
	}
	err = fn(&op{p: b.m.p, s: s.h, ss: s, b: b})
	if _, failed := ckr(err); failed {
		b.errs.Add(1)
		// The session may hold an unfinished operation or be dead; its
		// cached keys go with it.
		b.closeSession(s)
	} else {
		b.idle <- s
	}
	return gen, err
}

// do runs fn on a pooled session, recovering from session, handle and
// device errors once (see the package documentation). opening says that fn
// decrypts or unwraps a stored blob, where SoftHSM reports a bad blob as
// CKR_GENERAL_ERROR.
func (b *Backend) do(ctx context.Context, opening bool, fn func(o *op) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		gen, err := b.try(ctx, fn)
		if err == nil {
			return nil
		}
		if errors.Is(err, errClosed) || ctx.Err() != nil {
			return err
		}
		var eb errBroken
		if errors.As(err, &eb) {
			if attempt == 0 && b.recover(gen) == nil {
				continue
			}
			return b.unavailable()
		}
		switch classify(err) {
		case classOther:
			return err
		case classData:
			if opening {
				return fmt.Errorf("%w: %w", hsm.ErrBlobCorrupt, err)
			}
			return err
		case classDevice:
			if opening && isCKR(err, pkcs11.CKR_GENERAL_ERROR, pkcs11.CKR_FUNCTION_FAILED) && b.probe(ctx) == nil {
				return fmt.Errorf("%w: %w", hsm.ErrBlobCorrupt, err)
			}
		}
		if attempt > 0 {
			b.markBroken(gen, err)
			return fmt.Errorf("%w: %w", hsm.ErrUnavailable, err)
		}
		if rerr := b.recover(gen); rerr != nil {
			return fmt.Errorf("%w: %w (after %w)", hsm.ErrUnavailable, rerr, err)
		}
	}
}

// unavailable returns the error of a backend marked unavailable.
func (b *Backend) unavailable() error {
	b.m.mu.RLock()
	defer b.m.mu.RUnlock()
	if b.closed {
		return errClosed
	}
	if b.broken == nil {
		return fmt.Errorf("%w: PKCS#11 token %q", hsm.ErrUnavailable, b.token)
	}
	if errors.Is(b.broken, hsm.ErrUnavailable) {
		return b.broken
	}
	return fmt.Errorf("%w: %w", hsm.ErrUnavailable, b.broken)
}

func (b *Backend) markBroken(gen uint64, err error) {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	if b.gen == gen && b.broken == nil {
		b.broken, b.lastTry = err, time.Now()
	}
}

// recover reconnects after a failure seen in recovery generation seen,
// unless another goroutine did already. While the backend is marked
// unavailable it tries at most once per RecoveryInterval.
func (b *Backend) recover(seen uint64) error {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	if b.closed {
		return errClosed
	}
	if b.gen != seen {
		return b.broken
	}
	if b.broken != nil && time.Since(b.lastTry) < RecoveryInterval {
		return b.broken
	}
	b.gen++
	b.lastTry = time.Now()
	b.broken = b.reconnect()
	return b.broken
}

// reconnect restores the anchor session, the login and the KEK handles, in
// the steps of the package documentation. The caller holds m.mu for
// writing.
func (b *Backend) reconnect() error {
	p := b.m.p
	b.drainPool()
	if b.epoch == b.m.epoch {
		if b.hasAnchor {
			if _, err := p.GetSessionInfo(b.anchor); err == nil {
				err := p.Login(b.anchor, pkcs11.CKU_USER, b.pin)
				if err == nil || isCKR(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
					if b.loadKEKs() == nil {
						return nil
					}
				} else if isCKR(err, pkcs11.CKR_PIN_INCORRECT, pkcs11.CKR_PIN_LOCKED, pkcs11.CKR_PIN_EXPIRED) {
					return fmt.Errorf("pkcs11: log in to token %q again: %w", b.token, call("C_Login", err))
				}
			}
		}
		if b.openAnchor() == nil && b.loadKEKs() == nil {
			return nil
		}
		b.keks = nil
		b.hasAnchor = false
		if err := b.m.reinit(); err != nil {
			return err
		}
	}
	b.keks = nil
	return b.connect()
}

// probe checks that the token is present, the process logged in and the
// current master key usable.
func (b *Backend) probe(ctx context.Context) error {
	_, err := b.try(ctx, probeOp)
	return err
}

// Health reports whether the token can serve requests: the token is
// present, the process is logged in and the current master keys are
// usable. A failure triggers the recovery of the package documentation;
// the error returned then wraps hsm.ErrUnavailable.
func (b *Backend) Health(ctx context.Context) error {
	return b.do(ctx, false, probeOp)
}

func probeOp(o *op) error {
	if _, err := o.p.GetTokenInfo(o.b.slot); err != nil {
		return call("C_GetTokenInfo", err)
	}
	si, err := o.p.GetSessionInfo(o.s)
	if err != nil {
		return call("C_GetSessionInfo", err)
	}
	if si.State != pkcs11.CKS_RW_USER_FUNCTIONS {
		return call("C_GetSessionInfo", pkcs11.Error(pkcs11.CKR_USER_NOT_LOGGED_IN))
	}
	k, err := o.kek(o.b.current)
	if err != nil {
		return err
	}
	for _, h := range []pkcs11.ObjectHandle{k.wrapTok, k.gcmTok, k.wrap, k.gcm} {
		if _, err := o.p.GetAttributeValue(o.s, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil)}); err != nil {
			return call("C_GetAttributeValue", err)
		}
	}
	return nil
}
