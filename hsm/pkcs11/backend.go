//go:build cgo

package pkcs11

import (
	"context"
	"fmt"
	"sync"
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
	_ hsm.KeyForgetter     = (*Backend)(nil)
	_ hsm.StatsReporter    = (*Backend)(nil)
)

const sessionFlags = pkcs11.CKF_SERIAL_SESSION | pkcs11.CKF_RW_SESSION

var errClosed = fmt.Errorf("%w: PKCS#11 backend is closed", hsm.ErrUnavailable)

// Backend is the PKCS#11 backend. It is safe for concurrent use.
type Backend struct {
	m        *module
	token    string
	pin      string
	kekLabel string
	poolWait time.Duration // Options.PoolWait

	// waits and errs count pool waits and failed PKCS#11 calls (Stats).
	waits, errs atomic.Uint64

	// sem bounds the sessions in use; idle holds open sessions not in use.
	sem  chan struct{}
	idle chan *session
	stop chan struct{} // closed by Close: ends the health monitor

	// The key cache (keycache.go): at most keyCacheMax keys per session
	// (0: off), its counters, and how many cached handles each object
	// identifier has in all sessions (guarded by cmu), so that ForgetKey
	// of an object with none costs no lock of the module.
	keyCacheMax             int
	hits, misses, evictions atomic.Uint64
	handles                 atomic.Int64
	cmu                     sync.Mutex
	cachedIDs               map[string]int

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
		poolWait: opts.PoolWait,
		current:  opts.KEKVersion,
		sem:      make(chan struct{}, opts.PoolSize),
		idle:     make(chan *session, opts.PoolSize),

		keyCacheMax: opts.KeyCache,
		cachedIDs:   map[string]int{},
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

// Name returns "pkcs11".
func (b *Backend) Name() string { return hsm.KindPKCS11.String() }

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
	b.forgetAll("") // closing the sessions would destroy them too; do not rely on it
	b.disconnect()
	if b.stop != nil {
		close(b.stop)
	}
	return nil
}

// Stats returns how often a caller had to wait for a free session, how
// many PKCS#11 calls failed, and the key cache's counters, since the
// backend was opened (for metrics).
func (b *Backend) Stats() hsm.Stats {
	return hsm.Stats{
		PoolWaits: b.waits.Load(), Errors: b.errs.Load(),
		KeyCacheHits: b.hits.Load(), KeyCacheMisses: b.misses.Load(), KeyCacheEvictions: b.evictions.Load(),
		KeyCacheHandles: uint64(max(b.handles.Load(), 0)),
	}
}
