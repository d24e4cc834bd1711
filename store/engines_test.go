package store_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/etcdtest"
	"github.com/kmipd/kmipd/store"
)

// opener opens a fresh, empty store closed at cleanup.
type opener func(t testing.TB) *store.DB

// engines runs an engine-neutral test on a bbolt file and on a fresh
// prefix of the shared etcd cluster.
func engines(t *testing.T, f func(t *testing.T, openT opener)) {
	t.Run("bbolt", func(t *testing.T) { f(t, openT) })
	t.Run("etcd", func(t *testing.T) { f(t, openEtcd) })
}

// shared is the 3-member etcd cluster of this test binary, started on
// first use and stopped by TestMain.
var shared struct {
	once sync.Once
	dir  string
	c    *etcdtest.Cluster
	err  error
	n    atomic.Int64
}

func sharedCluster(t testing.TB) *etcdtest.Cluster {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "kmipd-store-etcd-"); shared.err == nil {
			shared.c, shared.err = etcdtest.Launch(shared.dir, 3)
		}
	})
	if shared.err == etcdtest.ErrNoBinary && os.Getenv("CI") != "true" {
		t.Skip(shared.err)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}

func stopSharedCluster() {
	if shared.c != nil {
		shared.c.Stop()
	}
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
}

// freshPrefix returns a prefix no other store of this binary uses.
func freshPrefix() string { return fmt.Sprintf("test-%d-%d/", time.Now().UnixNano(), shared.n.Add(1)) }

// openEtcd opens a store on a fresh prefix of the shared cluster.
func openEtcd(t testing.TB) *store.DB {
	t.Helper()
	return openEtcdPrefix(t, sharedCluster(t), freshPrefix(), nil)
}

// openEtcdPrefix opens prefix of c, with o's fields if o is not nil (all
// of c's endpoints unless o names some).
func openEtcdPrefix(t testing.TB, c *etcdtest.Cluster, prefix string, o *store.EtcdOptions) *store.DB {
	t.Helper()
	var opts store.EtcdOptions
	if o != nil {
		opts = *o
	}
	if opts.Endpoints == nil {
		opts.Endpoints = c.Endpoints()
	}
	opts.Prefix = prefix
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.OpenEtcd(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
