package audit

import (
	"encoding/hex"
	"errors"
	"sync"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Wrap returns a Handler that serves every batch item with h and records
// it in t once its result is known. When h is a kmip.Batcher the result is
// one too, so Batch Error Continuation Undo keeps working; the records of
// such a batch are written when its outcome is known, the items it undid
// as OperationUndone. A nil t returns h.
//
// Fail-open (the default), a record that cannot be written is logged and
// the operation stands. Fail-closed (Options.FailClosed):
//   - an operation arriving while the trail cannot be written is refused
//     with General Failure before it runs;
//   - when h is a Batcher, an operation that changes objects runs in a
//     transaction of h that commits only after its record is durable: when
//     the record cannot be written the change is rolled back and the client
//     gets General Failure (a handler that is not a Batcher has done the
//     change by then: only its response is withheld);
//   - a read (Get, Locate, ...) whose record cannot be written is answered
//     with General Failure: its response, key material included, is
//     withheld;
//   - an Undo batch whose records cannot be written is rolled back whole.
//
// If a transaction fails to commit after its record was written, a second
// record of the same item with status OperationFailed supersedes it.
func Wrap(h kmip.Handler, t *Trail) kmip.Handler {
	if t == nil {
		return h
	}
	m := &handler{h: h, t: t}
	if b, ok := h.(kmip.Batcher); ok {
		return &batchHandler{handler: m, b: b}
	}
	return m
}

type handler struct {
	h       kmip.Handler
	t       *Trail
	batches sync.Map // *kmip.Batch → *pending, for Undo batches in progress
}

type batchHandler struct {
	*handler
	b kmip.Batcher
}

// pending holds the records of an Undo batch until its outcome is known. It
// is only touched by the goroutine serving the batch.
type pending struct{ recs []*Record }

// readOnly reports whether op changes no object (Options.ReadOnly); without
// that function every operation counts as a write, which is safe: the
// operation table that knows better is the handler's.
func (m *handler) readOnly(op kmip.Operation) bool {
	if f := m.t.opts.ReadOnly; f != nil {
		return f(op)
	}
	return false
}

// unavailable is the failure of an operation refused for want of a trail.
func unavailable(err error) error {
	return &kmip.Error{Reason: kmip.ResultReasonGeneralFailure, Message: "audit trail unavailable", Err: err}
}

func (m *handler) ServeKMIP(c *kmip.Call, w *ttlv.Builder) error { return m.serve(c, w, nil) }

func (m *batchHandler) ServeKMIP(c *kmip.Call, w *ttlv.Builder) error { return m.serve(c, w, m.b) }

func (m *handler) serve(c *kmip.Call, w *ttlv.Builder, b kmip.Batcher) error {
	if p, ok := m.batches.Load(c.Batch); ok {
		rec := newRecord(c)
		p.(*pending).recs = append(p.(*pending).recs, rec)
		return m.run(c, w, rec, false)
	}
	if m.t.opts.FailClosed {
		if err := m.t.probe(); err != nil {
			return unavailable(err)
		}
		if b != nil && !m.readOnly(c.Item.Operation) {
			return m.serveTx(c, w, b, newRecord(c))
		}
	}
	// The common path: the record goes to the trail's writer, and the
	// response waits until it is written.
	r := newOp(c)
	err := m.runOp(c, w, r)
	if seq, aerr := m.t.appendOp(r, m.t.opts.FailClosed); aerr != nil && m.t.opts.FailClosed {
		if seq > 0 {
			// The record is in the trail (or will be, from its ring), but
			// the client is refused: say so after it.
			m.supersede(r.record(), seq)
		}
		putOp(r)
		return unavailable(aerr)
	}
	putOp(r)
	return err
}

// runOp is run for a queued record.
func (m *handler) runOp(c *kmip.Call, w *ttlv.Builder, r *opRec) error {
	mark := w.Len()
	done := false
	defer func() {
		if !done {
			r.generalFailure()
			m.t.appendOp(r, false)
		}
	}()
	err := m.h.ServeKMIP(c, w)
	done = true
	if err == nil && w.Err() != nil {
		err = kmip.ErrResponseTooLarge
	}
	r.outcome(err, w, mark)
	return err
}

// refused supersedes the record of an operation refused after its record
// was put in the trail (a sink did not send it, or the file could not be
// written and it waits in the ring): the trail has it, saying what the
// client was not told.
func (m *handler) refused(rec *Record, seq uint64) {
	if seq > 0 {
		m.supersede(rec, seq)
	}
}

// run serves the item with the inner handler and fills in rec's outcome.
// If the handler panics, rec becomes a General Failure (what the server
// answers) and, with writeOnPanic, is written before the panic goes on.
func (m *handler) run(c *kmip.Call, w *ttlv.Builder, rec *Record, writeOnPanic bool) error {
	mark := w.Len()
	done := false
	defer func() {
		if !done {
			rec.Status, rec.Reason = kmip.ResultStatusOperationFailed.String(), kmip.ResultReasonGeneralFailure.String()
			rec.ResponseUIDs, rec.MoreUIDs = nil, 0
			if writeOnPanic {
				m.t.Append(rec)
			}
		}
	}()
	err := m.h.ServeKMIP(c, w)
	done = true
	if err == nil && w.Err() != nil {
		err = kmip.ErrResponseTooLarge
	}
	rec.outcome(err, w, mark)
	return err
}

// serveTx runs a changing operation in its own transaction, which commits
// only once the record is written (fail-closed).
func (m *handler) serveTx(c *kmip.Call, w *ttlv.Builder, b kmip.Batcher, rec *Record) error {
	var seq uint64
	var opErr, auditErr error
	err := b.RunBatch(c, func() error {
		opErr = m.run(c, w, rec, true)
		seq, auditErr = m.t.Append(rec)
		if auditErr != nil {
			return unavailable(auditErr)
		}
		return opErr
	})
	switch {
	case auditErr != nil:
		m.refused(rec, seq)
		return unavailable(auditErr)
	case opErr != nil:
		return opErr
	case err != nil:
		m.supersede(rec, seq)
		return err
	}
	return nil
}

// supersede records that an item recorded as done was not: its transaction
// did not commit.
func (m *handler) supersede(rec *Record, seq uint64) {
	if rec.Status != kmip.ResultStatusSuccess.String() {
		return
	}
	fix := *rec
	fix.Status, fix.Reason = kmip.ResultStatusOperationFailed.String(), kmip.ResultReasonGeneralFailure.String()
	fix.ResponseUIDs, fix.MoreUIDs = nil, 0
	fix.Supersedes, fix.Time = seq, m.t.now()
	m.t.append(&fix, false)
}

// RunBatch runs an Undo batch in h's transaction, recording its items when
// its outcome is known: before the commit, so that fail-closed a batch whose
// records cannot be written is rolled back.
func (m *batchHandler) RunBatch(c *kmip.Call, fn func() error) error {
	if m.t.opts.FailClosed {
		if err := m.t.probe(); err != nil {
			return unavailable(err)
		}
	}
	p := &pending{}
	m.batches.Store(c.Batch, p)
	defer m.batches.Delete(c.Batch)
	var fnErr, auditErr error
	var seqs []uint64
	err := m.b.RunBatch(c, func() error {
		fnErr = fn()
		if fnErr != nil {
			// An item failed: the transaction rolls back everything.
			for _, r := range p.recs {
				if r.Status == kmip.ResultStatusSuccess.String() {
					r.Status = kmip.ResultStatusOperationUndone.String()
				}
			}
		}
		seqs, auditErr = m.t.appendAll(p.recs)
		if auditErr != nil && m.t.opts.FailClosed {
			return unavailable(auditErr)
		}
		return fnErr
	})
	if err != nil && fnErr == nil {
		// Every item was done and recorded, but the commit failed or the
		// batch was refused.
		for i, r := range p.recs {
			if i < len(seqs) {
				m.supersede(r, seqs[i])
			}
		}
	}
	return err
}

// newRecord starts the record of a batch item: who asked for what.
func newRecord(c *kmip.Call) *Record {
	r := &Record{Time: c.Now, Kind: KindOp, Version: c.Version.String(), Request: c.RequestID.String()}
	if c.Item != nil {
		r.Operation = c.Item.Operation.String()
		if it, ok := c.Item.Payload.Find(ttlv.TagUniqueIdentifier); ok && it.Type == ttlv.TypeTextString {
			r.RequestUID = string(it.Data)
		}
	}
	if id := c.Identity; id != nil {
		r.Identity = id.Name
		if id.Fingerprint != [32]byte{} {
			r.Fingerprint = hex.EncodeToString(id.Fingerprint[:])
		}
	}
	if c.RemoteAddr != nil {
		r.Remote = c.RemoteAddr.String()
	}
	return r
}

// outcome fills in the result: the status and reason of a failure, or the
// identifiers a successful response names. Nothing else of the payload is
// looked at.
func (r *Record) outcome(err error, w *ttlv.Builder, mark int) {
	var pending *kmip.Pending
	if errors.As(err, &pending) {
		// Answered Operation Pending: the outcome is Poll's to record.
		r.Status = kmip.ResultStatusOperationPending.String()
		return
	}
	if err != nil {
		reason, _ := kmip.ResultOf(err)
		r.Status, r.Reason = kmip.ResultStatusOperationFailed.String(), reason.String()
		var d interface{ DeniedBy() string }
		if errors.As(err, &d) {
			r.Rule = d.DeniedBy()
		}
		return
	}
	r.Status = kmip.ResultStatusSuccess.String()
	payload := ttlv.Value(w.Since(mark))
	for uid, ok := nextResponseUID(&payload); ok; uid, ok = nextResponseUID(&payload) {
		if len(r.ResponseUIDs) < maxUIDs {
			r.ResponseUIDs = append(r.ResponseUIDs, string(uid))
		} else {
			r.MoreUIDs++
		}
	}
}

// nextResponseUID consumes p up to its next identifier of an object the
// response names (Unique Identifier, Private or Public Key Unique
// Identifier) and returns it; false at the end.
func nextResponseUID(p *ttlv.Value) ([]byte, bool) {
	for !p.Empty() {
		it, ok := p.Next()
		if !ok {
			return nil, false
		}
		switch it.Tag {
		case ttlv.TagUniqueIdentifier, ttlv.TagPrivateKeyUniqueIdentifier, ttlv.TagPublicKeyUniqueIdentifier:
			if it.Type == ttlv.TypeTextString {
				return it.Data, true
			}
		}
	}
	return nil, false
}
