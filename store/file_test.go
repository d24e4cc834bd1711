package store_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kmipd/kmipd/store"
)

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmipd.db")
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	put(t, db, named("a", "n", "t"))
	update(t, db, func(tx *store.Tx) error { return tx.SetMeta("v", []byte("1")) })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	if err := db.View(func(*store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close = %v", err)
	}
	if err := db.Update(func(*store.Tx) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close = %v", err)
	}
	if _, err := db.Backup(io.Discard); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Backup after Close = %v", err)
	}
	if s := db.Stats(); s != (store.Stats{}) {
		t.Errorf("Stats after Close = %+v", s)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, %v", fi.Mode(), err)
	}

	db = openPath(t, path)
	if db.Path() != path {
		t.Errorf("Path = %q", db.Path())
	}
	if got := lookup(t, db, "name", []byte("n")); len(got) != 1 || got[0] != "a" {
		t.Errorf("after reopen: %v", got)
	}
	r := named("b", "m", "t")
	put(t, db, r)
	if r.Seq != 2 {
		t.Errorf("sequence restarted after reopen: %d", r.Seq)
	}
	check(t, db)
}

func TestBackup(t *testing.T) {
	db := openT(t)
	secret := func(i int) []byte { return bytes.Repeat([]byte{byte(i), 0xA5}, 24) }
	for i := range 50 {
		r := named(fmt.Sprint(i), fmt.Sprint("n", i), "t")
		r.Secret = secret(i)
		put(t, db, r)
	}
	// Erased before the backup: not in it.
	put(t, db, &store.Record{ID: "0", Data: []byte("destroyed")})
	var buf bytes.Buffer
	n, err := db.Backup(&buf)
	// The snapshot, then 49 keys of 40 bytes and a 32-byte footer.
	if want := db.Stats().FileSize + 49*40 + 32; err != nil || n != int64(buf.Len()) || n != want {
		t.Fatalf("Backup = %d, %v (buffer %d, want %d)", n, err, buf.Len(), want)
	}
	put(t, db, named("later", "later", "t"))
	// Erased after the backup: the backup keeps it.
	put(t, db, &store.Record{ID: "1", Data: []byte("destroyed")})
	dir := t.TempDir()
	path := filepath.Join(dir, "backup")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.VerifySnapshot(path); err != nil {
		t.Fatalf("VerifySnapshot: %v", err)
	}
	restored := filepath.Join(dir, "restored.db")
	if err := store.ExtractSnapshot(path, restored, nil); err != nil {
		t.Fatal(err)
	}
	b := openPath(t, restored)
	if s := b.Stats(); s.Objects != 50 {
		t.Errorf("backup has %d objects", s.Objects)
	}
	check(t, b)
	if err := b.View(func(tx *store.Tx) error {
		for i := range 50 {
			r, err := tx.Get(fmt.Sprint(i))
			if err != nil {
				return err
			}
			if i == 0 && r.Secret != nil || i > 0 && !bytes.Equal(r.Secret, secret(i)) {
				return fmt.Errorf("object %d: secret %x", i, r.Secret)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A damaged key section is refused, and leaves nothing behind.
	bad := bytes.Clone(buf.Bytes())
	bad[len(bad)-1] ^= 1
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := store.ExtractSnapshot(path, filepath.Join(dir, "bad.db"), nil); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("ExtractSnapshot of a damaged backup = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.db")); err == nil {
		t.Error("a failed extraction left a file")
	}
	// A backup whose key section lacks a key fails its check.
	short := bytes.Clone(buf.Bytes())
	copy(short[len(short)-32-40:], make([]byte, 40)) // slot 0's key zeroed
	if err := os.WriteFile(path, short, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.VerifySnapshot(path); err == nil {
		t.Error("VerifySnapshot passed a backup missing a key")
	}
}

func TestOpenLockedTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmipd.db")
	openPath(t, path)
	start := time.Now()
	db, err := store.Open(path, &store.Options{Timeout: 100 * time.Millisecond})
	if !errors.Is(err, store.ErrLocked) {
		if db != nil {
			_ = db.Close()
		}
		t.Fatalf("Open of a locked file = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Open waited %v", d)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error does not name the file: %v", err)
	}
	if _, err := store.Open(path, &store.Options{Timeout: -1}); !errors.Is(err, store.ErrLocked) {
		t.Errorf("negative Timeout: %v", err)
	}
}

// boltEdit changes a closed store file behind the store's back.
func boltEdit(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaVersion(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kmipd.db")
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	setVersion := func(v uint32) {
		boltEdit(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("sys")).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, v))
		})
	}
	setVersion(store.SchemaVersion + 1)
	if _, err := store.Open(path, nil); !errors.Is(err, store.ErrSchema) {
		t.Errorf("Open of a newer schema = %v, want ErrSchema", err)
	}
	setVersion(store.SchemaVersion)
	openPath(t, path)

	foreign := filepath.Join(dir, "foreign.db")
	boltEdit(t, foreign, func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("widgets"))
		return err
	})
	if _, err := store.Open(foreign, nil); !errors.Is(err, store.ErrSchema) {
		t.Errorf("Open of a foreign bbolt file = %v, want ErrSchema", err)
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("junk"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(junk, nil); err == nil {
		t.Error("Open of a non-bbolt file succeeded")
	}
}

func TestCheckDetectsDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmipd.db")
	db := openPath(t, path)
	put(t, db, named("a", "n", "t"), named("b", "m", "t"))
	check(t, db)
	_ = db.Close()
	boltEdit(t, path, func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("index")).Cursor()
		k, _ := c.First()
		return tx.Bucket([]byte("index")).Delete(k)
	})
	db = openPath(t, path)
	if err := db.Check(); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("Check of a damaged index = %v, want ErrCorrupt", err)
	}
}

const crashEnv = "KMIPD_STORE_CRASH_DB"

// TestHelperProcess is the child of TestCrashDurability: it commits objects
// forever, printing each ID once Update has returned (acknowledged).
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("child process of TestCrashDurability")
	}
	db, err := store.Open(path, &store.Options{Timeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	payload := bytes.Repeat([]byte("k"), 300)
	for i := 0; ; i++ {
		var id string
		err := db.Update(func(tx *store.Tx) error {
			var err error
			if id, err = tx.NewID(); err != nil {
				return err
			}
			return tx.Put(&store.Record{ID: id, Data: payload, Index: []store.IndexEntry{
				{Kind: "name", Value: []byte(id), Unique: true},
				{Kind: "type", Value: []byte("crash")},
			}})
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("ACK %s\n", id)
	}
}

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "kmipd.db")
	var acked []string
	// The second, shorter round continues on the crashed file. Each
	// acknowledgement costs an fsync'd commit, so rounds stay short.
	for round, acks := range []int{100, 25} {
		acked = append(acked, crashChild(t, path, acks)...)
		t.Logf("round %d: %d commits acknowledged in total", round, len(acked))
		db, err := store.Open(path, &store.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if err := db.Check(); err != nil {
			t.Errorf("round %d: %v", round, err)
		}
		err = db.View(func(tx *store.Tx) error {
			for _, id := range acked {
				if _, err := tx.Get(id); err != nil {
					t.Errorf("acknowledged %s lost: %v", id, err)
				}
			}
			// At most one commit can have landed without its ACK printed.
			if n := tx.Count(); n < len(acked) || n > len(acked)+round+1 {
				t.Errorf("round %d: Count %d, acknowledged %d", round, n, len(acked))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = db.Close()
	}
}

// crashChild runs TestHelperProcess on path, SIGKILLs it after acks
// acknowledgements and returns every ID it acknowledged.
func crashChild(t *testing.T, path string, acks int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var ids []string
	r := bufio.NewReader(out)
	for {
		line, err := r.ReadString('\n')
		if err != nil { // EOF after the kill; a partial last line is not an ack
			break
		}
		if id, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "ACK "); ok {
			ids = append(ids, id)
		}
		if len(ids) == acks && !killed {
			killed = true
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d acks: %v\n%s", len(ids), err, stderr.Bytes())
	}
	return ids
}

func TestConcurrentReadersWriter(t *testing.T) { engines(t, testConcurrentReadersWriter) }

func testConcurrentReadersWriter(t *testing.T, openT opener) {
	db := openT(t)
	const batches, perBatch = 100, 5
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				err := db.View(func(tx *store.Tx) error {
					n := tx.Count()
					var ids []string
					if err := tx.Lookup("type", []byte("t"), func(id string, _ uint64) bool {
						ids = append(ids, id)
						return true
					}); err != nil {
						return err
					}
					if len(ids) != n || n%perBatch != 0 {
						t.Errorf("snapshot inconsistent: Count %d, Lookup %d", n, len(ids))
					}
					for _, id := range ids[:min(len(ids), 5)] {
						if _, err := tx.Get(id); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for b := range batches {
		update(t, db, func(tx *store.Tx) error {
			for i := range perBatch {
				id := fmt.Sprint(b, "-", i)
				if err := tx.Put(named(id, id, "t")); err != nil {
					return err
				}
			}
			return nil
		})
		_ = db.Stats()
	}
	close(done)
	wg.Wait()
	if s := db.Stats(); s.Objects != batches*perBatch || s.FileSize <= 0 {
		t.Errorf("Stats = %+v", s)
	}
	check(t, db)
}

func TestMeta(t *testing.T) { engines(t, testMeta) }

func testMeta(t *testing.T, openT opener) {
	db := openT(t)
	update(t, db, func(tx *store.Tx) error {
		if _, err := tx.GetMeta("k"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetMeta missing = %v", err)
		}
		if err := tx.SetMeta("k", []byte{}); err != nil {
			return err
		}
		if v, err := tx.GetMeta("k"); err != nil || len(v) != 0 {
			t.Errorf("empty meta = %v, %v", v, err)
		}
		if err := tx.SetMeta("k", nil); err != nil {
			return err
		}
		if _, err := tx.GetMeta("k"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted meta = %v", err)
		}
		return nil
	})
}
