package audit

import (
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// DefaultQueueSize is the default of Options.QueueSize.
const DefaultQueueSize = 1024

// What one write of the writer holds at most.
const (
	maxBatchRecords = 256
	maxBatchBytes   = 1 << 20
)

// opRec is the record of one operation on its way to the writer: fixed
// size, pooled, and referring to the request's and the response's bytes
// instead of copying them. Those stay put because the request waits for its
// record to be written before it is answered; the writer formats the line.
type opRec struct {
	time    time.Time
	id      *kmip.Identity
	remote  net.Addr
	version kmip.Version
	request kmip.RequestID
	op      kmip.Operation
	hasOp   bool
	reqUID  []byte // the Unique Identifier the request named
	resp    []byte // a successful response's payload, for its identifiers
	status  kmip.ResultStatus
	reason  kmip.ResultReason // of a failure
	rule    string

	// Set by the writer before it signals done.
	seq    uint64
	missed bool // a sink did not take the line
	err    error
	done   chan struct{}
}

var opPool = sync.Pool{New: func() any { return &opRec{done: make(chan struct{}, 1)} }}

// newOp starts the record of a batch item: who asked for what.
func newOp(c *kmip.Call) *opRec {
	r := opPool.Get().(*opRec)
	r.time, r.id, r.remote, r.version, r.request = c.Now, c.Identity, c.RemoteAddr, c.Version, c.RequestID
	if c.Item != nil {
		r.op, r.hasOp = c.Item.Operation, true
		if it, ok := c.Item.Payload.Find(ttlv.TagUniqueIdentifier); ok && it.Type == ttlv.TypeTextString {
			r.reqUID = it.Data
		}
	}
	return r
}

func putOp(r *opRec) {
	done := r.done
	*r = opRec{done: done}
	opPool.Put(r)
}

// outcome is Record.outcome; the response's identifiers are read by the
// writer.
func (r *opRec) outcome(err error, w *ttlv.Builder, mark int) {
	if err == nil {
		r.status, r.resp = kmip.ResultStatusSuccess, w.Since(mark)
		return
	}
	var pending *kmip.Pending
	if errors.As(err, &pending) {
		r.status = kmip.ResultStatusOperationPending
		return
	}
	r.status = kmip.ResultStatusOperationFailed
	r.reason, _ = kmip.ResultOf(err)
	var d interface{ DeniedBy() string }
	if errors.As(err, &d) {
		r.rule = d.DeniedBy()
	}
}

// generalFailure is the outcome of a handler that panicked.
func (r *opRec) generalFailure() {
	r.status, r.reason, r.resp, r.rule = kmip.ResultStatusOperationFailed, kmip.ResultReasonGeneralFailure, nil, ""
}

// record returns r as a Record (without the response's identifiers), for
// the rare paths that need one.
func (r *opRec) record() *Record {
	rec := &Record{Time: r.time, Kind: KindOp, Version: r.version.String(), Request: r.request.String(),
		RequestUID: string(r.reqUID), Status: r.status.String(), Rule: r.rule}
	if r.hasOp {
		rec.Operation = r.op.String()
	}
	if r.status == kmip.ResultStatusOperationFailed {
		rec.Reason = r.reason.String()
	}
	if r.id != nil {
		rec.Identity = r.id.Name
		if r.id.Fingerprint != [32]byte{} {
			rec.Fingerprint = hex.EncodeToString(r.id.Fingerprint[:])
		}
	}
	if r.remote != nil {
		rec.Remote = r.remote.String()
	}
	return rec
}

// appendBody is Record.appendBody of the same record, field for field.
func (r *opRec) appendBody(b []byte) []byte {
	b = append(b, `,"time":"`...)
	b = r.time.UTC().AppendFormat(b, timeLayout)
	b = append(b, `","kind":"`+KindOp+`"`...)
	if r.id != nil {
		b = appendField(b, "identity", r.id.Name)
		if r.id.Fingerprint != [32]byte{} {
			b = append(b, `,"fingerprint":"`...)
			b = hex.AppendEncode(b, r.id.Fingerprint[:])
			b = append(b, '"')
		}
	}
	if r.remote != nil {
		b = appendAddr(b, r.remote)
	}
	b = append(b, `,"version":"`...)
	b = strconv.AppendInt(b, int64(r.version.Major), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(r.version.Minor), 10)
	b = append(b, '"')
	if !r.request.IsZero() {
		b = append(b, `,"request":"`...)
		b = r.request.AppendTo(b)
		b = append(b, '"')
	}
	if r.hasOp {
		b = appendField(b, "operation", r.op.String())
	}
	if len(r.reqUID) > 0 {
		b = append(b, `,"request_uid":`...)
		b = appendBytes(b, r.reqUID)
	}
	b = r.appendResponseUIDs(b)
	b = appendField(b, "status", r.status.String())
	if r.status == kmip.ResultStatusOperationFailed {
		b = appendField(b, "reason", r.reason.String())
	}
	return appendField(b, "rule", r.rule)
}

// appendResponseUIDs lists the identifiers of a successful response, as
// Record.outcome does.
func (r *opRec) appendResponseUIDs(b []byte) []byte {
	payload := ttlv.Value(r.resp)
	n, more := 0, 0
	for uid, ok := nextResponseUID(&payload); ok; uid, ok = nextResponseUID(&payload) {
		if n == maxUIDs {
			more++
			continue
		}
		if n == 0 {
			b = append(b, `,"response_uids":[`...)
		} else {
			b = append(b, ',')
		}
		b = appendBytes(b, uid)
		n++
	}
	if n > 0 {
		b = append(b, ']')
	}
	if more > 0 {
		b = append(b, `,"more_uids":`...)
		b = strconv.AppendInt(b, int64(more), 10)
	}
	return b
}

// appendBytes is appendString of s, without converting plain text.
func appendBytes(b, s []byte) []byte {
	for _, c := range s {
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return appendString(b, string(s))
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendAddr appends the "remote" field: a TCP address as its String
// method formats it.
func appendAddr(b []byte, a net.Addr) []byte {
	if ta, ok := a.(*net.TCPAddr); ok && (len(ta.IP) == net.IPv4len || len(ta.IP) == net.IPv6len) {
		ap := ta.AddrPort()
		b = append(b, `,"remote":"`...)
		b = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).AppendTo(b)
		return append(b, '"')
	}
	return appendField(b, "remote", a.String())
}

// appendOp hands r to the writer and waits until it is written (and, with
// SyncAlways, durable); with streamed, also until every sink has sent it.
// When the queue is full it waits for room: records are never dropped.
func (t *Trail) appendOp(r *opRec, streamed bool) (uint64, error) {
	t.qmu.RLock()
	if t.qclosed {
		t.qmu.RUnlock()
		return 0, ErrClosed
	}
	t.ops <- r
	t.qmu.RUnlock()
	<-r.done
	if r.err != nil || !streamed {
		return r.seq, r.err
	}
	return r.seq, t.streamed(r.seq, r.missed)
}

// writer writes the queued records in the order they were queued, as many
// as are waiting (up to maxBatchRecords, maxBatchBytes) in one write and,
// with SyncAlways, one fsync. It returns once the queue is closed and
// drained.
func (t *Trail) writer() {
	defer close(t.wdone)
	batch := make([]*opRec, 0, maxBatchRecords)
	for r := range t.ops {
		// The first record woke the writer, usually on its sender's
		// processor, ahead of the requests that are about to queue theirs:
		// let them run first, so that one write takes them all.
		runtime.Gosched()
		batch = append(batch[:0], r)
		size := len(r.resp) + len(r.reqUID)
	fill:
		for len(batch) < maxBatchRecords && size < maxBatchBytes {
			select {
			case r, ok := <-t.ops:
				if !ok {
					break fill
				}
				batch = append(batch, r)
				size += len(r.resp) + len(r.reqUID)
			default:
				break fill
			}
		}
		t.writeBatch(batch)
		clear(batch)
	}
}

// writeBatch writes batch and tells each record's request.
func (t *Trail) writeBatch(batch []*opRec) {
	t.mu.Lock()
	err := t.readyLocked()
	if err == nil {
		err = t.writeOpsLocked(batch)
	}
	if err != nil {
		for _, r := range batch {
			t.failedLocked(err)
			r.seq, r.err = 0, err
		}
	}
	t.mu.Unlock()
	if err == nil {
		if err := t.durable(batch[len(batch)-1].seq); err != nil {
			for _, r := range batch {
				r.err = err
			}
		}
	}
	for _, r := range batch {
		r.done <- struct{}{}
	}
}

// writeOpsLocked chains batch's lines (and the checkpoints due among them)
// into one buffer and writes it at once. On failure nothing of it stays in
// the file or the chain.
func (t *Trail) writeOpsLocked(batch []*opRec) error {
	b := t.batchBuf[:0]
	ends, recs := t.batchEnds[:0], t.batchRecs[:0]
	seq, since := t.seq, t.sinceCheckpoint
	prev := &t.batchPrev
	*prev = t.prev
	var cpAt time.Time
	for _, r := range batch {
		if r.time.IsZero() {
			r.time = t.now()
		}
		start := len(b)
		seq++
		b = t.beginLine(b, seq)
		b = r.appendBody(b)
		b, *prev = t.endLine(b, start, prev, false)
		r.seq = seq
		ends, recs = append(ends, len(b)), append(recs, r)
		if since++; since >= t.opts.CheckpointInterval {
			start = len(b)
			seq++
			cpAt = t.now()
			cp := Record{Time: cpAt, Kind: KindCheckpoint, Event: EventPeriodic}
			b = t.beginLine(b, seq)
			b = cp.appendBody(b)
			b, *prev = t.endLine(b, start, prev, true)
			ends, recs = append(ends, len(b)), append(recs, nil)
			since = 0
		}
	}
	// Keep the buffers for the next batch, unless one was exceptionally big.
	if cap(b) <= 2*maxBatchBytes {
		t.batchBuf, t.batchEnds, t.batchRecs = b, ends, recs
	}
	defer clear(recs)
	n, err := t.writeFile(b)
	if err != nil {
		for _, r := range batch {
			r.seq = 0
		}
		return err
	}
	first := t.seq + 1
	t.writes++
	t.batched += uint64(len(batch))
	t.size += int64(n)
	t.seq, t.prev, t.sinceCheckpoint = seq, *prev, since
	t.written.Store(seq)
	if !cpAt.IsZero() {
		t.lastCheckpoint = cpAt
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
	start := 0
	for i, end := range ends {
		if len(t.sinks) == 0 {
			break
		}
		s := first + uint64(i)
		t.offerLocked(s, b[start:end-1])
		if r := recs[i]; r != nil && t.unstreamed == s {
			r.missed = true
		}
		start = end
	}
	return nil
}
