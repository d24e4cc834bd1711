package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kmipd/kmipd/hsm/pkcs11/softhsmtest"
	"github.com/kmipd/kmipd/internal/etcdtest"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// cluster is two `kmipd serve` processes, nodes a and b, sharing one kmipd
// init directory (its PKI and master key) and one 3-member etcd cluster.
type cluster struct {
	dir  string
	etcd *etcdtest.Cluster
	env  []string
	a, b *serverProcess
}

// etcdStore is the store setting naming every member of c.
func etcdStore(c *etcdtest.Cluster) string {
	var hp []string
	for _, e := range c.Endpoints() {
		hp = append(hp, strings.TrimPrefix(e, "http://"))
	}
	return "etcd://" + strings.Join(hp, ",")
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	e := etcdtest.Start(t, 3)
	dir := initDir(t)
	env := []string{"KMIPD_STORE=" + etcdStore(e)}
	c := &cluster{dir: dir, etcd: e, env: env}
	c.a = startServer(t, dir, append(env, "KMIPD_NODE=a"))
	c.b = startServer(t, dir, append(env, "KMIPD_NODE=b"))
	for name, p := range map[string]*serverProcess{"a": c.a, "b": c.b} {
		if s := p.stderr.String(); !strings.Contains(s, `"store":"etcd http://`) || !strings.Contains(s, `"node":"`+name+`"`) {
			t.Fatalf("node %s does not serve from etcd as node %s:\n%s", name, name, s)
		}
	}
	return c
}

// TestCluster_SameObjects: keys created on node a are served by node b with
// the same bytes; keys destroyed on b are refused on a at once, with no
// wait in between; a state change on one node is seen on the other at once.
func TestCluster_SameObjects(t *testing.T) {
	cl := startCluster(t)
	ca, cb := dialKMIP(t, cl.dir, cl.a.addr), dialKMIP(t, cl.dir, cl.b.addr)
	ids := make([]string, 50)
	material := map[string][]byte{}
	for i := range ids {
		id, err := createKey(ca, fmt.Sprintf("shared-%d", i))
		if err != nil {
			t.Fatalf("Create on a: %v", err)
		}
		ids[i] = id
		if material[id], err = getKey(ca, id); err != nil {
			t.Fatalf("Get on a: %v", err)
		}
	}
	for _, id := range ids {
		got, err := getKey(cb, id)
		if err != nil || !bytes.Equal(got, material[id]) || len(got) != 32 {
			t.Fatalf("Get %s on b: %d bytes, %v; want a's 32 bytes", id, len(got), err)
		}
	}
	// Node a has every key in its object cache now; destroying through b
	// must not leave a serving any of them.
	for _, id := range ids[:25] {
		if _, _, err := cb.Do(kmip.OperationDestroy, byID(id)); err != nil {
			t.Fatalf("Destroy %s on b: %v", id, err)
		}
		if _, err := getKey(ca, id); !isKMIPError(err) {
			t.Fatalf("Get on a of %s, destroyed on b: err %v, want a KMIP failure", id, err)
		}
	}
	for _, id := range ids[25:30] {
		if _, _, err := cb.Do(kmip.OperationActivate, byID(id)); err != nil {
			t.Fatalf("Activate %s on b: %v", id, err)
		}
		a, err := getAttrs(ca, id)
		if err != nil || a.State != kmip.StateActive {
			t.Fatalf("state on a of %s, activated on b: %v, %v", id, a.State, err)
		}
	}
	// Names are unique per object across the cluster, and Locate works on
	// every node.
	for _, c := range []*kmip.Client{ca, cb} {
		got := locateByName(t, c, "shared-40")
		if len(got) != 1 || got[0] != ids[40] {
			t.Fatalf("Locate shared-40: %v, want [%s]", got, ids[40])
		}
	}
	cl.a.stop(t)
	cl.b.stop(t)
	// Each node keeps its own trail, every line naming the node, each
	// verifying on its own: a's holds the Creates, b's the Destroys.
	for node, op := range map[string]string{"a": `"operation":"Create"`, "b": `"operation":"Destroy"`} {
		trail, err := os.ReadFile(filepath.Join(cl.dir, "nodes", node, "audit", "audit.log"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(trail)), "\n")
		for _, l := range lines {
			if !strings.Contains(l, `"node":"`+node+`"`) {
				t.Fatalf("node %s's trail has a line without its name: %s", node, l)
			}
		}
		if n := strings.Count(string(trail), op); n < 25 {
			t.Errorf("node %s's trail records %d %s, want at least 25", node, n, op)
		}
		t.Setenv("KMIPD_STORE", etcdStore(cl.etcd))
		t.Setenv("KMIPD_NODE", node)
		if out, err := runCLI("audit", "verify", "--dir", cl.dir); err != nil {
			t.Errorf("kmipd audit verify of node %s's trail: %v\n%s", node, err, out)
		}
	}
}

// failoverRecord is what TestCluster_Failover measured.
type failoverRecord struct {
	Acked            int     `json:"acked"`
	EtcdLeaderGapS   float64 `json:"etcd_leader_kill_gap_s"`
	NodeKillGapS     float64 `json:"node_kill_gap_s"`
	LostAcknowledged int     `json:"lost_acknowledged"`
	// Failed Creates by phase: before any kill, after the etcd leader's,
	// after node a's; with the first few messages of each.
	Failed   [3]int      `json:"failed"`
	Messages [3][]string `json:"messages"`
}

// TestCluster_Failover: 16 connections create keys on node a; the etcd
// leader is killed with SIGKILL, then node a. Every acknowledged key is
// served by node b afterwards. Clients on a fail over to b the way
// `kmipctl --server a,b` does: on a broken connection they connect to the
// next node. Errors on the way are counted, not fatal: a Create that was not
// acknowledged may or may not have happened.
func TestCluster_Failover(t *testing.T) {
	cl := startCluster(t)
	addrs := []string{cl.a.addr, cl.b.addr}
	var (
		mu      sync.Mutex
		acked   = map[string]string{}
		lastAck time.Time
		gaps    []time.Duration // longest gap since each mark
		rec     failoverRecord
		phase   atomic.Int32
		stop    atomic.Bool
	)
	markGap := func() int {
		mu.Lock()
		defer mu.Unlock()
		gaps = append(gaps, 0)
		lastAck = time.Now()
		return len(gaps) - 1
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := 0
			c, err := kmip.Dial(addrs[node], clientTLS(t, cl.dir))
			if err != nil {
				t.Errorf("worker %d: dial a: %v", w, err)
				return
			}
			c.Version, c.Timeout = kmip.V2_0, 10*time.Second
			defer func() { c.Close() }()
			for i := 0; !stop.Load(); i++ {
				name := fmt.Sprintf("fo-%d-%d", w, i)
				id, err := createKey(c, name)
				if err == nil {
					now := time.Now()
					mu.Lock()
					acked[id] = name
					if len(gaps) > 0 {
						if g := now.Sub(lastAck); g > gaps[len(gaps)-1] {
							gaps[len(gaps)-1] = g
						}
					}
					lastAck = now
					mu.Unlock()
					continue
				}
				mu.Lock()
				ph := phase.Load()
				rec.Failed[ph]++
				if len(rec.Messages[ph]) < 3 {
					rec.Messages[ph] = append(rec.Messages[ph], fmt.Sprintf("%s on %s: %v", name, addrs[node], err))
				}
				mu.Unlock()
				if isKMIPError(err) {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				// The connection broke: fail over to the next node.
				c.Close()
				for {
					if stop.Load() {
						return
					}
					node = (node + 1) % len(addrs)
					if c, err = kmip.Dial(addrs[node], clientTLS(t, cl.dir)); err == nil {
						c.Version, c.Timeout = kmip.V2_0, 10*time.Second
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor := func(n int, within time.Duration, what string) {
		t.Helper()
		deadline := time.Now().Add(within)
		for count() < n {
			if time.Now().After(deadline) {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("%s: %d acknowledged Creates after %v, want %d", what, count(), within, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor(200, 30*time.Second, "before the failures")

	leader := cl.etcd.Leader()
	if leader < 0 {
		t.Fatal("no etcd leader")
	}
	g1 := markGap()
	phase.Store(1)
	cl.etcd.Kill(leader)
	n := count()
	waitFor(n+300, 60*time.Second, "after the etcd leader was killed")

	g2 := markGap()
	phase.Store(2)
	cl.a.signal(t, syscall.SIGKILL)
	cl.a.wait(t, 10*time.Second)
	n = count()
	waitFor(n+300, 60*time.Second, "after node a was killed")
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	rec.Acked, rec.EtcdLeaderGapS, rec.NodeKillGapS = len(acked), gaps[g1].Seconds(), gaps[g2].Seconds()
	snapshot := make(map[string]string, len(acked))
	for k, v := range acked {
		snapshot[k] = v
	}
	mu.Unlock()

	// Every acknowledged key, on the surviving node.
	cb := dialKMIP(t, cl.dir, cl.b.addr)
	for id, name := range snapshot {
		key, err := getKey(cb, id)
		if err != nil || len(key) != 32 {
			rec.LostAcknowledged++
			if rec.LostAcknowledged <= 10 {
				t.Errorf("acknowledged %s (%s) not served by b: %d bytes, %v", id, name, len(key), err)
			}
		}
	}
	t.Logf("failover: %d Creates acknowledged; failed: %d before, %d after the etcd leader's kill, %d after node a's; longest gap without an acknowledgement: %.2fs after the etcd leader's kill, %.2fs after node a's; %d acknowledged keys lost; first failures %q",
		rec.Acked, rec.Failed[0], rec.Failed[1], rec.Failed[2], rec.EtcdLeaderGapS, rec.NodeKillGapS, rec.LostAcknowledged, rec.Messages)
	if rec.Failed[0] > 0 {
		t.Errorf("%d Creates failed before anything was killed", rec.Failed[0])
	}
	if p := os.Getenv("KMIPD_FAILOVER_REPORT"); p != "" {
		b, _ := json.MarshalIndent(rec, "", "  ")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Error(err)
		}
	}
	if rec.LostAcknowledged > 0 {
		t.Fatalf("%d acknowledged keys lost", rec.LostAcknowledged)
	}
}

// TestCluster_ReadyzWithoutQuorum: a node's /readyz turns red when etcd
// loses its quorum, and green again once it is back; nothing acknowledged
// before is lost.
func TestCluster_ReadyzWithoutQuorum(t *testing.T) {
	e := etcdtest.Start(t, 3)
	dir := initDir(t)
	admin := freePort(t)
	n := startServer(t, dir, []string{"KMIPD_STORE=" + etcdStore(e), "KMIPD_NODE=a"}, "--addr", "127.0.0.1:0", "--admin-addr", admin)
	waitReady := func(want int, within time.Duration) string {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			code, body := adminGet(t, admin, "/readyz")
			if code == want {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz still %d after %v, want %d: %s", code, within, want, body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitReady(200, 10*time.Second)
	c := dialKMIP(t, dir, n.addr)
	id, err := createKey(c, "before-quorum-loss")
	if err != nil {
		t.Fatal(err)
	}
	want, err := getKey(c, id)
	if err != nil {
		t.Fatal(err)
	}
	e.Kill(1)
	e.Kill(2)
	body := waitReady(503, 20*time.Second)
	if !strings.Contains(body, "store") {
		t.Errorf("/readyz without quorum does not name the store: %s", body)
	}
	// Requests fail with a KMIP error rather than hang or be served stale.
	c.Timeout = 30 * time.Second
	if _, err := getKey(c, id); !isKMIPError(err) {
		t.Errorf("Get without quorum: %v, want a KMIP failure", err)
	}
	for _, i := range []int{1, 2} {
		if err := e.Restart(i); err != nil {
			t.Fatalf("restart etcd member %d: %v", i, err)
		}
	}
	waitReady(200, 30*time.Second)
	got, err := getKey(c, id)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Get after quorum came back: %v", err)
	}
	n.stop(t)
}

// TestCluster_MigrateBackupRestore: a single node's bbolt store moves to
// etcd (kmipd store migrate) and back; kmipd backup of the etcd store is a
// store file that kmipd restore puts back into etcd (refusing a non-empty
// keyspace without --force) and into a single node's bbolt store. Every
// step keeps every key's bytes.
func TestCluster_MigrateBackupRestore(t *testing.T) {
	dir := initDir(t)
	keys := map[string][]byte{}
	serveAndCheck := func(env []string, create int, prefix string) {
		t.Helper()
		srv := startServer(t, dir, env)
		c := dialKMIP(t, dir, srv.addr)
		for id, want := range keys {
			if got, err := getKey(c, id); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%v: Get %s: %v (bytes equal: %v)", env, id, err, bytes.Equal(got, want))
			}
		}
		for i := range create {
			id, err := createKey(c, fmt.Sprintf("%s-%d", prefix, i))
			if err != nil {
				t.Fatal(err)
			}
			if keys[id], err = getKey(c, id); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
		srv.stop(t)
	}
	serveAndCheck(nil, 20, "single")

	e := etcdtest.Start(t, 3)
	etcdEnv := []string{"KMIPD_STORE=" + etcdStore(e), "KMIPD_NODE=a"}
	bolt := filepath.Join(dir, "kmipd.db")
	if out, err := runCLI("store", "migrate", "--dir", dir, "--from", "bbolt:"+bolt, "--to", etcdStore(e)); err != nil || !strings.Contains(out, "20 objects copied") {
		t.Fatalf("migrate to etcd: %v\n%s", err, out)
	}
	// A second migrate into the now non-empty keyspace is refused.
	if _, err := runCLI("store", "migrate", "--dir", dir, "--from", "bbolt:"+bolt, "--to", etcdStore(e)); err == nil || !strings.Contains(err.Error(), "holds objects") {
		t.Fatalf("migrate into a non-empty keyspace: %v", err)
	}
	serveAndCheck(etcdEnv, 5, "cluster")

	t.Setenv("KMIPD_STORE", etcdStore(e))
	snap := filepath.Join(t.TempDir(), "cluster.db")
	if out, err := runCLI("backup", "--dir", dir, "--out", snap); err != nil || !strings.Contains(out, "25 objects") {
		t.Fatalf("backup of the etcd store: %v\n%s", err, out)
	}
	before := maps.Clone(keys)
	serveAndCheck(etcdEnv, 3, "after-backup") // the keyspace moves on
	if _, err := runCLI("restore", "--dir", dir, "--in", snap); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into a non-empty keyspace without --force: %v", err)
	}
	if out, err := runCLI("restore", "--dir", dir, "--in", snap, "--force"); err != nil || !strings.Contains(out, "25 objects") {
		t.Fatalf("restore --force: %v\n%s", err, out)
	}
	keys = before
	serveAndCheck(etcdEnv, 0, "")
	// The three keys made after the backup are gone with the restore.
	srv := startServer(t, dir, etcdEnv)
	if got := locateByName(t, dialKMIP(t, dir, srv.addr), "after-backup-0"); len(got) != 0 {
		t.Errorf("a key created after the backup survived the restore: %v", got)
	}
	srv.stop(t)

	// The etcd backup restores into a single node's bbolt store too.
	single := filepath.Join(t.TempDir(), "single.db")
	t.Setenv("KMIPD_STORE", "bbolt:"+single)
	if out, err := runCLI("restore", "--dir", dir, "--in", snap); err != nil {
		t.Fatalf("restore of the etcd backup into a bbolt store: %v\n%s", err, out)
	}
	t.Setenv("KMIPD_STORE", etcdStore(e))
	serveAndCheck([]string{"KMIPD_STORE=bbolt:" + single}, 0, "")
	back := filepath.Join(t.TempDir(), "back.db")
	if out, err := runCLI("store", "migrate", "--dir", dir, "--from", etcdStore(e), "--to", "bbolt:"+back); err != nil || !strings.Contains(out, "25 objects copied") {
		t.Fatalf("migrate back to bbolt: %v\n%s", err, out)
	}
	serveAndCheck([]string{"KMIPD_STORE=bbolt:" + back}, 0, "")
}

// testHSMCluster: two nodes on one etcd store and one PKCS#11 token (as
// nodes sharing a network HSM, or HSMs cloned with the same KEK): a
// Sensitive key created through one node is used inside the HSM through
// the other, and once destroyed through one is refused by the other.
func testHSMCluster(t *testing.T, env *softhsmtest.Env) {
	dir, _ := initPKCS11(t, env, hsmTokenI, "cluster")
	e := etcdtest.Start(t, 3)
	envs := []string{"KMIPD_STORE=" + etcdStore(e), envPKCS11PIN + "=" + softhsmtest.UserPIN}
	a := startServer(t, dir, append(envs, "KMIPD_NODE=a"))
	b := startServer(t, dir, append(envs, "KMIPD_NODE=b"))
	ca, cb := dialKMIP(t, dir, a.addr), dialKMIP(t, dir, b.addr)
	_, it, err := ca.Do(kmip.OperationCreate, func(bd *ttlv.Builder) {
		bd.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		bd.Begin(ttlv.TagAttributes)
		bd.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
		bd.AddInt32(ttlv.TagCryptographicLength, 256)
		bd.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt))
		bd.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
		bd.AddBool(ttlv.TagSensitive, true)
		bd.End()
	})
	if err != nil {
		t.Fatalf("Create on a: %v", err)
	}
	id, err := createdID(it)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := getKey(cb, id); !isKMIPError(err) {
		t.Fatalf("Get of a Sensitive key on b: %v, want refused", err)
	}
	params := func(bd *ttlv.Builder) {
		bd.Begin(ttlv.TagCryptographicParameters)
		bd.AddEnum(ttlv.TagBlockCipherMode, uint32(kmip.BlockCipherModeCBC))
		bd.AddEnum(ttlv.TagPaddingMethod, uint32(kmip.PaddingMethodPKCS5))
		bd.End()
	}
	msg := []byte("shared by two nodes")
	_, it, err = cb.Do(kmip.OperationEncrypt, func(bd *ttlv.Builder) {
		bd.AddText(ttlv.TagUniqueIdentifier, id)
		params(bd)
		bd.AddBytes(ttlv.TagData, msg)
	})
	if err != nil {
		t.Fatalf("Encrypt on b with a's key: %v", err)
	}
	var ct, iv []byte
	if d, ok := it.Payload.Find(ttlv.TagData); ok {
		ct = d.Data
	}
	if d, ok := it.Payload.Find(ttlv.TagIVCounterNonce); ok {
		iv = d.Data
	}
	if len(ct) == 0 || len(iv) == 0 {
		t.Fatalf("Encrypt response: %s", ttlv.Format(it.Payload))
	}
	_, it, err = ca.Do(kmip.OperationDecrypt, func(bd *ttlv.Builder) {
		bd.AddText(ttlv.TagUniqueIdentifier, id)
		params(bd)
		bd.AddBytes(ttlv.TagData, ct)
		bd.AddBytes(ttlv.TagIVCounterNonce, iv)
	})
	if err != nil {
		t.Fatalf("Decrypt on a: %v", err)
	}
	var pt []byte
	if d, ok := it.Payload.Find(ttlv.TagData); ok {
		pt = d.Data
	}
	if !bytes.Equal(pt, msg) {
		t.Fatalf("Decrypt on a of b's ciphertext: %q, want %q", pt, msg)
	}
	if _, _, err := cb.Do(kmip.OperationRevoke, func(bd *ttlv.Builder) {
		bd.AddText(ttlv.TagUniqueIdentifier, id)
		bd.Begin(ttlv.TagRevocationReason)
		bd.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeCessationOfOperation))
		bd.End()
	}); err != nil {
		t.Fatalf("Revoke on b: %v", err)
	}
	if _, _, err := cb.Do(kmip.OperationDestroy, byID(id)); err != nil {
		t.Fatalf("Destroy on b: %v", err)
	}
	if _, _, err := ca.Do(kmip.OperationEncrypt, func(bd *ttlv.Builder) {
		bd.AddText(ttlv.TagUniqueIdentifier, id)
		params(bd)
		bd.AddBytes(ttlv.TagData, msg)
	}); !isKMIPError(err) {
		t.Fatalf("Encrypt on a with a key destroyed on b: %v, want a KMIP failure", err)
	}
	a.stop(t)
	b.stop(t)
}
