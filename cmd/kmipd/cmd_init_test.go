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
	"time"

	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
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
	// --client issues plain identities: the admin stays the dev admin.
	if !slices.Equal(cfg.Admins, []string{"admin"}) {
		t.Errorf("admins %q, want [admin]", cfg.Admins)
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
	for file, cn := range map[string]string{"client.crt": "admin", "admin.crt": "admin", "alice.crt": "alice", "bob.crt": "bob"} {
		if c := readCert(t, filepath.Join(pkiDir, file)); c.Subject.CommonName != cn {
			t.Errorf("%s: CN %q, want %q", file, c.Subject.CommonName, cn)
		}
	}
	for _, f := range []string{"admin.key", "alice.key", "bob.key", "client.key"} {
		wantMode(t, filepath.Join(pkiDir, f), 0o600)
	}
}

// TestInitClientsArePlainIdentities: `init --client alice,bob` used to make
// alice an admin, so she could read every object. Now the config's admins
// are the dev admin only, init says so, and through the real server alice
// cannot see bob's key while admin can.
func TestInitClientsArePlainIdentities(t *testing.T) {
	clearKMIPDEnv(t)
	dir := filepath.Join(t.TempDir(), "kmipd")
	out, err := runCLI("init", "--dir", dir, "--client", "alice,bob")
	if err != nil {
		t.Fatalf("kmipd init: %v\n%s", err, out)
	}
	if !strings.Contains(out, "admin identities (see every object): admin ") ||
		!strings.Contains(out, "plain identities (own objects only): alice, bob ") {
		t.Errorf("init output does not say who is admin:\n%s", out)
	}
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(cfg.Admins, "alice") || slices.Contains(cfg.Admins, "bob") || !slices.Equal(cfg.Admins, []string{"admin"}) {
		t.Errorf("admins %q, want [admin]", cfg.Admins)
	}
	yaml, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if admins := yamlAdmins(string(yaml)); strings.Contains(admins, "alice") || strings.Contains(admins, "bob") {
		t.Errorf("%s names a --client among the admins: %s", ConfigFile, admins)
	}

	srv := startServer(t, dir, nil)
	alice, bob := dialAs(t, dir, srv.addr, "alice"), dialAs(t, dir, srv.addr, "bob")
	id, err := createKey(bob, "bobs-key")
	if err != nil {
		t.Fatalf("bob: Create: %v", err)
	}
	if _, err := getKey(bob, id); err != nil {
		t.Fatalf("bob: Get of his own key: %v", err)
	}
	if key, err := getKey(alice, id); !errors.Is(err, kmip.ErrObjectNotFound) {
		t.Errorf("alice: Get of bob's key %s: key %x, error %v; want Object Not Found", id, key, err)
	}
	if ids := locateByName(t, alice, "bobs-key"); len(ids) != 0 {
		t.Errorf("alice: Locate by bob's key's name found %q", ids)
	}
	if ids := locateByName(t, bob, "bobs-key"); !slices.Equal(ids, []string{id}) {
		t.Errorf("bob: Locate by his key's name found %q, want [%s]", ids, id)
	}
	// The dev admin certificate is the admin: it sees bob's key.
	if _, err := getKey(dialAs(t, dir, srv.addr, "admin"), id); err != nil {
		t.Errorf("admin: Get of bob's key: %v", err)
	}
	srv.stop(t)
}

// TestInitClientAdminNamed: README's `--client admin,backup` still works:
// admin is issued once and stays the only admin, backup is plain.
func TestInitClientAdminNamed(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t, "--client", "admin,backup")
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Admins, []string{"admin"}) {
		t.Errorf("admins %q, want [admin]", cfg.Admins)
	}
	pkiDir := filepath.Join(dir, "pki")
	for file, cn := range map[string]string{"client.crt": "admin", "admin.crt": "admin", "backup.crt": "backup"} {
		if c := readCert(t, filepath.Join(pkiDir, file)); c.Subject.CommonName != cn {
			t.Errorf("%s: CN %q, want %q", file, c.Subject.CommonName, cn)
		}
	}
}

// yamlAdmins returns the admins: entry of a config file and the list lines
// that follow it.
func yamlAdmins(doc string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(doc, "\n") {
		switch {
		case strings.HasPrefix(l, "admins:"):
			in = true
		case in && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "-"):
			in = false
		}
		if in {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// dialAs connects a KMIP 2.0 client with DIR/pki/<cn>.crt.
func dialAs(t *testing.T, dir, addr, cn string) *kmip.Client {
	t.Helper()
	cfg := clientTLS(t, dir)
	pkiDir := filepath.Join(dir, "pki")
	cert, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, cn+".crt"), filepath.Join(pkiDir, cn+".key"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	c, err := kmip.Dial(addr, cfg)
	if err != nil {
		t.Fatalf("dial %s as %s: %v", addr, cn, err)
	}
	c.Version = kmip.V2_0
	c.Timeout = 10 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

// locateByName runs a KMIP 2.0 Locate by Name and returns the identifiers.
func locateByName(t *testing.T, c *kmip.Client, name string) []string {
	t.Helper()
	_, it, err := c.Do(kmip.OperationLocate, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		b.Begin(ttlv.TagName)
		b.AddText(ttlv.TagNameValue, name)
		b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
		b.End()
		b.End()
	})
	if err != nil {
		t.Fatalf("Locate %q: %v", name, err)
	}
	var ids []string
	p := it.Payload
	for !p.Empty() {
		v, _ := p.Next()
		if v.Tag == ttlv.TagUniqueIdentifier {
			ids = append(ids, string(v.Data))
		}
	}
	return ids
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
