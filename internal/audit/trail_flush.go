package audit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// flushDelay is how long the flusher lets lines gather in the ring after
// the first one before it writes them to the trail file: a few hundred
// writes a second at most, whatever the load.
const flushDelay = 2 * time.Millisecond

// flushRetryMax bounds the pause between attempts to write the ring to a
// trail file that cannot be written.
const flushRetryMax = time.Second

// settle is what follows a line put into the ring by an operation: the
// flusher is woken if it sleeps, and with SyncAlways the line is made
// durable. Fail-closed, or where the ring is not memory-mapped (it would
// not survive a crash), the line is written to the file at once, and an
// error says it is not there yet (it is when the file can be written
// again: the caller supersedes it).
func (t *Trail) settle(seq uint64) error {
	if t.opts.FailClosed || !t.w.mapped {
		if _, _, _, err := t.flush(); err != nil {
			return err
		}
	} else if t.fidle.Load() && t.fidle.CompareAndSwap(true, false) {
		select {
		case t.fkick <- struct{}{}:
		default:
		}
	}
	return t.durable(seq)
}

// putLocked puts a complete line into the ring, if it has room.
func (t *Trail) putLocked(line []byte) bool {
	if t.w.free() < uint64(len(line)) {
		return false
	}
	t.w.put(line)
	t.whead.Store(t.w.head)
	return true
}

// waitRoomLocked waits until the flusher has made room in the ring (or
// fails at once when the file cannot be written or the line would never
// fit). Because it lets go of mu, the caller builds its line again.
func (t *Trail) waitRoomLocked(n int) error {
	if uint64(n) > t.w.size {
		return fmt.Errorf("audit: a record of %d bytes does not fit in the write-ahead ring (audit.wal_size %d)", n, t.w.size)
	}
	if t.flushErr != nil {
		return t.flushErr
	}
	if t.closed {
		return ErrClosed
	}
	if t.noWait {
		return errors.New("audit: the write-ahead ring is full")
	}
	t.ringWaits++
	t.fidle.Store(false)
	select {
	case t.fkick <- struct{}{}:
	default:
	}
	t.space.Wait()
	return nil
}

// flush writes what the ring holds to the trail file and returns the
// file's last line (seq and hash) and the file.
func (t *Trail) flush() (uint64, [32]byte, *os.File, error) {
	t.fmu.Lock()
	defer t.fmu.Unlock()
	if t.ringClosed {
		return t.fileSeq, t.fileHash, t.f, ErrClosed
	}
	err := t.checkFileFmu()
	if err == nil {
		err = t.flushFmu()
	}
	if err != nil {
		t.mu.Lock()
		if t.flushErr == nil {
			t.logFailure(err)
		}
		t.flushErr = err
		// Lines waiting for room stop waiting: fail-open they are lost and
		// counted, fail-closed refused.
		t.space.Broadcast()
		t.mu.Unlock()
		return t.fileSeq, t.fileHash, t.f, err
	}
	return t.fileSeq, t.fileHash, t.f, nil
}

// flushFmu writes the ring's lines up to its current head.
func (t *Trail) flushFmu() error {
	t.mu.Lock()
	head, seq, hash := t.w.head, t.seq, t.prev
	t.mu.Unlock()
	if err := t.writeRingFmu(head, seq, hash); err != nil {
		return err
	}
	t.mu.Lock()
	t.releaseLocked(head)
	t.mu.Unlock()
	return nil
}

// writeRingFmu writes the ring's lines up to head (the last of them seq,
// with hash), in one write unless the ring wraps; the caller then releases
// them (releaseLocked). On failure nothing of them stays in the file, and
// they stay in the ring.
func (t *Trail) writeRingFmu(head, seq uint64, hash [32]byte) error {
	a, b := t.w.pending(head)
	if len(a) > 0 {
		n, err := t.writeFile(a)
		if err == nil && len(b) > 0 {
			var m int
			m, err = t.writeFile(b)
			n += m
			if err != nil {
				if terr := t.f.Truncate(t.size); terr != nil {
					t.setBroken(fmt.Errorf("audit: a partial record could not be removed from %s: %w", t.opts.Path, terr))
				}
			}
		}
		if err != nil {
			return err
		}
		t.size += int64(n)
		t.writes++
		t.batched += seq - t.fileSeq
	}
	t.fileSeq, t.fileHash = seq, hash
	return nil
}

// releaseLocked frees the ring up to head, written to the file.
func (t *Trail) releaseLocked(head uint64) {
	t.w.release(head)
	t.flushErr = nil
	t.space.Broadcast()
}

// flusher writes the ring to the file: woken by the first line after it
// went idle, it waits flushDelay for more, writes, and goes on while lines
// keep coming. A file that cannot be written is retried, less and less
// often.
func (t *Trail) flusher() {
	defer close(t.fdone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	retry := time.Duration(0)
	for {
		if retry == 0 {
			t.fidle.Store(true)
			if t.whead.Load() == t.ftail() {
				select {
				case <-t.fkick:
				case <-t.fstop:
					return
				}
			}
			t.fidle.Store(false)
		}
		timer.Reset(max(flushDelay, retry))
		select {
		case <-timer.C:
		case <-t.fstop:
			timer.Stop()
			return
		}
		if _, _, _, err := t.flush(); err != nil {
			retry = min(max(2*retry, 10*time.Millisecond), flushRetryMax)
		} else {
			retry = 0
		}
	}
}

func (t *Trail) ftail() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.w.tail
}

// checkFileFmu makes sure the path still names the open file. A file that
// was removed or renamed away gets the lines the ring holds (they were put
// before the change was seen, as when each write checked), then a new file
// is created, its first line a "reopen" checkpoint continuing the chain
// (verify of the new file then reports the records before it as missing,
// which they are from that file). A file replaced by another is never
// written to.
func (t *Trail) checkFileFmu() error {
	same, err := t.pathIsFile()
	if err == nil {
		if same {
			return nil
		}
		return fmt.Errorf("audit: %s has been replaced by another file: remove it to let kmipd start a new one", t.opts.Path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(t.opts.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		// The lines wait in the ring: the old file may be gone for good.
		return fmt.Errorf("audit: %s was removed and cannot be recreated: %w", t.opts.Path, err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = lockFile(f, true)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		// The lines put before the change was seen go to the old file.
		if err = t.writeRingFmu(t.w.head, t.seq, t.prev); err == nil {
			t.releaseLocked(t.w.head)
		}
	}
	if err == nil {
		err = t.f.Sync()
		if err != nil {
			t.setBroken(fmt.Errorf("audit: fsync %s: %w", t.opts.Path, err))
		}
	}
	if err != nil {
		f.Close()
		os.Remove(t.opts.Path)
		return fmt.Errorf("audit: recreate %s: %w", t.opts.Path, err)
	}
	t.old = append(t.old, t.f)
	t.f, t.id, t.size = f, fi, 0
	syncDir(filepath.Dir(t.opts.Path))
	// The ring is empty: the checkpoint fits without waiting (which the
	// flusher could not do).
	t.noWait = true
	_, err = t.checkpointLocked(EventReopen, fmt.Sprintf("%s was removed or renamed: records up to seq %d are in the old file", filepath.Base(t.opts.Path), t.seq))
	t.noWait = false
	return err
}
