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

	mu   sync.Mutex
	conn net.Conn
	in   []byte
	w    RequestWriter
}

// Dial connects to a KMIP server.
func Dial(addr string, cfg *tls.Config) (*Client, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	return &Client{Version: V2_0, conn: conn}, nil
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

// Do sends a single-item request and returns its response item. A failed
// item is returned with a *Error.
func (c *Client) Do(op Operation, payload func(b *ttlv.Builder)) (*Response, *ResponseItem, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.w.Begin(nil, c.Version, 1, nil)
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
		return resp, nil, errors.New("kmip: response has no batch item")
	}
	it := &resp.Items[0]
	return resp, it, it.Err()
}
