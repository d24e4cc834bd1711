package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/kmipd/kmipd/store"
)

// snapshotFile writes a backup of a store holding n objects and returns
// its path.
func snapshotFile(t *testing.T, n int) string {
	t.Helper()
	db := openT(t)
	for i := range n {
		put(t, db, named(fmt.Sprint(i), fmt.Sprint("n", i), "t"))
	}
	var buf bytes.Buffer
	if _, err := db.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "snapshot.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerifySnapshot(t *testing.T) {
	path := snapshotFile(t, 20)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.VerifySnapshot(path)
	if err != nil || st.Objects != 20 {
		t.Fatalf("VerifySnapshot = %+v, %v; want 20 objects", st, err)
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatalf("VerifySnapshot changed the snapshot (%v)", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".kmipd-verify-*")); len(left) != 0 {
		t.Fatalf("VerifySnapshot left %v", left)
	}
}

func TestCheckFileRefusesNonStores(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	foreign := filepath.Join(dir, "foreign.db")
	bdb, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "missing.db"), "empty or too small"},
		{"empty", write("empty.db", nil), "empty or too small"},
		{"short", write("short.db", make([]byte, 1023)), "empty or too small"},
		{"garbage", write("garbage.db", bytes.Repeat([]byte("kmipd"), 1000)), "not a bbolt file"},
		{"foreign bbolt", foreign, "not a kmipd store"},
	} {
		_, err := store.CheckFile(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: CheckFile = %v, want %q", tc.name, err, tc.want)
		}
	}
	// A refused file is left as it was: no store was made of it.
	if data, _ := os.ReadFile(filepath.Join(dir, "empty.db")); len(data) != 0 {
		t.Errorf("CheckFile wrote %d bytes into an empty file", len(data))
	}
	if _, err := store.VerifySnapshot(filepath.Join(dir, "missing.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("VerifySnapshot of a missing file = %v", err)
	}
}

func TestCheckFileFindsDamage(t *testing.T) {
	path := snapshotFile(t, 5)
	boltEdit(t, path, func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("index")).Cursor()
		k, _ := c.First()
		return tx.Bucket([]byte("index")).Delete(k)
	})
	if _, err := store.VerifySnapshot(path); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("VerifySnapshot of a damaged index = %v, want ErrCorrupt", err)
	}
}
