package kmip

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

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
func (s *Server) refuseMessage(remote net.Addr, id *Identity, rid RequestID, reason ResultReason, detail string) {
	if !rid.IsZero() {
		detail += " (request " + rid.String() + ")"
	}
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
