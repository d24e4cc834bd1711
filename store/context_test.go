package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kmipd/kmipd/store"
)

// A done context starts no transaction, and a transaction's function sees
// the context it was started with.
func TestContext_DoneStartsNothing(t *testing.T) { engines(t, testContext_DoneStartsNothing) }

func testContext_DoneStartsNothing(t *testing.T, openT opener) {
	db := openT(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	fn := func(*store.Tx) error { ran = true; return nil }
	for name, err := range map[string]error{
		"UpdateContext":        db.UpdateContext(ctx, fn),
		"ViewContext":          db.ViewContext(ctx, fn),
		"UpdateGroupedContext": db.UpdateGroupedContext(ctx, fn),
	} {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
		}
	}
	if ran {
		t.Fatal("a function ran under a cancelled context")
	}

	type key struct{}
	live := context.WithValue(context.Background(), key{}, "request-7")
	var seen []any
	see := func(tx *store.Tx) error { seen = append(seen, tx.Context().Value(key{})); return nil }
	if err := db.UpdateContext(live, see); err != nil {
		t.Fatal(err)
	}
	if err := db.ViewContext(live, see); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateGroupedContext(live, see); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || seen[0] != "request-7" || seen[1] != "request-7" || seen[2] != "request-7" {
		t.Fatalf("Tx.Context values %v, want request-7 three times", seen)
	}
}

// A grouped writer whose context ends while it waits behind a slow group
// leaves the queue without writing; the writers around it are unaffected.
func TestUpdateGroupedContext_WithdrawsWhileQueued(t *testing.T) {
	engines(t, testUpdateGroupedContext_WithdrawsWhileQueued)
}

func testUpdateGroupedContext_WithdrawsWhileQueued(t *testing.T, openT opener) {
	db := openT(t)
	inLeader, release := make(chan struct{}), make(chan struct{})
	leaderDone := make(chan error, 1)
	go func() {
		leaderDone <- db.UpdateGrouped(func(tx *store.Tx) error {
			close(inLeader)
			<-release
			return tx.Put(&store.Record{ID: "leader", Data: []byte{1}})
		})
	}()
	<-inLeader

	ctx, cancel := context.WithCancel(context.Background())
	quitter := make(chan error, 1)
	go func() {
		quitter <- db.UpdateGroupedContext(ctx, func(tx *store.Tx) error {
			return tx.Put(&store.Record{ID: "quitter", Data: []byte{2}})
		})
	}()
	stayer := make(chan error, 1)
	go func() {
		stayer <- db.UpdateGrouped(func(tx *store.Tx) error {
			return tx.Put(&store.Record{ID: "stayer", Data: []byte{3}})
		})
	}()
	time.Sleep(50 * time.Millisecond) // both queued behind the leader
	cancel()
	if err := <-quitter; !errors.Is(err, context.Canceled) {
		t.Fatalf("queued writer after cancel: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-leaderDone; err != nil {
		t.Fatal(err)
	}
	if err := <-stayer; err != nil {
		t.Fatal(err)
	}
	view(t, db, func(tx *store.Tx) error {
		for id, want := range map[string]bool{"leader": true, "stayer": true, "quitter": false} {
			_, err := tx.Get(id)
			if got := err == nil; got != want {
				t.Errorf("record %s present=%v, want %v (%v)", id, got, want, err)
			}
		}
		return nil
	})
}
