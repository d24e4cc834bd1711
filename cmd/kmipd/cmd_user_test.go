package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/authn"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// `kmipd user hash` reads a password line and prints an argon2id hash of
// it that the server accepts for that password only.
func TestUserHash(t *testing.T) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetArgs([]string{"user", "hash"})
	root.SetIn(strings.NewReader("correct horse\n"))
	root.SetOut(&out)
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out.String())
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=4$") {
		t.Fatalf("hash %q", h)
	}
	p, err := authn.NewPasswords([]authn.User{{Name: "u", PasswordHash: h, Certificates: []string{"c"}}}, authn.PasswordOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := p.Verify(context.Background(), "c", []byte("u"), []byte("correct horse"), now); err != nil {
		t.Fatalf("the hashed password: %v", err)
	}
	if _, err := p.Verify(context.Background(), "c", []byte("u"), []byte("correct horse\n"), now); err == nil {
		t.Fatal("the line end became part of the password")
	}
	root = newRootCmd()
	root.SetArgs([]string{"user", "hash"})
	root.SetIn(strings.NewReader(""))
	root.SetOut(&out)
	root.SetErr(&out)
	if err := root.Execute(); err == nil {
		t.Fatal("hashed an empty input")
	}
}

// serveDir serves DIR in-process on a free loopback port and returns the
// address.
func serveDir(t *testing.T, dir string) string {
	t.Helper()
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() { done <- serve(ctx, cfg, &syncWriter{w: &logs}, ready) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return addr.String()
}

// A configured user works from its listed certificate only, through
// kmipd serve; `kmipd config check` accepts the users: section; PyKMIP's
// client presenting the credential creates objects the user owns.
func TestServeUserCredential(t *testing.T) {
	dir := initDir(t, "--client", "apphost", "--client", "other")
	h, err := authn.HashPassword([]byte("app-pass"), authn.HashParams{Time: 1, Memory: 64, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ConfigFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "users:\n  - name: app1\n    password_hash: %q\n    certificates: [apphost]\n", h)
	f.Close()
	if out, err := runCLI("config", "check", "--dir", dir); err != nil || !strings.Contains(out, "users: 1") {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	addr := serveDir(t, dir)
	dial := func(name string, cred func(b *ttlv.Builder)) *kmip.Client {
		c, err := kmip.Dial(addr, identityTLS(t, dir, name))
		if err != nil {
			t.Fatal(err)
		}
		c.Version, c.Timeout, c.Authentication = kmip.V2_0, 10*time.Second, cred
		t.Cleanup(func() { c.Close() })
		return c
	}
	app := dial("apphost", kmip.PasswordCredential("app1", "app-pass"))
	id, err := createKey(app, "app1-key")
	if err != nil {
		t.Fatal(err)
	}
	plain := dial("apphost", nil)
	if _, err := getKey(plain, id); err == nil {
		t.Fatal("the certificate's own identity reads the user's key")
	}
	if _, err := getKey(app, id); err != nil {
		t.Fatalf("the user reads its key: %v", err)
	}
	other := dial("other", kmip.PasswordCredential("app1", "app-pass"))
	if _, err := getKey(other, id); !isReason(err, kmip.ResultReasonAuthenticationNotSuccessful) {
		t.Fatalf("credential from an unlisted certificate: %v", err)
	}

	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import kmip.pie.client").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PyKMIP missing in CI: %v", err)
		}
		t.Skip("python3-pykmip not installed (apt-get install python3-pykmip)")
	}
	host, port, _ := net.SplitHostPort(addr)
	script, _ := filepath.Abs("../../testdata/pykmip/credential.py")
	pki := filepath.Join(dir, "pki")
	for _, ver := range []string{"1.2", "2.0"} {
		run := func(password string) (string, error) {
			cmd := exec.Command(py, script, host, port, filepath.Join(pki, "ca.crt"), filepath.Join(pki, "apphost.crt"),
				filepath.Join(pki, "apphost.key"), ver, "app1", password)
			cmd.Dir = os.TempDir()
			out, err := cmd.Output()
			var res struct{ UID, Error string }
			if jerr := json.Unmarshal(out, &res); jerr != nil {
				return "", fmt.Errorf("%v: %s", err, out)
			}
			if res.Error != "" {
				return "", fmt.Errorf("%s", res.Error)
			}
			return res.UID, err
		}
		uid, err := run("app-pass")
		if err != nil {
			t.Fatalf("PyKMIP %s with the credential: %v", ver, err)
		}
		if _, err := getKey(app, uid); err != nil {
			t.Errorf("PyKMIP %s: the user cannot read the key PyKMIP created: %v", ver, err)
		}
		if _, err := getKey(plain, uid); err == nil {
			t.Errorf("PyKMIP %s: the key is not the user's", ver)
		}
		if _, err := run("wrong"); err == nil || !strings.Contains(err.Error(), "AUTHENTICATION_NOT_SUCCESSFUL") {
			t.Errorf("PyKMIP %s with a wrong password: %v", ver, err)
		}
	}
}

func isReason(err error, r kmip.ResultReason) bool {
	ke, ok := err.(*kmip.Error)
	return ok && ke.Reason == r
}

// The users: and auth: sections are checked when the config loads.
func TestConfigAuthValidation(t *testing.T) {
	for _, tc := range []struct {
		set  func(c *Config)
		want string
	}{
		{func(c *Config) {
			c.Users = []UserConfig{{Name: "u", PasswordHash: "secret", Certificates: []string{"c"}}}
		}, "password_hash"},
		{func(c *Config) {
			c.Users = []UserConfig{{Name: "u", PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"}}
		}, "no certificates"},
		{func(c *Config) { c.Auth.MaxFailures = 0 }, "auth.max_failures"},
		{func(c *Config) { c.Auth.TicketLease = Duration(48 * time.Hour) }, "auth.ticket_lease"},
		{func(c *Config) { c.Auth.VerifyCache = -1 }, "auth.verify_cache"},
	} {
		c := defaultConfig()
		tc.set(c)
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error about %s, got %v", tc.want, err)
		}
	}
	if err := defaultConfig().validate(); err != nil {
		t.Fatalf("the default config: %v", err)
	}
}
