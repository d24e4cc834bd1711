//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/kmipd/kmipd/hsm"
)

var (
	_ hsm.Backend          = (*Backend)(nil)
	_ hsm.HealthChecker    = (*Backend)(nil)
	_ hsm.KeySealer        = (*Backend)(nil)
	_ hsm.KeyRotator       = (*Backend)(nil)
	_ hsm.KeyExporter      = (*Backend)(nil)
	_ hsm.KeyPairGenerator = (*Backend)(nil)
)

const sessionFlags = pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION

var errClosed = fmt.Errorf("%w: PKCS#11 backend is closed", hsm.ErrUnavailable)

// Backend is the PKCS#11 backend. It is safe for concurrent use.
type Backend struct {
	m        *module
	token    string
	pin      string
	kekLabel string

	// waits and errs count pool waits and failed PKCS#11 calls (Stats).
	waits, errs atomic.Uint64

	// sem bounds the sessions in use; idle holds open sessions not in use.
	sem  chan struct{}
	idle chan pkcs11.SessionHandle
	stop chan struct{} // closed by Close: ends the health monitor

	// The fields below are written with m.mu held for writing and read
	// with it held for reading.
	epoch     uint64 // module epoch of slot, anchor and KEK handles
	slot      uint
	anchor    pkcs11.SessionHandle
	hasAnchor bool
	current   uint32
	keks      map[uint32]*kek
	gen       uint64    // incremented by every recovery attempt
	broken    error     // why the backend is unavailable; nil when healthy
	lastTry   time.Time // last recovery attempt
	closed    bool
}

// kek is one master-key version on the token.
type kek struct {
	wrapTok, gcmTok pkcs11.ObjectHandle // the token objects
	wrap, gcm       pkcs11.ObjectHandle // handles used: session copies, or the token objects
}

// Open connects to the token named in opts, logs in and finds the master
// keys. It fails if the current master-key version does not exist (it is
// created only by CreateKEK or UseKeyVersion), or if it is extractable.
func Open(opts Options) (*Backend, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	m, err := loadModule(opts.Module)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		m:        m,
		token:    opts.Token,
		pin:      opts.PIN,
		kekLabel: opts.KEKLabel,
		current:  opts.KEKVersion,
		sem:      make(chan struct{}, opts.PoolSize),
		idle:     make(chan pkcs11.SessionHandle, opts.PoolSize),
	}
	m.mu.Lock()
	err = b.connect()
	if err != nil {
		b.disconnect()
	}
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if opts.HealthInterval > 0 {
		b.stop = make(chan struct{})
		go b.monitor(opts.HealthInterval, b.stop)
	}
	return b, nil
}

// monitor runs the health check every interval until stop is closed. A
// failed check marks the backend unavailable (see Health).
func (b *Backend) monitor(interval time.Duration, stop chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), interval)
			_ = b.Health(ctx)
			cancel()
		}
	}
}

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
			_ = b.m.p.CloseSession(s)
		default:
			return
		}
	}
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

// Name returns "pkcs11".
func (b *Backend) Name() string { return hsm.KindPKCS11.String() }

// op is one operation's exclusive use of a session.
type op struct {
	p *pkcs11.Ctx
	s pkcs11.SessionHandle
	b *Backend
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
		// Every session is busy: count the wait (metrics), then wait.
		b.waits.Add(1)
		select {
		case b.sem <- struct{}{}:
		case <-ctx.Done():
			return gen, ctx.Err()
		}
	}
	defer func() { <-b.sem }()
	var s pkcs11.SessionHandle
	select {
	case s = <-b.idle:
	default:
		if s, err = b.m.p.OpenSession(b.slot, sessionFlags); err != nil {
			return gen, call("C_OpenSession", err)
		}
	}
	err = fn(&op{p: b.m.p, s: s, b: b})
	if _, failed := ckr(err); failed {
		b.errs.Add(1)
		// The session may hold an unfinished operation or be dead.
		_ = b.m.p.CloseSession(s)
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

// Random fills p with bytes from C_GenerateRandom.
func (b *Backend) Random(ctx context.Context, p []byte) error {
	if len(p) == 0 {
		return b.do(ctx, false, func(*op) error { return nil })
	}
	return b.do(ctx, false, func(o *op) error {
		r, err := o.p.GenerateRandom(o.s, len(p))
		if err != nil {
			return call("C_GenerateRandom", err)
		}
		if len(r) != len(p) {
			return fmt.Errorf("pkcs11: C_GenerateRandom returned %d bytes, want %d", len(r), len(p))
		}
		copy(p, r)
		clear(r)
		return nil
	})
}

// Close closes the backend's sessions (it never logs out: other backends
// of the process may share the login). Later calls fail with an error
// wrapping hsm.ErrUnavailable. Close is idempotent.
func (b *Backend) Close() error {
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.disconnect()
	if b.stop != nil {
		close(b.stop)
	}
	return nil
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

// Stats returns how often a caller had to wait for a free session, and how
// many PKCS#11 calls failed, since the backend was opened (for metrics).
func (b *Backend) Stats() hsm.Stats {
	return hsm.Stats{PoolWaits: b.waits.Load(), Errors: b.errs.Load()}
}
