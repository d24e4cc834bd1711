package store

import (
	"context"
	"fmt"
	"sync"

	"go.etcd.io/etcd/client/v3/concurrency"
)

// Writers of several nodes take turns through an etcd lock once they have
// lost a race. A write first runs optimistically: it commits only if no one
// committed since its snapshot (the clock compare), which costs nothing
// extra when one node writes. When two nodes write at once, each commit
// invalidates the snapshots the other is working on, and a writer could
// lose race after race. So after its first conflict a writer queues on an
// etcd mutex (revision-ordered, held through a lease that dies with its
// node) and retries holding it, at once and more often: it then races only
// the first attempts of others, each of which commits something, and every
// writer that lost once waits behind it. The clock compare still decides
// every commit; the lock only stops writers from wasting each other's work.
type writerLock struct {
	mu   sync.Mutex // guards sess
	sess *concurrency.Session
	// turn is held by the one writer of this node in the queue: the etcd
	// mutex is keyed by the session's lease, so two writers of one node
	// would share one key and both believe they hold it.
	turn chan struct{}
}

// lockWriters takes the writers' lock and returns its release.
func (e *etcdEngine) lockWriters(ctx context.Context) (func(), error) {
	// Waiting for the lock is bounded like the retries it replaces: by
	// the caller's context and a multiple of the request timeout.
	lctx, cancel := context.WithTimeout(ctx, 4*e.opts.RequestTimeout)
	defer cancel()
	select {
	case e.wlock.turn <- struct{}{}:
	case <-lctx.Done():
		return nil, fmt.Errorf("store: etcd writers' lock: %w", lctx.Err())
	}
	release := func() { <-e.wlock.turn }
	s, err := e.writerSession()
	if err != nil {
		release()
		return nil, err
	}
	m := concurrency.NewMutex(s, e.writersKey())
	if err := m.Lock(lctx); err != nil {
		release()
		return nil, fmt.Errorf("store: etcd writers' lock: %w", err)
	}
	return func() {
		uctx, cancel := e.reqCtx(context.WithoutCancel(ctx))
		defer cancel()
		// A failed unlock leaves the key to the session's lease: the next
		// writer waits at most the lease's TTL.
		_ = m.Unlock(uctx)
		release()
	}, nil
}

// writerSession returns the lease-held session of the writers' lock,
// starting a new one if the last has expired (its node lost etcd for
// longer than the TTL).
func (e *etcdEngine) writerSession() (*concurrency.Session, error) {
	w := &e.wlock
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sess != nil {
		select {
		case <-w.sess.Done():
			w.sess = nil
		default:
			return w.sess, nil
		}
	}
	ttl := int(2 * e.opts.MarkerTTL.Seconds())
	s, err := concurrency.NewSession(e.cli, concurrency.WithTTL(max(ttl, 5)), concurrency.WithContext(e.ctx))
	if err != nil {
		return nil, fmt.Errorf("store: etcd session: %w", err)
	}
	w.sess = s
	return s, nil
}

func (w *writerLock) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sess != nil {
		_ = w.sess.Close()
		w.sess = nil
	}
}

// writersKey is the prefix of the writers' lock keys.
func (e *etcdEngine) writersKey() string { return e.prefix + "writers" }
