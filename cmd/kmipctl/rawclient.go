package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// rawClient is a KMIP connection that exposes what ping and bench need
// and kmip.Client keeps to itself: the TLS state, the encoded messages and
// their sizes. It is not safe for concurrent use.
type rawClient struct {
	conn    *tls.Conn
	version kmip.Version
	timeout time.Duration
	w       kmip.RequestWriter
	in      []byte
	out     []byte
	// lastResponse is the size of the last response message.
	lastResponse int
	resp         kmip.Response
}

// dialRaw connects and completes the TLS handshake.
func dialRaw(addr string, cfg *tls.Config, ver kmip.Version, timeout time.Duration) (*rawClient, error) {
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, connError{fmt.Errorf("connect to %s: %w", addr, err)}
	}
	return &rawClient{conn: conn, version: ver, timeout: timeout}, nil
}

func (c *rawClient) Close() error { return c.conn.Close() }

// encode builds a single-item request; the result is valid until the next
// call.
func (c *rawClient) encode(op kmip.Operation, payload func(b *ttlv.Builder)) ([]byte, error) {
	c.w.Begin(c.out[:0], c.version, 1, nil)
	c.w.Item(op, nil, payload)
	msg, err := c.w.Finish()
	if err == nil {
		c.out = msg
	}
	return msg, err
}

// roundTrip sends an encoded request and reads the response, valid until
// the next call.
func (c *rawClient) roundTrip(req []byte) ([]byte, error) {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.conn.Write(req); err != nil {
		return nil, connError{fmt.Errorf("%s: %w", c.conn.RemoteAddr(), err)}
	}
	msg, err := ttlv.ReadMessage(c.conn, c.in, 64<<20)
	if err != nil {
		return nil, connError{fmt.Errorf("%s: %w", c.conn.RemoteAddr(), err)}
	}
	c.in = msg[:0]
	c.lastResponse = len(msg)
	return msg, nil
}

// exchange sends an encoded request and returns the payload of its one
// response item, valid until the next call; a failed item is a *kmip.Error.
func (c *rawClient) exchange(req []byte) (ttlv.Value, error) {
	msg, err := c.roundTrip(req)
	if err != nil {
		return nil, err
	}
	if err := c.resp.Parse(msg, kmip.Limits{}); err != nil {
		return nil, err
	}
	if len(c.resp.Items) != 1 {
		return nil, errors.New("response has no batch item")
	}
	it := &c.resp.Items[0]
	if err := it.Err(); err != nil {
		return nil, err
	}
	return it.Payload, nil
}

// do sends one operation and returns the response payload, valid until
// the next call.
func (c *rawClient) do(op kmip.Operation, payload func(b *ttlv.Builder)) (ttlv.Value, error) {
	req, err := c.encode(op, payload)
	if err != nil {
		return nil, err
	}
	return c.exchange(req)
}
