//go:build linux

package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/store/storetest"
)

// TestReady_FullDisk: Ready reports a failed commit until one succeeds, and
// Probe reports a full filesystem even though its own small commit, which
// reuses freed pages, still succeeds there (the old /readyz check).
func TestReady_FullDisk(t *testing.T) {
	fs := storetest.MountTmpfs(t, 4<<20)
	db, err := store.Open(filepath.Join(fs, "kmipd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	big := func(id string) func(tx *store.Tx) error {
		return func(tx *store.Tx) error {
			return tx.Put(&store.Record{ID: id, Data: bytes.Repeat([]byte{1}, 100<<10)})
		}
	}
	if err := db.Update(big("a")); err != nil {
		t.Fatal(err)
	}
	if err := db.Probe(); err != nil {
		t.Fatalf("Probe with room: %v", err)
	}
	free := storetest.Fill(t, fs)
	// A refused transaction is no store failure.
	refused := errors.New("refused")
	if err := db.Update(func(*store.Tx) error { return refused }); err != refused || db.Ready() != nil || db.CommitFailures() != 0 {
		t.Fatalf("refused transaction: %v, Ready %v, %d failures", err, db.Ready(), db.CommitFailures())
	}
	for i, update := range []func(func(*store.Tx) error) error{db.Update, db.UpdateGrouped} {
		err := update(big(fmt.Sprint("b", i)))
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("commit on a full disk: %v", err)
		}
		if r := db.Ready(); !errors.Is(r, syscall.ENOSPC) {
			t.Fatalf("Ready after a failed commit: %v", r)
		}
		if n := db.CommitFailures(); n != uint64(i+1) {
			t.Fatalf("CommitFailures %d, want %d", n, i+1)
		}
	}
	// The probe's own commit succeeds, but the free space gives it away.
	err = db.Probe()
	if err == nil || !strings.Contains(err.Error(), "bytes free") {
		t.Fatalf("Probe on a full disk: %v", err)
	}
	if err := db.Update(func(tx *store.Tx) error { return tx.SetMeta("small", []byte("x")) }); err != nil {
		t.Fatalf("a small commit on the full disk failed (%v): this test assumes it reuses freed pages", err)
	}
	if err := db.Ready(); err == nil {
		t.Fatal("Ready with a full disk after a small commit")
	}
	free()
	if err := db.Probe(); err != nil {
		t.Fatalf("Probe with room again: %v", err)
	}
	if err := db.Update(big("c")); err != nil {
		t.Fatal(err)
	}
	if err := db.Ready(); err != nil {
		t.Fatal(err)
	}
}
