package kmip

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// Observer receives the server's events, for metrics. Its methods are
// called from connection goroutines, concurrently, on the request path:
// they must be fast and must not block.
type Observer interface {
	ConnOpened()
	ConnClosed()
	// HandshakeFailed reports a failed TLS handshake or client
	// certificate check, with a short reason (see HandshakeFailureReason).
	HandshakeFailed(reason string)
	// ItemServed reports one batch item and how long serving it took.
	ItemServed(op Operation, status ResultStatus, reason ResultReason, d time.Duration)
}

// HandshakeFailureReason classifies a handshake error into a small, fixed
// set of metric labels.
func HandshakeFailureReason(err error) string {
	var (
		ue  x509.UnknownAuthorityError
		ce  x509.CertificateInvalidError
		he  x509.HostnameError
		rec tls.RecordHeaderError
		ne  net.Error
	)
	switch {
	case errors.As(err, &ue):
		return "unknown_authority"
	case errors.As(err, &ce):
		if ce.Reason == x509.Expired {
			return "certificate_expired"
		}
		return "certificate_invalid"
	case errors.As(err, &he):
		return "certificate_invalid"
	case errors.Is(err, errNoClientCert):
		return "no_client_certificate"
	case errors.As(err, &rec):
		return "not_tls"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return "alert"
	}
	return "other"
}

// RefusalObserver, when the Server's Observer also implements it, is told
// of what the server refuses before any operation runs, so that the audit
// trail records refused connections and messages too. Like Observer, its
// methods must not block; rate limiting is the implementation's.
type RefusalObserver interface {
	// ConnectionRefused reports a connection that did not become a client
	// session: a failed TLS handshake, an unverified certificate, an
	// identity that cannot be accepted, or a connection limit. reason is a
	// short fixed label (HandshakeFailureReason's, or the limit's name);
	// detail says more for the operator. id is nil before the identity is
	// known.
	ConnectionRefused(remote net.Addr, id *Identity, reason, detail string)
	// MessageRefused reports a request message answered without running an
	// operation (malformed, unsupported protocol version, critical message
	// extension) or a connection closed because its framing was lost.
	MessageRefused(remote net.Addr, id *Identity, reason ResultReason, detail string)
}
