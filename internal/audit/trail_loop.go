package audit

import (
	"time"
)

// postQueue bounds the records Posted and not yet written.
const postQueue = 1024

// Post queues r to be written by the trail's goroutine, for callers that
// must not wait for a write (the server's connection goroutines). It
// reports false, and writes nothing, when the queue is full or the trail
// is closing; the caller counts what it could not record.
func (t *Trail) Post(r *Record) bool {
	if r.Time.IsZero() {
		r.Time = t.now()
	}
	t.pmu.Lock()
	defer t.pmu.Unlock()
	if !t.posting {
		return false
	}
	select {
	case t.queue <- r:
		return true
	default:
		return false
	}
}

// OnClose registers fn to run at the start of Close, while Post still
// works: a caller's last summary reaches the trail before the shutdown
// checkpoint.
func (t *Trail) OnClose(fn func()) {
	t.pmu.Lock()
	t.onClose = append(t.onClose, fn)
	t.pmu.Unlock()
}

// checkpointSyncGap is the least time between two syncs the loop makes
// for checkpoints: at thousands of operations a second a checkpoint comes
// every few milliseconds, and the ones in between share a sync.
const checkpointSyncGap = 100 * time.Millisecond

// loop syncs (SyncInterval, and after checkpoints), writes periodic
// checkpoints, Posted records and the anchor.
func (t *Trail) loop() {
	defer close(t.done)
	var syncC, cpC, anchorC <-chan time.Time
	var lastKick time.Time
	kickLater := time.NewTimer(time.Hour)
	kickLater.Stop()
	defer kickLater.Stop()
	kickPending := false
	if t.opts.AnchorPeriod > 0 {
		tk := time.NewTicker(t.opts.AnchorPeriod)
		defer tk.Stop()
		anchorC = tk.C
	}
	if t.opts.Sync == SyncInterval {
		tk := time.NewTicker(t.opts.SyncInterval)
		defer tk.Stop()
		syncC = tk.C
	}
	if t.opts.CheckpointPeriod > 0 {
		tk := time.NewTicker(t.opts.CheckpointPeriod)
		defer tk.Stop()
		cpC = tk.C
	}
	for {
		select {
		case <-t.stop:
			return
		case <-syncC:
			t.syncTo(t.written.Load())
		case <-t.kick:
			if wait := checkpointSyncGap - time.Since(lastKick); wait > 0 {
				if !kickPending {
					kickPending = true
					kickLater.Reset(wait)
				}
				continue
			}
			lastKick = time.Now()
			t.syncTo(t.written.Load())
			t.anchorLogged()
		case <-kickLater.C:
			kickPending = false
			lastKick = time.Now()
			t.syncTo(t.written.Load())
			t.anchorLogged()
		case <-anchorC:
			t.anchorLogged()
		case r := <-t.queue:
			t.append(r, false)
		case <-cpC:
			t.mu.Lock()
			if t.sinceCheckpoint > 0 && !t.closed && t.readyLocked() == nil {
				if _, err := t.checkpointLocked(EventPeriodic, ""); err != nil {
					t.logFailure(err)
				}
			}
			t.mu.Unlock()
			t.syncTo(t.written.Load())
		}
	}
}
