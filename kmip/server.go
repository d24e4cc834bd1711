package kmip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
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
	// Authenticator, if set, checks the credentials requests carry in
	// their header; without one they are ignored and every request acts as
	// its certificate's identity.
	Authenticator Authenticator
	// DisableHTTP turns off KMIP over HTTPS (POST /kmip) on the same port.
	DisableHTTP bool

	// Observer, if set, is told of connections, handshake failures and
	// every batch item served (metrics). If it also implements
	// RefusalObserver, it is told of every refused connection and message.
	Observer Observer

	// Now returns the current time; tests may replace it.
	Now func() time.Time

	// PushQueue bounds the server-to-client operations queued for one
	// handed-over connection (push.go); 0 means DefaultPushQueue.
	PushQueue int
	push      pushHub

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
	// reqPrefix and reqSeq make request ids (RequestID); the prefix is
	// drawn with base.
	reqPrefix uint64
	reqSeq    atomic.Uint64
}

// baseContext returns the context of every request.
func (s *Server) baseContext() context.Context {
	s.baseOnce.Do(func() {
		s.base, s.stop = context.WithCancel(context.Background())
		s.reqPrefix = newRequestPrefix()
	})
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

var errNoClientCert = errors.New("kmip: no client certificate")
