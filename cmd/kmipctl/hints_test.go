package main

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/internal/pki"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
)

// Ensure that a TLS or connection failure says which flag or file to
// check, against a real server, and still exits with status 3.
func TestErrors_ConnectionHints(t *testing.T) {
	e := newCtlEnv(t)
	other := writePKI(t, kmiptest.MustPKI(t))
	ca, cert, key := filepath.Join(e.pki, "ca.crt"), filepath.Join(e.pki, "client.crt"), filepath.Join(e.pki, "client.key")
	otherCA, otherCert, otherKey := filepath.Join(other, "ca.crt"), filepath.Join(other, "client.crt"), filepath.Join(other, "client.key")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown authority", []string{"query", "--server", e.addr, "--ca", otherCA, "--cert", cert, "--key", key},
			[]string{"unknown authority", "check --ca (KMIPCTL_CA", otherCA + " does not hold the CA that issued the server's certificate"}},
		{"no --ca", []string{"query", "--server", e.addr, "--cert", cert, "--key", key},
			[]string{"check --ca", "system roots"}},
		{"client certificate from another CA", []string{"query", "--server", e.addr, "--ca", ca, "--cert", otherCert, "--key", otherKey},
			[]string{"bad certificate", "check --cert and --key (KMIPCTL_CERT, KMIPCTL_KEY)", otherCert, "issued by the server's client CA"}},
		{"no client certificate", []string{"query", "--server", e.addr, "--ca", ca},
			[]string{"check --cert and --key", "none is given"}},
		{"ping with a client certificate from another CA", []string{"ping", "--server", e.addr, "--ca", ca, "--cert", otherCert, "--key", otherKey},
			[]string{"check --cert and --key", otherCert}},
		{"connection refused", []string{"query", "--server", "127.0.0.1:1", "--ca", ca, "--cert", cert, "--key", key},
			[]string{"connection refused", "check --server (KMIPCTL_SERVER): nothing listens on 127.0.0.1:1"}},
	} {
		_, errOut, code := runCtl("", tc.args...)
		if code != 3 {
			t.Errorf("%s: exit %d, want 3: %s", tc.name, code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: %q missing from\n%s", tc.name, w, errOut)
			}
		}
	}
	// With --output json the hint is in the error document too.
	out, _, code := runCtl("", "query", "-o", "json", "--server", e.addr, "--ca", otherCA, "--cert", cert, "--key", key)
	var doc jsonError
	if code != 3 || jsonUnmarshal(out, &doc) != nil || !strings.Contains(doc.Error, "check --ca") || doc.ExitCode != 3 {
		t.Errorf("json: exit %d %s", code, out)
	}
}

// Ensure that a server certificate that does not name the --server host
// says to check --server against the certificate's names.
func TestErrors_HostnameHint(t *testing.T) {
	isolateEnv(t)
	b, err := pki.Generate(pki.Options{Hosts: []string{"kms.example"}, ClientNames: []string{"admin"}})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.CACert)
	p := &kmiptest.PKI{Bundle: b, Pool: pool}
	srv := kmiptest.Start(t, p, lifecycletest.New(t, nil).Service)
	dir := writePKI(t, p)
	_, errOut, code := runCtl("", "query", "--server", srv.Addr, "--ca", filepath.Join(dir, "ca.crt"),
		"--cert", filepath.Join(dir, "client.crt"), "--key", filepath.Join(dir, "client.key"))
	if code != 3 || !strings.Contains(errOut, `check --server (KMIPCTL_SERVER): the server's certificate is not valid for "127.0.0.1"; it names kms.example`) {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// Ensure that a plain-HTTP port (such as kmipd's admin listener) is named
// as not speaking TLS.
func TestErrors_NotTLSHint(t *testing.T) {
	isolateEnv(t)
	h := httptest.NewServer(http.NotFoundHandler())
	defer h.Close()
	_, errOut, code := runCtl("", "query", "--server", strings.TrimPrefix(h.URL, "http://"))
	if code != 3 || !strings.Contains(errOut, "does not speak TLS") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
