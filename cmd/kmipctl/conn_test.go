package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
)

// writePKI writes a test PKI's files (ca.crt, client.crt, client.key for
// the admin) to a temporary directory.
func writePKI(t *testing.T, p *kmiptest.PKI) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	if err := p.Bundle.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Ensure that the connection flags default to their environment variables.
func TestConnFlags_Environment(t *testing.T) {
	t.Setenv("KMIPCTL_SERVER", "kms.example:5696")
	t.Setenv("KMIPCTL_CA", "/etc/ca.crt")
	t.Setenv("KMIPCTL_CERT", "/etc/c.crt")
	t.Setenv("KMIPCTL_KEY", "/etc/c.key")
	root := newRootCmd()
	for name, want := range map[string]string{"server": "kms.example:5696", "ca": "/etc/ca.crt", "cert": "/etc/c.crt", "key": "/etc/c.key"} {
		f := root.PersistentFlags().Lookup(name)
		if f == nil || f.DefValue != want {
			t.Errorf("--%s default %v, want %q", name, f, want)
		}
	}
	t.Setenv("KMIPCTL_SERVER", "")
	if f := newRootCmd().PersistentFlags().Lookup("server"); f.DefValue != "127.0.0.1:5696" {
		t.Errorf("--server default %q", f.DefValue)
	}
}

// Ensure that bad connection settings are reported before dialling.
func TestConnOptions_Errors(t *testing.T) {
	dir := writePKI(t, kmiptest.MustPKI(t))
	junk := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(junk, []byte("not pem"), 0o600)
	for _, tc := range []struct {
		o    connOptions
		want string
	}{
		{connOptions{Server: "nohostport"}, "invalid --server"},
		{connOptions{Server: "h:1", CA: filepath.Join(dir, "missing.crt")}, "--ca"},
		{connOptions{Server: "h:1", CA: junk}, "no PEM certificates"},
		{connOptions{Server: "h:1", Cert: filepath.Join(dir, "client.crt")}, "go together"},
		{connOptions{Server: "h:1", Cert: junk, Key: junk}, "--cert/--key"},
	} {
		if _, err := tc.o.tlsConfig(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.o, err, tc.want)
		}
	}
}

// Ensure that dial connects with mutual TLS.
func TestConnOptions_Dial(t *testing.T) {
	p := kmiptest.MustPKI(t)
	srv := kmiptest.Start(t, p, kmip.NewServeMux())
	dir := writePKI(t, p)
	o := connOptions{Server: srv.Addr, CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "client.crt"), Key: filepath.Join(dir, "client.key")}
	c, err := o.dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The server answers: the mux supports nothing.
	if _, _, err := c.Do(kmip.OperationQuery, nil); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("err = %v", err)
	}
	// Without a client certificate the handshake fails.
	o.Cert, o.Key = "", ""
	if c, err := o.dial(); err == nil {
		if _, _, err = c.Do(kmip.OperationQuery, nil); err == nil {
			t.Fatal("no error without a client certificate")
		}
		c.Close()
	}
}

// Ensure that several --server addresses fail over: a node that refuses the
// connection is skipped, and the next one serves.
func TestConnOptions_DialFailsOver(t *testing.T) {
	p := kmiptest.MustPKI(t)
	srv := kmiptest.Start(t, p, kmip.NewServeMux())
	dir := writePKI(t, p)
	// A port that was just free: nothing listens on it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	o := connOptions{Server: dead + ", " + srv.Addr, CA: filepath.Join(dir, "ca.crt"), Cert: filepath.Join(dir, "client.crt"), Key: filepath.Join(dir, "client.key")}
	c, err := o.dial()
	if err != nil {
		t.Fatalf("dial %s: %v", o.Server, err)
	}
	if _, _, err := c.Do(kmip.OperationQuery, nil); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("the live node did not answer: %v", err)
	}
	c.Close()
	// Bench and ping spread connections: the i-th starts at the i-th address.
	cfg, err := o.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	for first := range 3 {
		c, used, err := dialTimed(dead+","+srv.Addr, first, cfg, kmip.V2_0, 5*time.Second)
		if err != nil || used != srv.Addr {
			t.Fatalf("first=%d: used %q, err %v", first, used, err)
		}
		c.Close()
	}
	// Every node down: the error names each.
	o.Server = dead + "," + dead
	if _, err := o.dial(); err == nil || strings.Count(err.Error(), "connect to "+dead) != 2 {
		t.Fatalf("err = %v, want both addresses named", err)
	}
	for _, bad := range []string{"", " , ", "host-without-port"} {
		if _, err := (connOptions{Server: bad}).addrs(); err == nil {
			t.Errorf("--server %q accepted", bad)
		}
	}
}
