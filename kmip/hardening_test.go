package kmip_test

// Attacks on the listener from issue 12, each through a real kmip.Server on
// 127.0.0.1 with real TLS certificates. Each test logs its figures.

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/internal/pki"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/ttlv"
)

// fakeObserver records what the server reports.
type fakeObserver struct {
	mu         sync.Mutex
	handshake  []string // HandshakeFailed reasons
	refusedC   []connRefusal
	refusedM   []msgRefusal
	open, shut atomic.Int64
}

type connRefusal struct {
	remote, identity, reason, detail string
}

type msgRefusal struct {
	identity string
	reason   kmip.ResultReason
	detail   string
}

func (o *fakeObserver) ConnOpened() { o.open.Add(1) }
func (o *fakeObserver) ConnClosed() { o.shut.Add(1) }
func (o *fakeObserver) HandshakeFailed(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.handshake = append(o.handshake, reason)
}
func (o *fakeObserver) ItemServed(kmip.Operation, kmip.ResultStatus, kmip.ResultReason, time.Duration) {
}
func (o *fakeObserver) ConnectionRefused(remote net.Addr, id *kmip.Identity, reason, detail string) {
	r := connRefusal{reason: reason, detail: detail}
	if remote != nil {
		r.remote = remote.String()
	}
	if id != nil {
		r.identity = id.Name
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refusedC = append(o.refusedC, r)
}
func (o *fakeObserver) MessageRefused(remote net.Addr, id *kmip.Identity, reason kmip.ResultReason, detail string) {
	r := msgRefusal{reason: reason, detail: detail}
	if id != nil {
		r.identity = id.Name
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refusedM = append(o.refusedM, r)
}

// connRefusals counts the connections refused for reason.
func (o *fakeObserver) connRefusals(reason string) (n int, last connRefusal) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.refusedC {
		if r.reason == reason {
			n++
			last = r
		}
	}
	return n, last
}

// waitConnRefused waits until n connections have been refused for reason.
func (o *fakeObserver) waitConnRefused(t *testing.T, reason string, n int) connRefusal {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, last := o.connRefusals(reason)
		if got >= n {
			return last
		}
		if time.Now().After(deadline) {
			o.mu.Lock()
			all := append([]connRefusal(nil), o.refusedC...)
			o.mu.Unlock()
			t.Fatalf("%d connections refused for %q, want %d; all: %+v", got, reason, n, all)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitMsgRefused waits until a message has been refused for reason and
// returns the last such report.
func (o *fakeObserver) waitMsgRefused(t *testing.T, reason kmip.ResultReason, n int) msgRefusal {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		o.mu.Lock()
		got, last := 0, msgRefusal{}
		for _, r := range o.refusedM {
			if r.reason == reason {
				got++
				last = r
			}
		}
		all := append([]msgRefusal(nil), o.refusedM...)
		o.mu.Unlock()
		if got >= n {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages refused for %s, want %d; all: %+v", got, reason, n, all)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (o *fakeObserver) msgRefusals() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.refusedM)
}

// dialerFrom dials from the loopback address src, so that per-address
// limits tell test clients apart.
func dialerFrom(src string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
}

// session connects from src with cfg and serves one Query. On success the
// connection is returned open, with the identity the server saw (the
// echoHandler answers Query with it).
func session(t *testing.T, addr, src string, cfg *tls.Config) (net.Conn, string, error) {
	t.Helper()
	msg := request(t, kmip.V2_0, nil, kmip.OperationQuery)
	nc, err := tls.DialWithDialer(dialerFrom(src), "tcp", addr, cfg)
	if err != nil {
		return nil, "", err
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write(msg); err != nil {
		nc.Close()
		return nil, "", err
	}
	out, err := ttlv.ReadMessage(nc, nil, 1<<20)
	if err != nil {
		nc.Close()
		return nil, "", err
	}
	var r kmip.Response
	if err := r.Parse(out, kmip.Limits{}); err != nil || len(r.Items) != 1 || r.Items[0].Status != kmip.ResultStatusSuccess {
		nc.Close()
		return nil, "", fmt.Errorf("response %v %+v", err, r.Items)
	}
	var name []byte
	r.Items[0].Payload.ReadText(ttlv.TagVendorIdentification, &name)
	nc.SetDeadline(time.Time{})
	return nc, string(name), nil
}

// whoAmI serves one Query from 127.0.0.1 and closes the connection.
func whoAmI(t *testing.T, addr string, cfg *tls.Config) (string, error) {
	t.Helper()
	nc, name, err := session(t, addr, "127.0.0.1", cfg)
	if err == nil {
		nc.Close()
	}
	return name, err
}

// issueCert signs with the test CA a client certificate made from tmpl
// (serial, validity, key usages filled in when unset) for a new P-256 key.
func issueCert(t *testing.T, p *kmiptest.PKI, tmpl *x509.Certificate) pki.KeyPair {
	t.Helper()
	cb, _ := pem.Decode(p.Bundle.CACert)
	kb, _ := pem.Decode(p.Bundle.CAKey)
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber, _ = rand.Int(rand.Reader, big.NewInt(1<<62))
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	if tmpl.KeyUsage == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	cert, keyPEM := signPEM(t, tmpl, ca, key, caKey)
	return pki.KeyPair{Cert: cert, Key: keyPEM}
}

// signPEM signs tmpl for key's public key with parent and its private key
// signer, and returns the certificate and key (PKCS #8) in PEM.
func signPEM(t *testing.T, tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, signer any) (cert, keyPEM []byte) {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

var oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}

// foreignClient is a client certificate for cn from a CA of its own whose
// name differs from the test PKI's: a client of another organisation.
func foreignClient(t *testing.T, cn string) pki.KeyPair {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Other Corp Issuing CA", Organization: []string{"Other Corp"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caCert, caKeyPEM := signPEM(t, caTmpl, caTmpl, caKey, caKey)
	ca := &kmiptest.PKI{Bundle: &pki.Bundle{CACert: caCert, CAKey: caKeyPEM}}
	return issueCert(t, ca, &x509.Certificate{Subject: pkix.Name{CommonName: cn}})
}

// Attack 1: 1,100 TCP connections that never handshake, from one address,
// must not lock a legitimate client out.
func TestHardening_SilentConnectionsDoNotLockOut(t *testing.T) {
	p := kmiptest.MustPKI(t)
	obs := &fakeObserver{}
	s := kmiptest.Start(t, p, &echoHandler{}, func(s *kmip.Server) { s.Observer = obs })
	const silent = 1100
	d := dialerFrom("127.0.0.2")
	conns := make([]net.Conn, 0, silent)
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for range silent {
		nc, err := d.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatalf("silent connection %d: %v", len(conns), err)
		}
		conns = append(conns, nc)
	}
	// Let the server accept the whole backlog.
	time.Sleep(300 * time.Millisecond)

	start := time.Now()
	name, err := whoAmI(t, s.Addr, p.ClientTLS(t, "admin"))
	took := time.Since(start)
	if err != nil || name != "admin" || took > time.Second {
		t.Fatalf("legitimate client with %d silent connections open: %q, %v after %v", silent, name, err, took)
	}

	// Which of the silent connections does the server still hold?
	var held, closed atomic.Int64
	var wg sync.WaitGroup
	for _, nc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			_, err := nc.Read(make([]byte, 1))
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				held.Add(1)
			} else {
				closed.Add(1)
			}
		}()
	}
	wg.Wait()
	if held.Load() > kmip.DefaultMaxHandshakesPerAddress {
		t.Errorf("the server holds %d silent connections from one address, over its budget of %d", held.Load(), kmip.DefaultMaxHandshakesPerAddress)
	}
	refused, _ := obs.connRefusals(kmip.RefusedHandshakeLimitPerAddress)
	t.Logf("%d silent connections from 127.0.0.2: %d held in handshake, %d closed at once (%d reported as %s); legitimate Query from 127.0.0.1 answered in %v",
		silent, held.Load(), closed.Load(), refused, kmip.RefusedHandshakeLimitPerAddress, took.Round(time.Millisecond))
}

// Handshakes in progress have a total budget too, and a slot is given back
// when a handshake ends.
func TestHardening_HandshakeBudget(t *testing.T) {
	p := kmiptest.MustPKI(t)
	obs := &fakeObserver{}
	s := kmiptest.Start(t, p, &echoHandler{}, func(s *kmip.Server) {
		s.Observer = obs
		s.MaxHandshakes = 3
		s.MaxHandshakesPerAddress = 2
		s.HandshakeTimeout = 500 * time.Millisecond
	})
	var conns []net.Conn
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	silent := func(src string) net.Conn {
		nc, err := dialerFrom(src).Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, nc)
		return nc
	}
	silent("127.0.0.4")
	silent("127.0.0.4")
	silent("127.0.0.4") // over the per-address budget
	r := obs.waitConnRefused(t, kmip.RefusedHandshakeLimitPerAddress, 1)
	if !strings.HasPrefix(r.remote, "127.0.0.4:") || r.identity != "" {
		t.Errorf("refusal reported as %+v", r)
	}
	silent("127.0.0.5")
	silent("127.0.0.6") // over the total budget
	obs.waitConnRefused(t, kmip.RefusedHandshakeLimit, 1)
	if _, err := whoAmI(t, s.Addr, p.ClientTLS(t, "admin")); err == nil {
		t.Error("handshake served over MaxHandshakes")
	}
	// The silent ones time out and free their slots.
	time.Sleep(700 * time.Millisecond)
	if hs, _ := s.ConnCounts(); hs != 0 {
		t.Errorf("%d handshakes still counted after the timeout", hs)
	}
	if name, err := whoAmI(t, s.Addr, p.ClientTLS(t, "admin")); err != nil || name != "admin" {
		t.Errorf("after the silent ones timed out: %q %v", name, err)
	}
	obs.waitConnRefused(t, "timeout", 3)
}

// Attack 4: one identity, or one address, cannot hold every connection.
func TestHardening_ConnCapsPerIdentityAndAddress(t *testing.T) {
	p := kmiptest.MustPKI(t, "alice", "bob", "carol")
	obs := &fakeObserver{}
	const perID, perAddr, extra = 4, 6, 3
	s := kmiptest.Start(t, p, &echoHandler{}, func(s *kmip.Server) {
		s.Observer = obs
		s.MaxConnsPerIdentity = perID
		s.MaxConnsPerAddress = perAddr
	})
	var held []net.Conn
	defer func() {
		for _, nc := range held {
			nc.Close()
		}
	}()
	open := func(src, who string) error {
		nc, name, err := session(t, s.Addr, src, p.ClientTLS(t, who))
		if err == nil {
			if name != who {
				t.Errorf("served as %q, want %q", name, who)
			}
			held = append(held, nc)
		}
		return err
	}
	served, refused := 0, 0
	for range perID + extra {
		if err := open("127.0.0.1", "alice"); err != nil {
			refused++
		} else {
			served++
		}
	}
	if served != perID || refused != extra {
		t.Errorf("alice: %d connections served, %d refused; want %d and %d", served, refused, perID, extra)
	}
	r := obs.waitConnRefused(t, kmip.RefusedConnLimitPerIdentity, extra)
	if r.identity != "alice" {
		t.Errorf("refusal reported for %q", r.identity)
	}
	t.Logf("alice tried %d connections: %d served, %d refused (cap %d per identity)", perID+extra, served, refused, perID)
	if err := open("127.0.0.1", "bob"); err != nil {
		t.Errorf("bob refused while alice is at her cap: %v", err)
	}

	// 127.0.0.3: bob up to his cap (4 with the one above), then carol
	// until the address is at its cap.
	for range perID - 1 {
		if err := open("127.0.0.3", "bob"); err != nil {
			t.Fatalf("bob from 127.0.0.3: %v", err)
		}
	}
	for range perAddr - (perID - 1) {
		if err := open("127.0.0.3", "carol"); err != nil {
			t.Fatalf("carol from 127.0.0.3: %v", err)
		}
	}
	if err := open("127.0.0.3", "carol"); err == nil {
		t.Error("connection served over the per-address cap")
	}
	obs.waitConnRefused(t, kmip.RefusedConnLimitPerAddress, 1)
	if err := open("127.0.0.1", "carol"); err != nil {
		t.Errorf("carol from another address: %v", err)
	}
	if _, est := s.ConnCounts(); est != perID+1+perAddr+1 {
		t.Errorf("%d established connections counted, want %d", est, perID+1+perAddr+1)
	}
	// Closing a connection gives its slot back.
	held[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for open("127.0.0.1", "alice") != nil {
		if time.Now().After(deadline) {
			t.Fatal("alice's slot not given back after she closed a connection")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countingListener counts the bytes the server reads from its connections.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: &l.read}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// startCounting runs a kmip.Server (as kmiptest.Start does) on a listener
// that counts the bytes it reads.
func startCounting(t *testing.T, p *kmiptest.PKI, opts ...func(*kmip.Server)) (*kmip.Server, *countingListener) {
	t.Helper()
	srv := &kmip.Server{TLSConfig: p.ServerTLS(t), ClientCAs: p.Pool, Handler: &echoHandler{}, Logger: zerolog.New(io.Discard)}
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
	cl := &countingListener{Listener: l}
	done := make(chan struct{})
	go func() { srv.Serve(cl); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return srv, cl
}

// readStatus reads the server's HTTP response on nc in the background and
// sends its status code, or 0 when no response could be read.
func readStatus(nc net.Conn) <-chan int {
	status := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	return status
}

// Attack 2: 1 MB of HTTP request headers. The server stops reading at the
// header limit and answers 431 (or the client's write fails).
func TestHardening_HTTPHeaderFlood(t *testing.T) {
	p := kmiptest.MustPKI(t)
	obs := &fakeObserver{}
	_, cl := startCounting(t, p, func(s *kmip.Server) { s.Observer = obs })
	nc := dialTLS(t, cl.Addr().String(), p.ClientTLS(t, "admin"))
	defer nc.Close()
	status := readStatus(nc)
	nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	const flood = 1 << 20
	line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
	sent := 0
	var werr error
	if _, werr = io.WriteString(nc, "POST /kmip HTTP/1.1\r\nHost: kmip\r\n"); werr == nil {
		for sent < flood {
			var n int
			n, werr = io.WriteString(nc, line)
			sent += n
			if werr != nil {
				break
			}
		}
	}
	var code int
	select {
	case code = <-status:
	case <-time.After(3 * time.Second):
	}
	read := cl.read.Load()
	// Besides the headers, the server read the TLS handshake and up to a
	// few TLS records ahead.
	const slack = 48 << 10
	if werr == nil && code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("1 MB of headers: all written and answered %d, want 431 or a refused write", code)
	}
	if read > kmip.DefaultMaxHeaderBytes+slack {
		t.Errorf("the server read %d bytes of a %d-byte header flood (limit %d)", read, sent, kmip.DefaultMaxHeaderBytes)
	}
	t.Logf("header flood: client wrote %d of %d bytes (write error %v), answer %d; the server read %d bytes in all (header limit %d)",
		sent, flood, werr, code, read, kmip.DefaultMaxHeaderBytes)
	if code == http.StatusRequestHeaderFieldsTooLarge {
		obs.waitMsgRefused(t, kmip.ResultReasonInvalidMessage, 1)
	}
}

// Headers within the limit are served; beyond it, 431 on a fresh connection.
func TestHardening_HTTPHeaderLimitIsExact(t *testing.T) {
	p := kmiptest.MustPKI(t)
	_, cl := startCounting(t, p, func(s *kmip.Server) { s.MaxHeaderBytes = 2048 })
	post := func(filler int) int {
		t.Helper()
		nc := dialTLS(t, cl.Addr().String(), p.ClientTLS(t, "admin"))
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		body := request(t, kmip.V2_0, nil, kmip.OperationQuery)
		fmt.Fprintf(nc, "POST /kmip HTTP/1.1\r\nHost: kmip\r\nContent-Type: application/octet-stream\r\nX-Filler: %s\r\nContent-Length: %d\r\n\r\n%s",
			strings.Repeat("a", filler), len(body), body)
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(1800); code != http.StatusOK {
		t.Errorf("request with ~1.9 KB of headers: %d, want 200", code)
	}
	if code := post(2100); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("request with ~2.2 KB of headers: %d, want 431", code)
	}
}

// A client sending its headers a byte at a time is answered 408 once the
// header read timeout passes.
func TestHardening_HTTPHeaderReadTimeout(t *testing.T) {
	p := kmiptest.MustPKI(t)
	obs := &fakeObserver{}
	const timeout = 300 * time.Millisecond
	_, cl := startCounting(t, p, func(s *kmip.Server) { s.HeaderReadTimeout = timeout; s.Observer = obs })
	nc := dialTLS(t, cl.Addr().String(), p.ClientTLS(t, "admin"))
	defer nc.Close()
	status := readStatus(nc)
	start := time.Now()
	io.WriteString(nc, "POST /kmip HTTP/1.1\r\n")
	var code int
	sent := 0
	for done := false; !done && time.Since(start) < 3*time.Second; {
		select {
		case code = <-status:
			done = true
		case <-time.After(50 * time.Millisecond):
			if _, err := nc.Write([]byte("X")); err == nil {
				sent++
			}
		}
	}
	took := time.Since(start)
	if code != http.StatusRequestTimeout || took > timeout+time.Second {
		t.Fatalf("slow headers: answered %d after %v, want 408 within %v", code, took, timeout)
	}
	obs.waitMsgRefused(t, kmip.ResultReasonInvalidMessage, 1)
	t.Logf("slow headers (one byte per 50ms, %d sent): 408 after %v (header read timeout %v)", sent, took.Round(time.Millisecond), timeout)
}

// clientErr runs one Query with cfg and returns what the client saw.
func clientErr(t *testing.T, addr string, cfg *tls.Config) error {
	t.Helper()
	_, err := whoAmI(t, addr, cfg)
	return err
}

// Attacks 3, 10 and 12: certificates the server must refuse in the
// handshake, before any request, with the reason reported.
func TestHardening_RefusedCertificates(t *testing.T) {
	p := kmiptest.MustPKI(t, "bob")
	obs := &fakeObserver{}
	s := kmiptest.Start(t, p, &echoHandler{}, func(s *kmip.Server) { s.Observer = obs })
	other := kmiptest.MustPKI(t, "admin")
	twoCNs := &x509.Certificate{Subject: pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: oidCN, Value: "bob"}, {Type: oidCN, Value: "admin"}}}}
	for _, tc := range []struct {
		name   string
		kp     pki.KeyPair
		reason string
	}{
		{"CN=bob, CN=admin", issueCert(t, p, twoCNs), "ambiguous_identity"},
		{"CN with NUL", issueCert(t, p, &x509.Certificate{Subject: pkix.Name{CommonName: "admin\x00"}}), "invalid_identity"},
		{"CN with trailing space", issueCert(t, p, &x509.Certificate{Subject: pkix.Name{CommonName: "admin "}}), "invalid_identity"},
		{"CN with leading no-break space", issueCert(t, p, &x509.Certificate{Subject: pkix.Name{CommonName: "\u00a0admin"}}), "invalid_identity"},
		{"CN with C1 control", issueCert(t, p, &x509.Certificate{Subject: pkix.Name{CommonName: "ad\u0085min"}}), "invalid_identity"},
		{"CN of 257 bytes", issueCert(t, p, &x509.Certificate{Subject: pkix.Name{CommonName: strings.Repeat("a", 257)}}), "invalid_identity"},
		{"no CN", issueNoCN(t, p), "no_identity"},
		{"CA:TRUE leaf", issueCert(t, p, &x509.Certificate{Subject: pkix.Name{CommonName: "bob"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}), "ca_certificate"},
		{"another CA", foreignClient(t, "admin"), "unknown_authority"},
		{"another CA of the same name", other.Bundle.Clients["admin"], "unknown_authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := obs.connRefusals(tc.reason)
			err := clientErr(t, s.Addr, kmiptest.ClientTLSFor(t, p.Pool, tc.kp))
			if err == nil {
				t.Fatal("served")
			}
			// The server refuses in the handshake: the client gets an alert
			// naming its certificate, not "certificate required".
			if msg := err.Error(); !strings.Contains(msg, "bad certificate") || strings.Contains(msg, "certificate required") {
				t.Errorf("client saw %q, want the server's bad certificate alert", msg)
			}
			r := obs.waitConnRefused(t, tc.reason, before+1)
			t.Logf("refused as %s: client saw %q; server: %s", r.reason, err, r.detail)
		})
	}
	if ok, _ := obs.connRefusals("other"); ok > 0 {
		t.Errorf("%d refusals classified as other", ok)
	}
	// Names within the rule are served: UTF-8, inner spaces.
	for _, cn := range []string{"bob", "Zoë Ω-backup", "ops team 7"} {
		kp := issueCert(t, p, &x509.Certificate{Subject: pkix.Name{CommonName: cn}})
		if name, err := whoAmI(t, s.Addr, kmiptest.ClientTLSFor(t, p.Pool, kp)); err != nil || name != cn {
			t.Errorf("CN %q: served as %q, %v", cn, name, err)
		}
	}
}

func TestHardening_IdentitySources(t *testing.T) {
	p := kmiptest.MustPKI(t, "alice")
	uri := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	withURI := issueCert(t, p, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}, URIs: []*url.URL{uri("spiffe://example.org/alice")}})
	twoURIs := issueCert(t, p, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}, URIs: []*url.URL{uri("spiffe://example.org/alice"), uri("spiffe://example.org/admin")}})
	withEmail := issueCert(t, p, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}, EmailAddresses: []string{"alice@example.org"}})
	twoEmails := issueCert(t, p, &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}, EmailAddresses: []string{"alice@example.org", "admin@example.org"}})
	plain := p.Bundle.Clients["alice"]
	fingerprint := func(kp pki.KeyPair) string {
		b, _ := pem.Decode(kp.Cert)
		sum := sha256.Sum256(b.Bytes)
		return hex.EncodeToString(sum[:])
	}
	for _, tc := range []struct {
		src    kmip.IdentitySource
		kp     pki.KeyPair
		want   string // "" when refused
		reason string
	}{
		{"", withURI, "alice", ""},
		{kmip.IdentityCN, withEmail, "alice", ""},
		{kmip.IdentitySANURI, withURI, "spiffe://example.org/alice", ""},
		{kmip.IdentitySANURI, twoURIs, "", "ambiguous_identity"},
		{kmip.IdentitySANURI, plain, "", "no_identity"},
		{kmip.IdentitySANEmail, withEmail, "alice@example.org", ""},
		{kmip.IdentitySANEmail, twoEmails, "", "ambiguous_identity"},
		{kmip.IdentitySANEmail, withURI, "", "no_identity"},
		{kmip.IdentityFingerprint, plain, fingerprint(plain), ""},
		{kmip.IdentityFingerprint, withURI, fingerprint(withURI), ""},
	} {
		obs := &fakeObserver{}
		s := kmiptest.Start(t, p, &echoHandler{}, func(s *kmip.Server) { s.IdentitySource = tc.src; s.Observer = obs })
		name, err := whoAmI(t, s.Addr, kmiptest.ClientTLSFor(t, p.Pool, tc.kp))
		switch {
		case tc.want != "" && (err != nil || name != tc.want):
			t.Errorf("source %q: served as %q (%v), want %q", tc.src, name, err, tc.want)
		case tc.want == "" && err == nil:
			t.Errorf("source %q: served as %q, want refused", tc.src, name)
		case tc.want == "":
			obs.waitConnRefused(t, tc.reason, 1)
		}
	}
}

// Every refusal reaches a RefusalObserver: connections (not TLS, no
// certificate, limits) and messages (malformed, unsupported version,
// critical extension, framing lost, HTTP refusals); an idle close does not.
func TestHardening_RefusalObserver(t *testing.T) {
	p := kmiptest.MustPKI(t)
	obs := &fakeObserver{}
	s := kmiptest.Start(t, p, &echoHandler{}, func(s *kmip.Server) {
		s.Observer = obs
		s.MaxConns = 2
		s.IdleTimeout = 300 * time.Millisecond
	})
	// Not TLS.
	if nc, err := net.Dial("tcp", s.Addr); err == nil {
		io.WriteString(nc, "GET / HTTP/1.0\r\n\r\n")
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		io.Copy(io.Discard, nc)
		nc.Close()
	}
	if r := obs.waitConnRefused(t, "not_tls", 1); r.identity != "" || !strings.HasPrefix(r.remote, "127.0.0.1:") {
		t.Errorf("not TLS reported as %+v", r)
	}
	// No client certificate.
	if err := clientErr(t, s.Addr, &tls.Config{RootCAs: p.Pool, ServerName: "127.0.0.1"}); err == nil {
		t.Error("client without a certificate served")
	}
	obs.waitConnRefused(t, "no_client_certificate", 1)

	c := s.Dial(t, "admin", kmip.V2_0)
	// Malformed: bad padding.
	roundTrip(t, c, withBadPadding(request(t, kmip.V2_0, nil, kmip.OperationQuery)))
	if r := obs.waitMsgRefused(t, kmip.ResultReasonInvalidMessage, 1); r.identity != "admin" || r.detail == "" {
		t.Errorf("malformed message reported as %+v", r)
	}
	roundTrip(t, c, request(t, kmip.Version{Major: 3}, nil, kmip.OperationQuery))
	obs.waitMsgRefused(t, kmip.ResultReasonUnsupportedProtocolVersion, 1)
	roundTrip(t, c, criticalExtensionRequest())
	obs.waitMsgRefused(t, kmip.ResultReasonUnknownMessageExtension, 1)
	c.Close()

	// Framing lost: the connection is closed and reported.
	nc := dialTLS(t, s.Addr, p.ClientTLS(t, "admin"))
	io.WriteString(nc, "\x00\x01garbage that is neither TTLV nor HTTP")
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, nc)
	nc.Close()
	if r := obs.waitMsgRefused(t, kmip.ResultReasonInvalidMessage, 2); !strings.Contains(r.detail, "connection closed") {
		t.Errorf("lost framing reported as %+v", r)
	}

	// HTTP refusals.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: p.ClientTLS(t, "admin")}}
	resp, err := client.Get("https://" + s.Addr + "/elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	client.CloseIdleConnections()
	if r := obs.waitMsgRefused(t, kmip.ResultReasonInvalidMessage, 3); !strings.Contains(r.detail, "404") {
		t.Errorf("HTTP 404 reported as %+v", r)
	}

	// Over MaxConns: two held, the third refused after its handshake.
	deadline := time.Now().Add(5 * time.Second)
	for _, est := s.ConnCounts(); est > 0; _, est = s.ConnCounts() {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open", est)
		}
		time.Sleep(10 * time.Millisecond)
	}
	c1, c2 := s.Dial(t, "admin", kmip.V2_0), s.Dial(t, "admin", kmip.V2_0)
	for _, c := range []*kmip.Client{c1, c2} {
		if _, _, err := c.Do(kmip.OperationQuery, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := clientErr(t, s.Addr, p.ClientTLS(t, "admin")); err == nil {
		t.Error("third connection served over MaxConns=2")
	}
	if r := obs.waitConnRefused(t, kmip.RefusedConnLimit, 1); r.identity != "admin" {
		t.Errorf("connection limit reported as %+v", r)
	}

	// An idle close is no refusal.
	n := obs.msgRefusals()
	time.Sleep(600 * time.Millisecond)
	if _, _, err := c1.Do(kmip.OperationQuery, nil); err == nil {
		t.Error("idle connection not closed")
	}
	if got := obs.msgRefusals(); got != n {
		t.Errorf("idle close reported as %d refused messages", got-n)
	}
	obs.mu.Lock()
	t.Logf("reported: %d refused connections, %d refused messages, handshake failures %v", len(obs.refusedC), len(obs.refusedM), obs.handshake)
	obs.mu.Unlock()
}
