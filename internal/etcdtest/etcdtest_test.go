package etcdtest_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kmipd/kmipd/internal/etcdtest"
)

// A 3-member cluster serves writes, keeps serving with its leader killed,
// and takes the member back on Restart with the data it missed.
func TestCluster_KillAndRestart(t *testing.T) {
	c := etcdtest.Start(t, 3)
	if len(c.Endpoints()) != 3 {
		t.Fatalf("Endpoints = %v", c.Endpoints())
	}
	leader := c.Leader()
	if leader < 0 {
		t.Fatal("no leader")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "before"); err != nil {
		t.Fatal(err)
	}
	c.Kill(leader)
	if err := c.WaitHealthy(etcdtest.HealthyTimeout); err != nil {
		t.Fatal(err)
	}
	if got := c.Leader(); got < 0 || got == leader {
		t.Fatalf("leader after kill = %d (killed %d)", got, leader)
	}
	for {
		if _, err = cli.Put(ctx, "k", "during"); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(leader); err != nil {
		t.Fatal(err)
	}
	one, err := clientv3.New(clientv3.Config{Endpoints: []string{c.Endpoint(leader)}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	resp, err := one.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "during" {
		t.Fatalf("restarted member reads %v, want during", resp.Kvs)
	}
}
