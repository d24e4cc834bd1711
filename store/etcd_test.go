package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kmipd/kmipd/internal/etcdtest"
	"github.com/kmipd/kmipd/store"
)

// twoNodes opens two DBs ("nodes") on one fresh prefix of c.
func twoNodes(t *testing.T, c *etcdtest.Cluster, o *store.EtcdOptions) (a, b *store.DB) {
	t.Helper()
	prefix := freshPrefix()
	return openEtcdPrefix(t, c, prefix, o), openEtcdPrefix(t, c, prefix, o)
}

// Writers on two nodes race for one unique name and increment one counter:
// exactly one claims the name, and no increment is lost.
func TestEtcd_TwoNodesConflictingWriters(t *testing.T) {
	a, b := twoNodes(t, sharedCluster(t), nil)
	put(t, a, &store.Record{ID: "counter", Data: []byte("0")})
	const perNode = 8
	const incs = 15
	var wg sync.WaitGroup
	var claimed, exists atomic.Int32
	errs := make(chan error, 64)
	for n, db := range []*store.DB{a, b} {
		for w := range perNode {
			wg.Go(func() {
				id := fmt.Sprintf("n%d-w%d", n, w)
				err := db.Update(func(tx *store.Tx) error {
					return tx.Put(&store.Record{ID: id, Index: []store.IndexEntry{{Kind: "name", Value: []byte("shared"), Unique: true}}})
				})
				switch {
				case err == nil:
					claimed.Add(1)
				case errors.Is(err, store.ErrExists):
					exists.Add(1)
				default:
					errs <- fmt.Errorf("claim %s: %w", id, err)
				}
				for range incs {
					update := db.Update
					if w%2 == 1 {
						update = db.UpdateGrouped
					}
					if err := update(func(tx *store.Tx) error {
						r, err := tx.Get("counter")
						if err != nil {
							return err
						}
						v, _ := strconv.Atoi(string(r.Data))
						// As long as a Create's reads take: a writer that
						// only raced would lose to the other node again
						// and again (it did, 17 times in a row).
						time.Sleep(2 * time.Millisecond)
						r.Data = []byte(strconv.Itoa(v + 1))
						return tx.Put(r)
					}); err != nil {
						errs <- fmt.Errorf("increment on %s: %w", id, err)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if claimed.Load() != 1 || exists.Load() != 2*perNode-1 {
		t.Errorf("name claimed %d times, refused %d times; want 1 and %d", claimed.Load(), exists.Load(), 2*perNode-1)
	}
	for _, db := range []*store.DB{a, b} {
		view(t, db, func(tx *store.Tx) error {
			r, err := tx.Get("counter")
			if err != nil {
				return err
			}
			if want := strconv.Itoa(2 * perNode * incs); string(r.Data) != want {
				t.Errorf("counter = %s, want %s", r.Data, want)
			}
			return nil
		})
		if got := lookup(t, db, "name", []byte("shared")); len(got) != 1 {
			t.Errorf("name shared held by %v", got)
		}
	}
	check(t, a)
}

// A change on node A reaches node B's OnChange hooks before B's Fence
// returns.
func TestEtcd_OnChangeAndFence(t *testing.T) {
	a, b := twoNodes(t, sharedCluster(t), nil)
	var mu sync.Mutex
	seen := map[string]int{}
	b.OnChange(func(ids []string, all bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			seen[id]++
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 20 {
		id := fmt.Sprint("obj-", i)
		put(t, a, named(id, id, "t"))
		update(t, a, func(tx *store.Tx) error { return tx.Delete(id) })
		if err := b.Fence(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		n := seen[id]
		mu.Unlock()
		if n < 2 {
			t.Fatalf("after Fence on B, B's hook saw %d changes of %s, want 2 (create, destroy)", n, id)
		}
	}
	// A Fence with nothing new to wait for (meta writes only) returns too.
	update(t, a, func(tx *store.Tx) error { return tx.SetMeta("m", []byte("x")) })
	if err := b.Fence(ctx); err != nil {
		t.Fatal(err)
	}
	// Concurrent fences share reads and all return.
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if err := b.Fence(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// Fence on bbolt returns at once and allocates nothing.
func TestFence_BboltFree(t *testing.T) {
	db := openT(t)
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() {
		if err := db.Fence(ctx); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Fence on bbolt: %v allocs", n)
	}
}

// A commit whose context is cancelled while it is in flight either applied
// (Update returns nil) or did not and never will (Update returns an
// error): the store agrees with what Update said, every time.
func TestEtcd_AmbiguousCommit(t *testing.T) {
	db := openEtcd(t)
	var okN, errN int
	for i := range 200 {
		id := fmt.Sprint("amb-", i)
		ctx, cancel := context.WithCancel(context.Background())
		delay := time.Duration(i%40) * 100 * time.Microsecond
		go func() { time.Sleep(delay); cancel() }()
		err := db.UpdateContext(ctx, func(tx *store.Tx) error { return tx.Put(named(id, id, "amb")) })
		cancel()
		if err == nil {
			okN++
		} else {
			errN++
		}
		view(t, db, func(tx *store.Tx) error {
			_, gerr := tx.Get(id)
			if (err == nil) != (gerr == nil) {
				t.Errorf("%s: Update returned %v, Get %v", id, err, gerr)
			}
			return nil
		})
	}
	applied, not := store.ResolvedCommits(db)
	t.Logf("%d applied, %d refused; errored commits resolved: %d applied, %d not", okN, errN, applied, not)
	if applied+not == 0 {
		t.Error("no commit was cancelled in flight: the test did not exercise resolve")
	}
	check(t, db)
}

// Copy bbolt → etcd → bbolt keeps every object byte for byte, the index
// entries, the sequence and the metadata; Backup of an etcd store opens as
// a bbolt store with the same content.
func TestEtcd_CopyRoundTripAndBackup(t *testing.T) {
	src := openT(t)
	for i := range 300 {
		r := named(fmt.Sprint("id-", i), fmt.Sprint("name-", i), []string{"a", "b", "c"}[i%3])
		r.Data = bytes.Repeat([]byte{byte(i)}, i%50)
		put(t, src, r)
	}
	update(t, src, func(tx *store.Tx) error {
		for i := range 300 {
			if i%7 == 0 {
				if err := tx.Delete(fmt.Sprint("id-", i)); err != nil {
					return err
				}
			}
		}
		if err := tx.SetMeta("master-key", []byte{1, 2, 3}); err != nil {
			return err
		}
		return tx.SetMeta("empty", []byte{})
	})
	ctx := context.Background()
	mid := openEtcd(t)
	var progress []int
	if err := store.Copy(ctx, mid, src, func(n int) { progress = append(progress, n) }); err != nil {
		t.Fatal(err)
	}
	if len(progress) < 2 || progress[len(progress)-1] != 257 {
		t.Errorf("progress %v, want several batches ending at 257", progress)
	}
	dst := openT(t)
	if err := store.Copy(ctx, dst, mid, nil); err != nil {
		t.Fatal(err)
	}
	if err := store.Copy(ctx, dst, mid, nil); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "holds objects") {
		t.Errorf("Copy into a non-empty store = %v", err)
	}
	var buf bytes.Buffer
	if _, err := mid.Backup(&buf); err != nil {
		t.Fatal(err)
	}
	bpath := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(bpath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	backup := openPath(t, bpath)
	want := dump(t, src)
	for name, db := range map[string]*store.DB{"etcd": mid, "bbolt copy": dst, "backup": backup} {
		check(t, db)
		if got := dump(t, db); got != want {
			t.Errorf("%s differs from the source:\n got %.300s\nwant %.300s", name, got, want)
		}
		if s := db.Stats(); s.LastSeq != 300 || s.Objects != 257 {
			t.Errorf("%s: Stats %+v, want LastSeq 300, 257 objects", name, s)
		}
		if got := lookup(t, db, "type", []byte("a")); len(got) != 85 {
			t.Errorf("%s: %d objects of type a, want 85", name, len(got))
		}
	}
	// The next object continues the sequence.
	r := named("next", "next", "a")
	put(t, mid, r)
	if r.Seq != 301 {
		t.Errorf("Seq after copy = %d, want 301", r.Seq)
	}
}

// dump renders every object (newest first, with Seq and the raw fields)
// and every metadata key the test stores.
func dump(t *testing.T, db *store.DB) string {
	t.Helper()
	var sb strings.Builder
	view(t, db, func(tx *store.Tx) error {
		if err := tx.Scan(func(r *store.Record) bool {
			fmt.Fprintf(&sb, "%s %d %s %x %+v\n", r.ID, r.Seq, r.Owner, r.Data, r.Index)
			return true
		}); err != nil {
			return err
		}
		for _, k := range []string{"master-key", "empty"} {
			v, err := tx.GetMeta(k)
			fmt.Fprintf(&sb, "meta %s %x %v\n", k, v, err)
		}
		return nil
	})
	return sb.String()
}

// Reset on etcd deletes in chunks of EtcdOptions.Chunk keys and keeps
// metadata; another node sees the empty store.
func TestEtcd_ResetInChunks(t *testing.T) {
	c := sharedCluster(t)
	a, b := twoNodes(t, c, &store.EtcdOptions{Chunk: 7})
	for i := range 10 {
		update(t, a, func(tx *store.Tx) error {
			for j := range 10 {
				id := fmt.Sprint(i, "-", j)
				if err := tx.Put(named(id, id, "t")); err != nil {
					return err
				}
			}
			return nil
		})
	}
	update(t, a, func(tx *store.Tx) error { return tx.SetMeta("keep", []byte("me")) })
	update(t, a, func(tx *store.Tx) error {
		if err := tx.Reset(); err != nil {
			return err
		}
		return tx.Put(named("after", "after", "t"))
	})
	view(t, b, func(tx *store.Tx) error {
		if n := tx.Count(); n != 1 {
			t.Errorf("Count after Reset = %d", n)
		}
		if v, err := tx.GetMeta("keep"); err != nil || string(v) != "me" {
			t.Errorf("meta after Reset: %q %v", v, err)
		}
		r, err := tx.Get("after")
		if err != nil || r.Seq != 1 {
			t.Errorf("object after Reset: %+v %v", r, err)
		}
		return nil
	})
	check(t, b)
}

// A group whose etcd transaction would exceed MaxTxnOps is committed one
// function at a time; a single function too large fails naming the limit.
func TestEtcd_GroupTooLarge(t *testing.T) {
	db := openEtcdPrefix(t, sharedCluster(t), freshPrefix(), &store.EtcdOptions{MaxTxnOps: 40})
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			errs[i] = db.UpdateGrouped(func(tx *store.Tx) error {
				for j := range 4 { // 4 × (object, seq, 2 index, 1 unique) + count + sequence
					id := fmt.Sprint(i, "-", j)
					if err := tx.Put(named(id, id, "t")); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	view(t, db, func(tx *store.Tx) error {
		if n := tx.Count(); n != 32 {
			t.Errorf("Count = %d, want 32", n)
		}
		return nil
	})
	err := db.Update(func(tx *store.Tx) error {
		for j := range 10 {
			id := fmt.Sprint("big-", j)
			if err := tx.Put(named(id, id, "t")); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "MaxTxnOps 40") {
		t.Errorf("oversized Update = %v, want an error naming MaxTxnOps 40", err)
	}
	check(t, db)
}

// A keyspace of a newer format is refused like a newer file.
func TestEtcd_RefusesNewerFormat(t *testing.T) {
	c := sharedCluster(t)
	prefix := freshPrefix()
	openEtcdPrefix(t, c, prefix, nil).Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	newer := uint32(store.SchemaVersion + 1)
	if _, err := cli.Put(ctx, prefix+"sys/schema", string(binary.BigEndian.AppendUint32(nil, newer))); err != nil {
		t.Fatal(err)
	}
	_, err = store.OpenEtcd(ctx, store.EtcdOptions{Endpoints: c.Endpoints(), Prefix: prefix})
	if !errors.Is(err, store.ErrSchema) || !strings.Contains(err.Error(), fmt.Sprint("format version ", newer)) {
		t.Fatalf("OpenEtcd of format %d = %v, want ErrSchema naming it", newer, err)
	}
}

// Dropping a Secret on etcd compacts history: the revisions before the
// commit, which hold it, can no longer be read.
func TestEtcd_DroppedSecretCompacts(t *testing.T) {
	c := sharedCluster(t)
	db := openEtcd(t)
	secret := bytes.Repeat([]byte("s3cr3t-"), 8)
	put(t, db, &store.Record{ID: "k", Data: []byte("key"), Secret: secret})
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before, err := cli.Get(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	update(t, db, func(tx *store.Tx) error {
		return tx.Put(&store.Record{ID: "k", Data: []byte("destroyed")})
	})
	if _, err := cli.Get(ctx, "any", clientv3.WithRev(before.Header.Revision)); err == nil || !strings.Contains(err.Error(), "compacted") {
		t.Errorf("read at the revision before the Secret was dropped: %v, want compacted", err)
	}
	view(t, db, func(tx *store.Tx) error {
		r, err := tx.Get("k")
		if err == nil && r.Secret != nil {
			t.Errorf("Secret still read back: %q", r.Secret)
		}
		return err
	})
}

// The watch moves to another member when its own is killed: each member
// is killed in turn (one of them serves B's watch), and B's hooks keep
// seeing A's writes and Fence keeps working.
func TestEtcd_WatchSurvivesMemberKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kills etcd members")
	}
	c := etcdtest.Start(t, 3)
	prefix := freshPrefix()
	a := openEtcdPrefix(t, c, prefix, nil)
	b := openEtcdPrefix(t, c, prefix, nil)
	var mu sync.Mutex
	seen := map[string]bool{}
	b.OnChange(func(ids []string, all bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			seen[id] = true
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	for m := range c.Size() {
		c.Kill(m)
		var ids []string
		for i := range 10 {
			id := fmt.Sprint("m", m, "-", i)
			// A write may fail while the members elect a new leader
			// (each request has RequestTimeout, and a loaded machine
			// under the race detector can take longer): this test is
			// about the watch, so try again until ctx ends.
			for {
				err := a.UpdateContext(ctx, func(tx *store.Tx) error { return tx.Put(named(id, id, "t")) })
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			ids = append(ids, id)
		}
		if err := b.Fence(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		for _, id := range ids {
			if !seen[id] {
				t.Errorf("member %d killed: B's hook never saw %s", m, id)
			}
		}
		mu.Unlock()
		if err := c.Restart(m); err != nil {
			t.Fatal(err)
		}
	}
}

// Killing the leader (SIGKILL) during concurrent grouped writes from two
// nodes loses no acknowledged write; the store is unhealthy without a
// quorum and healthy again with one.
func TestEtcd_LeaderKillLosesNoAckedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("kills etcd members")
	}
	c := etcdtest.Start(t, 3)
	a, b := twoNodes(t, c, nil)
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range 16 {
		db := []*store.DB{a, b}[w%2]
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				if err := db.UpdateGrouped(func(tx *store.Tx) error { return tx.Put(named(id, id, "load")) }); err != nil {
					failures.Add(1)
					continue
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	leader := c.Leader()
	if leader < 0 {
		t.Fatal("no leader")
	}
	c.Kill(leader)
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d acknowledged writes, %d failed, leader m%d killed", len(acked), failures.Load(), leader+1)
	if len(acked) < 100 {
		t.Fatalf("only %d writes acknowledged", len(acked))
	}
	view(t, a, func(tx *store.Tx) error {
		for _, id := range acked {
			if _, err := tx.Get(id); err != nil {
				t.Errorf("acknowledged %s: %v", id, err)
			}
		}
		return nil
	})
	check(t, a)
	// Without a quorum, Probe reports the store unhealthy, naming etcd.
	other := -1
	for i := range 3 {
		if i != leader {
			other = i
			break
		}
	}
	c.Kill(other)
	if err := a.Probe(); err == nil || !strings.Contains(err.Error(), c.Endpoint(0)) {
		t.Errorf("Probe without quorum = %v, want an error naming the endpoints", err)
	}
	if err := c.Restart(other); err != nil {
		t.Fatal(err)
	}
	var err error
	for range 50 {
		if err = a.Probe(); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Errorf("Probe with the quorum back = %v", err)
	}
}

// A keyspace of format 1 is refused without AllowOlder, read-only with it,
// and DB.Upgrade brings it to the current format with a history event.
func TestEtcd_UpgradeFromFormat1(t *testing.T) {
	c := sharedCluster(t)
	prefix := freshPrefix()
	db := openEtcdPrefix(t, c, prefix, nil)
	put(t, db, named("a", "a", "t"))
	db.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cli.Txn(ctx).Then(clientv3.OpPut(prefix+"sys/schema", string(binary.BigEndian.AppendUint32(nil, 1))),
		clientv3.OpDelete(prefix+"sys/history")).Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenEtcd(ctx, store.EtcdOptions{Endpoints: c.Endpoints(), Prefix: prefix}); !errors.Is(err, store.ErrNeedsUpgrade) {
		t.Fatalf("OpenEtcd of format 1 = %v, want ErrNeedsUpgrade", err)
	}
	old := openEtcdPrefix(t, c, prefix, &store.EtcdOptions{AllowOlder: true})
	if old.Format() != 1 {
		t.Errorf("Format = %d, want 1", old.Format())
	}
	if err := old.Update(func(tx *store.Tx) error { return tx.SetMeta("k", []byte("v")) }); !errors.Is(err, store.ErrNeedsUpgrade) {
		t.Errorf("write to format 1 = %v, want ErrNeedsUpgrade", err)
	}
	var steps []string
	from, err := old.Upgrade(func(from, to int) { steps = append(steps, fmt.Sprint(from, "->", to)) })
	if err != nil || from != 1 || old.Format() != store.SchemaVersion || !slices.Equal(steps, []string{"1->2", "2->3"}) {
		t.Fatalf("Upgrade = %d, %v, steps %v, Format %d", from, err, steps, old.Format())
	}
	// Format 3 keeps key material apart from Data: the upgrade is finished
	// by moving it (here there is none to move).
	if !old.NeedsMove() {
		t.Error("NeedsMove false after the upgrade to format 3")
	}
	if err := old.MoveSecrets(func(_ string, data []byte) ([]byte, []byte, error) { return data, nil, nil }, 0, nil); err != nil {
		t.Fatal(err)
	}
	h, err := old.FormatHistory()
	if err != nil || len(h) != 3 || h[0].Note != "upgraded from format 1" || h[1].Note != "upgraded from format 2" {
		t.Errorf("history after Upgrade = %+v, %v", h, err)
	}
	again := openEtcdPrefix(t, c, prefix, nil)
	view(t, again, func(tx *store.Tx) error {
		_, err := tx.Get("a")
		return err
	})
}

// When the changes a watch missed are compacted away before it catches up,
// the hooks are told that everything may have changed (all), and the watch
// goes on from there.
func TestEtcd_WatchCompactedTellsAll(t *testing.T) {
	if testing.Short() {
		t.Skip("kills etcd members")
	}
	c := etcdtest.Start(t, 3)
	prefix := freshPrefix()
	a := openEtcdPrefix(t, c, prefix, &store.EtcdOptions{Endpoints: c.Endpoints()[1:]})
	b := openEtcdPrefix(t, c, prefix, &store.EtcdOptions{Endpoints: c.Endpoints()[:1]})
	var mu sync.Mutex
	var alls int
	seen := map[string]bool{}
	b.OnChange(func(ids []string, all bool) {
		mu.Lock()
		defer mu.Unlock()
		if all {
			alls++
		}
		for _, id := range ids {
			seen[id] = true
		}
	})
	c.Kill(0) // B's only member
	for i := range 5 {
		id := fmt.Sprint("missed-", i)
		put(t, a, named(id, id, "t"))
	}
	// Dropping a Secret compacts etcd's history to the current revision.
	put(t, a, &store.Record{ID: "compacting", Data: []byte("c"), Secret: bytes.Repeat([]byte{7}, 32)})
	put(t, a, named("compacting", "compacting", "t"))
	if err := c.Restart(0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.Fence(ctx); err != nil {
		t.Fatal(err)
	}
	put(t, a, named("later", "later", "t"))
	if err := b.Fence(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if alls == 0 {
		t.Errorf("hooks never told all after a compacted watch (saw %v)", seen)
	}
	if !seen["later"] {
		t.Error("the watch did not go on after the compaction")
	}
}

// An unreachable etcd fails OpenEtcd within its timeouts, naming the
// endpoint.
func TestEtcd_OpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "http://" + l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = store.OpenEtcd(context.Background(), store.EtcdOptions{Endpoints: []string{ep}, RequestTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), ep) {
		t.Fatalf("OpenEtcd of a closed port = %v, want an error naming %s", err, ep)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("OpenEtcd took %v to fail", d)
	}
}

// A Scan over more objects than a transaction keeps reads of returns every
// object, newest first, with its data.
func TestEtcd_ScanMany(t *testing.T) {
	db := openEtcd(t)
	const n = 1300
	for base := 0; base < n; base += 20 {
		update(t, db, func(tx *store.Tx) error {
			for i := base; i < base+20; i++ {
				if err := tx.Put(&store.Record{ID: fmt.Sprint("m-", i), Data: []byte(fmt.Sprint("data-", i)),
					Index: []store.IndexEntry{{Kind: "type", Value: []byte("t")}}}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	want := n - 1
	view(t, db, func(tx *store.Tx) error {
		return tx.Scan(func(r *store.Record) bool {
			if r.ID != fmt.Sprint("m-", want) || string(r.Data) != fmt.Sprint("data-", want) || r.Seq != uint64(want+1) {
				t.Fatalf("Scan gave %s %q seq %d, want m-%d", r.ID, r.Data, r.Seq, want)
			}
			want--
			return true
		})
	})
	if want != -1 {
		t.Errorf("Scan stopped before m-%d", want)
	}
	got := lookup(t, db, "type", []byte("t"))
	if len(got) != n || got[0] != fmt.Sprint("m-", n-1) || got[n-1] != "m-0" {
		t.Errorf("Lookup found %d objects", len(got))
	}
}
