package lifecycle

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	_ "crypto/sha1" // registers crypto.SHA1 for hashFor
	_ "crypto/sha256"
	_ "crypto/sha3"
	_ "crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"sync"
	"time"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// The cryptographic operations (KMIP 2.0 §6.1: Encrypt, Decrypt, Sign,
// Signature Verify, MAC, MAC Verify, Hash, RNG Retrieve, RNG Seed, Derive
// Key; the Basic, Advanced and RNG Cryptographic Server profiles, guide
// §1.3). This file holds what they share:
//
//   - useKey: the checks before a key is used — the caller may see it, its
//     State allows the operation (Allowed), the Protect Stop Date (for
//     Encrypt, Sign, MAC) or the Process Start Date (for Decrypt, Signature
//     Verify, MAC Verify) does not forbid it (Wrong Key Lifecycle State, which
//     1.x clients see as Permission Denied; CS-BC-M-14, CS-AC-M-8), and its
//     Cryptographic Usage Mask has the operation's bit (Incompatible
//     Cryptographic Usage Mask otherwise, as Check answers; the Unrestricted
//     bit allows everything; a key without a mask may not be used);
//   - Usage Limits: the operations that apply protection consume them,
//     persistently, before they run; once exhausted they fail with
//     Permission Denied (CS-BC-M-7);
//   - the Cryptographic Parameters in effect: the request's, completed field
//     by field from the key's Cryptographic Parameters attribute;
//   - multi-part (streaming) operations: Init Indicator, Correlation Value,
//     Final Indicator, with the state kept in memory, bounded and expiring.
//
// The result reasons follow the OASIS test vectors (guide §3.3): Invalid
// Message for a Decrypt lacking what it needs (its IV, CS-BC-M-11..13),
// Cryptographic Failure when authentication fails (CS-BC-M-GCM-1,
// CHACHA20POLY1305-1), General Failure for an invalid tag length (the same
// tests); otherwise Bad or Unsupported Cryptographic Parameters.

// Usage bits of the operations.
func usageBit(op kmip.Operation) kmip.CryptographicUsageMask {
	switch op {
	case kmip.OperationEncrypt:
		return kmip.CryptographicUsageMaskEncrypt
	case kmip.OperationDecrypt:
		return kmip.CryptographicUsageMaskDecrypt
	case kmip.OperationSign:
		return kmip.CryptographicUsageMaskSign
	case kmip.OperationSignatureVerify:
		return kmip.CryptographicUsageMaskVerify
	case kmip.OperationMAC:
		return kmip.CryptographicUsageMaskMACGenerate
	case kmip.OperationMACVerify:
		return kmip.CryptographicUsageMaskMACVerify
	case kmip.OperationDeriveKey:
		return kmip.CryptographicUsageMaskDeriveKey
	}
	return 0
}

// protects reports whether op applies cryptographic protection: it ends at
// the Protect Stop Date (KMIP 2.0 §4.41) and counts against Usage Limits
// (§4.60: they "SHALL only reflect ... usage for applying that
// protection").
func protects(op kmip.Operation) bool {
	return op == kmip.OperationEncrypt || op == kmip.OperationSign || op == kmip.OperationMAC
}

// processes reports whether op processes protected information: it may
// not start before the Process Start Date (KMIP 2.0 §4.40).
func processes(op kmip.Operation) bool {
	return op == kmip.OperationDecrypt || op == kmip.OperationSignatureVerify || op == kmip.OperationMACVerify
}

// useKey returns the object u names after the checks every cryptographic
// operation makes (see the top of this file). The object is shared: do not
// modify it.
func (s *Service) useKey(c *kmip.Call, u kmip.UniqueID, op kmip.Operation) (*objects.Object, error) {
	o, err := s.lookup(c, u)
	if err != nil {
		return nil, err
	}
	if err := usable(o, op, now(c)); err != nil {
		return nil, err
	}
	return o, nil
}

// usable is useKey's decision on an object in hand.
func usable(o *objects.Object, op kmip.Operation, t int64) error {
	if err := Allowed(op, o.State()); err != nil {
		return err
	}
	if protects(op) {
		if d, ok := o.Date(ttlv.TagProtectStopDate); ok && d <= t {
			return kmip.Errorf(kmip.ResultReasonWrongKeyLifecycleState, "the Protect Stop Date has passed: %s not permitted", op)
		}
	}
	if processes(op) {
		if d, ok := o.Date(ttlv.TagProcessStartDate); ok && t < d {
			return kmip.Errorf(kmip.ResultReasonWrongKeyLifecycleState, "the Process Start Date has not come: %s not permitted", op)
		}
	}
	m, ok := o.Int(ttlv.TagCryptographicUsageMask)
	mask := kmip.CryptographicUsageMask(uint32(m))
	if !ok || mask&kmip.CryptographicUsageMaskUnrestricted == 0 && mask&usageBit(op) == 0 {
		return kmip.Errorf(kmip.ResultReasonIncompatibleCryptographicUsageMask, "the Cryptographic Usage Mask does not permit %s", op)
	}
	return nil
}

// consumeUsage counts a use of n bytes against the object's Usage Limits,
// if it has any, and persists the new Usage Limits Count before the
// operation runs (so that concurrent requests cannot overdraw it). starts
// tells whether the request begins an operation: a single-part one or the
// first part of a multi-part one, which is what an Object unit counts;
// Byte units count every part's bytes. An operation that would exceed the
// limits fails with Permission Denied (CS-BC-M-7, in 2.0 and 2.1 alike)
// and consumes nothing.
func (s *Service) consumeUsage(c *kmip.Call, o *objects.Object, n int, starts bool) error {
	if o.Count(ttlv.TagUsageLimits) == 0 {
		return nil // the common case, without allocating
	}
	ul, ok := usageLimits(o)
	if !ok {
		return nil
	}
	if kmip.UsageLimitsUnit(ul.unit) == kmip.UsageLimitsUnitObject && !starts || n == 0 && !starts {
		return nil
	}
	return s.update(c, func(tx *store.Tx) error {
		cur, err := s.load(tx, c, o.ID, true)
		if err != nil {
			return err
		}
		ul, ok := usageLimits(cur)
		if !ok {
			return nil
		}
		left, _ := usageLeft(cur)
		need := int64(n)
		if kmip.UsageLimitsUnit(ul.unit) == kmip.UsageLimitsUnitObject {
			need = 1
		}
		if left <= 0 || need > left {
			return kmip.Errorf(kmip.ResultReasonPermissionDenied, "the Usage Limits of the key are exhausted")
		}
		if need == 0 {
			return nil
		}
		cur.Set(usageLimitsAttr(ul.total, left-need, ul.unit))
		return s.save(tx, cur)
	})
}

// keyParams returns the Cryptographic Parameters in effect: the request's,
// completed from the first instance of the key's Cryptographic Parameters
// attribute.
func keyParams(o *objects.Object, req *kmip.CryptoParams) kmip.CryptoParams {
	p := *req
	if o == nil {
		return p
	}
	for _, a := range o.Attrs {
		if a.Tag != ttlv.TagCryptographicParameters {
			continue
		}
		if it, ok := a.Item(); ok && it.Type == ttlv.TypeStructure {
			var def kmip.CryptoParams
			if def.Decode(it.Children()) == nil {
				p.Merge(&def)
			}
		}
		break
	}
	return p
}

// keyAlgorithm returns the key's Cryptographic Algorithm attribute.
func keyAlgorithm(o *objects.Object) kmip.CryptographicAlgorithm {
	v, _ := o.Enum(ttlv.TagCryptographicAlgorithm)
	return kmip.CryptographicAlgorithm(v)
}

// withMaterial unseals the object's key material into a pooled buffer,
// calls fn with it and wipes it afterwards. fn must not keep the slice.
// The operations the HSM can do with a key it holds go through
// [hsm.Cipher] instead (symOneShotHSM, macHSM); for the others a key the
// HSM holds comes out only if a client could Get it anyway (mayLeaveBackend).
func (s *Service) withMaterial(ctx context.Context, o *objects.Object, fn func(material []byte) error) error {
	if o.Blob == nil {
		return errNoPlaintext(o)
	}
	if err := s.useInGo(o); err != nil {
		return err
	}
	buf, material, err := s.openMaterial(ctx, o)
	defer releaseMaterial(buf, material)
	if err != nil {
		return err
	}
	return fn(material)
}

// heldByHSM reports whether o's key material is a key held by the HSM (a
// PKCS#11 wrapped key blob), which kmipd uses only inside the HSM.
func heldByHSM(o *objects.Object) bool {
	h, err := hsm.BlobKind(o.Blob)
	return err == nil && h.Kind == hsm.KindPKCS11Wrap
}

// errHSMCannot marks errNotInHSM, after which an operation may still run in
// Go when the key may leave the HSM (hsmFallback).
var errHSMCannot = errors.New("the HSM cannot do this operation")

// errNotInHSM refuses an operation the HSM cannot do with a key it holds.
func errNotInHSM(o *objects.Object, what string) error {
	return &kmip.Error{Reason: kmip.ResultReasonFeatureNotSupported, Err: errHSMCannot,
		Message: fmt.Sprintf("key %q is held by the HSM, which cannot do %s with it; kmipd uses an HSM key in Go only when it is Extractable and not Sensitive, and hsm.strict is off", o.ID, what)}
}

// hsmFallback reports whether, after err from the HSM path, the operation
// should run in Go instead: the HSM cannot do it, and the key may leave the
// HSM because a client could Get it anyway (and Config.HSMStrict is off).
func (s *Service) hsmFallback(o *objects.Object, err error) bool {
	return errors.Is(err, errHSMCannot) && s.mayLeaveBackend(o) == nil
}

// hsmCipher returns the backend's [hsm.Cipher], if it has one.
func (s *Service) hsmCipher() (hsm.Cipher, bool) {
	c, ok := s.cfg.Backend.(hsm.Cipher)
	return c, ok
}

// forgetKey has the backend drop what it keeps of object id's key for
// [hsm.Cipher] (unwrapped HSM key handles), once a Destroy or Revoke of the
// object has committed: a destroyed key leaves no handle in the HSM, and a
// revoked one is unwrapped again only if it is still used.
func (s *Service) forgetKey(id string) {
	if f, ok := s.cfg.Backend.(hsm.KeyForgetter); ok {
		f.ForgetKey(id)
	}
}

// hsmCryptErr turns an error of [hsm.Cipher] into a KMIP one: what the HSM
// cannot do is Feature Not Supported, data it rejects a Cryptographic
// Failure (failure says which).
func hsmCryptErr(o *objects.Object, err error, what, failure string) error {
	switch {
	case errors.Is(err, hsm.ErrNotSupported):
		return errNotInHSM(o, what)
	case errors.Is(err, hsm.ErrCryptoFailed):
		return errCrypto("%s", failure)
	}
	return err
}

// scratchPool recycles the buffers operation output is assembled in before
// it is copied into the response; they are wiped before they go back.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func getScratch() *[]byte { return scratchPool.Get().(*[]byte) }

func putScratch(b *[]byte, used []byte) {
	clear(used)
	if cap(used) <= 1<<20 {
		*b = used[:0]
		scratchPool.Put(b)
	}
}

// Error helpers.

func errBadParams(format string, a ...any) error {
	return kmip.Errorf(kmip.ResultReasonBadCryptographicParameters, format, a...)
}

func errUnsupportedParams(format string, a ...any) error {
	return kmip.Errorf(kmip.ResultReasonUnsupportedCryptographicParameters, format, a...)
}

func errCrypto(format string, a ...any) error {
	return kmip.Errorf(kmip.ResultReasonCryptographicFailure, format, a...)
}

// errMissing is a request lacking an item the operation needs (Invalid
// Message, as CS-BC-M-11..13 expect for a Decrypt without its IV).
func errMissing(format string, a ...any) error {
	return kmip.Errorf(kmip.ResultReasonInvalidMessage, format, a...)
}

// hashFor maps a Hashing Algorithm onto a Go hash. MD2, MD4, MD5 and the
// hashes Go lacks are not offered.
func hashFor(h kmip.HashingAlgorithm) (crypto.Hash, bool) {
	switch h {
	case kmip.HashingAlgorithmSHA_1:
		return crypto.SHA1, true
	case kmip.HashingAlgorithmSHA_224:
		return crypto.SHA224, true
	case kmip.HashingAlgorithmSHA_256:
		return crypto.SHA256, true
	case kmip.HashingAlgorithmSHA_384:
		return crypto.SHA384, true
	case kmip.HashingAlgorithmSHA_512:
		return crypto.SHA512, true
	case kmip.HashingAlgorithmSHA_512_224:
		return crypto.SHA512_224, true
	case kmip.HashingAlgorithmSHA_512_256:
		return crypto.SHA512_256, true
	case kmip.HashingAlgorithmSHA3_224:
		return crypto.SHA3_224, true
	case kmip.HashingAlgorithmSHA3_256:
		return crypto.SHA3_256, true
	case kmip.HashingAlgorithmSHA3_384:
		return crypto.SHA3_384, true
	case kmip.HashingAlgorithmSHA3_512:
		return crypto.SHA3_512, true
	}
	return 0, false
}

// hashParam returns the hash the parameters name, def when they name none.
func hashParam(p *kmip.CryptoParams, def crypto.Hash) (crypto.Hash, error) {
	if !p.Has(kmip.ParamHashingAlgorithm) {
		return def, nil
	}
	h, ok := hashFor(p.HashingAlgorithm)
	if !ok {
		return 0, errUnsupportedParams("hashing algorithm %s is not supported", p.HashingAlgorithm)
	}
	return h, nil
}

// randomBytes returns n random bytes for IVs and correlation values.
func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}

// Multi-part operations.
//
// A request with Init Indicator true starts a stream and gets a
// Correlation Value; requests carrying that value continue it; the one
// with Final Indicator true ends it. The state stays in memory, never on
// disk: a restart forgets it. It is bounded (maxStreams in all,
// maxStreamsPerOwner per client, maxStreamBuffer bytes buffered per stream
// and maxStreamBuffered in all) and a stream left idle for streamIdle
// expires. Only the client that started a stream may continue it, with the
// same operation; any other use is Invalid Correlation Value. A stream is
// taken out of the table while a request works on it, so two requests
// cannot use it at once, and a failed request ends it.

const (
	maxStreams         = 1024
	maxStreamsPerOwner = 64
	maxStreamBuffer    = 4 << 20
	maxStreamBuffered  = 64 << 20
	streamIdle         = 10 * time.Minute
	correlationLen     = 16
)

// stream is the state of one multi-part operation.
type stream struct {
	cv      string
	owner   string
	objID   string
	op      kmip.Operation
	expires time.Time
	held    int // bytes counted against maxStreamBuffered
	dropped bool

	params kmip.CryptoParams // deep copy (PSource)

	cipher cipherPart // Encrypt, Decrypt
	h      hash.Hash  // Hash, MAC, MAC Verify, Sign, Signature Verify
	msg    []byte     // message buffered whole (Ed25519, signatures without a hash)
	expect []byte     // MAC Data or Signature Data to verify against
	digest bool       // Sign/Verify on Digested Data
	sig    sigSetup   // Sign/Verify on Data: the scheme, decided at Init
	// mismatch: the Verify parameters name another algorithm than the
	// key's, so the signature is Invalid whatever comes.
	mismatch bool
}

// wipe forgets the stream's secrets.
func (st *stream) wipe() {
	if st.cipher != nil {
		st.cipher.wipe()
		st.cipher = nil
	}
	if st.h != nil {
		st.h.Reset()
		st.h = nil
	}
	clear(st.msg)
	st.msg = nil
}

// buffer appends p to the stream's buffered message, within the bounds.
func (t *streamTable) buffer(st *stream, dst *[]byte, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if err := t.hold(st, len(p)); err != nil {
		return err
	}
	*dst = append(*dst, p...)
	return nil
}

type streamTable struct {
	mu        sync.Mutex
	m         map[string]*stream
	owners    map[string]int
	buffered  int
	lastSweep time.Time
}

// streamTables holds each Service's streams (the Service struct is shared
// with other operations; this keeps the crypto state to this file).
var streamTables sync.Map // *Service → *streamTable

func (s *Service) streams() *streamTable {
	if t, ok := streamTables.Load(s); ok {
		return t.(*streamTable)
	}
	t, _ := streamTables.LoadOrStore(s, &streamTable{m: make(map[string]*stream), owners: make(map[string]int)})
	return t.(*streamTable)
}

// open registers a new stream and gives it a Correlation Value.
func (t *streamTable) open(st *stream, now time.Time) error {
	cv, err := randomBytes(correlationLen)
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(now, false)
	if len(t.m) >= maxStreams {
		t.sweepLocked(now, true)
	}
	if len(t.m) >= maxStreams || t.owners[st.owner] >= maxStreamsPerOwner {
		return kmip.Errorf(kmip.ResultReasonServerLimitExceeded, "too many multi-part operations in progress")
	}
	st.cv = string(cv)
	st.expires = now.Add(streamIdle)
	t.m[st.cv] = st
	t.owners[st.owner]++
	return nil
}

// take removes the stream cv from the table for the request to work on,
// if it belongs to owner and op and has not expired.
func (t *streamTable) take(cv []byte, owner string, op kmip.Operation, now time.Time) (*stream, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.m[string(cv)]
	if !ok || st.owner != owner || st.op != op {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidCorrelationValue, "unknown Correlation Value")
	}
	delete(t.m, st.cv)
	if now.After(st.expires) {
		t.dropLocked(st)
		return nil, kmip.Errorf(kmip.ResultReasonInvalidCorrelationValue, "the multi-part operation expired")
	}
	return st, nil
}

// keep puts a stream back after a request that did not end it.
func (t *streamTable) keep(st *stream, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st.expires = now.Add(streamIdle)
	t.m[st.cv] = st
}

// end forgets a stream taken or opened.
func (t *streamTable) end(st *stream) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, st.cv)
	t.dropLocked(st)
}

func (t *streamTable) dropLocked(st *stream) {
	if !st.dropped {
		if t.owners[st.owner]--; t.owners[st.owner] <= 0 {
			delete(t.owners, st.owner)
		}
		t.buffered -= st.held
		st.held = 0
		st.dropped = true
	}
	st.wipe()
}

// hold counts n more buffered bytes for st.
func (t *streamTable) hold(st *stream, n int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st.held+n > maxStreamBuffer || t.buffered+n > maxStreamBuffered {
		return kmip.Errorf(kmip.ResultReasonServerLimitExceeded, "multi-part operation too large to buffer")
	}
	st.held += n
	t.buffered += n
	return nil
}

// sweepLocked drops expired streams, at most once a second unless forced.
func (t *streamTable) sweepLocked(now time.Time, force bool) {
	if !force && now.Sub(t.lastSweep) < time.Second {
		return
	}
	t.lastSweep = now
	for cv, st := range t.m {
		if now.After(st.expires) {
			delete(t.m, cv)
			t.dropLocked(st)
		}
	}
}

// streamStep is the bookkeeping of one request of a multi-part operation:
// it finds (or, on Init, creates) the stream, and after the operation's
// work either keeps it and writes the Correlation Value, or ends it.
type streamStep struct {
	t   *streamTable
	st  *stream
	now time.Time
}

// beginStream starts or resumes the stream of req for op on object objID
// ("" for Hash). For a new stream init is called to set it up.
func (s *Service) beginStream(c *kmip.Call, req *kmip.CryptoRequest, op kmip.Operation, objID string, init func(st *stream) error) (*streamStep, error) {
	t := s.streams()
	step := &streamStep{t: t, now: c.Now}
	if req.Init {
		if req.CorrelationValue != nil {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "Init Indicator with a Correlation Value")
		}
		st := &stream{owner: c.Identity.Name, objID: objID, op: op}
		if err := init(st); err != nil {
			st.wipe()
			return nil, err
		}
		if err := t.open(st, c.Now); err != nil {
			st.wipe()
			return nil, err
		}
		step.st = st
		return step, nil
	}
	st, err := t.take(req.CorrelationValue, c.Identity.Name, op, c.Now)
	if err != nil {
		return nil, err
	}
	step.st = st
	return step, nil
}

// finish ends the stream when the request failed or was the final one, and
// otherwise keeps it and writes the Correlation Value.
func (step *streamStep) finish(w *ttlv.Builder, final bool, err error) {
	if err != nil || final {
		step.t.end(step.st)
		return
	}
	step.t.keep(step.st, step.now)
	w.AddBytes(ttlv.TagCorrelationValue, []byte(step.st.cv))
}

// resumeStream continues a multi-part operation: the stream of the
// request's Correlation Value and its key (streamObject). A failure to
// find the key ends the stream.
func (s *Service) resumeStream(c *kmip.Call, w *ttlv.Builder, req *kmip.CryptoRequest, op kmip.Operation) (*streamStep, *objects.Object, error) {
	step, err := s.beginStream(c, req, op, "", nil)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.streamObject(c, req, step.st, op)
	if err != nil {
		step.finish(w, true, err)
		return nil, nil, err
	}
	return step, o, nil
}

// streamObject resolves the object of a continued stream: the request may
// name it again, but not another one.
func (s *Service) streamObject(c *kmip.Call, req *kmip.CryptoRequest, st *stream, op kmip.Operation) (*objects.Object, error) {
	u := kmip.UniqueID{Text: []byte(st.objID), Kind: kmip.UniqueIDText}
	if req.UniqueID.Kind != kmip.UniqueIDAbsent {
		id, err := resolveID(c, req.UniqueID)
		if err != nil {
			return nil, err
		}
		if id != st.objID {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidCorrelationValue, "the Correlation Value belongs to another object")
		}
	}
	return s.useKey(c, u, op)
}

// cloneParams deep-copies parameters that outlive a request.
func cloneParams(p kmip.CryptoParams) kmip.CryptoParams {
	p.PSource = bytes.Clone(p.PSource)
	return p
}
