package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kmipd/kmipd/store"
)

// A group member that fails and is run again alone, having sealed a secret,
// is settled by the etcd keeper: before, the bbolt keeper (nil on etcd) was
// used and the process died of a nil pointer. Two Creates of one unique
// name in one group: exactly one succeeds, the other gets ErrExists.
func TestEtcd_GroupMemberRerunWithSecret(t *testing.T) {
	db := openEtcd(t)
	block, started := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		// Holds the group leader so that the next two queue together.
		_ = db.UpdateGrouped(func(tx *store.Tx) error {
			select {
			case <-started:
			default:
				close(started)
			}
			<-block
			return tx.SetMeta("x", []byte("1"))
		})
	})
	<-started
	errs := make(chan error, 2)
	for _, id := range []string{"a", "b"} {
		wg.Go(func() {
			errs <- db.UpdateGrouped(func(tx *store.Tx) error {
				return tx.Put(&store.Record{ID: id, Secret: []byte("sealed material " + id),
					Index: []store.IndexEntry{{Kind: "name", Value: []byte("n"), Unique: true}}})
			})
		})
	}
	time.Sleep(300 * time.Millisecond)
	close(block)
	wg.Wait()
	close(errs)
	var ok, exists int
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrExists):
			exists++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 || exists != 1 {
		t.Errorf("%d succeeded and %d got ErrExists, want 1 and 1", ok, exists)
	}
}

// A backup of an etcd store succeeds while another node destroys objects:
// each drop of a secret compacts etcd, which ends the snapshot being
// copied, and the backup starts again from a new one.
func TestEtcd_BackupDuringDestroys(t *testing.T) {
	c := sharedCluster(t)
	p := freshPrefix()
	a := openEtcdPrefix(t, c, p, nil)
	b := openEtcdPrefix(t, c, p, nil)
	for j := range 100 {
		update(t, a, func(tx *store.Tx) error {
			for i := range 20 {
				if err := tx.Put(&store.Record{ID: fmt.Sprintf("o%d-%d", j, i), Secret: []byte("k")}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 3 {
			select {
			case <-done:
				return
			case <-time.After(30 * time.Millisecond):
			}
			update(t, b, func(tx *store.Tx) error { return tx.Delete(fmt.Sprintf("o%d-0", i)) })
		}
	})
	var buf bytes.Buffer
	_, err := a.Backup(&buf)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup during Destroys: %v", err)
	}
	if buf.Len() == 0 {
		t.Fatal("empty backup")
	}
}
