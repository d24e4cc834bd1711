// Package kmiptest starts real KMIP servers for tests: mutual TLS on
// 127.0.0.1 with certificates from a fresh development CA.
package kmiptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/internal/pki"
	"github.com/kmipd/kmipd/kmip"
)

// Bundle and KeyPair are the development PKI's certificate bundle and one
// issued certificate with its key, named here so that this package's API
// does not name an internal package's types.
type (
	Bundle  = pki.Bundle
	KeyPair = pki.KeyPair
)

// PKI is a test CA with issued certificates.
type PKI struct {
	Bundle *Bundle
	Pool   *x509.CertPool
}

// MustPKI generates a CA, a server certificate for 127.0.0.1/localhost and
// client certificates for the given names (default "admin").
func MustPKI(t testing.TB, clients ...string) *PKI {
	t.Helper()
	if len(clients) == 0 {
		clients = []string{"admin"}
	}
	b, err := pki.Generate(pki.Options{Hosts: []string{"127.0.0.1", "::1", "localhost"}, ClientNames: clients})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.CACert)
	return &PKI{Bundle: b, Pool: pool}
}

// ServerTLS returns the server TLS configuration kmipd uses.
func (p *PKI) ServerTLS(t testing.TB) *tls.Config {
	t.Helper()
	cert, err := tls.X509KeyPair(p.Bundle.ServerCert, p.Bundle.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := kmip.NewTLSConfig(kmip.TLSOptions{Certificate: cert, ClientCAs: p.Pool})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// ClientTLS returns a client TLS configuration presenting the certificate of
// the named client.
func (p *PKI) ClientTLS(t testing.TB, name string) *tls.Config {
	t.Helper()
	kp, ok := p.Bundle.Clients[name]
	if !ok {
		t.Fatalf("no client certificate %q", name)
	}
	return ClientTLSFor(t, p.Pool, kp)
}

// ClientTLSFor builds a client configuration from a key pair.
func ClientTLSFor(t testing.TB, roots *x509.CertPool, kp KeyPair) *tls.Config {
	t.Helper()
	cert, err := tls.X509KeyPair(kp.Cert, kp.Key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: "127.0.0.1"}
}

// Server is a running test server.
type Server struct {
	*kmip.Server
	Addr string
	PKI  *PKI
}

// Start runs a kmip.Server with handler h on 127.0.0.1:0 until the test
// ends. opts may adjust the server before it starts.
func Start(t testing.TB, p *PKI, h kmip.Handler, opts ...func(*kmip.Server)) *Server {
	t.Helper()
	srv := &kmip.Server{
		TLSConfig: p.ServerTLS(t),
		ClientCAs: p.Pool,
		Handler:   h,
		Logger:    zerolog.New(io.Discard),
	}
	if testing.Verbose() {
		srv.Logger = zerolog.New(zerolog.NewTestWriter(t))
	}
	for _, o := range opts {
		o(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		srv.Serve(l)
		close(done)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return &Server{Server: srv, Addr: l.Addr().String(), PKI: p}
}

// Dial connects a client with the named client certificate.
func (s *Server) Dial(t testing.TB, name string, ver kmip.Version) *kmip.Client {
	t.Helper()
	c, err := kmip.Dial(s.Addr, s.PKI.ClientTLS(t, name))
	if err != nil {
		t.Fatal(err)
	}
	c.Version = ver
	t.Cleanup(func() { c.Close() })
	return c
}
