package pki_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/pki"
)

// fixedNow is a second-aligned instant (certificates store whole seconds).
var fixedNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

func nowFunc() time.Time { return fixedNow }

func mustGenerate(t *testing.T, opts pki.Options) *pki.Bundle {
	t.Helper()
	b, err := pki.Generate(opts)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return b
}

func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	blk, rest := pem.Decode(data)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("not a CERTIFICATE PEM block: %q", data)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("trailing data after certificate")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatalf("ParseCertificate: %v", err)
	}
	return c
}

func parseKey(t *testing.T, data []byte) *ecdsa.PrivateKey {
	t.Helper()
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		t.Fatalf("not a PRIVATE KEY PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatalf("ParsePKCS8PrivateKey: %v", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		t.Fatalf("key is %T, want ECDSA P-256", k)
	}
	return ek
}

func pool(t *testing.T, caPEM []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(caPEM) {
		t.Fatal("AppendCertsFromPEM failed")
	}
	return p
}

func checkCommon(t *testing.T, name string, c *x509.Certificate) {
	t.Helper()
	if !slices.Equal(c.Subject.Organization, []string{pki.Organization}) {
		t.Errorf("%s: O = %q, want %q", name, c.Subject.Organization, pki.Organization)
	}
	if !c.NotBefore.Equal(fixedNow.Add(-time.Hour)) {
		t.Errorf("%s: NotBefore = %v, want now-1h", name, c.NotBefore)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("%s: serial %v is not a positive 128-bit number", name, c.SerialNumber)
	}
	if c.PublicKeyAlgorithm != x509.ECDSA || c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("%s: key %v, signature %v", name, c.PublicKeyAlgorithm, c.SignatureAlgorithm)
	}
}

func fileMode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestGenerateWriteDirAndParse(t *testing.T) {
	b := mustGenerate(t, pki.Options{ClientNames: []string{"alice", "admin"}, Now: nowFunc})
	dir := filepath.Join(t.TempDir(), "pki")
	if err := b.WriteDir(dir); err != nil {
		t.Fatalf("WriteDir: %v", err)
	}

	if m := fileMode(t, dir); m != 0o700 {
		t.Errorf("dir mode %v, want 0700", m)
	}
	want := map[string]fs.FileMode{
		"ca.crt": 0o644, "ca.key": 0o600,
		"server.crt": 0o644, "server.key": 0o600,
		"client.crt": 0o644, "client.key": 0o600,
		"admin.crt": 0o644, "admin.key": 0o600,
		"alice.crt": 0o644, "alice.key": 0o600,
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	sort.Strings(wantNames)
	if !slices.Equal(got, wantNames) {
		t.Errorf("files = %v, want %v", got, wantNames)
	}
	read := func(name string) []byte {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for name, mode := range want {
		if m := fileMode(t, filepath.Join(dir, name)); m != mode {
			t.Errorf("%s: mode %v, want %v", name, m, mode)
		}
	}
	if !bytes.Equal(read("ca.crt"), b.CACert) || !bytes.Equal(read("server.key"), b.ServerKey) {
		t.Error("file contents differ from bundle")
	}
	// "admin" is the default client even though it is not first.
	if !bytes.Equal(read("client.crt"), read("admin.crt")) || !bytes.Equal(read("client.key"), read("admin.key")) {
		t.Error("client.crt/client.key are not the admin pair")
	}

	// CA.
	ca := parseCert(t, read("ca.crt"))
	checkCommon(t, "ca", ca)
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.MaxPathLen != 0 || !ca.MaxPathLenZero {
		t.Errorf("CA basic constraints: IsCA=%v valid=%v MaxPathLen=%d zero=%v",
			ca.IsCA, ca.BasicConstraintsValid, ca.MaxPathLen, ca.MaxPathLenZero)
	}
	if ca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("CA key usage %v", ca.KeyUsage)
	}
	if !ca.NotAfter.Equal(fixedNow.AddDate(10, 0, 0)) {
		t.Errorf("CA NotAfter %v, want now+10y", ca.NotAfter)
	}
	if err := ca.CheckSignatureFrom(ca); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
	if !parseKey(t, read("ca.key")).PublicKey.Equal(ca.PublicKey) {
		t.Error("ca.key does not match ca.crt")
	}

	// Server.
	srv := parseCert(t, read("server.crt"))
	checkCommon(t, "server", srv)
	if srv.IsCA {
		t.Error("server certificate is a CA")
	}
	if !slices.Contains(srv.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		t.Errorf("server EKU %v lacks serverAuth", srv.ExtKeyUsage)
	}
	if !srv.NotAfter.Equal(fixedNow.Add(825 * 24 * time.Hour)) {
		t.Errorf("server NotAfter %v, want now+825d", srv.NotAfter)
	}
	if !slices.Contains(srv.DNSNames, "localhost") {
		t.Errorf("server DNS SANs %v lack localhost", srv.DNSNames)
	}
	if h, err := os.Hostname(); err == nil && h != "" && !slices.Contains(srv.DNSNames, h) {
		t.Logf("host name %q not in SANs %v (not a valid DNS name?)", h, srv.DNSNames)
	}
	var ips []string
	for _, ip := range srv.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Contains(ips, "127.0.0.1") || !slices.Contains(ips, "::1") {
		t.Errorf("server IP SANs %v", ips)
	}
	if !parseKey(t, read("server.key")).PublicKey.Equal(srv.PublicKey) {
		t.Error("server.key does not match server.crt")
	}
	if srv.SerialNumber.Cmp(ca.SerialNumber) == 0 {
		t.Error("server and CA share a serial number")
	}

	// Clients.
	for _, cn := range []string{"admin", "alice"} {
		c := parseCert(t, read(cn+".crt"))
		checkCommon(t, cn, c)
		if c.Subject.CommonName != cn {
			t.Errorf("client CN %q, want %q", c.Subject.CommonName, cn)
		}
		if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
			t.Errorf("%s: EKU %v, want clientAuth only", cn, c.ExtKeyUsage)
		}
		if c.IsCA {
			t.Errorf("%s: is a CA", cn)
		}
		if !parseKey(t, read(cn+".key")).PublicKey.Equal(c.PublicKey) {
			t.Errorf("%s.key does not match %s.crt", cn, cn)
		}
		if !bytes.Equal(b.Clients[cn].Cert, read(cn+".crt")) {
			t.Errorf("%s.crt differs from bundle", cn)
		}
	}
}

func TestVerifyChains(t *testing.T) {
	b := mustGenerate(t, pki.Options{Now: nowFunc})
	roots := pool(t, b.CACert)
	srv := parseCert(t, b.ServerCert)
	at := fixedNow.Add(time.Minute)

	names := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && slices.Contains(srv.DNSNames, h) {
		names = append(names, h)
	}
	for _, name := range names {
		if _, err := srv.Verify(x509.VerifyOptions{
			DNSName:     name,
			Roots:       roots,
			CurrentTime: at,
			KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			t.Errorf("server verify for %q: %v", name, err)
		}
	}
	if _, err := srv.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots, CurrentTime: at}); err == nil {
		t.Error("server cert verified for example.com")
	}
	if _, err := srv.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots, CurrentTime: fixedNow.Add(-2 * time.Hour)}); err == nil {
		t.Error("server cert verified before NotBefore")
	}

	cl := parseCert(t, b.Clients["admin"].Cert)
	if _, err := cl.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: at,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		t.Errorf("client verify: %v", err)
	}
	if _, err := cl.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: at,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err == nil {
		t.Error("client cert verified for serverAuth")
	}

	other := mustGenerate(t, pki.Options{Now: nowFunc})
	if _, err := cl.Verify(x509.VerifyOptions{Roots: pool(t, other.CACert), CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("client cert verified against an unrelated CA")
	}
}

func TestCustomHostsAndValidity(t *testing.T) {
	const validity = 20 * 365 * 24 * time.Hour // longer than the CA default
	b := mustGenerate(t, pki.Options{
		Hosts:    []string{"kmip.example.com", "10.0.0.7", "KMIP.example.com", "10.0.0.7"},
		Validity: validity,
		Now:      nowFunc,
	})
	srv := parseCert(t, b.ServerCert)
	if !slices.Equal(srv.DNSNames, []string{"kmip.example.com"}) || len(srv.IPAddresses) != 1 || srv.IPAddresses[0].String() != "10.0.0.7" {
		t.Errorf("SANs %v %v", srv.DNSNames, srv.IPAddresses)
	}
	if srv.Subject.CommonName != "kmip.example.com" {
		t.Errorf("server CN %q", srv.Subject.CommonName)
	}
	ca := parseCert(t, b.CACert)
	if !srv.NotAfter.Equal(fixedNow.Add(validity)) || ca.NotAfter.Before(srv.NotAfter) {
		t.Errorf("server NotAfter %v, CA NotAfter %v", srv.NotAfter, ca.NotAfter)
	}
}

func TestGenerateRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string]pki.Options{
		"reserved":          {ClientNames: []string{"server"}},
		"reserved case":     {ClientNames: []string{"CA"}},
		"duplicate":         {ClientNames: []string{"bob", "Bob"}},
		"slash":             {ClientNames: []string{"../etc/passwd"}},
		"dot":               {ClientNames: []string{".hidden"}},
		"empty":             {ClientNames: []string{""}},
		"bad host":          {Hosts: []string{"bad host"}},
		"empty label":       {Hosts: []string{"a..b"}},
		"negative validity": {Validity: -time.Hour},
	} {
		if _, err := pki.Generate(opts); err == nil {
			t.Errorf("%s: Generate succeeded", name)
		}
	}
}

func TestWriteDirDefaultClientIsFirst(t *testing.T) {
	b := mustGenerate(t, pki.Options{ClientNames: []string{"zed", "bob"}, Now: nowFunc})
	dir := t.TempDir()
	if err := b.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "client.crt"))
	if !bytes.Equal(got, b.Clients["zed"].Cert) {
		t.Error("client.crt is not the first client")
	}
}

func TestWriteDirRefusesOverwrite(t *testing.T) {
	b := mustGenerate(t, pki.Options{})
	dir := t.TempDir()
	if err := b.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	b2 := mustGenerate(t, pki.Options{})
	err := b2.WriteDir(dir)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second WriteDir: %v, want fs.ErrExist", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	if !bytes.Equal(before, after) {
		t.Fatal("ca.key was overwritten")
	}

	// A single clashing file: nothing at all is written.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, "admin.key"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b2.WriteDir(dir2); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("WriteDir over admin.key: %v, want fs.ErrExist", err)
	}
	ents, _ := os.ReadDir(dir2)
	if len(ents) != 1 {
		t.Errorf("WriteDir left %d entries, want only admin.key", len(ents))
	}

	// A regular file where the directory should be.
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b2.WriteDir(f); err == nil {
		t.Error("WriteDir into a regular file succeeded")
	}
}

func TestIssueClient(t *testing.T) {
	b := mustGenerate(t, pki.Options{})
	roots := pool(t, b.CACert)
	verify := func(c *x509.Certificate, eku x509.ExtKeyUsage) error {
		_, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{eku}})
		return err
	}

	// vCenter-style: serverAuth only.
	kp, err := pki.IssueClient(b.CACert, b.CAKey, "vcenter", []string{"vsphere", "ops"},
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCert(t, kp.Cert)
	parseKey(t, kp.Key)
	if c.Subject.CommonName != "vcenter" || !slices.Equal(c.Subject.OrganizationalUnit, []string{"vsphere", "ops"}) {
		t.Errorf("subject %v", c.Subject)
	}
	if d := c.NotAfter.Sub(c.NotBefore); d != 2*time.Hour {
		t.Errorf("lifetime %v, want 1h backdate + 1h", d)
	}
	if err := verify(c, x509.ExtKeyUsageServerAuth); err != nil {
		t.Errorf("serverAuth verify: %v", err)
	}
	if err := verify(c, x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("serverAuth-only certificate verified for clientAuth")
	}

	// nil EKU: clientAuth.
	kp, err = pki.IssueClient(b.CACert, b.CAKey, "bob", nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	c = parseCert(t, kp.Cert)
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Errorf("default EKU %v", c.ExtKeyUsage)
	}
	if err := verify(c, x509.ExtKeyUsageClientAuth); err != nil {
		t.Error(err)
	}

	// Empty EKU: no extension, valid for any purpose.
	kp, err = pki.IssueClient(b.CACert, b.CAKey, "anything", nil, []x509.ExtKeyUsage{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c = parseCert(t, kp.Cert)
	if len(c.ExtKeyUsage) != 0 || len(c.UnknownExtKeyUsage) != 0 {
		t.Errorf("EKU %v, want none", c.ExtKeyUsage)
	}
	if err := verify(c, x509.ExtKeyUsageClientAuth); err != nil {
		t.Error(err)
	}

	// Errors.
	other := mustGenerate(t, pki.Options{})
	if _, err := pki.IssueClient(b.CACert, other.CAKey, "x", nil, nil, 0); err == nil {
		t.Error("mismatched CA key accepted")
	}
	if _, err := pki.IssueClient(b.ServerCert, b.ServerKey, "x", nil, nil, 0); err == nil {
		t.Error("non-CA issuer accepted")
	}
	if _, err := pki.IssueClient(b.CACert, b.CAKey, "", nil, nil, 0); err == nil {
		t.Error("empty CN accepted")
	}
	if _, err := pki.IssueClient([]byte("junk"), b.CAKey, "x", nil, nil, 0); err == nil {
		t.Error("junk CA certificate accepted")
	}
}

// handshake runs one mutual-TLS exchange over 127.0.0.1 and returns the
// server-side and client-side errors, and the client CN the server saw.
//
//lint:ignore ST1008 both errors are results to inspect, not failures of the helper
func handshake(t *testing.T, b *pki.Bundle, client tls.Certificate, serverName string) (serverErr, clientErr error, peerCN string) {
	t.Helper()
	serverCert, err := tls.X509KeyPair(b.ServerCert, b.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool(t, b.CACert),
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	type result struct {
		err error
		cn  string
	}
	done := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		tc := conn.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		var cn string
		if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
			cn = pc[0].Subject.CommonName
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(tc, buf); err != nil {
			done <- result{err: err, cn: cn}
			return
		}
		if string(buf) != "ping" {
			done <- result{err: errors.New("server got " + string(buf)), cn: cn}
			return
		}
		_, err = tc.Write([]byte("pong"))
		done <- result{err: err, cn: cn}
	}()

	clientErr = func() error {
		d := &net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{
			RootCAs:      pool(t, b.CACert),
			Certificates: []tls.Certificate{client},
			ServerName:   serverName,
			MinVersion:   tls.VersionTLS12,
		})
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(conn, buf); err != nil {
			return err
		}
		if string(buf) != "pong" {
			return errors.New("client got " + string(buf))
		}
		return nil
	}()
	r := <-done
	return r.err, clientErr, r.cn
}

func TestMutualTLS(t *testing.T) {
	b := mustGenerate(t, pki.Options{ClientNames: []string{"admin", "alice"}})
	alice, err := tls.X509KeyPair(b.Clients["alice"].Cert, b.Clients["alice"].Key)
	if err != nil {
		t.Fatal(err)
	}

	for _, sn := range []string{"", "localhost"} { // "" = verify the IP SAN 127.0.0.1
		srvErr, cliErr, cn := handshake(t, b, alice, sn)
		if srvErr != nil || cliErr != nil {
			t.Fatalf("ServerName %q: server error %v, client error %v", sn, srvErr, cliErr)
		}
		if cn != "alice" {
			t.Errorf("server saw client CN %q, want alice", cn)
		}
	}

	t.Run("unrelated CA rejected", func(t *testing.T) {
		other := mustGenerate(t, pki.Options{})
		stranger, err := tls.X509KeyPair(other.Clients["admin"].Cert, other.Clients["admin"].Key)
		if err != nil {
			t.Fatal(err)
		}
		srvErr, cliErr, _ := handshake(t, b, stranger, "localhost")
		if srvErr == nil {
			t.Fatal("server accepted a client certificate from an unrelated CA")
		}
		var ua x509.UnknownAuthorityError
		if !errors.As(srvErr, &ua) {
			t.Errorf("server error %v, want x509.UnknownAuthorityError", srvErr)
		}
		if cliErr == nil {
			t.Error("client exchange succeeded")
		}
	})

	t.Run("no client certificate rejected", func(t *testing.T) {
		srvErr, cliErr, _ := handshake(t, b, tls.Certificate{}, "localhost")
		if srvErr == nil || cliErr == nil {
			t.Fatalf("server error %v, client error %v; want both to fail", srvErr, cliErr)
		}
	})

	t.Run("serverAuth-only client rejected by stdlib verification", func(t *testing.T) {
		// Documents why kmipd needs its own client verification for vCenter.
		kp, err := pki.IssueClient(b.CACert, b.CAKey, "vcenter", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, 0)
		if err != nil {
			t.Fatal(err)
		}
		vc, err := tls.X509KeyPair(kp.Cert, kp.Key)
		if err != nil {
			t.Fatal(err)
		}
		srvErr, _, _ := handshake(t, b, vc, "localhost")
		if srvErr == nil {
			t.Fatal("RequireAndVerifyClientCert accepted a serverAuth-only client certificate")
		}
	})
}
