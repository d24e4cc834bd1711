package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveFails runs serve on DIR and returns its error; the test fails if
// the server starts.
func serveFails(t *testing.T, dir string) error {
	t.Helper()
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Log.Level, cfg.Log.Format = "127.0.0.1:0", "warn", "json"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, new(lockedBuffer), ready) }()
	select {
	case err := <-done:
		return err
	case <-ready:
		cancel()
		<-done
		t.Fatal("kmipd started on a trail whose tail was cut off")
	case <-time.After(20 * time.Second):
		t.Fatal("serve neither started nor failed within 20s")
	}
	return nil
}

// TestAuditCutTailRefusedAfterRestart: records removed from the end of the
// trail of a stopped server are no longer signed by its next start: serve
// refuses, verify names the missing records, and only
// accept-truncation, which records the loss, lets the server start again.
func TestAuditCutTailRefusedAfterRestart(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	srv := startAudited(t, dir, nil)
	c := dialKMIP(t, dir, srv.addr)
	for i := range 8 {
		if _, err := createKey(c, "cut-"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "audit", "audit.log")
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// open checkpoint, 8 Creates, close checkpoint: cut the last 4 lines,
	// within one checkpoint interval and at a record boundary.
	lines := bytes.SplitAfter(data, []byte("\n"))
	if n := len(lines) - 1; n != 10 {
		t.Fatalf("%d lines:\n%s", n, data)
	}
	if err := os.WriteFile(logPath, bytes.Join(lines[:6], nil), 0o600); err != nil {
		t.Fatal(err)
	}
	const missing = "records 7 to 10 are missing"

	err = serveFails(t, dir)
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "accept-truncation") {
		t.Fatalf("serve on a cut trail: %v\nwant an error naming %q and accept-truncation", err, missing)
	}
	out, err := runCLI("audit", "verify", "--dir", dir)
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("verify of a cut trail: %v\n%s\nwant an error naming %q", err, out, missing)
	}

	out, err = runCLI("audit", "accept-truncation", "--dir", dir)
	if err != nil || !strings.Contains(out, missing) {
		t.Fatalf("accept-truncation: %v\n%s", err, out)
	}
	out, err = runCLI("audit", "verify", "--dir", dir)
	if err != nil || !strings.Contains(out, "accepted a cut-off tail") || !strings.Contains(out, missing) || !strings.Contains(out, "matches its anchor") {
		t.Fatalf("verify after accept-truncation: %v\n%s", err, out)
	}
	if out, err := runCLI("audit", "accept-truncation", "--dir", dir); err != nil || !strings.Contains(out, "nothing to accept") {
		t.Fatalf("a second accept-truncation: %v\n%s", err, out)
	}

	// The server starts and the trail goes on.
	srv = startAudited(t, dir, nil)
	c = dialKMIP(t, dir, srv.addr)
	if _, err := createKey(c, "after"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.stop()
	if out, err := runCLI("audit", "verify", "--dir", dir); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	recs := exportRecords(t, "--dir", dir)
	var ev *string
	for _, r := range recs {
		if r.Event == "truncation" {
			ev = &r.Detail
			if !strings.HasPrefix(r.Identity, "local ") {
				t.Errorf("the truncation event names %q, not the local operator", r.Identity)
			}
		}
	}
	if ev == nil || !strings.Contains(*ev, missing) {
		t.Fatalf("no truncation event naming %q in the export", missing)
	}
}

// TestAuditVerifyCopyWithoutAnchor: a copy of the trail kept elsewhere is
// still verified; verify says that truncation cannot be checked without
// its anchor, and compares when given one.
func TestAuditVerifyCopyWithoutAnchor(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	srv := startAudited(t, dir, nil)
	c := dialKMIP(t, dir, srv.addr)
	if _, err := createKey(c, "copied"); err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.stop()
	logPath, keyPath := filepath.Join(dir, "audit", "audit.log"), filepath.Join(dir, "audit", "audit.key")
	data, _ := os.ReadFile(logPath)
	cp := filepath.Join(t.TempDir(), "audit.log")
	os.WriteFile(cp, data, 0o600)
	out, err := runCLI("audit", "verify", "--file", cp, "--key", keyPath)
	if err != nil || !strings.Contains(out, "no anchor") {
		t.Fatalf("verify of a copy: %v\n%s", err, out)
	}
	out, err = runCLI("audit", "verify", "--file", cp, "--key", keyPath, "--anchor", logPath+".anchor")
	if err != nil || !strings.Contains(out, "matches its anchor") {
		t.Fatalf("verify of a copy with the anchor: %v\n%s", err, out)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	os.WriteFile(cp, bytes.Join(lines[:2], nil), 0o600)
	if out, err := runCLI("audit", "verify", "--file", cp, "--key", keyPath, "--anchor", logPath+".anchor"); err == nil || !strings.Contains(err.Error(), "record 3 is missing") {
		t.Fatalf("verify of a cut copy with the anchor: %v\n%s", err, out)
	}
}
