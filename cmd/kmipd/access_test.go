package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// kmipctlBins caches the kmipctl each test built (buildKmipctl).
var kmipctlBins sync.Map // *testing.T → path

// buildKmipctl builds the kmipctl command into the test's temporary
// directory, once per test, skipping the test when no go tool is at hand.
func buildKmipctl(t *testing.T) string {
	t.Helper()
	if p, ok := kmipctlBins.Load(t); ok {
		return p.(string)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool to build kmipctl: %v", err)
	}
	p := filepath.Join(t.TempDir(), "kmipctl")
	if out, err := exec.Command(goTool, "build", "-o", p, "github.com/kmipd/kmipd/cmd/kmipctl").CombinedOutput(); err != nil {
		t.Fatalf("go build kmipctl: %v\n%s", err, out)
	}
	kmipctlBins.Store(t, p)
	t.Cleanup(func() { kmipctlBins.Delete(t) })
	return p
}

// ctlAs runs kmipctl as identity who (pki/WHO.crt) against addr and returns
// its stdout, stderr and exit status.
func ctlAs(t *testing.T, dir, addr, who string, args ...string) (string, string, int) {
	t.Helper()
	pki := filepath.Join(dir, "pki")
	all := append([]string{"--server", addr, "--ca", filepath.Join(pki, "ca.crt"),
		"--cert", filepath.Join(pki, who+".crt"), "--key", filepath.Join(pki, who+".key")}, args...)
	cmd := exec.Command(buildKmipctl(t), all...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// encryptAs sends a KMIP Encrypt with key id as identity who.
func encryptAs(t *testing.T, dir, addr, who, id string) ([]byte, error) {
	t.Helper()
	c, err := kmip.Dial(addr, identityTLS(t, dir, who))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Version, c.Timeout = kmip.V2_0, 10*time.Second
	_, it, err := c.Do(kmip.OperationEncrypt, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.Begin(ttlv.TagCryptographicParameters)
		b.AddEnum(ttlv.TagBlockCipherMode, uint32(kmip.BlockCipherModeGCM))
		b.AddInt32(ttlv.TagTagLength, 16)
		b.End()
		b.AddBytes(ttlv.TagData, []byte("attack at dawn"))
	})
	if err != nil {
		return nil, err
	}
	var ct, iv, tag []byte
	p := it.Payload
	for !p.Empty() {
		x, _ := p.Next()
		switch x.Tag {
		case ttlv.TagData:
			ct = x.Data
		case ttlv.TagIVCounterNonce:
			iv = x.Data
		case ttlv.TagAuthenticatedEncryptionTag:
			tag = x.Data
		}
	}
	// Decrypt it back, as the same identity.
	_, it, err = c.Do(kmip.OperationDecrypt, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.Begin(ttlv.TagCryptographicParameters)
		b.AddEnum(ttlv.TagBlockCipherMode, uint32(kmip.BlockCipherModeGCM))
		b.AddInt32(ttlv.TagTagLength, 16)
		b.End()
		b.AddBytes(ttlv.TagData, ct)
		b.AddBytes(ttlv.TagIVCounterNonce, iv)
		b.AddBytes(ttlv.TagAuthenticatedEncryptionTag, tag)
	})
	if err != nil {
		return nil, err
	}
	pt, _ := it.Payload.Find(ttlv.TagData)
	return pt.Data, nil
}

// Ensure the access model end to end with the real commands: after
// `kmipd init --client alice,bob` alice grants bob Encrypt and Decrypt on
// her key with kmipctl; bob can use it but not Get, Export, Destroy or
// Revoke it (the audit trail names the rule); after ungrant bob's Encrypt
// is refused; and a changed config moves bob to another tenant on SIGHUP.
func TestAccess_GrantEndToEnd(t *testing.T) {
	dir := initDir(t, "--client", "alice,bob")
	srv := startServer(t, dir, nil)
	defer srv.stop(t)
	ok := func(who string, args ...string) string {
		t.Helper()
		out, errOut, code := ctlAs(t, dir, srv.addr, who, args...)
		if code != 0 {
			t.Fatalf("kmipctl %v as %s: exit %d\n%s%s", args, who, code, out, errOut)
		}
		return out
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(ok("alice", "create", "--algorithm", "AES", "--length", "256", "-o", "json")), &created); err != nil || created.ID == "" {
		t.Fatalf("create: %v %+v", err, created)
	}
	id := created.ID
	ok("alice", "activate", id)
	if _, err := encryptAs(t, dir, srv.addr, "bob", id); err == nil {
		t.Fatal("bob encrypts with alice's key before any grant")
	}
	ok("alice", "grant", id, "--to", "bob", "--ops", "encrypt,decrypt")
	pt, err := encryptAs(t, dir, srv.addr, "bob", id)
	if err != nil || string(pt) != "attack at dawn" {
		t.Fatalf("bob's Encrypt and Decrypt with the grant: %q, %v", pt, err)
	}
	for _, args := range [][]string{{"get", id}, {"export", id}, {"destroy", id}, {"revoke", id, "--reason", "superseded"}} {
		out, errOut, code := ctlAs(t, dir, srv.addr, "bob", args...)
		if code == 0 || !strings.Contains(errOut, "PermissionDenied") && !strings.Contains(errOut, "Permission Denied") {
			t.Errorf("bob's %s: exit %d\n%s%s", args[0], code, out, errOut)
		}
	}
	var grants struct {
		ID     string `json:"id"`
		Grants []struct {
			Identity   string   `json:"identity"`
			Operations []string `json:"operations"`
		} `json:"grants"`
	}
	if err := json.Unmarshal([]byte(ok("alice", "grants", id, "--output", "json")), &grants); err != nil {
		t.Fatal(err)
	}
	if len(grants.Grants) != 1 || grants.Grants[0].Identity != "bob" || strings.Join(grants.Grants[0].Operations, ",") != "encrypt,decrypt" {
		t.Fatalf("grants: %+v", grants)
	}
	if table := ok("alice", "grants", id); !strings.Contains(table, "bob") || !strings.Contains(table, "encrypt,decrypt") {
		t.Errorf("grants table:\n%s", table)
	}
	ok("alice", "ungrant", id, "--from", "bob")
	if _, err := encryptAs(t, dir, srv.addr, "bob", id); err == nil {
		t.Fatal("bob encrypts after ungrant")
	} else if r, _ := kmip.ResultOf(err); r != kmip.ResultReasonObjectNotFound {
		t.Errorf("bob's Encrypt after ungrant: %v, want Object Not Found", err)
	}

	// The refusals are audited with the rule that refused them.
	data, err := os.ReadFile(filepath.Join(dir, "audit", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r audit.Record
		if json.Unmarshal([]byte(line), &r) == nil && r.Identity == "bob" && r.Rule != "" {
			rules[r.Operation] = r.Rule
		}
	}
	if rules["Get"] != "no-grant" || rules["Encrypt"] != "not-owner" {
		t.Errorf("audited rules of bob's refusals: %v", rules)
	}

	// Reload: bob moves to tenant globex; his grant no longer reaches
	// alice's key, and config check reports the bindings.
	ok("alice", "grant", id, "--to", "bob", "--ops", "encrypt,decrypt")
	if _, err := encryptAs(t, dir, srv.addr, "bob", id); err != nil {
		t.Fatalf("bob's Encrypt after a new grant: %v", err)
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	cfgData, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfgData = append(cfgData, "\naccess:\n  identities:\n    bob: {tenant: globex, roles: [user]}\n"...)
	if err := os.WriteFile(cfgPath, cfgData, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI("config", "check", "--dir", dir)
	if !strings.Contains(out, "access: tenants [default globex]") {
		t.Errorf("config check: %v\n%s", err, out)
	}
	srv.signal(t, syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.stderr.String(), "access policy reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged:\n%s", srv.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := encryptAs(t, dir, srv.addr, "bob", id); err == nil {
		t.Fatal("bob in tenant globex encrypts with a key of tenant default")
	} else if r, _ := kmip.ResultOf(err); r != kmip.ResultReasonObjectNotFound {
		t.Errorf("bob's Encrypt from another tenant: %v, want Object Not Found", err)
	}
	// A config that does not load leaves the policy in force.
	if err := os.WriteFile(cfgPath, append(cfgData, "  roles: {user: {operations: [get]}}\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.signal(t, syscall.SIGHUP)
	for !strings.Contains(srv.stderr.String(), "config not reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no failed reload logged:\n%s", srv.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := encryptAs(t, dir, srv.addr, "alice", id); err != nil {
		t.Errorf("alice after a failed reload: %v", err)
	}
}
