package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/hsm/soft"
)

// readCert parses the single PEM certificate in path.
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, rest := pem.Decode(data)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("%s: no CERTIFICATE PEM block", path)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		t.Errorf("%s: trailing data after the certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", path, got, want)
	}
}

// sansOf returns the server certificate's SANs as strings.
func sansOf(c *x509.Certificate) (dns, ips []string) {
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	return c.DNSNames, ips
}

func TestInitWritesDevSetup(t *testing.T) {
	clearKMIPDEnv(t)
	dir := filepath.Join(t.TempDir(), "new", "kmipd")
	out, err := runCLI("init", "--dir", dir)
	if err != nil {
		t.Fatalf("kmipd init: %v\n%s", err, out)
	}
	if !strings.Contains(out, dir) {
		t.Errorf("init output %q does not name the directory", out)
	}
	if fi, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("directory %s has mode %v; want no group/other access", dir, fi.Mode())
	}
	pkiDir := filepath.Join(dir, "pki")
	for _, f := range []string{"ca.key", "server.key", "client.key"} {
		wantMode(t, filepath.Join(pkiDir, f), 0o600)
	}
	for _, f := range []string{"ca.crt", "server.crt", "client.crt"} {
		if _, err := os.Stat(filepath.Join(pkiDir, f)); err != nil {
			t.Error(err)
		}
	}
	wantMode(t, filepath.Join(dir, "master.key"), 0o600)
	if fi, err := os.Stat(filepath.Join(dir, ConfigFile)); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("%s: %v; want it private", ConfigFile, err)
	}

	// The master key is usable by the software backend.
	be, err := soft.Open(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatalf("master.key: %v", err)
	}
	be.Close()
	if mk, _ := os.ReadFile(filepath.Join(dir, "master.key")); len(mk) != soft.MasterKeySize || bytes.Count(mk, []byte{0}) == len(mk) {
		t.Errorf("master.key: %d bytes, want %d random bytes", len(mk), soft.MasterKeySize)
	}

	// Certificates: the server one has the default SANs and chains to the CA;
	// the client one is "admin".
	ca := readCert(t, filepath.Join(pkiDir, "ca.crt"))
	if !ca.IsCA {
		t.Error("ca.crt is not a CA")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	srv := readCert(t, filepath.Join(pkiDir, "server.crt"))
	dns, ips := sansOf(srv)
	for _, ip := range []string{"127.0.0.1", "::1"} {
		if !slices.Contains(ips, ip) {
			t.Errorf("server certificate IP SANs %v lack %s", ips, ip)
		}
	}
	wantDNS := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" {
		wantDNS = append(wantDNS, strings.ToLower(h))
	}
	for _, d := range wantDNS {
		if !slices.Contains(dns, d) {
			t.Errorf("server certificate DNS SANs %v lack %q", dns, d)
		}
	}
	for _, name := range append([]string{"127.0.0.1", "::1"}, wantDNS...) {
		if _, err := srv.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("server certificate for %s: %v", name, err)
		}
	}
	cli := readCert(t, filepath.Join(pkiDir, "client.crt"))
	if cli.Subject.CommonName != "admin" {
		t.Errorf("client.crt CN %q, want admin", cli.Subject.CommonName)
	}
	if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	for _, pair := range [][2]string{{"server.crt", "server.key"}, {"client.crt", "client.key"}} {
		if _, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, pair[0]), filepath.Join(pkiDir, pair[1])); err != nil {
			t.Errorf("%s/%s: %v", pair[0], pair[1], err)
		}
	}

	// The config loads, names the files just written and the admin.
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if cfg.Listen != "127.0.0.1:5696" {
		t.Errorf("listen %q, want 127.0.0.1:5696", cfg.Listen)
	}
	if !slices.Equal(cfg.Admins, []string{"admin"}) {
		t.Errorf("admins %q, want [admin]", cfg.Admins)
	}
	for _, p := range []string{cfg.TLS.CA, cfg.TLS.Cert, cfg.TLS.Key, cfg.HSM.MasterKey} {
		if _, err := os.Stat(cfg.path(p)); err != nil {
			t.Errorf("config names %s: %v", p, err)
		}
	}
	if filepath.Dir(cfg.path(cfg.Store)) != dir {
		t.Errorf("store %s is not in %s", cfg.path(cfg.Store), dir)
	}
	// serve creates the store, not init.
	if _, err := os.Stat(filepath.Join(dir, "kmipd.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("init created the store: %v", err)
	}
}

// snapshot maps every file under dir to its mode and contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		if !d.IsDir() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + string(data)
		}
		m[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diffSnapshots(t *testing.T, before, after map[string]string) {
	t.Helper()
	for p, v := range before {
		w, ok := after[p]
		switch {
		case !ok:
			t.Errorf("%s was removed", p)
		case v != w:
			t.Errorf("%s was changed", p)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s was created", p)
		}
	}
}

func TestInitTwiceFailsWithoutChangingFiles(t *testing.T) {
	dir := initDir(t)
	before := snapshot(t, dir)
	out, err := runCLI("init", "--dir", dir)
	if err == nil {
		t.Fatalf("second kmipd init succeeded: %s", out)
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("second init: %v, want an error wrapping fs.ErrExist", err)
	}
	diffSnapshots(t, before, snapshot(t, dir))

	// Also with other flags, and when only the config is gone: the dev CA,
	// the keys and the master key are never overwritten.
	if _, err := runCLI("init", "--dir", dir, "--client", "alice", "--host", "kms.example.test"); err == nil {
		t.Error("init with other flags over an existing set-up succeeded")
	}
	diffSnapshots(t, before, snapshot(t, dir))
	cfgPath := filepath.Join(dir, ConfigFile)
	if err := os.Remove(cfgPath); err != nil {
		t.Fatal(err)
	}
	delete(before, cfgPath)
	if _, err := runCLI("init", "--dir", dir); err == nil {
		t.Error("init over an existing pki/ and master.key succeeded")
	}
	diffSnapshots(t, before, snapshot(t, dir))
}

func TestInitFlags(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t, "--listen", "0.0.0.0:15696", "--host", "kms.example.test,10.1.2.3", "--client", "alice,bob")
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:15696" {
		t.Errorf("listen %q, want 0.0.0.0:15696", cfg.Listen)
	}
	if !slices.Equal(cfg.Admins, []string{"alice"}) {
		t.Errorf("admins %q, want [alice]", cfg.Admins)
	}
	pkiDir := filepath.Join(dir, "pki")
	srv := readCert(t, filepath.Join(pkiDir, "server.crt"))
	dns, ips := sansOf(srv)
	if !slices.Equal(dns, []string{"kms.example.test"}) || !slices.Equal(ips, []string{"10.1.2.3"}) {
		t.Errorf("server SANs DNS %v IP %v, want exactly kms.example.test and 10.1.2.3", dns, ips)
	}
	if srv.VerifyHostname("127.0.0.1") == nil || srv.VerifyHostname("localhost") == nil {
		t.Error("--host did not replace the default SANs")
	}
	for file, cn := range map[string]string{"client.crt": "alice", "alice.crt": "alice", "bob.crt": "bob"} {
		if c := readCert(t, filepath.Join(pkiDir, file)); c.Subject.CommonName != cn {
			t.Errorf("%s: CN %q, want %q", file, c.Subject.CommonName, cn)
		}
	}
	for _, f := range []string{"alice.key", "bob.key", "client.key"} {
		wantMode(t, filepath.Join(pkiDir, f), 0o600)
	}
	if _, err := os.Stat(filepath.Join(pkiDir, "admin.crt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("admin.crt issued although --client did not name admin: %v", err)
	}
}

// TestInitServesWithFlags starts the server from a set-up made with --host
// and --listen: the server certificate must verify for the --host name.
func TestInitServesWithFlags(t *testing.T) {
	listen := freePort(t)
	dir := initDir(t, "--listen", listen, "--host", "127.0.0.1,kms.example.test")
	srv := startServer(t, dir, nil, "--log-level", "info") // no --addr
	if srv.addr != listen {
		t.Errorf("server bound %s, want the --listen address %s", srv.addr, listen)
	}
	cfg := clientTLS(t, dir)
	cfg.ServerName = "kms.example.test"
	conn, err := tls.Dial("tcp", srv.addr, cfg)
	if err != nil {
		t.Fatalf("TLS to the server as kms.example.test: %v", err)
	}
	conn.Close()
	cfg.ServerName = "localhost" // not a SAN any more
	if conn, err := tls.Dial("tcp", srv.addr, cfg); err == nil {
		conn.Close()
		t.Error("server certificate verified for localhost, which --host left out")
	}
	host, _, _ := net.SplitHostPort(srv.addr)
	if host != "127.0.0.1" {
		t.Errorf("bound host %s", host)
	}
	srv.stop(t)
}
