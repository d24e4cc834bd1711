package kmip

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/kmipd/kmipd/ttlv"
)

// Client is a KMIP client over one mutual-TLS connection. It is safe for
// concurrent use; requests are sent one at a time.
type Client struct {
	Version Version
	Timeout time.Duration // per round trip; default 30s
	// Authentication, when set, puts a Credential in every request's
	// header (RequestOptions.Authentication).
	Authentication func(b *ttlv.Builder)
	// Options are the request header options of Do's requests (nil: none).
	Options *RequestOptions

	mu   sync.Mutex
	conn net.Conn
	in   []byte
	out  []byte
	w    RequestWriter
	resp Response // reused by Exchange and Call
	ro   RequestOptions
}

// options returns the request options of c's requests (nil: none).
func (c *Client) options() *RequestOptions {
	if c.Authentication == nil {
		return c.Options
	}
	if c.Options != nil {
		c.ro = *c.Options
	} else {
		c.ro = RequestOptions{}
	}
	c.ro.Authentication = c.Authentication
	return &c.ro
}

// ErrNoBatchItem is returned for a response without exactly one batch item
// to a single-item request.
var ErrNoBatchItem = errors.New("kmip: response has no batch item")

// NetError is a failure to send a request or to read its response.
type NetError struct {
	Addr string // the server's address
	Err  error
}

func (e *NetError) Error() string { return e.Addr + ": " + e.Err.Error() }
func (e *NetError) Unwrap() error { return e.Err }

// Dial connects to a KMIP server, allowing 10s to connect and complete the
// handshake.
func Dial(addr string, cfg *tls.Config) (*Client, error) {
	return DialTimeout(addr, cfg, 10*time.Second)
}

// DialTimeout is Dial allowing timeout to connect and complete the
// handshake.
func DialTimeout(addr string, cfg *tls.Config, timeout time.Duration) (*Client, error) {
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	return &Client{Version: V2_0, conn: conn}, nil
}

// ConnectionState returns the TLS state of the connection.
func (c *Client) ConnectionState() tls.ConnectionState {
	if tc, ok := c.conn.(*tls.Conn); ok {
		return tc.ConnectionState()
	}
	return tls.ConnectionState{}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// RoundTrip sends one encoded request message and returns the encoded
// response. The returned slice is valid until the next call.
func (c *Client) RoundTrip(req []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.roundTrip(req)
}

func (c *Client) roundTrip(req []byte) ([]byte, error) {
	to := c.Timeout
	if to <= 0 {
		to = 30 * time.Second
	}
	c.conn.SetDeadline(time.Now().Add(to))
	if _, err := c.conn.Write(req); err != nil {
		return nil, err
	}
	msg, err := ttlv.ReadMessage(c.conn, c.in, 64<<20)
	if err != nil {
		return nil, err
	}
	c.in = msg[:0]
	return msg, nil
}

// ServeOne serves one server-to-client operation on a connection handed
// over with Set Endpoint Role (Endpoint Role Server): it waits up to
// timeout for the server's request message, passes its first batch item to
// handle and sends back the response, Success with an empty payload when
// handle returns nil, else Operation Failed with the error's reason.
func (c *Client) ServeOne(timeout time.Duration, handle func(it *BatchItem) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn.SetDeadline(time.Now().Add(timeout))
	msg, err := ttlv.ReadMessage(c.conn, nil, 64<<20)
	if err != nil {
		return err
	}
	var req Request
	if err := req.Parse(msg, Limits{}); err != nil {
		return err
	}
	if len(req.Items) != 1 {
		return ErrNoBatchItem
	}
	it := &req.Items[0]
	herr := handle(it)
	var w ResponseWriter
	w.Begin(nil, 0, &ResponseHeader{Version: req.Header.Version, TimeStamp: time.Now().Unix(), BatchCount: 1})
	if herr == nil {
		w.BeginSuccess(it.Operation, it.ID)
		w.EndItem()
	} else {
		reason, m := ResultOf(herr)
		w.Failure(it.Operation, it.ID, ResultStatusOperationFailed, reason, m)
	}
	out, err := w.Finish()
	if err != nil {
		return err
	}
	_, err = c.conn.Write(out)
	return err
}

// Do sends a single-item request and returns its response item. A failed
// item is returned with a *Error.
func (c *Client) Do(op Operation, payload func(b *ttlv.Builder)) (*Response, *ResponseItem, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w.Begin(nil, c.Version, 1, c.options())
	c.w.Item(op, nil, payload)
	req, err := c.w.Finish()
	if err != nil {
		return nil, nil, err
	}
	out, err := c.roundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	resp := new(Response)
	// The response is copied so it stays valid after the next call.
	if err := resp.Parse(append([]byte(nil), out...), Limits{}); err != nil {
		return nil, nil, err
	}
	if len(resp.Items) != 1 {
		return resp, nil, ErrNoBatchItem
	}
	it := &resp.Items[0]
	return resp, it, it.Err()
}

// EncodeRequest encodes a single-item request message of op, in
// c.Version, whose payload is written by payload (nil: empty). The message
// is built in buf's storage (from buf[:0]) when it is large enough.
func (c *Client) EncodeRequest(buf []byte, op Operation, payload func(b *ttlv.Builder)) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.encodeRequest(buf, op, payload)
}

func (c *Client) encodeRequest(buf []byte, op Operation, payload func(b *ttlv.Builder)) ([]byte, error) {
	c.w.Begin(buf, c.Version, 1, c.options())
	c.w.Item(op, nil, payload)
	return c.w.Finish()
}

// Exchange sends an encoded single-item request, such as one from
// EncodeRequest, and returns the payload of the response item and the size
// of the response message. The payload is valid until the next call of
// Exchange or Call. A failed item is returned as a *Error, a failure to
// send or receive as a *NetError.
func (c *Client) Exchange(req []byte) (payload ttlv.Value, size int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exchange(req)
}

func (c *Client) exchange(req []byte) (ttlv.Value, int, error) {
	msg, err := c.roundTrip(req)
	if err != nil {
		return nil, 0, &NetError{Addr: c.conn.RemoteAddr().String(), Err: err}
	}
	if err := c.resp.Parse(msg, Limits{}); err != nil {
		return nil, len(msg), err
	}
	if len(c.resp.Items) != 1 {
		return nil, len(msg), ErrNoBatchItem
	}
	it := &c.resp.Items[0]
	if err := it.Err(); err != nil {
		return nil, len(msg), err
	}
	return it.Payload, len(msg), nil
}

// Call sends one operation and returns the response payload, valid until
// the next call of Exchange or Call; failures are as for Exchange.
func (c *Client) Call(op Operation, payload func(b *ttlv.Builder)) (ttlv.Value, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	req, err := c.encodeRequest(c.out, op, payload)
	if err != nil {
		return nil, err
	}
	c.out = req
	p, _, err := c.exchange(req)
	return p, err
}
