package kmip

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// TLSOptions configure NewTLSConfig.
type TLSOptions struct {
	Certificate  tls.Certificate
	ClientCAs    *x509.CertPool
	MinVersion   uint16   // tls.VersionTLS12 (default) or tls.VersionTLS13; never lower
	CipherSuites []uint16 // TLS 1.2 suites; nil means Go's secure defaults
}

// NewTLSConfig returns the server TLS configuration: TLS 1.2 or 1.3 only
// (KMIP Profiles 2.1 §3.1.1 forbids older versions), the server certificate
// served whatever the SNI (PyKMIP sends none), and a client certificate
// required and verified against ClientCAs (VerifyClientCertificate). The
// certificate's Extended Key Usage may be clientAuth or serverAuth:
// appliances such as vCenter present serverAuth-only certificates, which
// Go's built-in verification rejects.
//
// The handshake names no acceptable CAs: Go and OpenSSL clients send no
// certificate when none of theirs matches the list, and would then see
// "certificate required" instead of learning that their CA is not trusted.
func NewTLSConfig(o TLSOptions) (*tls.Config, error) {
	if o.ClientCAs == nil {
		return nil, errors.New("kmip: TLS config needs client CAs")
	}
	minV := o.MinVersion
	if minV < tls.VersionTLS12 {
		minV = tls.VersionTLS12
	}
	cert := o.Certificate
	pool := o.ClientCAs
	return &tls.Config{
		MinVersion:   minV,
		CipherSuites: o.CipherSuites,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAnyClientCert, // verified below, ClientCAs left nil
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := VerifyClientCertificate(cs.PeerCertificates, pool)
			return err
		},
	}, nil
}

// VerifyClientCertificate verifies a client's certificate chain (leaf
// first) against roots, accepting clientAuth or serverAuth EKU. A CA
// certificate is refused as a leaf: whoever holds a CA's key can issue
// certificates, and should not also act as a client with it.
func VerifyClientCertificate(certs []*x509.Certificate, roots *x509.CertPool) ([][]*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, errNoClientCert
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, fmt.Errorf("kmip: client certificate: %w", err)
	}
	if leaf := certs[0]; leaf.BasicConstraintsValid && leaf.IsCA {
		return nil, errCALeaf
	}
	return chains, nil
}

// errCALeaf refuses a CA certificate presented as a client's.
var errCALeaf = errors.New("kmip: client certificate is a CA certificate (basic constraints CA:TRUE)")

// RefusalReason classifies why a connection's handshake or certificate
// check failed: HandshakeFailureReason's labels, and the ones it does not
// know (identity errors, a CA certificate as a client's, no certificate).
func RefusalReason(err error) string {
	var ie *IdentityError
	switch {
	case errors.As(err, &ie):
		return ie.Reason
	case errors.Is(err, errCALeaf):
		return "ca_certificate"
	case errors.Is(err, errNoClientCert),
		// crypto/tls has no error value for it.
		err != nil && strings.Contains(err.Error(), "didn't provide a certificate"):
		return "no_client_certificate"
	}
	return HandshakeFailureReason(err)
}
