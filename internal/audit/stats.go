package audit

import (
	"fmt"
	"sync"
)

// Lag reports the records written but not yet synced to disk, and the
// records lost since the last one that was written (metrics: audit lag).
func (t *Trail) Lag() (unsynced uint64, lost int) {
	written := t.written.Load()
	t.smu.Lock()
	synced := t.synced
	t.smu.Unlock()
	t.mu.Lock()
	lost = t.lost
	t.mu.Unlock()
	if written > synced {
		unsynced = written - synced
	}
	return unsynced, lost
}

// SinkStats reports each sink's counters, in the order of Options.Sinks.
func (t *Trail) SinkStats() []SinkStats {
	if t == nil {
		return nil
	}
	out := make([]SinkStats, len(t.sinks))
	for i, s := range t.sinks {
		out[i] = s.stat()
	}
	return out
}

// streamed reports, for a fail-closed record, whether every sink has sent
// it: missed says a sink did not even queue it.
func (t *Trail) streamed(seq uint64, missed bool) error {
	if missed {
		return fmt.Errorf("%w: a sink's queue is full", ErrSink)
	}
	for _, s := range t.sinks {
		if err := s.wait(seq); err != nil {
			return err
		}
	}
	return nil
}

// closeSinks sends what the sinks hold (each within its Timeout) and stops
// them.
func (t *Trail) closeSinks() {
	var wg sync.WaitGroup
	for _, s := range t.sinks {
		wg.Add(1)
		go func() { defer wg.Done(); s.close() }()
	}
	wg.Wait()
}

// RingStats describes the write-ahead ring (metrics).
type RingStats struct {
	Pending   uint64 // bytes put and not yet in the trail file
	Size      uint64 // the ring's size
	Waits     uint64 // lines that waited for room
	FileError bool   // the last write of the ring to the file failed
}

// Ring reports the write-ahead ring's state.
func (t *Trail) Ring() RingStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w == nil || t.closed {
		return RingStats{}
	}
	return RingStats{Pending: t.w.head - t.w.tail, Size: t.w.size, Waits: t.ringWaits, FileError: t.flushErr != nil}
}
