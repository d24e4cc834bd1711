package kmip

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/ttlv"
)

// conn is one client connection and its reusable buffers.
type conn struct {
	srv  *Server
	raw  net.Conn // the TCP connection, closed by Shutdown
	nc   net.Conn // the TLS connection over raw, used only by serve
	idle atomic.Bool

	// What the connection holds of the server's limits (serve's goroutine
	// only).
	ip          netip.Addr
	handshaking bool
	established bool
	identity    string

	in   []byte
	sess *Session
	br   *bufio.Reader  // buffers nc, so the first byte can be peeked
	dr   deadlineReader // reused for every message
}

// release gives back what the connection holds of the server's limits.
func (c *conn) release() {
	if c.handshaking {
		c.srv.lim.endHandshake(c.ip)
		c.handshaking = false
	}
	if c.established {
		c.srv.lim.close(c.ip, c.identity)
		c.established = false
	}
}

func (c *conn) serve() {
	s := c.srv
	remoteAddr := c.raw.RemoteAddr()
	remote := remoteAddr.String()
	defer func() {
		if p := recover(); p != nil {
			s.Logger.Error().Str("remote", remote).Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("connection panic recovered")
		}
		c.nc.Close()
	}()
	// Nothing is in flight during the handshake: Shutdown may close it.
	c.idle.Store(true)
	tc := tls.Server(c.raw, s.tlsConfig)
	c.nc = tc
	ctx, cancel := context.WithTimeout(context.Background(), s.handshakeTimeout())
	err := tc.HandshakeContext(ctx)
	cancel()
	c.release() // the handshake slot
	var id Identity
	if err == nil {
		st := tc.ConnectionState()
		if s.postCheck {
			id, err = s.checkPeer(st)
		} else if len(st.PeerCertificates) == 0 {
			err = errNoClientCert
		} else {
			// checkPeer passed in the handshake: only the identity is needed.
			id, err = IdentityFromCertificate(st.PeerCertificates[0], s.IdentitySource)
		}
	}
	if err != nil {
		if s.inShutdown.Load() {
			return // closed by Shutdown
		}
		reason := RefusalReason(err)
		lvl := zerolog.WarnLevel
		switch reason {
		case "not_tls", "timeout", "eof", "alert", "other":
			lvl = zerolog.InfoLevel // not a certificate the server refused
		}
		s.refuseConn(remoteAddr, nil, reason, err.Error(), lvl)
		return
	}
	if reason := s.lim.open(c.ip, id.Name, s.maxConns(), s.maxConnsPerIdentity(), s.maxConnsPerAddress()); reason != "" {
		s.refuseConn(remoteAddr, &id, reason, "too many connections", zerolog.WarnLevel)
		return
	}
	c.established, c.identity = true, id.Name
	if s.Observer != nil {
		s.Observer.ConnOpened()
		defer s.Observer.ConnClosed()
	}
	st := tc.ConnectionState()
	c.sess = s.NewSession(id, remoteAddr)
	s.Logger.Debug().Str("remote", remote).Str("identity", c.sess.Identity.Name).Str("tls", tls.VersionName(st.Version)).Msg("connection established")

	c.in = make([]byte, 0, 4096)
	c.br = bufio.NewReaderSize(c.nc, 4096)
	c.dr.c = c
	// A client may speak HTTPS on the same port (KMIP Profiles 2.1 §5.3):
	// an HTTP request starts with a method name, a TTLV message with 0x42.
	c.idle.Store(true)
	c.nc.SetReadDeadline(time.Now().Add(s.idleTimeout()))
	if head, err := c.br.Peek(4); err == nil && !s.DisableHTTP && isHTTPMethod(head) {
		c.serveHTTP()
		return
	}
	for {
		c.idle.Store(true)
		if s.inShutdown.Load() {
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(s.idleTimeout()))
		msg, err := c.readMessage()
		c.idle.Store(false)
		if err != nil {
			// Framing is lost once a message has begun; before, the client
			// left or stayed idle too long.
			if c.dr.started && !errors.Is(err, net.ErrClosed) {
				s.refuseMessage(remoteAddr, &c.sess.Identity, RequestID{}, ResultReasonInvalidMessage, "connection closed: "+err.Error())
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.Logger.Debug().Str("remote", remote).Str("identity", c.sess.Identity.Name).Err(err).Msg("closing connection")
			}
			return
		}
		if cap(msg) > cap(c.in) {
			c.in = msg[:0]
		}
		out := s.Handle(c.sess, msg)
		c.nc.SetWriteDeadline(time.Now().Add(s.writeTimeout()))
		if _, err := c.nc.Write(out); err != nil {
			s.Logger.Info().Str("remote", remote).Err(err).Msg("write failed")
			return
		}
		if c.sess.endpoint {
			c.servePush(c.sess.req.Header.Version)
			return
		}
	}
}

// isHTTPMethod reports whether a connection's first four bytes start an
// HTTP request line ("POST", "GET ", ...). A TTLV message cannot: its
// second byte is the middle byte of a tag, 0x00 for every KMIP tag in use.
func isHTTPMethod(head []byte) bool {
	for _, b := range head {
		if (b < 'A' || b > 'Z') && b != ' ' {
			return false
		}
	}
	return true
}

// readMessage reads one request: the idle deadline covers the wait for its
// first bytes, the read timeout the rest.
func (c *conn) readMessage() ([]byte, error) {
	c.dr.started = false
	return ttlv.ReadMessage(&c.dr, c.in, c.srv.maxMessageSize())
}

type deadlineReader struct {
	c       *conn
	started bool
}

func (r *deadlineReader) Read(p []byte) (int, error) {
	n, err := r.c.br.Read(p)
	if n > 0 && !r.started {
		r.started = true
		r.c.idle.Store(false)
		r.c.nc.SetReadDeadline(time.Now().Add(r.c.srv.readTimeout()))
	}
	return n, err
}
