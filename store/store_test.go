package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/store"
)

// openT opens a NoSync store in a fresh temp dir, closed at cleanup.
func openT(t testing.TB) *store.DB {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "kmipd.db"))
}

func openPath(t testing.TB, path string) *store.DB {
	t.Helper()
	db, err := store.Open(path, &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func update(t testing.TB, db *store.DB, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func view(t testing.TB, db *store.DB, fn func(tx *store.Tx) error) {
	t.Helper()
	if err := db.View(fn); err != nil {
		t.Fatal(err)
	}
}

// named returns a record with a unique name entry and a "type" entry.
func named(id, name, typ string) *store.Record {
	return &store.Record{
		ID:    id,
		Owner: "alice",
		Data:  []byte("data of " + id),
		Index: []store.IndexEntry{
			{Kind: "name", Value: []byte(name), Unique: true},
			{Kind: "type", Value: []byte(typ)},
		},
	}
}

func put(t testing.TB, db *store.DB, recs ...*store.Record) {
	t.Helper()
	update(t, db, func(tx *store.Tx) error {
		for _, r := range recs {
			if err := tx.Put(r); err != nil {
				return err
			}
		}
		return nil
	})
}

func lookup(t testing.TB, db *store.DB, kind string, value []byte) []string {
	t.Helper()
	var ids []string
	view(t, db, func(tx *store.Tx) error {
		return tx.Lookup(kind, value, func(id string, _ uint64) bool {
			ids = append(ids, id)
			return true
		})
	})
	return ids
}

func check(t testing.TB, db *store.DB) {
	t.Helper()
	if err := db.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

func TestCRUD(t *testing.T) { engines(t, testCRUD) }

func testCRUD(t *testing.T, openT opener) {
	db := openT(t)
	var id string
	update(t, db, func(tx *store.Tx) error {
		var err error
		if id, err = tx.NewID(); err != nil {
			return err
		}
		return tx.Put(named(id, "key-1", "SymmetricKey"))
	})
	if len(id) != 36 || id[14] != '4' || id[8] != '-' {
		t.Errorf("NewID = %q, want a UUIDv4", id)
	}
	view(t, db, func(tx *store.Tx) error {
		r, err := tx.Get(id)
		if err != nil {
			return err
		}
		want := named(id, "key-1", "SymmetricKey")
		want.Seq = 1
		if !reflect.DeepEqual(r, want) {
			t.Errorf("Get = %+v, want %+v", r, want)
		}
		if n := tx.Count(); n != 1 {
			t.Errorf("Count = %d", n)
		}
		return nil
	})
	if got := lookup(t, db, "name", []byte("key-1")); !slices.Equal(got, []string{id}) {
		t.Errorf("Lookup name = %v", got)
	}
	check(t, db)
	update(t, db, func(tx *store.Tx) error { return tx.Delete(id) })
	err := db.Update(func(tx *store.Tx) error { return tx.Delete(id) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	view(t, db, func(tx *store.Tx) error {
		if _, err := tx.Get(id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get after Delete = %v", err)
		}
		if n := tx.Count(); n != 0 {
			t.Errorf("Count = %d", n)
		}
		return nil
	})
	check(t, db)
}

func TestCopiesSurviveTx(t *testing.T) { engines(t, testCopiesSurviveTx) }

func testCopiesSurviveTx(t *testing.T, openT opener) {
	db := openT(t)
	in := named("x", "name-x", "t")
	put(t, db, in)
	in.Data[0] = 'X' // Put copied: the caller may reuse its buffers
	in.Index[0].Value[0] = 'X'
	var got *store.Record
	var scanned []*store.Record
	var meta []byte
	update(t, db, func(tx *store.Tx) error {
		if err := tx.SetMeta("mk", []byte("v1")); err != nil {
			return err
		}
		var err error
		if got, err = tx.Get("x"); err != nil {
			return err
		}
		if meta, err = tx.GetMeta("mk"); err != nil {
			return err
		}
		return tx.Scan(func(r *store.Record) bool { scanned = append(scanned, r); return true })
	})
	// Overwrite and grow the file so bbolt's pages are reused and remapped.
	big := bytes.Repeat([]byte{0xAA}, 64<<10)
	for i := range 20 {
		update(t, db, func(tx *store.Tx) error {
			if err := tx.SetMeta("mk", []byte("v2")); err != nil {
				return err
			}
			if err := tx.Delete("x"); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return tx.Put(&store.Record{ID: fmt.Sprint("big", i), Data: big})
		})
	}
	want := named("x", "name-x", "t")
	want.Seq = 1
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(scanned, []*store.Record{want}) {
		t.Errorf("after tx: Get = %+v, Scan = %+v, want %+v", got, scanned, want)
	}
	if string(meta) != "v1" {
		t.Errorf("GetMeta copy = %q", meta)
	}
}

func TestPutReplaceUpdatesIndexes(t *testing.T) { engines(t, testPutReplaceUpdatesIndexes) }

func testPutReplaceUpdatesIndexes(t *testing.T, openT opener) {
	db := openT(t)
	put(t, db, named("a", "old", "sym"), named("b", "other", "sym"))
	r := named("a", "new", "sym")
	r.Seq = 99 // ignored: a replace keeps the stored sequence
	r.Index = append(r.Index, store.IndexEntry{Kind: "attr:x-tag", Value: []byte("v")})
	put(t, db, r)
	if r.Seq != 1 {
		t.Errorf("replace set Seq = %d, want 1", r.Seq)
	}
	if got := lookup(t, db, "name", []byte("old")); len(got) != 0 {
		t.Errorf("old name still found: %v", got)
	}
	if got := lookup(t, db, "name", []byte("new")); !slices.Equal(got, []string{"a"}) {
		t.Errorf("new name: %v", got)
	}
	if got := lookup(t, db, "type", []byte("sym")); !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("type: %v", got)
	}
	if got := lookup(t, db, "attr:x-tag", []byte("v")); !slices.Equal(got, []string{"a"}) {
		t.Errorf("attr: %v", got)
	}
	// The old name is free for another object now.
	put(t, db, named("c", "old", "sym"))
	// Dropping Unique on a kept entry releases the claim.
	r.Index[0].Unique = false
	put(t, db, r)
	put(t, db, &store.Record{ID: "d", Index: []store.IndexEntry{{Kind: "name", Value: []byte("new")}}})
	if got := lookup(t, db, "name", []byte("new")); !slices.Equal(got, []string{"d", "a"}) {
		t.Errorf("name after un-unique: %v", got)
	}
	check(t, db)
}

func TestUniqueConflict(t *testing.T) { engines(t, testUniqueConflict) }

func testUniqueConflict(t *testing.T, openT opener) {
	db := openT(t)
	put(t, db, named("a", "n", "t"), &store.Record{ID: "b", Index: []store.IndexEntry{{Kind: "group", Value: []byte("g")}}})
	put(t, db, named("a", "n", "t2")) // replacing the holder itself is fine

	conflicts := map[string]*store.Record{
		"unique vs unique":     named("x", "n", "x-type"),
		"plain vs unique":      {ID: "x", Index: []store.IndexEntry{{Kind: "type", Value: []byte("x-type")}, {Kind: "name", Value: []byte("n")}}},
		"unique vs plain":      {ID: "x", Index: []store.IndexEntry{{Kind: "type", Value: []byte("x-type")}, {Kind: "group", Value: []byte("g"), Unique: true}}},
		"steal by replacement": named("b", "n", "x-type"),
	}
	for name, r := range conflicts {
		t.Run(name, func(t *testing.T) {
			// Within the transaction: the failed Put wrote nothing.
			update(t, db, func(tx *store.Tx) error {
				before := tx.Count()
				err := tx.Put(r)
				if !errors.Is(err, store.ErrExists) {
					t.Fatalf("Put = %v, want ErrExists", err)
				}
				if !strings.Contains(err.Error(), `"a"`) && !strings.Contains(err.Error(), `"b"`) {
					t.Errorf("error does not name the holder: %v", err)
				}
				if tx.Count() != before {
					t.Errorf("Count changed")
				}
				return nil
			})
			// In a transaction returned with the error, earlier Puts are gone too.
			err := db.Update(func(tx *store.Tx) error {
				if err := tx.Put(named("y", "y", "x-type")); err != nil {
					return err
				}
				return tx.Put(r)
			})
			if !errors.Is(err, store.ErrExists) {
				t.Fatalf("Update = %v, want ErrExists", err)
			}
			if got := lookup(t, db, "type", []byte("x-type")); len(got) != 0 {
				t.Errorf("x-type indexed: %v", got)
			}
			view(t, db, func(tx *store.Tx) error {
				if _, err := tx.Get("y"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("y stored: %v", err)
				}
				if b, err := tx.Get("b"); err != nil || len(b.Index) != 1 {
					t.Errorf("b changed: %+v %v", b, err)
				}
				return nil
			})
			check(t, db)
		})
	}
	if got := lookup(t, db, "name", []byte("n")); !slices.Equal(got, []string{"a"}) {
		t.Errorf("name n: %v", got)
	}
	if s := db.Stats(); s.LastSeq != 2 {
		t.Errorf("failed Puts consumed sequence numbers: LastSeq = %d", s.LastSeq)
	}
}

func TestUpdateErrorRollsBack(t *testing.T) { engines(t, testUpdateErrorRollsBack) }

func testUpdateErrorRollsBack(t *testing.T, openT opener) {
	db := openT(t)
	put(t, db, named("keep", "keep", "t"))
	update(t, db, func(tx *store.Tx) error { return tx.SetMeta("m", []byte("1")) })
	boom := errors.New("boom")
	mutate := func(tx *store.Tx) {
		for i := range 10 {
			if err := tx.Put(named(fmt.Sprint("n", i), fmt.Sprint("n", i), "t")); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Put(named("keep", "renamed", "u")); err != nil {
			t.Fatal(err)
		}
		if err := tx.SetMeta("m", []byte("2")); err != nil {
			t.Fatal(err)
		}
		if err := tx.Delete("n3"); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Update(func(tx *store.Tx) error { mutate(tx); return boom }); err != boom {
		t.Fatalf("Update = %v, want boom unchanged", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic not propagated")
			}
		}()
		_ = db.Update(func(tx *store.Tx) error { mutate(tx); panic("crash") })
	}()
	if err := db.Update(func(tx *store.Tx) error { mutate(tx); _ = tx.Reset(); return boom }); err != boom {
		t.Fatalf("Update = %v", err)
	}
	view(t, db, func(tx *store.Tx) error {
		if n := tx.Count(); n != 1 {
			t.Errorf("Count = %d, want 1", n)
		}
		if m, _ := tx.GetMeta("m"); string(m) != "1" {
			t.Errorf("meta = %q", m)
		}
		return nil
	})
	if got := lookup(t, db, "type", []byte("t")); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("type t: %v", got)
	}
	if got := lookup(t, db, "name", []byte("renamed")); len(got) != 0 {
		t.Errorf("renamed: %v", got)
	}
	if s := db.Stats(); s.LastSeq != 1 {
		t.Errorf("LastSeq = %d", s.LastSeq)
	}
	check(t, db)
}

func TestNewestFirst(t *testing.T) { engines(t, testNewestFirst) }

func testNewestFirst(t *testing.T, openT opener) {
	db := openT(t)
	var ids []string // insertion order
	for i := range 30 {
		update(t, db, func(tx *store.Tx) error {
			for j := range 1 + i%3 { // several Puts per transaction, too
				id, err := tx.NewID()
				if err != nil {
					return err
				}
				r := &store.Record{ID: id, Index: []store.IndexEntry{
					{Kind: "type", Value: []byte("k")},
					{Kind: "parity", Value: []byte{byte(j % 2)}},
				}}
				if err := tx.Put(r); err != nil {
					return err
				}
				if r.Seq != uint64(len(ids)+1) {
					t.Errorf("Seq = %d, want %d", r.Seq, len(ids)+1)
				}
				ids = append(ids, id)
			}
			return nil
		})
	}
	// Replacing an old record does not make it newer.
	update(t, db, func(tx *store.Tx) error {
		r, err := tx.Get(ids[0])
		if err != nil {
			return err
		}
		r.Data = []byte("changed")
		return tx.Put(r)
	})
	newest := slices.Clone(ids)
	slices.Reverse(newest)
	if got := lookup(t, db, "type", []byte("k")); !slices.Equal(got, newest) {
		t.Errorf("Lookup order:\n got %v\nwant %v", got, newest)
	}
	view(t, db, func(tx *store.Tx) error {
		var scan, scanIDs []string
		var seqs []uint64
		if err := tx.Scan(func(r *store.Record) bool { scan = append(scan, r.ID); return true }); err != nil {
			return err
		}
		if err := tx.ScanIDs(func(id string, seq uint64) bool {
			scanIDs = append(scanIDs, id)
			seqs = append(seqs, seq)
			return true
		}); err != nil {
			return err
		}
		if !slices.Equal(scan, newest) || !slices.Equal(scanIDs, newest) {
			t.Errorf("Scan order wrong:\n%v\n%v", scan, scanIDs)
		}
		if !slices.IsSortedFunc(seqs, func(a, b uint64) int { return int(b) - int(a) }) {
			t.Errorf("ScanIDs seqs not descending: %v", seqs)
		}
		var first3 []string
		_ = tx.Lookup("type", []byte("k"), func(id string, _ uint64) bool {
			first3 = append(first3, id)
			return len(first3) < 3
		})
		if !slices.Equal(first3, newest[:3]) {
			t.Errorf("early stop: %v", first3)
		}
		var prev uint64 = 1 << 63
		n := 0
		return tx.Lookup("parity", []byte{1}, func(_ string, seq uint64) bool {
			if seq >= prev {
				t.Errorf("parity seqs not descending: %d after %d", seq, prev)
			}
			prev = seq
			n++
			return true
		})
	})
	check(t, db)
}

func TestValuesDoNotCollide(t *testing.T) { engines(t, testValuesDoNotCollide) }

func testValuesDoNotCollide(t *testing.T, openT opener) {
	db := openT(t)
	long := bytes.Repeat([]byte("L"), 600)
	long2 := append(bytes.Clone(long), 'x')
	digest := sha256.Sum256(long)
	type kv struct {
		kind  string
		value []byte
	}
	cases := []kv{
		{"v", []byte("a")}, {"v", []byte("ab")}, {"v", []byte("a\x00b")}, {"v", []byte("a\x00")},
		{"v", []byte("\x00")}, {"v", []byte("")}, {"v", []byte("\xff\xff\xff\xff\xff\xff\xff\xff")},
		{"x", []byte("yz")}, {"xy", []byte("z")}, {"x\x00y", []byte("z")}, {"x", []byte("\x00yz")},
		{"v", long}, {"v", long2}, {"v", digest[:]}, {"v", long[:512]}, {"v", long[:513]},
	}
	for i, c := range cases {
		for j := range 2 { // two objects per value: one unique claim would forbid it
			put(t, db, &store.Record{ID: fmt.Sprint(i, "-", j), Index: []store.IndexEntry{{Kind: c.kind, Value: c.value}}})
		}
	}
	for i, c := range cases {
		want := []string{fmt.Sprint(i, "-1"), fmt.Sprint(i, "-0")}
		if got := lookup(t, db, c.kind, c.value); !slices.Equal(got, want) {
			t.Errorf("Lookup(%q, %q) = %v, want %v", c.kind, c.value, got, want)
		}
	}
	if got := lookup(t, db, "v", nil); !slices.Equal(got, []string{"5-1", "5-0"}) {
		t.Errorf("nil value = %v, want the empty value's objects", got)
	}
	for _, c := range []kv{{"v", []byte("a\x00b\x00")}, {"x", []byte("y")}, {"vv", []byte("a")}} {
		if got := lookup(t, db, c.kind, c.value); len(got) != 0 {
			t.Errorf("Lookup(%q, %q) = %v, want none", c.kind, c.value, got)
		}
	}
	// Long values round-trip verbatim.
	view(t, db, func(tx *store.Tx) error {
		r, err := tx.Get("11-0")
		if err == nil && !bytes.Equal(r.Index[0].Value, long) {
			t.Error("long value not stored verbatim")
		}
		return err
	})
	check(t, db)
}

func TestDeleteRemovesIndexEntries(t *testing.T) { engines(t, testDeleteRemovesIndexEntries) }

func testDeleteRemovesIndexEntries(t *testing.T, openT opener) {
	db := openT(t)
	put(t, db, named("a", "n1", "t"), named("b", "n2", "t"))
	update(t, db, func(tx *store.Tx) error { return tx.Delete("a") })
	if got := lookup(t, db, "name", []byte("n1")); len(got) != 0 {
		t.Errorf("name n1: %v", got)
	}
	if got := lookup(t, db, "type", []byte("t")); !slices.Equal(got, []string{"b"}) {
		t.Errorf("type t: %v", got)
	}
	put(t, db, named("c", "n1", "t")) // the unique name is free again
	check(t, db)
}

func TestReset(t *testing.T) { engines(t, testReset) }

func testReset(t *testing.T, openT opener) {
	db := openT(t)
	for i := range 100 {
		put(t, db, named(fmt.Sprint(i), fmt.Sprint("n", i), "t"))
	}
	update(t, db, func(tx *store.Tx) error { return tx.SetMeta("master-key-version", []byte{7}) })
	update(t, db, func(tx *store.Tx) error {
		if err := tx.Reset(); err != nil {
			return err
		}
		if tx.Count() != 0 {
			t.Errorf("Count after Reset in tx = %d", tx.Count())
		}
		return tx.Put(named("new", "n5", "t")) // buckets usable in the same tx
	})
	r := named("new2", "n6", "t")
	put(t, db, r)
	if r.Seq != 2 {
		t.Errorf("Seq after Reset = %d", r.Seq)
	}
	if got := lookup(t, db, "type", []byte("t")); !slices.Equal(got, []string{"new2", "new"}) {
		t.Errorf("type t: %v", got)
	}
	view(t, db, func(tx *store.Tx) error {
		n := 0
		_ = tx.Scan(func(*store.Record) bool { n++; return true })
		if n != 2 || tx.Count() != 2 {
			t.Errorf("Scan %d, Count %d", n, tx.Count())
		}
		if m, err := tx.GetMeta("master-key-version"); err != nil || !bytes.Equal(m, []byte{7}) {
			t.Errorf("meta lost: %v %v", m, err)
		}
		return nil
	})
	check(t, db)
}

func TestInvalidAndMisuse(t *testing.T) { engines(t, testInvalidAndMisuse) }

func testInvalidAndMisuse(t *testing.T, openT opener) {
	db := openT(t)
	bad := []*store.Record{
		nil,
		{ID: ""},
		{ID: strings.Repeat("i", store.MaxIDLen+1)},
		{ID: "x", Index: []store.IndexEntry{{Kind: "", Value: []byte("v")}}},
		{ID: "x", Index: []store.IndexEntry{{Kind: strings.Repeat("k", store.MaxKindLen+1)}}},
	}
	var leaked *store.Tx
	update(t, db, func(tx *store.Tx) error {
		for _, r := range bad {
			if err := tx.Put(r); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Put(%v) = %v, want ErrInvalid", r, err)
			}
		}
		if err := tx.Lookup("", nil, nil); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Lookup empty kind = %v", err)
		}
		if _, err := tx.Get(""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get empty id = %v", err)
		}
		if err := tx.Delete(""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Delete empty id = %v", err)
		}
		if err := tx.SetMeta("", nil); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("SetMeta empty key = %v", err)
		}
		leaked = tx
		return nil
	})
	view(t, db, func(tx *store.Tx) error {
		for name, err := range map[string]error{
			"Put": tx.Put(named("a", "a", "t")), "Delete": tx.Delete("a"),
			"Reset": tx.Reset(), "SetMeta": tx.SetMeta("k", nil),
		} {
			if !errors.Is(err, store.ErrReadOnly) {
				t.Errorf("%s in View = %v, want ErrReadOnly", name, err)
			}
		}
		return nil
	})
	if _, err := leaked.Get("a"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get on finished Tx = %v", err)
	}
	if err := leaked.Put(named("a", "a", "t")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Put on finished Tx = %v", err)
	}
	if leaked.Count() != 0 {
		t.Error("Count on finished Tx")
	}
}
