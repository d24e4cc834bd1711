package audit

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
