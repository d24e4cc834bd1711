package kmip

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmipd/kmipd/ttlv"
)

// Server-to-client operations (KMIP 1.4 §5, KMIP 2.0 §7: Notify and Put).
// kmipd sends them on a connection the client opened and handed over with
// Set Endpoint Role, Endpoint Role Server (the handler calls
// Call.BecomeEndpoint): once that request is answered, kmipd is the
// requester on the connection. It sends each queued operation as a Request
// Message in the connection's protocol version and reads the client's
// Response Message before the next, so a client needs no listener of its
// own. The connection carries nothing else until it closes.
//
// Each endpoint has a bounded queue (Server.PushQueue). Push never waits:
// when the queue is full the new message is dropped and counted
// (PushStats.Dropped), so a slow or stalled client costs the server
// nothing but its queue. A client that does not answer within the read
// timeout, or answers with something other than a Response Message, loses
// the connection; its queue goes with it.

// DefaultPushQueue is the queue of one endpoint when Server.PushQueue is 0.
const DefaultPushQueue = 64

// PushItem is one server-to-client operation: its payload is written in the
// endpoint's protocol version.
type PushItem struct {
	Operation Operation
	// Get, for a Put, names the object to send: the server serves a Get of
	// it as the endpoint's identity through its Handler, with every check
	// and audit record a client's Get has, and the payload is the Unique
	// Identifier, Put Function New, the object the Get answered and then
	// what Payload writes. A Get that fails sends nothing (counted failed).
	Get     string
	Payload func(b *ttlv.Builder, v Version)
}

// PushStats counts server-to-client operations: sent and answered Success,
// answered otherwise or not at all, and dropped on a full queue.
type PushStats struct {
	Sent, Failed, Dropped uint64
	Endpoints             int // connections handed over now
}

// pushEndpoint is one handed-over connection.
type pushEndpoint struct {
	identity string
	q        chan PushItem
}

// pushHub is the server's set of endpoints.
type pushHub struct {
	mu                    sync.Mutex
	eps                   map[*pushEndpoint]struct{}
	n                     atomic.Int32
	sent, failed, dropped atomic.Uint64
}

// HasPushEndpoints reports whether any client has handed a connection
// over, so that a caller can skip building what Push would send.
func (s *Server) HasPushEndpoints() bool { return s.push.n.Load() > 0 }

// Push queues it for every endpoint of identity (and, when all is true,
// for every endpoint). It never blocks.
func (s *Server) Push(identity string, all bool, it PushItem) {
	if !s.HasPushEndpoints() {
		return
	}
	h := &s.push
	h.mu.Lock()
	defer h.mu.Unlock()
	for ep := range h.eps {
		if !all && ep.identity != identity {
			continue
		}
		select {
		case ep.q <- it:
		default:
			h.dropped.Add(1)
		}
	}
}

// PushStats returns the server-to-client counters.
func (s *Server) PushStats() PushStats {
	h := &s.push
	return PushStats{Sent: h.sent.Load(), Failed: h.failed.Load(), Dropped: h.dropped.Load(), Endpoints: int(h.n.Load())}
}

func (h *pushHub) add(identity string, size int) *pushEndpoint {
	if size <= 0 {
		size = DefaultPushQueue
	}
	ep := &pushEndpoint{identity: identity, q: make(chan PushItem, size)}
	h.mu.Lock()
	if h.eps == nil {
		h.eps = make(map[*pushEndpoint]struct{})
	}
	h.eps[ep] = struct{}{}
	h.n.Add(1)
	h.mu.Unlock()
	return ep
}

func (h *pushHub) remove(ep *pushEndpoint) {
	h.mu.Lock()
	delete(h.eps, ep)
	h.n.Add(-1)
	h.mu.Unlock()
}

// BecomeEndpoint hands the request's connection over to server-to-client
// operations once the response is sent (Set Endpoint Role Server), to
// receive what Server.Push sends to key: the handler's name for the
// caller, which must tell apart callers that share an identity name (two
// tenants). It does nothing where there is no connection (HTTP, a session
// without one).
func (c *Call) BecomeEndpoint(key string) {
	if c.sess != nil {
		c.sess.endpoint, c.sess.endpointKey = true, key
	}
}

// servePush runs a handed-over connection until it fails, the client
// closes it or the server shuts down. A reader goroutine takes every
// message the client sends, so that its leaving is noticed while nothing
// is queued; the connection is closed (by serve) when this returns, which
// ends the reader.
func (c *conn) servePush(ver Version) {
	s := c.srv
	ep := s.push.add(c.sess.endpointKey, s.PushQueue)
	defer s.push.remove(ep)
	s.Logger.Info().Str("identity", c.sess.Identity.Name).Msg("connection handed over for server-to-client operations")
	msgs := make(chan []byte)
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		for {
			c.nc.SetReadDeadline(time.Time{})
			in, err := ttlv.ReadMessage(c.br, nil, s.maxMessageSize())
			if err != nil {
				return
			}
			select {
			case msgs <- in:
			case <-time.After(s.readTimeout()):
				return // an answer nobody waits for
			}
		}
	}()
	var w RequestWriter
	var resp Response
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var it PushItem
		c.idle.Store(true) // Shutdown may close it while nothing is in flight
		select {
		case it = <-ep.q:
			c.idle.Store(false)
		case <-gone:
			return
		case <-msgs:
			return // the client sent something unasked
		case <-tick.C:
			if s.inShutdown.Load() {
				return
			}
			continue
		}
		var obj []byte
		if it.Get != "" {
			o, err := c.getForPush(it.Get, ver)
			if err != nil {
				s.push.failed.Add(1)
				continue
			}
			obj = o
		}
		w.Begin(c.in[:0], ver, 1, nil)
		w.Item(it.Operation, nil, func(b *ttlv.Builder) {
			if it.Get != "" {
				b.AddText(ttlv.TagUniqueIdentifier, it.Get)
				b.AddEnum(ttlv.TagPutFunction, uint32(PutFunctionNew))
				b.AddRaw(obj)
			}
			it.Payload(b, ver)
		})
		msg, err := w.Finish()
		if err != nil {
			s.push.failed.Add(1)
			continue
		}
		c.nc.SetWriteDeadline(time.Now().Add(s.writeTimeout()))
		if _, err := c.nc.Write(msg); err != nil {
			s.push.failed.Add(1)
			return
		}
		var in []byte
		select {
		case in = <-msgs:
		case <-gone:
		case <-time.After(s.readTimeout()):
		}
		if in == nil || resp.Parse(in, Limits{}) != nil || len(resp.Items) != 1 {
			s.push.failed.Add(1)
			return
		}
		if resp.Items[0].Status != ResultStatusSuccess {
			s.push.failed.Add(1)
			continue
		}
		s.push.sent.Add(1)
	}
}

// getForPush serves a Get of id as the connection's identity through the
// server's Handler and returns the encoded object item of its answer.
func (c *conn) getForPush(id string, ver Version) ([]byte, error) {
	s := c.srv
	var pb ttlv.Builder
	pb.Reset(nil, 0)
	pb.AddText(ttlv.TagUniqueIdentifier, id)
	payload, err := pb.Bytes()
	if err != nil {
		return nil, err
	}
	req := &Request{Header: RequestHeader{Version: ver, BatchCount: 1},
		Items: []BatchItem{{Operation: OperationGet, Payload: payload}}}
	call := &Call{Ctx: s.baseContext(), Identity: &c.sess.Identity, RemoteAddr: c.sess.RemoteAddr, Request: req,
		Item: &req.Items[0], Version: ver, Now: s.now(), Batch: &Batch{}}
	var gb ttlv.Builder
	gb.Reset(nil, 0)
	if err := s.Handler.ServeKMIP(call, &gb); err != nil {
		return nil, err
	}
	out, err := gb.Bytes()
	if err != nil {
		return nil, err
	}
	// The answer is Object Type, Unique Identifier and the object.
	v := ttlv.Value(out)
	for !v.Empty() {
		rest := v
		it, ok := v.Next()
		if !ok {
			break
		}
		if it.Type == ttlv.TypeStructure {
			return rest[:len(rest)-len(v)], nil
		}
	}
	return nil, ErrNoBatchItem
}
