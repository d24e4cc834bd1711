package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// checkStore opens the store file of a stopped server directly, runs the
// full consistency check and requires at least atLeast objects.
func checkStore(t *testing.T, dir string, atLeast int) store.Stats {
	t.Helper()
	db, err := store.Open(filepath.Join(dir, "kmipd.db"), &store.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("store does not open: %v", err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Errorf("store check: %v", err)
	}
	st := db.Stats()
	if st.Objects < atLeast {
		t.Errorf("store holds %d objects, want at least the %d acknowledged", st.Objects, atLeast)
	}
	return st
}

// ackLog records the objects whose Create was acknowledged, by Unique
// Identifier, with the name they were created with.
type ackLog struct {
	mu    sync.Mutex
	names map[string]string
}

func (a *ackLog) add(id, name string) (n int, dup bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.names == nil {
		a.names = map[string]string{}
	}
	if _, dup = a.names[id]; !dup {
		a.names[id] = name
	}
	return len(a.names), dup
}

func (a *ackLog) snapshot() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := make(map[string]string, len(a.names))
	for k, v := range a.names {
		m[k] = v
	}
	return m
}

// createStream runs workers clients that Create keys in a loop until their
// connection breaks; every acknowledged key goes into acks. Before stopped
// is true any error fails the test; afterwards transport errors end a worker
// quietly, but a KMIP failure response still fails the test. It returns a
// channel that receives the count each time an acknowledgement arrives, and
// a function that waits for the workers and returns how many ended on a
// transport error.
func createStream(t *testing.T, dir, addr, prefix string, workers int, acks *ackLog, stopped *atomic.Bool) (<-chan int, func() int) {
	t.Helper()
	progress := make(chan int, 1024)
	var wg sync.WaitGroup
	var broken atomic.Int32
	var finished atomic.Bool // the test is over: report nothing
	var clients []*kmip.Client
	for w := range workers {
		c := dialKMIP(t, dir, addr)
		clients = append(clients, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				id, err := createKey(c, name)
				if err != nil {
					switch {
					case finished.Load():
					case isKMIPError(err):
						t.Errorf("worker %d: Create %s failed: %v", w, name, err)
					case !stopped.Load():
						t.Errorf("worker %d: Create %s before the server was stopped: %v", w, name, err)
					default:
						broken.Add(1)
					}
					return
				}
				n, dup := acks.add(id, name)
				if dup && !finished.Load() {
					t.Errorf("worker %d: Create %s returned the identifier %s twice", w, name, id)
					return
				}
				select {
				case progress <- n:
				default:
				}
			}
		}()
	}
	// If the test ends early, stop the workers before it returns.
	t.Cleanup(func() {
		finished.Store(true)
		for _, c := range clients {
			c.Close()
		}
		wg.Wait()
	})
	return progress, func() int { wg.Wait(); return int(broken.Load()) }
}

// waitAcks waits until at least n Creates are acknowledged.
func waitAcks(t *testing.T, progress <-chan int, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case got := <-progress:
			if got >= n {
				return
			}
		case <-deadline:
			t.Fatalf("fewer than %d Creates acknowledged within 20s", n)
		}
	}
}

// verifyAcked requires every acknowledged object to be served: Get returns
// its 32 bytes of key material and Get Attributes its name and algorithm.
func verifyAcked(t *testing.T, c *kmip.Client, acked map[string]string) {
	t.Helper()
	bad := 0
	for id, name := range acked {
		key, err := getKey(c, id)
		if err != nil || len(key) != 32 {
			t.Errorf("acknowledged %s (%s): Get: %d bytes, %v", id, name, len(key), err)
			bad++
		}
		a, err := getAttrs(c, id)
		if err != nil {
			t.Errorf("acknowledged %s (%s): Get Attributes: %v", id, name, err)
			bad++
		} else if a.Name != name || a.Algorithm != kmip.CryptographicAlgorithmAES || a.Length != 256 || a.State != kmip.StatePreActive {
			t.Errorf("acknowledged %s: attributes %+v, want name %s, AES-256, Pre-Active", id, a, name)
			bad++
		}
		if bad > 10 {
			t.Fatal("giving up")
		}
	}
}

// TestDurabilitySIGKILLDuringCreates: a server process killed with SIGKILL
// during a stream of Creates is restarted; every acknowledged object is
// there and the store opens clean.
func TestDurabilitySIGKILLDuringCreates(t *testing.T) {
	dir := initDir(t)
	srv := startServer(t, dir, nil)

	var acks ackLog
	var killed atomic.Bool
	progress, wait := createStream(t, dir, srv.addr, "crash", 4, &acks, &killed)
	waitAcks(t, progress, 100)
	killed.Store(true)
	srv.signal(t, syscall.SIGKILL) // Creates of the other workers are in flight
	inFlight := wait()
	if ws := srv.wait(t, 10*time.Second); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("server exit %v, want killed by SIGKILL", srv.err)
	}
	acked := acks.snapshot()
	t.Logf("%d Creates acknowledged, %d workers got no answer to their last Create", len(acked), inFlight)
	if t.Failed() {
		t.FailNow()
	}

	// The file as the crash left it: it opens, and is consistent.
	checkStore(t, dir, len(acked))

	srv2 := startServer(t, dir, nil)
	c := dialKMIP(t, dir, srv2.addr)
	verifyAcked(t, c, acked)
	// Identifiers handed out before the crash are never handed out again.
	for i := range 5 {
		id, err := createKey(c, fmt.Sprintf("after-crash-%d", i))
		if err != nil {
			t.Fatalf("Create after restart: %v", err)
		}
		if old, dup := acked[id]; dup {
			t.Errorf("Create after restart reused %s, acknowledged before the crash for %s", id, old)
		}
	}
	srv2.stop(t)
	checkStore(t, dir, len(acked)+5)
}

// rawRequest encodes a one-item KMIP 2.0 request.
func rawRequest(t *testing.T, op kmip.Operation, payload func(b *ttlv.Builder)) []byte {
	t.Helper()
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(op, nil, payload)
	req, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), req...)
}

// readResponse reads and parses one response message from conn.
func readResponse(conn net.Conn) (*kmip.ResponseItem, error) {
	msg, err := ttlv.ReadMessage(conn, nil, 1<<20)
	if err != nil {
		return nil, err
	}
	var resp kmip.Response
	if err := resp.Parse(append([]byte(nil), msg...), kmip.Limits{}); err != nil {
		return nil, err
	}
	if len(resp.Items) != 1 {
		return nil, fmt.Errorf("response with %d items", len(resp.Items))
	}
	return &resp.Items[0], resp.Items[0].Err()
}

// TestDurabilitySIGTERMFinishesRequestsInFlight: SIGTERM while requests are
// in flight makes the server finish them, answer them and exit 0 within a
// few seconds; what it acknowledged is there after a restart.
func TestDurabilitySIGTERMFinishesRequestsInFlight(t *testing.T) {
	dir := initDir(t)
	srv := startServer(t, dir, nil)

	// A request the server has started to read when the signal comes: the
	// first half is sent now, the second half once the server is shutting
	// down.
	conn, err := tls.Dial("tcp", srv.addr, clientTLS(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := rawRequest(t, kmip.OperationCreate, createPayload("in-flight"))
	half := len(req) / 2
	if _, err := conn.Write(req[:half]); err != nil {
		t.Fatal(err)
	}

	// And a stream of Creates on other connections.
	var acks ackLog
	var stopped atomic.Bool
	progress, wait := createStream(t, dir, srv.addr, "term", 3, &acks, &stopped)
	waitAcks(t, progress, 30)

	stopped.Store(true)
	sent := time.Now()
	srv.signal(t, syscall.SIGTERM)
	// Shutdown closes the listener first; once new connections are refused
	// the server is shutting down.
	for {
		c, err := net.DialTimeout("tcp", srv.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Since(sent) > 5*time.Second {
			t.Fatal("server still accepts connections 5s after SIGTERM")
		}
		time.Sleep(5 * time.Millisecond)
	}

	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(req[half:]); err != nil {
		t.Fatalf("the server dropped a request it had started to read: %v", err)
	}
	it, err := readResponse(conn)
	if err != nil {
		t.Fatalf("in-flight request during shutdown: %v", err)
	}
	inFlightID, err := createdID(it)
	if err != nil {
		t.Fatal(err)
	}
	// Then the server closes the connection.
	if _, err := conn.Read(make([]byte, 1)); err == nil || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
		t.Errorf("connection after the last response: %v, want it closed by the server", err)
	}

	ws := srv.wait(t, 10*time.Second)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("server exit after SIGTERM: %v, want status 0\nstderr:\n%s", srv.err, srv.stderr)
	}
	if d := time.Since(sent); d > 5*time.Second {
		t.Errorf("server took %v to exit after SIGTERM", d)
	}
	broken := wait()
	acked := acks.snapshot()
	t.Logf("%d Creates acknowledged; %d workers saw the connection close", len(acked), broken)
	if _, dup := acked[inFlightID]; dup {
		t.Fatalf("in-flight Create returned identifier %s, also acknowledged to a worker", inFlightID)
	}
	acked[inFlightID] = "in-flight"

	checkStore(t, dir, len(acked))
	srv2 := startServer(t, dir, nil)
	verifyAcked(t, dialKMIP(t, dir, srv2.addr), acked)
	srv2.stop(t)
}
