package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/pki"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
)

// newCertifyEnv is newCtlEnv with a service that certifies with the CA of
// the server's PKI, so that what it issues connects.
func newCertifyEnv(t *testing.T) (*ctlEnv, *kmiptest.Server) {
	t.Helper()
	isolateEnv(t)
	p := kmiptest.MustPKI(t, "admin")
	caCert, caKey, err := pki.LoadCA(p.Bundle.CACert, p.Bundle.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	le := lifecycletest.New(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) {
		c.TrustRoots = p.Pool
		c.Certify = &lifecycle.CertifyPolicy{CACert: caCert, CAKey: caKey, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, MaxLifetime: 90 * 24 * time.Hour}
	}})
	srv := kmiptest.Start(t, p, le.Service)
	return &ctlEnv{t: t, addr: srv.Addr, pki: writePKI(t, p)}, srv
}

// identityOf connects with the certificate and key files and returns the
// identity the server gives them (Who Am I).
func identityOf(t *testing.T, srv *kmiptest.Server, certFile, keyFile string) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kmip.Dial(srv.Addr, &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: srv.PKI.Pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("dial with %s: %v", certFile, err)
	}
	defer c.Close()
	c.Version = kmip.V2_0
	_, it, err := c.Do(lifecycle.OperationWhoAmI, nil)
	if err != nil {
		t.Fatalf("Who Am I with %s: %v", certFile, err)
	}
	var name []byte
	p := it.Payload
	p.ReadText(lifecycle.TagWhoAmIIdentity, &name)
	return string(name)
}

// issue-client-cert writes NAME.crt and NAME.key (0600) that connect as
// identity NAME, at 1.4 and 2.0, and refuses to overwrite them.
func TestIssueClientCert(t *testing.T) {
	e, srv := newCertifyEnv(t)
	dir := t.TempDir()
	for _, ver := range []string{"1.4", "2.0"} {
		name := "agent-" + strings.ReplaceAll(ver, ".", "")
		var res certifyJSON
		e.json(&res, "--version", ver, "issue-client-cert", "--name", name, "--out", dir)
		if res.ID == "" || res.CertFile != filepath.Join(dir, name+".crt") || res.KeyFile != filepath.Join(dir, name+".key") {
			t.Fatalf("%s: %+v", ver, res)
		}
		if fi, err := os.Stat(res.KeyFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: key file %v %v", ver, fi, err)
		}
		if got := identityOf(t, srv, res.CertFile, res.KeyFile); got != name {
			t.Errorf("%s: the issued certificate connects as %q, want %q", ver, got, name)
		}
	}
	_, errOut, code := e.run("issue-client-cert", "--name", "agent-20", "--out", dir)
	if code != 2 || !strings.Contains(errOut, "exists") {
		t.Errorf("second issue: exit %d %s", code, errOut)
	}
}

// certify --csr signs a PEM request from a file (the certificate then
// connects as its CN); certify PUBLIC-KEY-ID --cn certifies a key the
// server holds and prints the PEM.
func TestCertifyCmd(t *testing.T) {
	e, srv := newCertifyEnv(t)
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "app"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csrFile := filepath.Join(dir, "app.csr")
	os.WriteFile(csrFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}), 0o600)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(dir, "app.key")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	certFile := filepath.Join(dir, "app.crt")
	out := e.ok("certify", "--csr", csrFile, "--out", certFile, "--lifetime", "240h")
	if !strings.Contains(out, "CN=app") {
		t.Errorf("certify output:\n%s", out)
	}
	if got := identityOf(t, srv, certFile, keyFile); got != "app" {
		t.Errorf("certified request connects as %q", got)
	}

	var kp keyPairJSON
	e.json(&kp, "create-key-pair", "--curve", "P-256")
	out = e.ok("certify", kp.PublicKeyID, "--cn", "device-9")
	blk, _ := pem.Decode([]byte(out[strings.Index(out, "-----BEGIN"):]))
	if blk == nil {
		t.Fatalf("no PEM in:\n%s", out)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || cert.Subject.CommonName != "device-9" {
		t.Errorf("certificate %v %v", cert.Subject, err)
	}
	if _, errOut, code := e.run("certify"); code != 2 {
		t.Errorf("certify without input: exit %d %s", code, errOut)
	}
}
