package store_test

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/kmipd/kmipd/store"
)

// writeFormat1 writes an empty store file in format 1 with bbolt alone, as
// a kmipd of format 1 created it: buckets sys (schema 1, count 0), meta,
// objects, seq, index, unique; no format history.
func writeFormat1(t *testing.T, path string) {
	t.Helper()
	boltEdit(t, path, func(tx *bolt.Tx) error {
		sys, err := tx.CreateBucket([]byte("sys"))
		if err != nil {
			return err
		}
		if err := sys.Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 1)); err != nil {
			return err
		}
		if err := sys.Put([]byte("count"), make([]byte, 8)); err != nil {
			return err
		}
		for _, b := range []string{"meta", "objects", "seq", "index", "unique"} {
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
}

// toFormat1 turns a current store file back into format 1 (format 2 only
// added the history key).
func toFormat1(t *testing.T, path string) {
	t.Helper()
	boltEdit(t, path, func(tx *bolt.Tx) error {
		sys := tx.Bucket([]byte("sys"))
		if err := sys.Delete([]byte("history")); err != nil {
			return err
		}
		return sys.Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 1))
	})
}

func TestNewFileHasCurrentFormat(t *testing.T) { engines(t, testNewFileHasCurrentFormat) }

func testNewFileHasCurrentFormat(t *testing.T, openT opener) {
	db := openT(t)
	if db.Format() != store.SchemaVersion || store.SchemaVersion != 3 {
		t.Errorf("Format = %d, SchemaVersion = %d, want 3", db.Format(), store.SchemaVersion)
	}
	h, err := db.FormatHistory()
	if err != nil || len(h) != 1 || h[0].Format != 3 || h[0].Note != "created" || h[0].Time.IsZero() {
		t.Errorf("FormatHistory = %+v, %v; want one 'created' event at format 3", h, err)
	}
	if db.NeedsMove() {
		t.Error("a new file needs its key material moved")
	}
}

func TestUpgradeFromFormat1(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		make    func(path string)
		objects int
	}{
		{"empty, written by bbolt", func(path string) { writeFormat1(t, path) }, 0},
		{"with objects", func(path string) {
			db := openPath(t, path)
			put(t, db, named("a", "n1", "t"), named("b", "n2", "t"))
			update(t, db, func(tx *store.Tx) error { return tx.SetMeta("k", []byte("v")) })
			db.Close()
			toFormat1(t, path)
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".db")
			tc.make(path)

			_, err := store.Open(path, nil)
			if !errors.Is(err, store.ErrNeedsUpgrade) || !strings.Contains(err.Error(), "format version 1, this kmipd uses format 3") {
				t.Fatalf("Open of format 1 = %v, want ErrNeedsUpgrade naming both versions", err)
			}
			db, err := store.Open(path, &store.Options{AllowOlder: true})
			if err != nil {
				t.Fatal(err)
			}
			if db.Format() != 1 {
				t.Errorf("Format = %d, want 1", db.Format())
			}
			if err := db.Update(func(tx *store.Tx) error { return tx.SetMeta("x", nil) }); !errors.Is(err, store.ErrNeedsUpgrade) {
				t.Errorf("write before the upgrade = %v, want ErrNeedsUpgrade", err)
			}
			if err := db.UpdateGrouped(func(tx *store.Tx) error { return tx.SetMeta("x", nil) }); !errors.Is(err, store.ErrNeedsUpgrade) {
				t.Errorf("grouped write before the upgrade = %v, want ErrNeedsUpgrade", err)
			}
			if err := db.Check(); err != nil {
				t.Errorf("Check before the upgrade: %v", err)
			}
			var steps []int
			from, err := db.Upgrade(func(f, to int) { steps = append(steps, f, to) })
			if err != nil || from != 1 || len(steps) != 4 || steps[0] != 1 || steps[1] != 2 || steps[3] != 3 {
				t.Fatalf("Upgrade = %d, %v, steps %v; want from 1, steps 1→2→3", from, err, steps)
			}
			if db.Format() != 3 {
				t.Errorf("Format after Upgrade = %d", db.Format())
			}
			update(t, db, func(tx *store.Tx) error { return tx.SetMeta("x", nil) })
			db.Close()
			if _, err := store.Open(path, nil); !errors.Is(err, store.ErrNeedsUpgrade) {
				t.Fatalf("Open before the key material is moved = %v, want ErrNeedsUpgrade", err)
			}
			db, err = store.Open(path, &store.Options{AllowOlder: true})
			if err != nil {
				t.Fatal(err)
			}
			if !db.NeedsMove() {
				t.Fatal("NeedsMove false after the upgrade from format 1")
			}
			if err := db.MoveSecrets(func(string, []byte) ([]byte, []byte, error) { return nil, nil, nil }, 0, nil); err != nil {
				t.Fatal(err)
			}
			db.Close()

			db = openPath(t, path) // no AllowOlder needed now
			defer db.Close()
			check(t, db)
			if n := db.Stats().Objects; n != tc.objects {
				t.Errorf("%d objects after the upgrade, want %d", n, tc.objects)
			}
			h, err := db.FormatHistory()
			if err != nil || len(h) != 3 || h[0].Format != 2 || h[0].Note != "upgraded from format 1" ||
				h[1].Format != 3 || h[1].Note != "upgraded from format 2" || h[2].Note != "key material moved to key slots" {
				t.Errorf("history = %+v, %v", h, err)
			}
			// Idempotent: nothing to do, nothing written.
			from, err = db.Upgrade(func(int, int) { t.Error("step on a current file") })
			if err != nil || from != 3 {
				t.Errorf("second Upgrade = %d, %v", from, err)
			}
			if h2, _ := db.FormatHistory(); len(h2) != 3 {
				t.Errorf("second Upgrade changed the history: %+v", h2)
			}
		})
	}
}

func TestOpenRefusesNewerFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmipd.db")
	openPath(t, path).Close()
	boltEdit(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("sys")).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 4))
	})
	for _, o := range []*store.Options{nil, {AllowOlder: true}} {
		_, err := store.Open(path, o)
		if !errors.Is(err, store.ErrSchema) {
			t.Fatalf("Open of format 4 = %v, want ErrSchema", err)
		}
		for _, want := range []string{"format version 4", "supports formats 1 to 3", "restore a backup", path} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}
}
