package audit

import (
	"errors"
	"fmt"
)

// durable waits, with SyncAlways, until seq is on stable storage.
func (t *Trail) durable(seq uint64) error {
	if t.opts.Sync != SyncAlways {
		return nil
	}
	return t.syncTo(seq)
}

// syncTo writes the ring to the file and fsyncs it, until every line up to
// seq is durable. One caller does so at a time, for every line put so far;
// the others wait for it.
func (t *Trail) syncTo(seq uint64) error {
	t.smu.Lock()
	defer t.smu.Unlock()
	for t.synced < seq {
		if b := t.broken.Load(); b != nil {
			return errors.New(*b)
		}
		if t.syncing {
			t.scond.Wait()
			continue
		}
		t.syncing = true
		t.smu.Unlock()
		target, hash, f, err := t.flush()
		if err == nil {
			err = f.Sync()
			if err != nil {
				// After a failed fsync the kernel may have dropped the pages:
				// nothing written can be trusted to be there.
				t.setBroken(fmt.Errorf("audit: fsync %s: %w (restart kmipd once the storage is fixed)", t.opts.Path, err))
			}
		}
		t.smu.Lock()
		t.syncing = false
		if err == nil && target > t.synced {
			t.synced, t.syncedHash = target, hash
		}
		t.scond.Broadcast()
		if err != nil {
			return err
		}
	}
	return nil
}

// anchorDurable moves the anchor to the last durable record. Only what is
// on disk is anchored, so a power cut cannot leave the trail shorter than
// its anchor.
func (t *Trail) anchorDurable() error {
	t.smu.Lock()
	seq, hash := t.synced, t.syncedHash
	t.smu.Unlock()
	t.amu.Lock()
	defer t.amu.Unlock()
	if seq <= t.anchored {
		return nil
	}
	if err := writeAnchor(t.opts.AnchorPath, t.key, &Anchor{Seq: seq, Hash: hash, Time: t.now()}); err != nil {
		return err
	}
	t.anchored = seq
	return nil
}

func (t *Trail) anchorLogged() {
	if err := t.anchorDurable(); err != nil {
		t.mu.Lock()
		t.logFailure(err)
		t.mu.Unlock()
	}
}
