package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kmipd/kmipd/store"
)

// storeIDs opens a store file and returns its consistency check and object
// identifiers.
// storeIDs lists the objects of a backup, or of a store file and its key
// file, and runs the full check on it (every secret opening).
func storeIDs(t *testing.T, path string) (map[string]bool, error) {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := store.ExtractSnapshot(path, cp, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(store.KeysPath(cp)); err != nil {
		if err := store.CopyFile(store.KeysPath(path), store.KeysPath(cp), nil); err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(cp, &store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids := map[string]bool{}
	db.View(func(tx *store.Tx) error {
		return tx.ScanIDs(func(id string, _ uint64) bool { ids[id] = true; return true })
	})
	return ids, db.Check()
}

func TestBackupWhileServingRestoresEveryAcknowledgedObject(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	srv := startAudited(t, dir, nil)

	var mu sync.Mutex
	acked := map[string]bool{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	const workers = 3
	for w := range workers {
		c := dialKMIP(t, dir, srv.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				id, err := createKey(c, fmt.Sprintf("backup-%d-%d", w, i))
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	for deadline := time.Now().Add(10 * time.Second); count() < 60; {
		if time.Now().After(deadline) {
			t.Fatal("creates too slow")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	before := make(map[string]bool, len(acked))
	for id := range acked {
		before[id] = true
	}
	mu.Unlock()

	out := filepath.Join(t.TempDir(), "snap.db")
	msg, err := runCLI("backup", "--dir", dir, "--out", out)
	if err != nil || !strings.Contains(msg, "online") {
		t.Fatalf("backup while serving: %v\n%s", err, msg)
	}
	during := count()
	time.Sleep(50 * time.Millisecond) // writes go on after the snapshot
	stop.Store(true)
	wg.Wait()
	if count() <= len(before) {
		t.Fatal("no Create was acknowledged while the backup ran")
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v %v", fi, err)
	}
	// A second backup refuses to overwrite it.
	if _, err := runCLI("backup", "--dir", dir, "--out", out); err == nil {
		t.Fatal("backup replaced an existing file without --force")
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	final := count()

	// Restore into the same directory, the server stopped.
	msg, err = runCLI("restore", "--dir", dir, "--in", out)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, msg)
	}
	ids, err := storeIDs(t, filepath.Join(dir, "kmipd.db"))
	if err != nil {
		t.Fatalf("restored store fails its check: %v", err)
	}
	for id := range before {
		if !ids[id] {
			t.Errorf("object %s, acknowledged before the backup began, is not in the restored store", id)
		}
	}
	// The snapshot may hold a Create that committed before it but whose
	// answer had not reached its worker when during was read: at most one
	// per worker.
	if len(ids) < len(before) || len(ids) > during+workers || len(ids) >= final {
		t.Errorf("restored store holds %d objects; %d acknowledged before the backup, %d when it ended, %d in all", len(ids), len(before), during, final)
	}
	kept, _ := filepath.Glob(filepath.Join(dir, "kmipd.db.pre-restore-*[^s]"))
	if keys, _ := filepath.Glob(filepath.Join(dir, "kmipd.db.pre-restore-*.keys")); len(keys) != 1 {
		t.Errorf("previous key file not kept: %v", keys)
	}
	if len(kept) != 1 {
		t.Fatalf("previous store not kept: %v", kept)
	}
	if old, err := storeIDs(t, kept[0]); err != nil || len(old) != final {
		t.Errorf("kept store: %d objects, %v; want %d", len(old), err, final)
	}

	// The restored store serves its keys; the trail records the backup and
	// the restore.
	srv = startAudited(t, dir, nil)
	c := dialKMIP(t, dir, srv.addr)
	for id := range before {
		if _, err := getKey(c, id); err != nil {
			t.Fatalf("Get %s from the restored store: %v", id, err)
		}
		break
	}
	c.Close()
	srv.stop()
	var events []string
	for _, r := range exportRecords(t, "--dir", dir) {
		if r.Kind == "event" {
			events = append(events, r.Event)
		}
	}
	if strings.Join(events, ",") != "backup,restore" {
		t.Errorf("audit events %v, want backup and restore", events)
	}
	if out, err := runCLI("audit", "verify", "--dir", dir); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
}

func TestBackupOffline(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	srv := startAudited(t, dir, nil)
	c := dialKMIP(t, dir, srv.addr)
	id, err := createKey(c, "offline")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv.stop()
	out := filepath.Join(t.TempDir(), "snap.db")
	msg, err := runCLI("backup", "--dir", dir, "--out", out)
	if err != nil || !strings.Contains(msg, "offline") || !strings.Contains(msg, "1 objects") {
		t.Fatalf("offline backup: %v\n%s", err, msg)
	}
	if ids, err := storeIDs(t, out); err != nil || !ids[id] {
		t.Fatalf("snapshot: %v %v", ids, err)
	}
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

func TestRestoreRefusesBadSnapshotsAndRunningServer(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	srv := startAudited(t, dir, nil)
	c := dialKMIP(t, dir, srv.addr)
	for i := range 3 {
		if _, err := createKey(c, fmt.Sprintf("keep-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	good := filepath.Join(t.TempDir(), "good.db")
	if msg, err := runCLI("backup", "--dir", dir, "--out", good); err != nil {
		t.Fatalf("backup: %v\n%s", err, msg)
	}
	// Refused while serving.
	if msg, err := runCLI("restore", "--dir", dir, "--in", good); err == nil || !strings.Contains(err.Error(), "stop it") {
		t.Fatalf("restore while serving: %v\n%s", err, msg)
	}
	c.Close()
	srv.stop()

	live := filepath.Join(dir, "kmipd.db")
	sum := fileSum(t, live)
	snap, _ := os.ReadFile(good)
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	bdb, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
	bdb.Close()
	flipped := bytes.Clone(snap)
	for i := range 2 * 4096 { // both meta pages
		flipped[i] ^= 0x5a
	}
	bad := map[string][]byte{
		"empty":     nil,
		"garbage":   bytes.Repeat([]byte("not a store "), 4096),
		"truncated": snap[:len(snap)/2],
		"bad metas": flipped,
	}
	for name, data := range bad {
		p := filepath.Join(t.TempDir(), name+".db")
		os.WriteFile(p, data, 0o600)
		msg, err := runCLI("restore", "--dir", dir, "--in", p)
		if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("restore of a %s snapshot: %v\n%s", name, err, msg)
		}
		t.Logf("%s snapshot: %v", name, err)
	}
	if msg, err := runCLI("restore", "--dir", dir, "--in", foreign); err == nil || !strings.Contains(err.Error(), "not a kmipd store") {
		t.Errorf("restore of a foreign bbolt file: %v\n%s", err, msg)
	}
	if fileSum(t, live) != sum {
		t.Fatal("a refused restore changed the store")
	}
	if kept, _ := filepath.Glob(filepath.Join(dir, "kmipd.db.pre-restore-*")); len(kept) != 0 {
		t.Fatalf("a refused restore left %v", kept)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".kmipd.db.restore-*")); len(left) != 0 {
		t.Fatalf("a refused restore left %v", left)
	}
	if ids, err := storeIDs(t, live); err != nil || len(ids) != 3 {
		t.Fatalf("store after refused restores: %d objects, %v", len(ids), err)
	}
}
