package kmip

import (
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"time"

	"github.com/kmipd/kmipd/ttlv"
)

// Session is the protocol engine's state for one client connection: its
// identity and the buffers it reuses from one request to the next, so that
// serving a request allocates nothing in the engine itself.
type Session struct {
	Identity   Identity
	RemoteAddr net.Addr

	srv   *Server
	out   []byte
	req   Request
	w     ResponseWriter
	call  Call
	batch Batch
	undo  []int
	auth  Auth   // the request's authentication, when it carries one
	msg   []byte // Result Message of a failed item, with the request id
	// endpoint: a Set Endpoint Role handed the connection over to
	// server-to-client operations (push.go).
	endpoint bool
	// endpointKey is whom the handed-over connection receives pushes for
	// (Server.Push's identity), as the handler named it.
	endpointKey string
}

// NewSession returns a Session for a client with the given identity. The
// server makes one per connection; tests and benchmarks use it to run the
// engine without a network.
func (s *Server) NewSession(id Identity, remote net.Addr) *Session {
	return &Session{Identity: id, RemoteAddr: remote, srv: s, out: make([]byte, 0, 4096)}
}

// Handle turns one request message into one response message. The result
// is valid until the next call with the same Session.
func (s *Server) Handle(sess *Session, msg []byte) []byte {
	out := sess.handle(msg)
	if cap(out) > cap(sess.out) && cap(out) <= 4*s.maxMessageSize() {
		sess.out = out[:0]
	}
	return out
}

// handle turns one request message into one response message.
func (c *Session) handle(msg []byte) []byte {
	s := c.srv
	now := s.now()
	rid := s.nextRequestID()
	req := &c.req
	err := req.Parse(msg, Limits{MaxDepth: s.MaxDepth, MaxBatchItems: s.MaxBatchItems})
	if err != nil {
		var pe *ParseError
		ver := V1_0
		if errors.As(err, &pe) && pe.Version.Supported() {
			ver = pe.Version
		}
		s.refuseMessage(c.RemoteAddr, &c.Identity, rid, ResultReasonInvalidMessage, err.Error())
		return c.failAll(ver, now, rid, nil, ResultStatusOperationFailed, ResultReasonInvalidMessage, err.Error())
	}
	h := &req.Header
	if !h.Version.Supported() {
		msg := "protocol version " + h.Version.String() + " is not supported"
		s.refuseMessage(c.RemoteAddr, &c.Identity, rid, ResultReasonUnsupportedProtocolVersion, msg)
		return c.failAll(nearestVersion(h.Version), now, rid, req.Items, ResultStatusOperationFailed,
			ResultReasonUnsupportedProtocolVersion, msg)
	}
	for i := range req.Items {
		if critical, ok := hasCriticalExtension(req.Items[i].Extensions); !ok || critical {
			const msg = "unsupported critical message extension"
			s.refuseMessage(c.RemoteAddr, &c.Identity, rid, ResultReasonUnknownMessageExtension, msg)
			return c.failAll(h.Version, now, rid, req.Items, ResultStatusOperationFailed,
				ResultReasonUnknownMessageExtension, msg)
		}
	}

	c.call = Call{Ctx: c.srv.baseContext(), Identity: &c.Identity, Peer: &c.Identity, RemoteAddr: c.RemoteAddr, Request: req, Version: h.Version, Now: now, Batch: &c.batch, RequestID: rid, sess: c}
	if len(h.Authentication) != 0 && s.Authenticator != nil {
		if err := c.authenticate(h, now); err != nil {
			reason, msg := ResultOf(err)
			s.refuseMessage(c.RemoteAddr, &c.Identity, rid, reason, msg)
			return c.failAll(h.Version, now, rid, req.Items, ResultStatusOperationFailed, reason, msg)
		}
	}

	maxOut := 0
	if h.MaxResponseSize > 0 {
		maxOut = int(h.MaxResponseSize)
	}
	w := &c.w
	w.Begin(c.out, maxOut, &ResponseHeader{
		Version:                h.Version,
		TimeStamp:              now.Unix(),
		ClientCorrelationValue: h.ClientCorrelationValue,
		ServerCorrelationValue: h.ServerCorrelationValue,
		BatchCount:             int32(len(req.Items)),
	})
	c.batch = Batch{}

	undo := h.BatchErrorContinuation == BatchErrorContinuationOptionUndo && len(req.Items) > 1
	if b, ok := s.Handler.(Batcher); ok && undo {
		err := b.RunBatch(&c.call, func() error {
			if c.serveItems(true) {
				return errBatchFailed
			}
			return nil
		})
		if err != nil && !errors.Is(err, errBatchFailed) {
			// Every item succeeded but the batch could not be committed:
			// nothing happened, so no item may be reported as done.
			s.Logger.Error().Str("request", rid.String()).Str("identity", c.call.Identity.Name).Err(err).Msg("batch commit failed")
			return c.failAll(h.Version, now, rid, req.Items, ResultStatusOperationFailed, ResultReasonGeneralFailure, "batch could not be committed")
		}
	} else {
		c.serveItems(false)
	}
	out, err := w.Finish()
	if err != nil {
		// Even the failure items did not fit: answer with one short failure.
		return c.failAll(h.Version, now, rid, nil, ResultStatusOperationFailed, ResultReasonResponseTooLarge, "response too large")
	}
	return out
}

var errBatchFailed = errors.New("kmip: batch item failed")

// serveItems serves the batch items in order and reports whether one failed.
// With undo, the items served before the failure are marked Operation Undone
// (the caller's transaction rolls their effects back).
func (c *Session) serveItems(undo bool) (failed bool) {
	req, w := &c.req, &c.w
	c.undo = c.undo[:0]
	stop := req.Header.BatchErrorContinuation != BatchErrorContinuationOptionContinue || undo
	for i := range req.Items {
		it := &req.Items[i]
		c.call.Item = it
		mark := w.B.Mark()
		w.BeginSuccess(it.Operation, it.ID)
		status := w.StatusOffset()
		var start time.Time
		obs := c.srv.Observer
		if obs != nil {
			start = time.Now()
		}
		err := c.serveItem(it)
		if err == nil && w.B.Err() == nil {
			w.EndItem()
			c.undo = append(c.undo, status)
			if obs != nil {
				obs.ItemServed(it.Operation, ResultStatusSuccess, 0, time.Since(start))
			}
			continue
		}
		w.B.Rollback(mark)
		if p, ok := pendingOf(err); ok && w.B.Err() == nil {
			// Neither success nor failure: a batch that stops on failure
			// goes on, and nothing is left to undo (the item runs on).
			w.Pending(it.Operation, it.ID, p.CorrelationValue)
			if obs != nil {
				obs.ItemServed(it.Operation, ResultStatusOperationPending, 0, time.Since(start))
			}
			continue
		}
		if err == nil {
			err = ErrResponseTooLarge
		}
		reason, msg := ResultOf(err)
		c.logFailure(it.Operation, reason, err)
		c.msg = appendRequestID(c.msg[:0], msg, c.call.RequestID)
		w.failureBytes(it.Operation, it.ID, ResultStatusOperationFailed, reason, c.msg)
		if obs != nil {
			obs.ItemServed(it.Operation, ResultStatusOperationFailed, reason, time.Since(start))
		}
		failed = true
		if stop {
			if undo {
				for _, off := range c.undo {
					w.MarkUndone(off)
				}
			}
			w.SetBatchCount(int32(i + 1))
			return true
		}
	}
	return failed
}

// logFailure logs a failed batch item with its request id, so that the id
// a client reports finds the server's side: General Failure (the server's
// fault) at error level with the cause, the rest at info.
func (c *Session) logFailure(op Operation, reason ResultReason, err error) {
	log := &c.srv.Logger
	ev := log.Info()
	if reason == ResultReasonGeneralFailure {
		ev = log.Error().Err(err)
	}
	if ev == nil {
		return
	}
	ev.Str("request", c.call.RequestID.String()).Str("identity", c.call.Identity.Name).Stringer("operation", op).
		Stringer("reason", reason).Msg("operation failed")
}

// serveItem runs one item, turning a panic into General Failure.
func (c *Session) serveItem(it *BatchItem) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.srv.Logger.Error().Str("request", c.call.RequestID.String()).Str("identity", c.call.Identity.Name).Stringer("operation", it.Operation).
				Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("batch item panic recovered")
			err = &Error{Reason: ResultReasonGeneralFailure, Message: "internal error"}
		}
	}()
	if !c.call.Version.HasEnum(ttlv.TagOperation, uint32(it.Operation)) {
		return Errorf(ResultReasonOperationNotSupported, "operation %s does not exist in KMIP %s", it.Operation, c.call.Version)
	}
	if c.call.Rights != nil {
		if err := c.call.Rights.Permit(&c.call); err != nil {
			return err
		}
	}
	return c.srv.Handler.ServeKMIP(&c.call, &c.w.B)
}

// failAll answers every item (or, when items is nil, one item without an
// Operation) with the same failure.
func (c *Session) failAll(ver Version, now time.Time, rid RequestID, items []BatchItem, status ResultStatus, reason ResultReason, msg string) []byte {
	w := &c.w
	n := max(len(items), 1)
	w.Begin(c.out, 0, &ResponseHeader{Version: ver, TimeStamp: now.Unix(), BatchCount: int32(n)})
	c.msg = appendRequestID(c.msg[:0], msg, rid)
	if len(items) == 0 {
		w.failureBytes(0, nil, status, reason, c.msg)
	}
	for i := range items {
		w.failureBytes(items[i].Operation, items[i].ID, status, reason, c.msg)
	}
	out, err := w.Finish()
	if err != nil {
		c.srv.Logger.Error().Err(err).Msg("cannot encode failure response")
		return nil
	}
	return out
}

// nearestVersion picks the version to answer an unsupported one in: the
// newest supported version not newer than it, else the oldest.
func nearestVersion(v Version) Version {
	for _, s := range SupportedVersions {
		if !v.Less(s) {
			return s
		}
	}
	return V1_0
}

// hasCriticalExtension reports whether any Message Extension in ext is
// marked critical. kmipd defines no extensions, so a critical one means the
// message must be rejected (KMIP 2.0 §9.13). ok is false for a malformed one.
func hasCriticalExtension(ext ttlv.Value) (critical, ok bool) {
	for !ext.Empty() {
		var x ttlv.Value
		if !ext.ReadStructure(ttlv.TagMessageExtension, &x) {
			return false, false
		}
		if it, found := x.Find(ttlv.TagCriticalityIndicator); found {
			if it.Type != ttlv.TypeBoolean {
				return false, false
			}
			if it.Bool() {
				return true, true
			}
		}
	}
	return false, true
}
