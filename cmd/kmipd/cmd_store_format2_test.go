package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
)

// setStoreFormat2 turns the closed store at path into a store as the kmipd
// of format 2 wrote it: each object's key material back inside its encoded
// object, record format 1 (no sealed secret), no key slots, no key file,
// schema 2. It returns the blobs it embedded.
func setStoreFormat2(t *testing.T, path string) map[string][]byte {
	t.Helper()
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[string][]byte{}
	if err := db.Update(func(tx *store.Tx) error {
		var recs []*store.Record
		if err := tx.Scan(func(r *store.Record) bool { recs = append(recs, r); return true }); err != nil {
			return err
		}
		for _, r := range recs {
			if r.Secret == nil {
				continue
			}
			var o objects.Object
			if err := o.UnmarshalBinary(r.Data); err != nil {
				return err
			}
			o.Blob, blobs[r.ID] = r.Secret, r.Secret
			data, err := o.MarshalBinary()
			if err != nil {
				return err
			}
			r.Data, r.Secret = data, nil
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	if err := bdb.Update(func(tx *bolt.Tx) error {
		objs := tx.Bucket([]byte("objects"))
		conv := map[string][]byte{}
		if err := objs.ForEach(func(k, v []byte) error {
			conv[string(k)] = recordV1(t, v)
			return nil
		}); err != nil {
			return err
		}
		for k, v := range conv {
			if err := objs.Put([]byte(k), v); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket([]byte("slots")); err != nil {
			return err
		}
		sys := tx.Bucket([]byte("sys"))
		h, _ := json.Marshal([]store.FormatEvent{{Format: 2, Time: time.Now().UTC(), Note: "created"}})
		if err := sys.Put([]byte("history"), h); err != nil {
			return err
		}
		return sys.Put([]byte("schema"), binary.BigEndian.AppendUint32(nil, 2))
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(store.KeysPath(path)); err != nil {
		t.Fatal(err)
	}
	return blobs
}

// recordV1 rewrites a record of format 2 with no sealed secret into record
// format 1 (store/codec.go): the same fields without the secret's length.
func recordV1(t *testing.T, v []byte) []byte {
	t.Helper()
	if v[0] != 2 {
		t.Fatalf("record format %d", v[0])
	}
	p := 9
	uv := func() uint64 {
		x, n := binary.Uvarint(v[p:])
		p += n
		return x
	}
	p += int(uv()) // owner
	for n := uv(); n > 0; n-- {
		p++ // flags
		p += int(uv())
		p += int(uv())
	}
	if v[p] != 0 {
		t.Fatalf("record still has a sealed secret")
	}
	out := append([]byte{1}, v[1:p]...)
	return append(out, v[p+1:]...)
}

// A store written by the kmipd of format 2 (key material inside the
// records) is refused by serve, naming the upgrade; kmipd store upgrade
// moves the material into key slots and zeroes it in the file, and the keys
// are served as before; a backup then carries the key slots and restores to
// a working store; kmipd store check passes throughout.
func TestStoreUpgradeFromFormat2MovesKeyMaterial(t *testing.T) {
	dir := initDir(t)
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = "127.0.0.1:0"
	s := serveInProcess(t, cfg)
	c := dialKMIP(t, dir, s.addr)
	keys := map[string][]byte{}
	for _, name := range []string{"k1", "k2", "k3"} {
		id, err := createKey(c, name)
		if err != nil {
			t.Fatal(err)
		}
		if keys[id], err = getKey(c, id); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	path := cfg.path(cfg.Store)
	blobs := setStoreFormat2(t, path)
	if len(blobs) != 3 {
		t.Fatalf("%d blobs embedded, want 3", len(blobs))
	}
	file := func() []byte {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, b := range blobs {
		if !bytes.Contains(file(), b) {
			t.Fatal("test premise: a format 2 store holds the blobs in clear")
		}
	}
	if _, err := runCLI("serve", "--dir", dir, "--addr", "127.0.0.1:0"); !errors.Is(err, store.ErrNeedsUpgrade) ||
		!strings.Contains(err.Error(), "kmipd store upgrade --dir "+dir) {
		t.Fatalf("serve on a format 2 store: %v; want a refusal naming kmipd store upgrade", err)
	}
	if out, err := runCLI("store", "check", "--dir", dir); err != nil || !strings.Contains(out, "(format 2): 3 objects") {
		t.Errorf("store check of the format 2 store: %v\n%s", err, out)
	}
	out, err := runCLI("store", "upgrade", "--dir", dir)
	if err != nil || !strings.Contains(out, "upgrading format 2 to 3") || !strings.Contains(out, "moving the key material") ||
		!strings.Contains(out, "upgraded from format 2 to 3 (3 objects)") {
		t.Fatalf("store upgrade: %v\n%s", err, out)
	}
	for _, b := range blobs {
		if bytes.Contains(file(), b) {
			t.Fatal("a blob is still in clear in the store file after the upgrade")
		}
	}
	if out, err := runCLI("store", "check", "--dir", dir); err != nil || !strings.Contains(out, "(format 3): 3 objects") {
		t.Errorf("store check after the upgrade: %v\n%s", err, out)
	}
	if out, _ := runCLI("store", "info", "--dir", dir); !strings.Contains(out, "key material moved to key slots") {
		t.Errorf("store info after the upgrade:\n%s", out)
	}
	bak := t.TempDir() + "/after.bak"
	if out, err := runCLI("backup", "--dir", dir, "--out", bak); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	// The restored store must bring its own keys: remove the live ones.
	if err := os.Remove(store.KeysPath(path)); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI("restore", "--dir", dir, "--in", bak); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if out, err := runCLI("store", "check", "--dir", dir); err != nil {
		t.Errorf("store check after the restore: %v\n%s", err, out)
	}
	s = serveInProcess(t, cfg)
	c = dialKMIP(t, dir, s.addr)
	for id, key := range keys {
		if got, err := getKey(c, id); err != nil || !bytes.Equal(got, key) {
			t.Errorf("key %s after upgrade and restore: %x, %v; want %x", id, got, err, key)
		}
	}
	c.Close()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}
