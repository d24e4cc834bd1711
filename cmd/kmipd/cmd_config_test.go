package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/pki"
)

func TestConfigCheck(t *testing.T) {
	clearKMIPDEnv(t)
	check := func(dir string) (string, error) { return runCLI("config", "check", "--dir", dir) }

	dir := initDir(t, "--host", "127.0.0.1")
	out, err := check(dir)
	if err != nil || !strings.Contains(out, "0 problems") || strings.Contains(out, "FAIL") {
		t.Fatalf("a fresh set-up: %v\n%s", err, out)
	}
	for _, want := range []string{"tls.key", "matches the certificate", "valid for the listen address 127.0.0.1", "verifies against tls.ca"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	t.Run("key does not match", func(t *testing.T) {
		dir := initDir(t)
		key, _ := os.ReadFile(filepath.Join(dir, "pki", "client.key"))
		os.WriteFile(filepath.Join(dir, "pki", "server.key"), key, 0o600)
		out, err := check(dir)
		if err == nil || !strings.Contains(out, "does not match the certificate") {
			t.Fatalf("%v\n%s", err, out)
		}
	})
	t.Run("expired certificate", func(t *testing.T) {
		dir := initDir(t)
		b, err := pki.Generate(pki.Options{Hosts: []string{"127.0.0.1"}, Validity: 24 * time.Hour,
			Now: func() time.Time { return time.Now().Add(-400 * 24 * time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "pki", "server.crt"), b.ServerCert, 0o644)
		os.WriteFile(filepath.Join(dir, "pki", "server.key"), b.ServerKey, 0o600)
		out, err := check(dir)
		if err == nil || !strings.Contains(out, "FAIL  tls.cert") || !strings.Contains(out, "expired on") {
			t.Fatalf("%v\n%s", err, out)
		}
		// Issued by another CA: only a warning.
		if !strings.Contains(out, "WARN  tls.cert") {
			t.Errorf("no warning about the foreign issuer:\n%s", out)
		}
	})
	t.Run("missing files and bad values", func(t *testing.T) {
		dir := initDir(t)
		os.Remove(filepath.Join(dir, "pki", "ca.crt"))
		os.Remove(filepath.Join(dir, "master.key"))
		data, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
		data = []byte(strings.Replace(string(data), "sync: interval", "sync: sometimes", 1))
		writeConfig(t, dir, string(data))
		out, err := check(dir)
		if err == nil {
			t.Fatalf("passed:\n%s", out)
		}
		for _, want := range []string{"FAIL  tls.ca", "FAIL  hsm.master_key", `FAIL  audit.sync "sometimes"`} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("no config", func(t *testing.T) {
		if out, err := check(t.TempDir()); err == nil || !strings.Contains(out, "FAIL  config") {
			t.Fatalf("%v\n%s", err, out)
		}
	})
}
