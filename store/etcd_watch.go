package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Change notification. One watch per DB follows the objects bucket from
// the revision after the DB opened; every change is passed to the OnChange
// hooks. Fence tells a caller when every write committed before it has been
// passed on, so a node can trust a cache kept by the hooks.

// fenceProgressEvery is how often a waiting Fence asks etcd for a progress
// notification while no event arrives.
const fenceProgressEvery = 50 * time.Millisecond

type watchState struct {
	hmu   sync.Mutex // serializes hook calls and guards hooks
	hooks []func(ids []string, all bool)

	mu      sync.Mutex // guards the fields below
	seen    int64      // every objects change up to this revision has been delivered
	waiters []*fenceWaiter
	wctx    context.Context // the watch's context, for RequestProgress

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
// once. On etcd it reads the current revision linearizably (callers
// arriving together share one read that started after they arrived) and
// waits until the watch has passed it; it fails if ctx ends first or etcd
// has no quorum.
func (db *DB) Fence(ctx context.Context) error {
	if db.etcd == nil {
		return nil
	}
	return db.etcd.fence(ctx)
}

func (e *etcdEngine) fence(ctx context.Context) error {
	rev, err := e.currentRev(ctx)
	if err != nil {
		return err
	}
	w := &e.watch
	w.mu.Lock()
	if w.seen >= rev {
		w.mu.Unlock()
		return nil
	}
	fw := &fenceWaiter{rev: rev, done: make(chan struct{})}
	w.waiters = append(w.waiters, fw)
	wctx := w.wctx
	w.mu.Unlock()
	t := time.NewTicker(fenceProgressEvery)
	defer t.Stop()
	for {
		if wctx != nil {
			_ = e.cli.RequestProgress(wctx)
		}
		select {
		case <-fw.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("store: fence at revision %d: %w", rev, ctx.Err())
		case <-e.ctx.Done():
			return ErrClosed
		case <-t.C:
			w.mu.Lock()
			wctx = w.wctx
			w.mu.Unlock()
		}
	}
}

// currentRev reads etcd's current revision linearizably. Concurrent
// callers share a read; one arriving while a read is in flight waits for
// the next, which starts after it arrived.
func (e *etcdEngine) currentRev(ctx context.Context) (int64, error) {
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
		return c.rev, c.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (e *etcdEngine) runRevReads(c *coalesced) {
	w := &e.watch
	for c != nil {
		rctx, cancel := e.reqCtx(e.ctx)
		resp, err := e.cli.Get(rctx, e.clockKey, clientv3.WithCountOnly())
		cancel()
		if err != nil {
			c.err = fmt.Errorf("store: etcd %v: current revision: %w", e.opts.Endpoints, err)
		} else {
			c.rev = resp.Header.Revision
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
	rev, err := e.currentRev(ctx)
	if err != nil {
		return err
	}
	e.watch.advance(rev)
	e.wg.Add(1)
	go e.watchLoop(rev + 1)
	return nil
}

// watchLoop follows the objects bucket from rev until Close. It requires a
// leader (a watch on a member cut off from the quorum would otherwise stay
// silent) and asks for progress notifications, which Fence relies on.
func (e *etcdEngine) watchLoop(rev int64) {
	defer e.wg.Done()
	objects := e.prefix + string(bucketNames[bObjects]) + "/"
	for e.ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(e.ctx))
		e.watch.mu.Lock()
		e.watch.wctx = wctx
		e.watch.mu.Unlock()
		wch := e.cli.Watch(wctx, objects, clientv3.WithPrefix(), clientv3.WithRev(rev),
			clientv3.WithProgressNotify())
		lost := false
		for resp := range wch {
			if err := resp.Err(); err != nil || resp.Canceled {
				lost = errors.Is(err, rpctypes.ErrCompacted) || resp.CompactRevision != 0
				break
			}
			if resp.IsProgressNotify() {
				e.watch.advance(resp.Header.Revision)
				continue
			}
			ids := make([]string, 0, len(resp.Events))
			last := int64(0)
			for _, ev := range resp.Events {
				ids = append(ids, string(ev.Kv.Key[len(objects):]))
				last = max(last, ev.Kv.ModRevision)
			}
			if len(ids) > 0 {
				e.watch.notify(ids, false)
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
					e.watch.advance(cur)
					rev = cur + 1
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
