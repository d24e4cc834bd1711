package store

import (
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Group commit. A durable write costs an fsync, a millisecond or more on
// ordinary disks, so one write per fsync caps a server at about a thousand
// writes a second whatever its CPU. UpdateGrouped lets concurrent writers
// share one: the first writer to arrive commits at once with whatever is
// queued, writers that arrive while it is syncing queue up and are
// committed together by the next leader. There is no timer: a lone writer
// waits for nothing (bbolt's own Batch waits 10 ms by default, which made it
// slower than plain Update when measured here).
//
// The price: a function may run more than once. When one function of a
// group fails, the group's transaction is rolled back, the failing function
// is run again alone (its error is then final) and the others again
// together. So the function must have no effect outside the transaction
// that a second run would repeat harmfully.

type groupCall struct {
	ctx  context.Context
	fn   func(*Tx) error
	err  error
	done chan struct{} // closed when err is final
	lead chan struct{} // closed when this caller is to lead the next group
}

type groupState struct {
	queue   []*groupCall
	leading bool
}

// UpdateGrouped is Update with group commit; see above for what fn may do.
// When it returns nil, fn's writes are committed and synced.
func (db *DB) UpdateGrouped(fn func(*Tx) error) error {
	return db.UpdateGroupedContext(context.Background(), fn)
}

// UpdateGroupedContext is UpdateGrouped with a context: a writer still
// queued when ctx is done leaves the queue and returns ctx's error, having
// written nothing; one whose group has begun waits for its outcome, so an
// error never hides a commit. fn finds ctx in Tx.Context.
func (db *DB) UpdateGroupedContext(ctx context.Context, fn func(*Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.writable(); err != nil {
		return err
	}
	c := &groupCall{ctx: ctx, fn: fn, done: make(chan struct{}), lead: make(chan struct{})}
	db.gmu.Lock()
	db.group.queue = append(db.group.queue, c)
	lead := !db.group.leading
	if lead {
		db.group.leading = true
	}
	db.gmu.Unlock()
	if !lead {
		select {
		case <-c.done:
			return db.finishGrouped(c)
		case <-c.lead:
		case <-ctx.Done():
			if db.withdraw(c) {
				return ctx.Err()
			}
			// A leader took it (or is handing over to it): wait for it.
			select {
			case <-c.done:
				return db.finishGrouped(c)
			case <-c.lead:
			}
		}
	}
	// Lead: commit everything queued so far (this call included, unless an
	// earlier leader already committed it).
	db.gmu.Lock()
	batch := db.group.queue
	db.group.queue = nil
	if m := db.groupMax(); m > 0 && len(batch) > m {
		// The rest stay queued for the next leader, in order.
		db.group.queue, batch = batch[m:], batch[:m:m]
	}
	db.gmu.Unlock()
	db.commitGroup(batch)
	// Hand over to the first writer that queued meanwhile, if any.
	db.gmu.Lock()
	if len(db.group.queue) > 0 {
		close(db.group.queue[0].lead)
	} else {
		db.group.leading = false
	}
	db.gmu.Unlock()
	<-c.done
	return db.finishGrouped(c)
}

// withdraw removes c from the queue if no leader has taken it yet.
func (db *DB) withdraw(c *groupCall) bool {
	db.gmu.Lock()
	defer db.gmu.Unlock()
	for i, q := range db.group.queue {
		if q == c {
			if i == 0 {
				select {
				case <-c.lead:
					return false // handed the lead: it must lead
				default:
				}
			}
			db.group.queue = append(db.group.queue[:i], db.group.queue[i+1:]...)
			return true
		}
	}
	return false
}

func (db *DB) finishGrouped(c *groupCall) error { return c.err }

// groupMax is the most functions one group commits: unlimited on bbolt.
func (db *DB) groupMax() int {
	if db.etcd != nil {
		return db.etcd.opts.GroupMax
	}
	return 0
}

// errGroupMember marks which function of a group failed.
type errGroupMember struct{ i int }

func (e *errGroupMember) Error() string { return fmt.Sprintf("store: group member %d failed", e.i) }

// commitGroup commits batch in one transaction, isolating failures, and
// closes every call's done.
func (db *DB) commitGroup(batch []*groupCall) {
	for len(batch) > 0 {
		txs := make([]*Tx, len(batch))
		ran := false
		err := db.write(groupContext(batch), func(kv kvTx, btx *bolt.Tx) error {
			ran = false
			for i, c := range batch {
				txs[i] = db.newTx(kv, btx, c.ctx)
				c.err = runGuarded(c.fn, txs[i])
				txs[i].end()
				if c.err != nil {
					return &errGroupMember{i}
				}
			}
			for _, tx := range txs {
				if len(tx.sealed)+len(tx.released) > 0 {
					if err := tx.prepare(); err != nil {
						return err
					}
					break // one prepare covers the group
				}
			}
			ran = true
			return nil
		})
		if len(batch) > 1 && errors.Is(err, errTooBig) {
			// Too much for one etcd transaction: commit the members one by one.
			for _, c := range batch {
				db.commitGroup([]*groupCall{c})
			}
			return
		}
		if ran {
			db.noteCommit(err)
		}
		if serr := settleAll(db.keeper(), txs, err == nil); err == nil {
			err = serr
		}
		var member *errGroupMember
		if !errors.As(err, &member) {
			// Committed (err nil) or the commit itself failed: final for all.
			for _, c := range batch {
				c.err = err
				close(c.done)
			}
			return
		}
		// Run the failing function alone: its result is final.
		bad := batch[member.i]
		var tx *Tx
		ran = false
		bad.err = db.write(bad.ctx, func(kv kvTx, btx *bolt.Tx) error {
			tx = db.newTx(kv, btx, bad.ctx)
			defer tx.end()
			err := runGuarded(bad.fn, tx)
			if err == nil {
				err = tx.prepare()
			}
			ran = err == nil
			return err
		})
		if ran {
			db.noteCommit(bad.err)
		}
		if serr := settleAll(db.keeper(), []*Tx{tx}, bad.err == nil); bad.err == nil {
			bad.err = serr
		}
		close(bad.done)
		batch = append(batch[:member.i:member.i], batch[member.i+1:]...)
	}
}

// groupContext is the context a group's commit runs under: the first
// member's, which is started (a member whose context ends once its group
// has begun waits for the outcome, see UpdateGroupedContext).
func groupContext(batch []*groupCall) context.Context {
	return context.WithoutCancel(batch[0].ctx)
}

// runGuarded runs fn, turning a panic into an error so that one bad
// function cannot strand the other writers of its group.
func runGuarded(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: panic in update: %v", p)
		}
	}()
	return fn(tx)
}
