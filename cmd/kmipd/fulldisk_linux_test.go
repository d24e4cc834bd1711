//go:build linux

package main

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/store/storetest"
)

// TestServe_FullDisk runs kmipd with its store on a small tmpfs and fills
// it. Before: Get failed (its first-Get write could not commit) and
// /readyz said ready (its probe rewrote a few freed pages, which a full
// disk still takes). Now: /readyz turns 503 within seconds, naming the
// store; Gets are served; Creates fail with a KMIP error, not a broken
// connection; the metrics count the failures; once space is freed, /readyz
// is green again and Creates succeed.
func TestServe_FullDisk(t *testing.T) {
	fs := storetest.MountTmpfs(t, 8<<20)
	dir := initDir(t)
	admin := freePort(t)
	p := startServer(t, dir, []string{"KMIPD_STORE=" + filepath.Join(fs, "kmipd.db")}, "--addr", "127.0.0.1:0", "--admin-addr", admin)
	waitReady := func(want int) (string, time.Duration) {
		t.Helper()
		start := time.Now()
		for {
			code, body := adminGet(t, admin, "/readyz")
			if code == want {
				return body, time.Since(start)
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("/readyz still %d after 10s, want %d: %s", code, want, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitReady(http.StatusOK)
	c := dialKMIP(t, dir, p.addr)
	key, err := createKey(c, "before")
	if err != nil {
		t.Fatal(err)
	}
	// Its first Get rewrites the whole 40 KiB record: new pages.
	secret := bytes.Repeat([]byte("full disk secret"), 40<<10/16)
	sid, err := registerSecretDataOf(c, kmip.SecretDataTypeSeed, secret, nil)
	if err != nil {
		t.Fatal(err)
	}

	free := storetest.Fill(t, fs)
	body, took := waitReady(http.StatusServiceUnavailable)
	if !strings.Contains(body, "store cannot commit") {
		t.Errorf("/readyz body %q should name the store", body)
	}
	t.Logf("full disk: /readyz 503 after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(body))
	if _, kft, m, err := getMaterial(c, sid); err != nil || kft != kmip.KeyFormatTypeOpaque || !bytes.Equal(m, secret) {
		t.Fatalf("Get of the secret on a full disk: %v", err)
	}
	if _, err := getKey(c, key); err != nil {
		t.Fatalf("Get of the key on a full disk: %v", err)
	}
	creates, failed := 0, false
	for ; creates < 2000 && !failed; creates++ {
		if _, err := createKey(c, fmt.Sprint("full-", creates)); err != nil {
			if !isKMIPError(err) {
				t.Fatalf("Create on a full disk: %v, want a KMIP error", err)
			}
			failed = true
		}
	}
	if !failed {
		t.Fatal("2000 Creates succeeded on a full disk")
	}
	t.Logf("full disk: Create %d failed cleanly", creates)
	waitReady(http.StatusServiceUnavailable)
	_, metrics := adminGet(t, admin, "/metrics")
	if v := metricValue(t, metrics, `kmipd_store_commit_failures_total`); v < 2 {
		t.Errorf("kmipd_store_commit_failures_total %v, want at least 2 (the Get's and the Create's)", v)
	}
	if v := metricValue(t, metrics, `kmipd_lost_writes_total`); v < 1 {
		t.Errorf("kmipd_lost_writes_total %v, want at least 1", v)
	}
	if !strings.Contains(metrics, "\nkmipd_store_ready 0\n") {
		t.Error("kmipd_store_ready is not 0")
	}

	free()
	_, took = waitReady(http.StatusOK)
	t.Logf("space freed: /readyz 200 after %v", took.Round(time.Millisecond))
	if _, err := createKey(c, "after"); err != nil {
		t.Fatalf("Create once space is freed: %v", err)
	}
	if _, _, m, err := getMaterial(c, sid); err != nil || !bytes.Equal(m, secret) {
		t.Fatalf("Get after recovery: %v", err)
	}
	_, metrics = adminGet(t, admin, "/metrics")
	if !strings.Contains(metrics, "\nkmipd_store_ready 1\n") {
		t.Error("kmipd_store_ready is not 1 after recovery")
	}
	p.stop(t)
}
