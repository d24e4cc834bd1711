package kmip

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/ttlv"
)

// Default limits. Every one is finite: a client can hold no resource for
// ever and cannot make the server allocate without bound.
const (
	DefaultMaxMessageSize   = 1 << 20
	DefaultMaxConns         = 1024
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultReadTimeout      = 30 * time.Second
	DefaultWriteTimeout     = 30 * time.Second
	// DefaultIdleTimeout is long because clients such as PyKMIP keep one
	// connection for a whole session and never reconnect.
	DefaultIdleTimeout = 10 * time.Minute
	// Handshakes in progress have their own budget, so that sockets that
	// never finish one cannot take the established connections' slots.
	DefaultMaxHandshakes           = 256
	DefaultMaxHandshakesPerAddress = 32
	// Per-identity and per-address caps keep one client from holding
	// every established connection.
	DefaultMaxConnsPerIdentity = 128
	DefaultMaxConnsPerAddress  = 256
	// KMIP over HTTPS: the request line and headers, and the time to read
	// them.
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultHeaderReadTimeout = 10 * time.Second
)

// Reasons a connection is refused for a limit (see RefusalObserver and
// Observer.HandshakeFailed).
const (
	RefusedHandshakeLimit           = "handshake_limit"
	RefusedHandshakeLimitPerAddress = "handshake_limit_per_address"
	RefusedConnLimit                = "connection_limit"
	RefusedConnLimitPerIdentity     = "connection_limit_per_identity"
	RefusedConnLimitPerAddress      = "connection_limit_per_address"
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("kmip: server closed")

// Server serves KMIP over mutual TLS. The zero value of each limit means its
// default; defaults are never written into the struct.
type Server struct {
	Addr string // default ":5696"
	// TLSConfig is cloned by the first Serve, which adds the client
	// certificate and identity checks to it; later changes are not seen.
	TLSConfig *tls.Config
	// ClientCAs, when set, are the roots the server verifies client
	// certificates against after the handshake (see NewTLSConfig). When nil,
	// TLSConfig must verify them itself (tls.RequireAndVerifyClientCert).
	ClientCAs *x509.CertPool
	Handler   Handler
	Logger    zerolog.Logger

	HandshakeTimeout time.Duration
	ReadTimeout      time.Duration // to read one message once it has begun
	WriteTimeout     time.Duration
	IdleTimeout      time.Duration // between messages
	MaxMessageSize   int           // request size limit, bytes
	MaxBatchItems    int
	MaxDepth         int
	// MaxConns caps established connections (handshake and identity
	// check done); MaxConnsPerIdentity and MaxConnsPerAddress cap those of
	// one identity and of one source IP address. A connection over a cap is
	// closed right after its handshake.
	MaxConns            int
	MaxConnsPerIdentity int
	MaxConnsPerAddress  int
	// MaxHandshakes caps TLS handshakes in progress, MaxHandshakesPerAddress
	// those from one source IP address; a connection over either is closed
	// when accepted.
	MaxHandshakes           int
	MaxHandshakesPerAddress int
	// MaxHeaderBytes caps an HTTPS request's line and headers, and
	// HeaderReadTimeout the time to read them (431 and 408 beyond).
	MaxHeaderBytes    int
	HeaderReadTimeout time.Duration
	// IdentitySource is the client certificate field identities come from
	// (default IdentityCN).
	IdentitySource IdentitySource
	// DisableHTTP turns off KMIP over HTTPS (POST /kmip) on the same port.
	DisableHTTP bool

	// Observer, if set, is told of connections, handshake failures and
	// every batch item served (metrics). If it also implements
	// RefusalObserver, it is told of every refused connection and message.
	Observer Observer

	// Now returns the current time; tests may replace it.
	Now func() time.Time

	mu         sync.Mutex
	listeners  map[net.Listener]struct{}
	conns      map[*conn]struct{}
	inShutdown atomic.Bool
	wg         sync.WaitGroup
	once       sync.Once
	tlsConfig  *tls.Config // TLSConfig checking client certificates in the handshake
	postCheck  bool        // TLSConfig.GetConfigForClient bypasses that: check after it
	lim        connLimits
	connLog    rateLimit // refused connections
	msgLog     rateLimit // refused messages
	// base is every request's context; stop cancels it when Shutdown gives
	// up waiting.
	baseOnce sync.Once
	base     context.Context
	stop     context.CancelFunc
}

// baseContext returns the context of every request.
func (s *Server) baseContext() context.Context {
	s.baseOnce.Do(func() { s.base, s.stop = context.WithCancel(context.Background()) })
	return s.base
}

func (s *Server) handshakeTimeout() time.Duration {
	return orDefault(s.HandshakeTimeout, DefaultHandshakeTimeout)
}
func (s *Server) readTimeout() time.Duration  { return orDefault(s.ReadTimeout, DefaultReadTimeout) }
func (s *Server) writeTimeout() time.Duration { return orDefault(s.WriteTimeout, DefaultWriteTimeout) }
func (s *Server) idleTimeout() time.Duration  { return orDefault(s.IdleTimeout, DefaultIdleTimeout) }
func (s *Server) headerReadTimeout() time.Duration {
	return orDefault(s.HeaderReadTimeout, DefaultHeaderReadTimeout)
}
func (s *Server) maxMessageSize() int { return orDefaultInt(s.MaxMessageSize, DefaultMaxMessageSize) }
func (s *Server) maxHeaderBytes() int { return orDefaultInt(s.MaxHeaderBytes, DefaultMaxHeaderBytes) }
func (s *Server) maxConns() int       { return orDefaultInt(s.MaxConns, DefaultMaxConns) }
func (s *Server) maxHandshakes() int  { return orDefaultInt(s.MaxHandshakes, DefaultMaxHandshakes) }
func (s *Server) maxConnsPerIdentity() int {
	return orDefaultInt(s.MaxConnsPerIdentity, DefaultMaxConnsPerIdentity)
}
func (s *Server) maxConnsPerAddress() int {
	return orDefaultInt(s.MaxConnsPerAddress, DefaultMaxConnsPerAddress)
}
func (s *Server) maxHandshakesPerAddress() int {
	return orDefaultInt(s.MaxHandshakesPerAddress, DefaultMaxHandshakesPerAddress)
}
func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func orDefaultInt(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// ListenAndServe listens on s.Addr and serves.
func (s *Server) ListenAndServe() error {
	addr := s.Addr
	if addr == "" {
		addr = ":5696"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l (a plain TCP listener; TLS is done here, so
// that handshakes run in the connection's goroutine under a deadline).
func (s *Server) Serve(l net.Listener) error {
	if s.TLSConfig == nil || s.Handler == nil {
		return errors.New("kmip: Server needs TLSConfig and Handler")
	}
	s.once.Do(s.setup)
	s.mu.Lock()
	if s.inShutdown.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners = make(map[net.Listener]struct{})
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.inShutdown.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.Logger.Warn().Err(err).Dur("retry_in", backoff).Msg("accept failed")
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		ip := addrOf(nc.RemoteAddr())
		if reason := s.lim.beginHandshake(ip, s.maxHandshakes(), s.maxHandshakesPerAddress()); reason != "" {
			nc.Close()
			s.refuseConn(nc.RemoteAddr(), nil, reason, "too many TLS handshakes in progress", zerolog.WarnLevel)
			continue
		}
		c := &conn{srv: s, raw: nc, nc: nc, ip: ip, handshaking: true}
		if !s.adopt(c) {
			nc.Close()
			c.release()
			return ErrServerClosed
		}
		go func() {
			defer func() {
				s.forget(c)
				c.release()
				s.wg.Done()
			}()
			c.serve()
		}()
	}
}

// setup makes the TLS configuration the server handshakes with: TLSConfig,
// also checking the client's certificate and identity, so that a refused
// client gets a TLS alert (bad certificate) rather than a closed connection.
func (s *Server) setup() {
	cfg := s.TLSConfig.Clone()
	verify := cfg.VerifyConnection
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if verify != nil {
			if err := verify(cs); err != nil {
				return err
			}
		}
		_, err := s.checkPeer(cs)
		return err
	}
	s.tlsConfig = cfg
	s.postCheck = cfg.GetConfigForClient != nil
}

// checkPeer verifies the client's certificate and derives its identity.
func (s *Server) checkPeer(cs tls.ConnectionState) (Identity, error) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, errNoClientCert
	}
	if s.ClientCAs != nil {
		if _, err := VerifyClientCertificate(cs.PeerCertificates, s.ClientCAs); err != nil {
			return Identity{}, err
		}
	} else if len(cs.VerifiedChains) == 0 {
		return Identity{}, errNoClientCert
	} else if leaf := cs.PeerCertificates[0]; leaf.BasicConstraintsValid && leaf.IsCA {
		return Identity{}, errCALeaf
	}
	return IdentityFromCertificate(cs.PeerCertificates[0], s.IdentitySource)
}

// ConnCounts reports the TLS handshakes in progress and the established
// connections.
func (s *Server) ConnCounts() (handshakes, established int) {
	s.lim.mu.Lock()
	defer s.lim.mu.Unlock()
	return s.lim.handshakes, s.lim.conns
}

// connLimits counts handshakes in progress and established connections, in
// all and per source address and identity (entries at zero are deleted).
type connLimits struct {
	mu         sync.Mutex
	handshakes int
	hsByAddr   map[netip.Addr]int
	conns      int
	byAddr     map[netip.Addr]int
	byID       map[string]int
}

func (l *connLimits) beginHandshake(ip netip.Addr, max, perAddr int) (refused string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.handshakes >= max:
		return RefusedHandshakeLimit
	case l.hsByAddr[ip] >= perAddr:
		return RefusedHandshakeLimitPerAddress
	}
	if l.hsByAddr == nil {
		l.hsByAddr = make(map[netip.Addr]int)
	}
	l.handshakes++
	l.hsByAddr[ip]++
	return ""
}

func (l *connLimits) endHandshake(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.handshakes--
	decrement(l.hsByAddr, ip)
}

func (l *connLimits) open(ip netip.Addr, id string, max, perID, perAddr int) (refused string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.conns >= max:
		return RefusedConnLimit
	case l.byID[id] >= perID:
		return RefusedConnLimitPerIdentity
	case l.byAddr[ip] >= perAddr:
		return RefusedConnLimitPerAddress
	}
	if l.byID == nil {
		l.byID, l.byAddr = make(map[string]int), make(map[netip.Addr]int)
	}
	l.conns++
	l.byID[id]++
	l.byAddr[ip]++
	return ""
}

func (l *connLimits) close(ip netip.Addr, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conns--
	decrement(l.byID, id)
	decrement(l.byAddr, ip)
}

func decrement[K comparable](m map[K]int, k K) {
	if m[k] <= 1 {
		delete(m, k)
	} else {
		m[k]--
	}
}

// addrOf is the IP address the per-address limits count a connection
// under (IPv4-mapped IPv6 addresses as IPv4).
func addrOf(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

// refusalLogBurst is how many refusals of a kind are logged per second; the
// others are counted in the next line logged, so that a flood cannot fill
// the log.
const refusalLogBurst = 10

type rateLimit struct {
	mu         sync.Mutex
	window     time.Time
	n          int
	suppressed int
}

// allow reports whether to log now, and how many lines were suppressed
// since the last one logged.
func (r *rateLimit) allow(now time.Time) (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.window) >= time.Second {
		r.window, r.n = now, 0
	}
	if r.n >= refusalLogBurst {
		r.suppressed++
		return false, 0
	}
	r.n++
	suppressed, r.suppressed = r.suppressed, 0
	return true, suppressed
}

// refuseConn logs (rate-limited) and reports a refused connection.
func (s *Server) refuseConn(remote net.Addr, id *Identity, reason, detail string, lvl zerolog.Level) {
	if ok, suppressed := s.connLog.allow(time.Now()); ok {
		ev := s.Logger.WithLevel(lvl).Str("remote", addrString(remote)).Str("reason", reason).Str("detail", detail)
		if id != nil {
			ev = ev.Str("identity", id.Name)
		}
		if suppressed > 0 {
			ev = ev.Int("suppressed", suppressed)
		}
		ev.Msg("connection refused")
	}
	if s.Observer != nil {
		s.Observer.HandshakeFailed(reason)
		if ro, ok := s.Observer.(RefusalObserver); ok {
			ro.ConnectionRefused(remote, id, reason, detail)
		}
	}
}

// refuseMessage logs (rate-limited) and reports a message answered, or a
// connection closed, without running an operation.
func (s *Server) refuseMessage(remote net.Addr, id *Identity, reason ResultReason, detail string) {
	if ok, suppressed := s.msgLog.allow(time.Now()); ok {
		ev := s.Logger.Info().Str("remote", addrString(remote)).Str("identity", id.Name).Stringer("reason", reason).Str("detail", detail)
		if suppressed > 0 {
			ev = ev.Int("suppressed", suppressed)
		}
		ev.Msg("request refused")
	}
	if ro, ok := s.Observer.(RefusalObserver); ok {
		ro.MessageRefused(remote, id, reason, detail)
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// forget unregisters a connection that has ended.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// adopt registers a new connection and counts it in s.wg, unless the server
// is shutting down. Both happen under s.mu, which Shutdown holds when it sets
// inShutdown, so no wg.Add can race the wg.Wait that follows.
func (s *Server) adopt(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inShutdown.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// Shutdown stops accepting, lets requests in flight finish and closes idle
// connections; it returns when all connections are closed or ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.inShutdown.Store(true)
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			s.baseContext()
			s.stop() // requests still waiting on the store or the HSM give up
			s.mu.Lock()
			for c := range s.conns {
				c.raw.Close()
			}
			s.mu.Unlock()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.idle.Load() {
			c.raw.Close()
		}
	}
}

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
				s.refuseMessage(remoteAddr, &c.sess.Identity, ResultReasonInvalidMessage, "connection closed: "+err.Error())
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

// handle turns one request message into one response message.
func (c *Session) handle(msg []byte) []byte {
	s := c.srv
	now := s.now()
	req := &c.req
	err := req.Parse(msg, Limits{MaxDepth: s.MaxDepth, MaxBatchItems: s.MaxBatchItems})
	if err != nil {
		var pe *ParseError
		ver := V1_0
		if errors.As(err, &pe) && pe.Version.Supported() {
			ver = pe.Version
		}
		s.refuseMessage(c.RemoteAddr, &c.Identity, ResultReasonInvalidMessage, err.Error())
		return c.failAll(ver, now, nil, ResultStatusOperationFailed, ResultReasonInvalidMessage, err.Error())
	}
	h := &req.Header
	if !h.Version.Supported() {
		msg := "protocol version " + h.Version.String() + " is not supported"
		s.refuseMessage(c.RemoteAddr, &c.Identity, ResultReasonUnsupportedProtocolVersion, msg)
		return c.failAll(nearestVersion(h.Version), now, req.Items, ResultStatusOperationFailed,
			ResultReasonUnsupportedProtocolVersion, msg)
	}
	for i := range req.Items {
		if critical, ok := hasCriticalExtension(req.Items[i].Extensions); !ok || critical {
			const msg = "unsupported critical message extension"
			s.refuseMessage(c.RemoteAddr, &c.Identity, ResultReasonUnknownMessageExtension, msg)
			return c.failAll(h.Version, now, req.Items, ResultStatusOperationFailed,
				ResultReasonUnknownMessageExtension, msg)
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
	c.call = Call{Ctx: c.srv.baseContext(), Identity: &c.Identity, RemoteAddr: c.RemoteAddr, Request: req, Version: h.Version, Now: now, Batch: &c.batch}

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
			s.Logger.Error().Str("identity", c.Identity.Name).Err(err).Msg("batch commit failed")
			return c.failAll(h.Version, now, req.Items, ResultStatusOperationFailed, ResultReasonGeneralFailure, "batch could not be committed")
		}
	} else {
		c.serveItems(false)
	}
	out, err := w.Finish()
	if err != nil {
		// Even the failure items did not fit: answer with one short failure.
		return c.failAll(h.Version, now, nil, ResultStatusOperationFailed, ResultReasonResponseTooLarge, "response too large")
	}
	return out
}

var errBatchFailed = errors.New("kmip: batch item failed")

var errNoClientCert = errors.New("kmip: no client certificate")

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
		if err == nil {
			err = ErrResponseTooLarge
		}
		reason, msg := ResultOf(err)
		if reason == ResultReasonGeneralFailure {
			c.srv.Logger.Error().Str("identity", c.Identity.Name).Stringer("operation", it.Operation).Err(err).Msg("operation failed")
		}
		w.Failure(it.Operation, it.ID, ResultStatusOperationFailed, reason, msg)
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

// serveItem runs one item, turning a panic into General Failure.
func (c *Session) serveItem(it *BatchItem) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.srv.Logger.Error().Str("identity", c.Identity.Name).Stringer("operation", it.Operation).
				Str("panic", fmt.Sprint(p)).Bytes("stack", debug.Stack()).Msg("batch item panic recovered")
			err = &Error{Reason: ResultReasonGeneralFailure, Message: "internal error"}
		}
	}()
	if !c.call.Version.HasEnum(ttlv.TagOperation, uint32(it.Operation)) {
		return Errorf(ResultReasonOperationNotSupported, "operation %s does not exist in KMIP %s", it.Operation, c.call.Version)
	}
	return c.srv.Handler.ServeKMIP(&c.call, &c.w.B)
}

// failAll answers every item (or, when items is nil, one item without an
// Operation) with the same failure.
func (c *Session) failAll(ver Version, now time.Time, items []BatchItem, status ResultStatus, reason ResultReason, msg string) []byte {
	w := &c.w
	n := max(len(items), 1)
	w.Begin(c.out, 0, &ResponseHeader{Version: ver, TimeStamp: now.Unix(), BatchCount: int32(n)})
	if len(items) == 0 {
		w.Failure(0, nil, status, reason, msg)
	}
	for i := range items {
		w.Failure(items[i].Operation, items[i].ID, status, reason, msg)
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
