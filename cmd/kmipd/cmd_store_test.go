package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/kmipd/kmipd/store"
)

// storeFormat reads the format version of the store file at path with
// bbolt alone.
func storeFormat(t *testing.T, path string) uint32 {
	t.Helper()
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	var v uint32
	if err := bdb.View(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint32(tx.Bucket([]byte("sys")).Get([]byte("schema")))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// setStoreFormat1 rewrites a store file into format 1, the format of the
// kmipd before format versions 2: a format 2 store (setStoreFormat2)
// without the format history, and "schema" 1.
func setStoreFormat1(t *testing.T, path string) {
	t.Helper()
	setStoreFormat2(t, path)
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(func(tx *bolt.Tx) error {
		sys := tx.Bucket([]byte("sys"))
		if err := sys.Delete([]byte("history")); err != nil {
			return err
		}
		return sys.Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 1))
	}); err != nil {
		t.Fatal(err)
	}
}

// A store written by the previous kmipd (format 1) is refused by serve,
// which names the upgrade command; kmipd store upgrade backs it up, upgrades
// it, and does nothing the second time; the keys are then served as before.
func TestStoreUpgradeFromFormat1(t *testing.T) {
	dir := initDir(t)
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	s := serveInProcess(t, cfg)
	c := dialKMIP(t, dir, s.addr)
	id, err := createKey(c, "before-upgrade")
	if err != nil {
		t.Fatal(err)
	}
	key, err := getKey(c, id)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	path := cfg.path(cfg.Store)
	setStoreFormat1(t, path)

	if _, err := runCLI("serve", "--dir", dir, "--addr", "127.0.0.1:0"); !errors.Is(err, store.ErrNeedsUpgrade) ||
		!strings.Contains(err.Error(), "kmipd store upgrade --dir "+dir) {
		t.Fatalf("serve on a format 1 store: %v; want a refusal naming kmipd store upgrade", err)
	}
	if storeFormat(t, path) != 1 {
		t.Fatal("the refused serve changed the store's format")
	}
	out, err := runCLI("store", "info", "--dir", dir)
	if err != nil || !strings.Contains(out, "format:  1 (this kmipd writes 3") || !strings.Contains(out, "upgrade: needed") {
		t.Errorf("store info: %v\n%s", err, out)
	}
	// kmipd backup still works on the older store.
	if out, err := runCLI("backup", "--dir", dir, "--out", filepath.Join(t.TempDir(), "pre.bak")); err != nil {
		t.Errorf("backup of a format 1 store: %v\n%s", err, out)
	}

	out, err = runCLI("store", "upgrade", "--dir", dir)
	if err != nil {
		t.Fatalf("store upgrade: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`backup of the format 1 store written to (\S+) `).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "upgrading format 1 to 2") || !strings.Contains(out, "upgrading format 2 to 3") ||
		!strings.Contains(out, "upgraded from format 1 to 3 (1 objects)") {
		t.Fatalf("store upgrade output:\n%s", out)
	}
	if got := storeFormat(t, m[1]); got != 1 {
		t.Errorf("the backup %s has format %d, want the format 1 store", m[1], got)
	}
	if got := storeFormat(t, path); got != 3 {
		t.Errorf("upgraded store has format %d", got)
	}
	out, err = runCLI("store", "info", "--dir", dir)
	if err != nil || !strings.Contains(out, "format:  3") || !strings.Contains(out, "format 2: upgraded from format 1") {
		t.Errorf("store info after the upgrade: %v\n%s", err, out)
	}

	out, err = runCLI("store", "upgrade", "--dir", dir)
	if err != nil || !strings.Contains(out, "at format 3 already: nothing to do") {
		t.Errorf("second store upgrade: %v\n%s", err, out)
	}
	if out, _ := runCLI("store", "info", "--dir", dir); strings.Count(out, "history:") != 3 {
		t.Errorf("the second upgrade changed the format history:\n%s", out)
	}
	if baks, _ := filepath.Glob(path + ".format*.bak"); len(baks) != 1 {
		t.Errorf("backups %v, want the one of the first upgrade", baks)
	}

	s = serveInProcess(t, cfg)
	c = dialKMIP(t, dir, s.addr)
	if got, err := getKey(c, id); err != nil || !bytes.Equal(got, key) {
		t.Errorf("key after the upgrade: %x, %v; want %x", got, err, key)
	}
	c.Close()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// Going back: restore takes the format 1 backup as it is.
	if out, err := runCLI("restore", "--dir", dir, "--in", m[1]); err != nil {
		t.Fatalf("restore of the format 1 backup: %v\n%s", err, out)
	}
	if got := storeFormat(t, path); got != 1 {
		t.Errorf("restored store has format %d, want 1", got)
	}
}

// A store of a newer format than this kmipd's is refused by serve and by
// store upgrade, with the version found, the one supported, and what to do.
func TestStoreNewerFormatRefused(t *testing.T) {
	dir := initDir(t)
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := cfg.path(cfg.Store)
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bdb.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("sys")).Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, store.SchemaVersion+1))
	}); err != nil {
		t.Fatal(err)
	}
	bdb.Close()
	before, _ := os.ReadFile(path)
	for _, args := range [][]string{
		{"serve", "--dir", dir, "--addr", "127.0.0.1:0"},
		{"store", "upgrade", "--dir", dir},
		{"store", "info", "--dir", dir},
	} {
		_, err := runCLI(args...)
		if !errors.Is(err, store.ErrSchema) {
			t.Errorf("%v: %v, want ErrSchema", args, err)
			continue
		}
		for _, want := range []string{"format version 4", "supports formats 1 to 3", "restore a backup"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: %q does not say %q", args, err, want)
			}
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the refusals changed the store file")
	}
}
