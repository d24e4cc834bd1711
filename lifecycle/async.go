package lifecycle

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Asynchronous operations (the Poll and Cancel operations and the Request
// Header's Asynchronous Indicator, KMIP 2.0 §8.2). kmipd's rule: an
// operation whose row says async (Locate, which may scan the whole store)
// goes on in the background when the request header allows it, unless the
// item is part of a batch run in one transaction (Batch Error Continuation
// Undo, or a fail-closed audit trail's write transaction) or its identity
// already has Config.AsyncLimit operations outstanding; then it runs at
// once, as the specification lets a server answer any request
// synchronously. The
// item is answered Operation Pending with an Asynchronous Correlation
// Value; only the identity that started it may Poll or Cancel it, and a
// finished operation's result is kept for Config.AsyncTTL after it ends.

// Defaults of Config.AsyncLimit and Config.AsyncTTL.
const (
	DefaultAsyncLimit = 4
	DefaultAsyncTTL   = 10 * time.Minute
)

// asyncJob is one operation running, or run, in the background.
type asyncJob struct {
	owner  string
	cancel context.CancelFunc
	done   chan struct{}
	// Set before done is closed.
	payload []byte // the response payload's items
	err     error
	ended   time.Time
	// dropped: forgotten (Cancel) while still running; it counts against
	// its owner's limit until it has ended. Under asyncJobs.mu.
	dropped bool
}

// asyncJobs are the outstanding asynchronous operations, by Asynchronous
// Correlation Value.
type asyncJobs struct {
	mu    sync.Mutex
	jobs  map[string]*asyncJob
	count map[string]int // jobs per owner
}

// asyncable makes h answer Operation Pending and go on in the background
// when the request allows it (see above). A synchronous request costs one
// field test.
func (s *Service) asyncable(h kmip.HandlerFunc) kmip.HandlerFunc {
	return func(c *kmip.Call, w *ttlv.Builder) error {
		if c.Request == nil || !c.Request.Header.AsynchronousIndicator {
			return h(c, w)
		}
		if _, inTx := batchTx(c); inTx {
			return h(c, w)
		}
		if acv, ok := s.startAsync(c, h); ok {
			// Done synchronously, a Locate sets or empties the ID
			// Placeholder; its result is not known yet, so later items of
			// the batch must not act on an earlier item's object instead.
			c.Batch.IDPlaceholder = ""
			return &kmip.Pending{CorrelationValue: acv}
		}
		return h(c, w)
	}
}

func (s *Service) asyncLimit() int {
	if s.cfg.AsyncLimit == 0 {
		return DefaultAsyncLimit
	}
	return s.cfg.AsyncLimit
}

func (s *Service) asyncTTL() time.Duration {
	if s.cfg.AsyncTTL <= 0 {
		return DefaultAsyncTTL
	}
	return s.cfg.AsyncTTL
}

// startAsync runs h on a copy of c's item in the background and returns
// its correlation value; false when the identity has no room for one more.
func (s *Service) startAsync(c *kmip.Call, h kmip.HandlerFunc) ([]byte, bool) {
	limit := s.asyncLimit()
	if limit < 0 {
		return nil, false
	}
	acv := make([]byte, 16)
	if _, err := rand.Read(acv); err != nil {
		return nil, false
	}
	a := &s.async
	owner := c.Identity.Name
	a.mu.Lock()
	a.expire(s.asyncTTL(), time.Now())
	if a.count[owner] >= limit {
		a.mu.Unlock()
		return nil, false
	}
	ctx, cancel := context.WithCancel(c.Context()) // ends with the server's grace period too
	j := &asyncJob{owner: owner, cancel: cancel, done: make(chan struct{})}
	if a.jobs == nil {
		a.jobs, a.count = make(map[string]*asyncJob), make(map[string]int)
	}
	a.jobs[string(acv)] = j
	a.count[owner]++
	a.mu.Unlock()

	// The request's buffers are the connection's, reused by its next
	// request: the job gets copies.
	hdr := c.Request.Header
	hdr.AsynchronousIndicator = false
	hdr.ClientCorrelationValue = bytes.Clone(hdr.ClientCorrelationValue)
	hdr.ServerCorrelationValue = bytes.Clone(hdr.ServerCorrelationValue)
	hdr.Authentication = bytes.Clone(hdr.Authentication)
	item := *c.Item
	item.ID = bytes.Clone(item.ID)
	item.Payload = bytes.Clone(item.Payload)
	item.Extensions = nil
	req := &kmip.Request{Header: hdr, Items: []kmip.BatchItem{item}}
	id := *c.Identity
	call := &kmip.Call{Ctx: ctx, Identity: &id, RemoteAddr: c.RemoteAddr, Request: req, Item: &req.Items[0],
		Version: c.Version, Now: c.Now, Batch: &kmip.Batch{}}
	go s.runAsync(j, call, h)
	return acv, true
}

// runAsync runs one job to its end.
func (s *Service) runAsync(j *asyncJob, c *kmip.Call, h kmip.HandlerFunc) {
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Logger.Error().Str("identity", j.owner).Str("panic", fmt.Sprint(p)).Msg("asynchronous operation panic recovered")
			j.payload, j.err = nil, kmip.Errorf(kmip.ResultReasonGeneralFailure, "internal error")
		}
		j.cancel()
		s.async.mu.Lock()
		j.ended = time.Now()
		if j.dropped {
			s.async.release(j.owner)
		}
		s.async.mu.Unlock()
		close(j.done)
	}()
	var b ttlv.Builder
	b.Reset(nil, 0)
	err := h(c, &b)
	if err == nil {
		var p []byte
		if p, err = b.Bytes(); err == nil {
			j.payload = p
		}
	}
	if err == nil && c.Ctx.Err() != nil {
		err = kmip.Errorf(kmip.ResultReasonOperationCanceledByRequester, "canceled")
	}
	j.err = err
}

// expire drops the jobs that ended more than ttl before now. a.mu is held.
func (a *asyncJobs) expire(ttl time.Duration, now time.Time) {
	for k, j := range a.jobs {
		if !j.ended.IsZero() && now.Sub(j.ended) > ttl {
			a.drop(k, j)
		}
	}
}

// drop forgets job j under key k; a job still running keeps its place in
// its owner's count until it ends (runAsync). a.mu is held.
func (a *asyncJobs) drop(k string, j *asyncJob) {
	delete(a.jobs, k)
	if j.ended.IsZero() {
		j.dropped = true
		return
	}
	a.release(j.owner)
}

// release gives back one of owner's places. a.mu is held.
func (a *asyncJobs) release(owner string) {
	if a.count[owner]--; a.count[owner] <= 0 {
		delete(a.count, owner)
	}
}

// job returns owner's job acv; an expired job, or another identity's, is
// not found.
func (s *Service) job(owner string, acv []byte) (*asyncJob, error) {
	a := &s.async
	a.mu.Lock()
	defer a.mu.Unlock()
	a.expire(s.asyncTTL(), time.Now())
	j := a.jobs[string(acv)]
	if j == nil || j.owner != owner {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidAsynchronousCorrelationValue, "no asynchronous operation with this correlation value")
	}
	return j, nil
}

// forget drops owner's job acv.
func (s *Service) forget(acv []byte, j *asyncJob) {
	a := &s.async
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.jobs[string(acv)] == j {
		a.drop(string(acv), j)
	}
}

// readACV reads the payload of Poll and Cancel: one Asynchronous
// Correlation Value.
func readACV(c *kmip.Call, op string) ([]byte, error) {
	v := c.Item.Payload
	var acv []byte
	if !v.ReadBytes(ttlv.TagAsynchronousCorrelationValue, &acv) {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidMessage, "%s request lacks Asynchronous Correlation Value", op)
	}
	if !v.Empty() {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected items in %s request", op)
	}
	return acv, nil
}

// poll is the Poll operation (KMIP 1.0 on): while the
// operation runs it answers Operation Pending again; once it has ended,
// its result: the original operation's response payload, or its failure.
// The result is then forgotten.
func (s *Service) poll(c *kmip.Call, w *ttlv.Builder) error {
	acv, err := readACV(c, "Poll")
	if err != nil {
		return err
	}
	j, err := s.job(c.Identity.Name, acv)
	if err != nil {
		return err
	}
	select {
	case <-j.done:
	default:
		return &kmip.Pending{CorrelationValue: bytes.Clone(acv)}
	}
	if j.err != nil {
		s.forget(acv, j)
		return j.err
	}
	w.AddRaw(j.payload)
	if w.Err() == nil {
		// Forgotten once delivered: a result too large for this answer
		// can still be polled with a larger Maximum Response Size.
		s.forget(acv, j)
	}
	return nil
}

// cancelOp is the Cancel operation (KMIP 1.0 on): a running
// operation is canceled (its context ends; its result, if it still
// produces one, is dropped) and answers Canceled; one that has ended
// answers Completed, or Failed if it failed. Either way it is forgotten.
func (s *Service) cancelOp(c *kmip.Call, w *ttlv.Builder) error {
	acv, err := readACV(c, "Cancel")
	if err != nil {
		return err
	}
	j, err := s.job(c.Identity.Name, acv)
	if err != nil {
		return err
	}
	result := kmip.CancellationResultCanceled
	select {
	case <-j.done:
		result = kmip.CancellationResultCompleted
		if j.err != nil {
			result = kmip.CancellationResultFailed
		}
	default:
		j.cancel()
	}
	s.forget(acv, j)
	w.AddBytes(ttlv.TagAsynchronousCorrelationValue, acv)
	w.AddEnum(ttlv.TagCancellationResult, uint32(result))
	return nil
}
