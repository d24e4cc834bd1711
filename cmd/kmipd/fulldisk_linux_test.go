//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// fdMountTmpfs mounts a tmpfs of size bytes for the test (root only; CI
// runs as root): a real filesystem that fills up.
func fdMountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs that fills up")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

// fdFill fills dir's filesystem and returns a function that frees it.
func fdFill(t *testing.T, dir string) func() {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1 << 16, 512} {
		buf := make([]byte, n)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// fdRegisterSecret registers Secret Data (a Seed) holding secret.
func fdRegisterSecret(c *kmip.Client, secret []byte) (string, error) {
	_, it, err := c.Do(kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData))
		b.Begin(ttlv.TagAttributes)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskDeriveKey))
		b.End()
		b.Begin(ttlv.TagSecretData)
		b.AddEnum(ttlv.TagSecretDataType, uint32(kmip.SecretDataTypeSeed))
		b.Begin(ttlv.TagKeyBlock)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeOpaque))
		b.Begin(ttlv.TagKeyValue)
		b.AddBytes(ttlv.TagKeyMaterial, secret)
		b.End()
		b.End()
		b.End()
	})
	if err != nil {
		return "", err
	}
	u, ok := it.Payload.Find(ttlv.TagUniqueIdentifier)
	if !ok {
		return "", fmt.Errorf("Register response: %s", ttlv.Format(it.Payload))
	}
	return string(u.Data), nil
}

// TestServe_FullDisk runs kmipd with its store on a small tmpfs and fills
// it. Before: Get failed (its first-Get write could not commit) and
// /readyz said ready (its probe rewrote a few freed pages, which a full
// disk still takes). Now: /readyz turns 503 within seconds, naming the
// store; Gets are served; Creates fail with a KMIP error, not a broken
// connection; the metrics count the failures; once space is freed, /readyz
// is green again and Creates succeed.
func TestServe_FullDisk(t *testing.T) {
	fs := fdMountTmpfs(t, 8<<20)
	dir := initDir(t)
	admin := freePort(t)
	p := startServer(t, dir, []string{"KMIPD_STORE=" + filepath.Join(fs, "kmipd.db")}, "--addr", "127.0.0.1:0", "--admin-addr", admin)
	get := func(path string) (int, string) {
		t.Helper()
		var resp *http.Response
		var err error
		for range 50 { // the admin listener starts with the server
			if resp, err = http.Get("http://" + admin + path); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitReady := func(want int) (string, time.Duration) {
		t.Helper()
		start := time.Now()
		for {
			code, body := get("/readyz")
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
	sid, err := fdRegisterSecret(c, secret)
	if err != nil {
		t.Fatal(err)
	}

	free := fdFill(t, fs)
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
	_, metrics := get("/metrics")
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
	_, metrics = get("/metrics")
	if !strings.Contains(metrics, "\nkmipd_store_ready 1\n") {
		t.Error("kmipd_store_ready is not 1 after recovery")
	}
	p.stop(t)
}
