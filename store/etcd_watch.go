package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Change notification. One watch per DB follows the objects bucket from
// the revision after the DB opened; every change is passed to the OnChange
// hooks. Fence tells a caller when every write committed before it has been
// passed on, so a node can trust a cache kept by the hooks.
//
// The watch covers the keys from <prefix>objects/ to <prefix>sys/clock, so
// it sees the clock, which every commit moves in the same etcd transaction
// as its objects. Fence reads the clock's ModRevision M linearizably and
// waits for the watch to deliver the clock's event at M: events come in
// revision order, so every object change committed up to M has then been
// passed on. This needs no progress notification: etcd before 3.4.24 and
// 3.5.8 answers a progress request with its current revision even while a
// resumed watch is still catching up, which was seen here to end a Fence
// before the changes it waited for.

type watchState struct {
	hmu   sync.Mutex // serializes hook calls and guards hooks
	hooks []func(ids []string, all bool)

	mu      sync.Mutex // guards the fields below
	seen    int64      // every objects change up to this revision has been delivered
	waiters []*fenceWaiter

	fmu      sync.Mutex // guards the coalesced revision reads of Fence
	reading  *coalesced
	readingQ *coalesced
}

type fenceWaiter struct {
	rev  int64
	done chan struct{}
}

// OnChange registers f to be called with the IDs of the objects that
// writers on any node changed (created, replaced, deleted), or with all
// true when the changes could not be followed (the watch was cancelled or
// its revision compacted): then every object may have changed. Calls are
// serialized; f must be quick and must not use the DB. Changes by this DB
// are passed once on commit and again when the watch sees them. On bbolt
// every write is this DB's own, which Tx.OnCommit already covers, and the
// hooks are never called.
func (db *DB) OnChange(f func(ids []string, all bool)) {
	if db.etcd == nil {
		return
	}
	w := &db.etcd.watch
	w.hmu.Lock()
	w.hooks = append(w.hooks, f)
	w.hmu.Unlock()
}

// notify calls the hooks.
func (w *watchState) notify(ids []string, all bool) {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	for _, f := range w.hooks {
		f(ids, all)
	}
}

// Fence returns once every write committed anywhere before the call has
// been passed to this DB's OnChange hooks. On bbolt, where writes commit in
// this process and call the hooks before Update returns, it returns nil at
// once. On etcd it reads the clock linearizably (callers arriving together
// share one read that started after they arrived) and waits until the
// watch has delivered the clock's last move; it fails if ctx ends first or
// etcd has no quorum.
func (db *DB) Fence(ctx context.Context) error {
	if db.etcd == nil {
		return nil
	}
	return db.etcd.fence(ctx)
}

func (e *etcdEngine) fence(ctx context.Context) error {
	r, err := e.currentRev(ctx)
	if err != nil {
		return err
	}
	rev := r.mod
	w := &e.watch
	w.mu.Lock()
	if w.seen >= rev {
		w.mu.Unlock()
		return nil
	}
	fw := &fenceWaiter{rev: rev, done: make(chan struct{})}
	w.waiters = append(w.waiters, fw)
	w.mu.Unlock()
	select {
	case <-fw.done:
		return nil
	case <-ctx.Done():
		w.drop(fw)
		return fmt.Errorf("store: fence at revision %d: %w", rev, ctx.Err())
	case <-e.ctx.Done():
		return ErrClosed
	}
}

// drop forgets a waiter that gave up.
func (w *watchState) drop(fw *fenceWaiter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i := slices.Index(w.waiters, fw); i >= 0 {
		w.waiters = slices.Delete(w.waiters, i, i+1)
	}
}

// currentRev reads etcd's current revision and the clock's ModRevision
// linearizably. Concurrent callers share a read; one arriving while a read
// is in flight waits for the next, which starts after it arrived.
func (e *etcdEngine) currentRev(ctx context.Context) (*coalesced, error) {
	w := &e.watch
	w.fmu.Lock()
	var c *coalesced
	lead := false
	switch {
	case w.reading == nil:
		c = &coalesced{done: make(chan struct{})}
		w.reading, lead = c, true
	case w.readingQ == nil:
		c = &coalesced{done: make(chan struct{})}
		w.readingQ = c
	default:
		c = w.readingQ
	}
	w.fmu.Unlock()
	if lead {
		go e.runRevReads(c)
	}
	select {
	case <-c.done:
		return c, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e *etcdEngine) runRevReads(c *coalesced) {
	w := &e.watch
	for c != nil {
		rctx, cancel := e.reqCtx(e.ctx)
		resp, err := e.cli.Get(rctx, e.clockKey)
		cancel()
		if err != nil {
			c.err = fmt.Errorf("store: etcd %v: current revision: %w", e.opts.Endpoints, err)
		} else {
			c.rev = resp.Header.Revision
			if len(resp.Kvs) > 0 {
				c.mod = resp.Kvs[0].ModRevision
			}
		}
		close(c.done)
		w.fmu.Lock()
		c, w.readingQ = w.readingQ, nil
		w.reading = c
		w.fmu.Unlock()
	}
}

// advance records that every change up to rev has been delivered and
// releases the fences waiting for it.
func (w *watchState) advance(rev int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if rev <= w.seen {
		return
	}
	w.seen = rev
	kept := w.waiters[:0]
	for _, fw := range w.waiters {
		if fw.rev <= rev {
			close(fw.done)
		} else {
			kept = append(kept, fw)
		}
	}
	clear(w.waiters[len(kept):])
	w.waiters = kept
}

// committed passes a local commit at rev to the hooks at once.
func (e *etcdEngine) committed(rev int64, t *etcdTx) {
	ids, all := t.changedObjects()
	if len(ids) > 0 || all {
		e.watch.notify(ids, all)
	}
}

// startWatch starts the watch from the current revision + 1.
func (e *etcdEngine) startWatch(ctx context.Context, db *DB) error {
	r, err := e.currentRev(ctx)
	if err != nil {
		return err
	}
	e.watch.advance(r.rev)
	e.wg.Add(1)
	go e.watchLoop(r.rev + 1)
	return nil
}

// watchLoop follows the objects bucket and the clock from rev until
// Close. It requires a leader: a watch on a member cut off from the quorum
// would otherwise stay silent.
func (e *etcdEngine) watchLoop(rev int64) {
	defer e.wg.Done()
	objects := e.prefix + string(bucketNames[bObjects]) + "/"
	for e.ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(e.ctx))
		wch := e.cli.Watch(wctx, objects, clientv3.WithRange(e.clockKey+"\x00"), clientv3.WithRev(rev))
		lost := false
		for resp := range wch {
			if err := resp.Err(); err != nil || resp.Canceled {
				lost = errors.Is(err, rpctypes.ErrCompacted) || resp.CompactRevision != 0
				break
			}
			var ids []string
			last := int64(0)
			for _, ev := range resp.Events {
				if k := ev.Kv.Key; len(k) > len(objects) && string(k[:len(objects)]) == objects {
					ids = append(ids, string(k[len(objects):]))
				}
				last = max(last, ev.Kv.ModRevision)
			}
			if len(ids) > 0 {
				e.watch.notify(ids, false)
			}
			if last > 0 {
				rev = last + 1
				e.watch.advance(last)
			}
		}
		cancel()
		if e.ctx.Err() != nil {
			return
		}
		if lost {
			// Changes were compacted away before they were seen: tell the
			// hooks everything may have changed and go on from now.
			for e.ctx.Err() == nil {
				cur, err := e.currentRev(e.ctx)
				if err == nil {
					e.watch.notify(nil, true)
					e.watch.advance(cur.rev)
					rev = cur.rev + 1
					break
				}
				time.Sleep(e.opts.RequestTimeout / 4)
			}
			continue
		}
		// Cancelled (no leader, member gone): resume where it stopped.
		select {
		case <-e.ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
