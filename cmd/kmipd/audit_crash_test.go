package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
)

// auditAcks counts the operations a client saw acknowledged: Creates by
// the identifier they returned, Gets by the identifier they named.
type auditAcks struct {
	mu      sync.Mutex
	created map[string]bool
	got     map[string]int
}

// auditLoad runs workers clients that Create a key and Get it three times,
// in a loop, until their connection breaks (after stopped is set).
func auditLoad(t *testing.T, dir, addr string, workers int, acks *auditAcks, stopped *atomic.Bool) (progress func() int, wait func()) {
	t.Helper()
	acks.created, acks.got = map[string]bool{}, map[string]int{}
	var n atomic.Int64
	var wg sync.WaitGroup
	var clients []*kmip.Client
	for w := range workers {
		c := dialKMIP(t, dir, addr)
		clients = append(clients, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fail := func(what string, err error) {
				if !stopped.Load() || isKMIPError(err) {
					t.Errorf("worker %d: %s: %v", w, what, err)
				}
			}
			for i := 0; ; i++ {
				id, err := createKey(c, fmt.Sprintf("audit-crash-%d-%d", w, i))
				if err != nil {
					fail("Create", err)
					return
				}
				acks.mu.Lock()
				acks.created[id] = true
				acks.mu.Unlock()
				n.Add(1)
				for range 3 {
					if _, err := getKey(c, id); err != nil {
						fail("Get "+id, err)
						return
					}
					acks.mu.Lock()
					acks.got[id]++
					acks.mu.Unlock()
					n.Add(1)
				}
			}
		}()
	}
	t.Cleanup(func() {
		stopped.Store(true)
		for _, c := range clients {
			c.Close()
		}
		wg.Wait()
	})
	return func() int { return int(n.Load()) }, wg.Wait
}

// TestAuditSIGKILLUnderLoad: a `kmipd serve` killed with SIGKILL while
// clients Create and Get keys leaves a trail that verifies (once the next
// start has signed what the crash left) and holds a record of every
// operation a client saw answered, with either sync mode.
func TestAuditSIGKILLUnderLoad(t *testing.T) {
	for _, mode := range []string{"interval", "always"} {
		t.Run(mode, func(t *testing.T) {
			dir := initDir(t)
			cfgPath := filepath.Join(dir, ConfigFile)
			data, err := os.ReadFile(cfgPath)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), "sync: interval\n") {
				t.Fatalf("%s: no audit sync setting to change", cfgPath)
			}
			data = []byte(strings.Replace(string(data), "sync: interval\n", "sync: "+mode+"\n", 1))
			if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
				t.Fatal(err)
			}
			srv := startServer(t, dir, nil)
			var acks auditAcks
			var killed atomic.Bool
			progress, wait := auditLoad(t, dir, srv.addr, 8, &acks, &killed)
			deadline := time.Now().Add(20 * time.Second)
			for progress() < 400 {
				if time.Now().After(deadline) {
					t.Fatalf("%d operations acknowledged in 20s", progress())
				}
				time.Sleep(10 * time.Millisecond)
			}
			killed.Store(true)
			srv.signal(t, syscall.SIGKILL) // operations of every worker are in flight
			wait()
			if ws := srv.wait(t, 10*time.Second); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("server exit %v, want killed by SIGKILL", srv.err)
			}
			if t.Failed() {
				t.FailNow()
			}
			// The next start signs what the crash left; its trail verifies.
			srv2 := startServer(t, dir, nil)
			srv2.stop(t)
			if out, err := runCLI("audit", "verify", "--dir", dir); err != nil {
				t.Fatalf("audit verify after the crash: %v\n%s", err, out)
			}
			created, got := map[string]int{}, map[string]int{}
			for _, r := range exportRecords(t, "--dir", dir) {
				switch {
				case r.Kind != "op" || r.Status != "Success":
				case r.Operation == "Create" && len(r.ResponseUIDs) == 1:
					created[r.ResponseUIDs[0]]++
				case r.Operation == "Get":
					got[r.RequestUID]++
				}
			}
			acks.mu.Lock()
			defer acks.mu.Unlock()
			for id := range acks.created {
				if created[id] != 1 {
					t.Errorf("acknowledged Create of %s recorded %d times", id, created[id])
				}
			}
			for id, n := range acks.got {
				// A Get may have been recorded and not yet answered: at most one more.
				if got[id] < n || got[id] > n+1 {
					t.Errorf("%d Gets of %s acknowledged, %d recorded", n, id, got[id])
				}
			}
			t.Logf("sync %s: %d Creates and %d Gets acknowledged before SIGKILL, all recorded", mode, len(acks.created), total(acks.got))
		})
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
