package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Append writes r as the next record and, with SyncAlways, waits until it
// is on stable storage; fail-closed, it also waits until every sink has
// sent it, and fails with an error wrapping ErrSink (and the record's seq:
// it is in the file) when one has not. It returns the record's seq. Seq,
// PrevHash, Hash and MAC of r are ignored; a zero Time means now.
func (t *Trail) Append(r *Record) (uint64, error) {
	return t.append(r, t.opts.FailClosed)
}

// append is Append; streamed says whether to wait for the sinks.
func (t *Trail) append(r *Record, streamed bool) (uint64, error) {
	if r.Time.IsZero() {
		r.Time = t.now()
	}
	bp := bufPool.Get().(*[]byte)
	seq, missed, err := t.putBody(bp, r.appendBody((*bp)[:0]))
	if err != nil {
		return 0, err
	}
	// The rare records that come this way are in the file before Append
	// returns. Fail-open, one that is only in the ring (the file cannot be
	// written: logged, and retried) is recorded all the same.
	if _, _, _, err := t.flush(); err != nil && (t.opts.FailClosed || !t.w.mapped) {
		return seq, err
	}
	if err := t.durable(seq); err != nil {
		return seq, err
	}
	if streamed {
		return seq, t.streamed(seq, missed)
	}
	return seq, nil
}

// appendAll writes records in order and makes them durable together. It
// stops at the first failure.
func (t *Trail) appendAll(rs []*Record) ([]uint64, error) {
	seqs := make([]uint64, 0, len(rs))
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var err error
	missed := false
	for _, r := range rs {
		if r.Time.IsZero() {
			r.Time = t.now()
		}
		body := r.appendBody((*bp)[:0])
		*bp = body[:0]
		t.mu.Lock()
		var seq uint64
		seq, err = t.appendLocked(body)
		if err != nil {
			// The records after it are lost too.
			t.lost += len(rs) - len(seqs) - 1
			t.mu.Unlock()
			break
		}
		missed = missed || t.unstreamed == seq
		t.mu.Unlock()
		seqs = append(seqs, seq)
	}
	if len(seqs) > 0 {
		if _, _, _, ferr := t.flush(); ferr != nil && (t.opts.FailClosed || !t.w.mapped) {
			return seqs, ferr
		}
		if serr := t.durable(seqs[len(seqs)-1]); serr != nil {
			return seqs, serr
		}
		if err == nil && t.opts.FailClosed {
			err = t.streamed(seqs[len(seqs)-1], missed)
		}
	}
	return seqs, err
}

// Event writes a KindEvent record (an operator action such as a backup).
func (t *Trail) Event(event, actor, detail string) error {
	_, err := t.Append(&Record{Kind: KindEvent, Event: event, Identity: actor, Detail: detail})
	return err
}

// Check reports whether a record could be written now: the trail is open,
// not broken, and the last write of the ring to its file did not fail.
// Fail-closed handlers call it before serving.
func (t *Trail) Check() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.readyLocked()
	if err == nil {
		err = t.flushErr
	}
	if err != nil {
		t.failedLocked(err)
	}
	return err
}

// probe is Check for fail-closed handlers: it also writes what the ring
// holds, so that a file that cannot be written (or was replaced) refuses
// the operation before it runs.
func (t *Trail) probe() error {
	if _, _, _, err := t.flush(); err != nil {
		t.mu.Lock()
		t.failedLocked(err)
		t.mu.Unlock()
		return err
	}
	return t.Check()
}

// putBody appends body (formatted in *bp, which goes back to bufPool) as
// the next line, and reports whether a sink did not take it.
func (t *Trail) putBody(bp *[]byte, body []byte) (seq uint64, missed bool, err error) {
	t.mu.Lock()
	seq, err = t.appendLocked(body)
	missed = err == nil && t.unstreamed == seq
	t.mu.Unlock()
	*bp = body[:0]
	bufPool.Put(bp)
	return seq, missed, err
}

func (t *Trail) appendLocked(body []byte) (uint64, error) {
	if err := t.readyLocked(); err != nil {
		t.failedLocked(err)
		return 0, err
	}
	seq, err := t.writeLocked(body, false)
	if err != nil {
		t.failedLocked(err)
		return 0, err
	}
	if t.sinceCheckpoint >= t.opts.CheckpointInterval {
		// The record is written: a failed checkpoint is retried with the
		// next record.
		if _, err := t.checkpointLocked(EventPeriodic, ""); err != nil {
			t.logFailure(err)
		}
	}
	return seq, nil
}

// readyLocked checks that a line can be written, and first writes the gap
// record owed for records lost to an earlier failure.
func (t *Trail) readyLocked() error {
	if err := t.usableLocked(); err != nil {
		return err
	}
	if t.lost > 0 {
		// The count is taken before the gap is written: writing may wait
		// for room, and lets other lines (and losses) in meanwhile.
		lost, lostErr := t.lost, t.lostErr
		t.lost, t.lostErr = 0, ""
		what := "operations were not recorded"
		if t.opts.FailClosed {
			what = "operations were refused or rolled back"
		}
		gap := Record{Time: t.now(), Kind: KindEvent, Event: "gap",
			Detail: fmt.Sprintf("%d %s because the trail could not be written: %s", lost, what, lostErr)}
		if _, err := t.writeLocked(gap.appendBody(nil), false); err != nil {
			if t.lost == 0 {
				t.lostErr = lostErr
			}
			t.lost += lost
			return err
		}
		t.log.Warn().Int("lost", lost).Str("path", t.opts.Path).Msg("audit trail writable again")
	}
	return nil
}

// usableLocked reports why no line can be put now: the trail is closed,
// or broken.
func (t *Trail) usableLocked() error {
	if t.closed {
		return ErrClosed
	}
	if b := t.broken.Load(); b != nil {
		return errors.New(*b)
	}
	return nil
}

// failedLocked counts a record that could not be written.
func (t *Trail) failedLocked(err error) {
	if t.closed && errors.Is(err, ErrClosed) {
		return
	}
	if t.lost == 0 {
		t.lostErr = err.Error()
	}
	t.lost++
	t.logFailure(err)
}

// logFailure logs at most once a second.
func (t *Trail) logFailure(err error) {
	if now := time.Now(); now.Sub(t.lastErrLog) >= time.Second {
		t.lastErrLog = now
		ev := t.log.Error().Err(err).Str("path", t.opts.Path).Int("lost", t.lost)
		if t.opts.FailClosed {
			ev.Msg("audit trail cannot be written: refusing operations (audit.fail_closed)")
		} else {
			ev.Msg("audit trail cannot be written: operations continue unrecorded")
		}
	}
}

func (t *Trail) setBroken(err error) {
	s := err.Error()
	t.broken.CompareAndSwap(nil, &s)
}

// writeLocked appends one line to the ring: seq, the body, prev_hash, hash
// and, when sign is set, the MAC. When the ring is full it waits for the
// flusher, unless the file cannot be written.
func (t *Trail) writeLocked(body []byte, sign bool) (uint64, error) {
	retried := false
	for {
		seq := t.seq + 1
		b := t.beginLine(t.line[:0], seq)
		b = append(b, body...)
		b, h := t.endLine(b, 0, &t.prev, sign)
		t.line = b
		if t.putLocked(b) {
			t.seq, t.prev = seq, h
			break
		}
		// Another line may take seq while this one waits: it is built again.
		if t.flushErr != nil && !retried && !t.noWait {
			// The ring is full because the file could not be written: it
			// may be writable again.
			retried = true
			t.mu.Unlock()
			t.flush()
			t.mu.Lock()
			continue
		}
		if err := t.waitRoomLocked(len(b)); err != nil {
			return 0, err
		}
		// Close may have run meanwhile: nothing goes after its checkpoint.
		if err := t.usableLocked(); err != nil {
			return 0, err
		}
	}
	seq := t.seq
	b := t.line
	t.sinceCheckpoint++
	t.written.Store(seq)
	t.offerLocked(seq, b[:len(b)-1])
	return seq, nil
}

// beginLine appends the start of line seq: `{"seq":N`, then the node
// writing the trail when there is one.
func (t *Trail) beginLine(b []byte, seq uint64) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, t.nodeField...)
}

// endLine completes the line begun at b[start:] (its body appended):
// prev_hash, hash and, when sign is set, the MAC, then the newline. It
// returns the line's hash.
func (t *Trail) endLine(b []byte, start int, prev *[32]byte, sign bool) ([]byte, [32]byte) {
	b = append(b, `,"prev_hash":"`...)
	b = hex.AppendEncode(b, prev[:])
	b = append(b, '"', '}')
	h := t.chainLocked(prev, b[start:])
	b = append(b[:len(b)-1], hashKey...)
	b = hex.AppendEncode(b, h[:])
	b = append(b, '"')
	if sign {
		hh := h // escapes: only checkpoints pay for it
		m := checkpointMAC(t.key, &hh)
		b = append(b, macKey...)
		b = hex.AppendEncode(b, m[:])
		b = append(b, '"')
	}
	return append(b, '}', '\n'), h
}

// chainLocked is chainHash with the trail's hasher, which it reuses.
func (t *Trail) chainLocked(prev *[32]byte, canonical []byte) [32]byte {
	if t.hasher == nil {
		t.hasher = sha256.New()
	}
	t.hasher.Reset()
	t.hasher.Write(prev[:])
	t.hasher.Write(canonical)
	t.hasher.Sum(t.sum[:0])
	return t.sum
}

// writeFile appends whole lines to the file in one write. A write that
// fails is taken back, so that the chain stays intact.
func (t *Trail) writeFile(b []byte) (int, error) {
	var n int
	var err error
	if t.failWrite != nil {
		n, err = t.failWrite(t.f, b)
	} else {
		n, err = t.f.Write(b)
	}
	if err != nil {
		if n > 0 {
			if terr := t.f.Truncate(t.size); terr != nil {
				t.setBroken(fmt.Errorf("audit: a partial record could not be removed from %s: %w", t.opts.Path, terr))
			}
		}
		return 0, fmt.Errorf("audit: write %s: %w", t.opts.Path, err)
	}
	return n, nil
}

// offerLocked hands a written line (without its newline) to the sinks.
func (t *Trail) offerLocked(seq uint64, line []byte) {
	for _, s := range t.sinks {
		if !s.offer(seq, line) {
			t.unstreamed = seq
		}
	}
}

// checkpointLocked writes a signed checkpoint.
func (t *Trail) checkpointLocked(event, detail string) (uint64, error) {
	now := t.now()
	cp := Record{Time: now, Kind: KindCheckpoint, Event: event, Detail: detail}
	seq, err := t.writeLocked(cp.appendBody(nil), true)
	if err != nil {
		return 0, err
	}
	t.sinceCheckpoint, t.lastCheckpoint = 0, now
	// The loop makes it durable (unless SyncAlways already does) and
	// moves the anchor to it.
	select {
	case t.kick <- struct{}{}:
	default:
	}
	return seq, nil
}
