package main

// The robustness suite: attacks on a real `kmipd serve` (a child process,
// real TLS, real bbolt file) that check an invariant and report figures in
// "chaos:" lines. `make test` runs it at a small scale; `make chaos` sets
// KMIPD_CHAOS_SCALE=large and runs it with the other robustness tests
// (kill -9 during Creates, disk full, audit truncation).

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// chaosLarge reports whether make chaos asked for the large scale.
func chaosLarge() bool { return os.Getenv("KMIPD_CHAOS_SCALE") == "large" }

// scaled picks the small or the large figure.
func scaled(small, large int) int {
	if chaosLarge() {
		return large
	}
	return small
}

// legitLimit is how long a legitimate client's whole exchange may take
// during an attack: a second, as issue 12 asks; under the race detector,
// which slows both processes several times over, success is what counts.
func legitLimit() time.Duration {
	if raceEnabled {
		return 10 * time.Second
	}
	return time.Second
}

// chaosf reports a figure of the suite.
func chaosf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("chaos: %s: "+format, append([]any{t.Name()}, args...)...)
}

// identityTLS is the TLS configuration of DIR/pki/NAME.crt.
func identityTLS(t *testing.T, dir, name string) *tls.Config {
	t.Helper()
	cfg := clientTLS(t, dir)
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "pki", name+".crt"), filepath.Join(dir, "pki", name+".key"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg
}

// probe measures one legitimate client's whole exchange: a new TCP and TLS
// connection from 127.0.0.1 and a Get of key (a Discover Versions when key
// is "").
func probe(addr string, cfg *tls.Config, key string) (time.Duration, error) {
	start := time.Now()
	c, err := kmip.Dial(addr, cfg)
	if err != nil {
		return time.Since(start), err
	}
	defer c.Close()
	c.Version = kmip.V2_0
	c.Timeout = 5 * time.Second
	if key == "" {
		_, _, err = c.Do(kmip.OperationDiscoverVersions, func(*ttlv.Builder) {})
	} else {
		_, err = getKey(c, key)
	}
	return time.Since(start), err
}

// probeStats sums legitimate clients' exchanges during an attack.
type probeStats struct {
	tries, failures int
	worst           time.Duration
	key             string // the key each probe Gets; "": Discover Versions
}

// run does one probe and fails the test unless it succeeds within limit.
func (ps *probeStats) run(t *testing.T, addr string, cfg *tls.Config, limit time.Duration) {
	t.Helper()
	d, err := probe(addr, cfg, ps.key)
	ps.tries++
	ps.worst = max(ps.worst, d)
	if err != nil || d > limit {
		ps.failures++
		if ps.failures <= 5 {
			t.Errorf("legitimate client: %v after %v (limit %v)", err, d, limit)
		}
	}
}

func (ps *probeStats) report(t *testing.T) {
	t.Helper()
	chaosf(t, "legitimate clients: %d tries, %d failures, slowest %v", ps.tries, ps.failures, ps.worst.Round(time.Millisecond))
}

// probes runs n probes a few milliseconds apart and fails the test unless
// each succeeds within limit.
func probes(t *testing.T, addr string, cfg *tls.Config, n int, limit time.Duration) {
	t.Helper()
	var ps probeStats
	for range n {
		ps.run(t, addr, cfg, limit)
		time.Sleep(20 * time.Millisecond)
	}
	ps.report(t)
}

// attacker dials from its own loopback address, so that per-address
// limits tell it from the legitimate client on 127.0.0.1.
func attacker(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
}

// serverRSS is the resident set size of pid in bytes.
func serverRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// alive fails the test if the server process has exited or logged a
// recovered panic.
func alive(t *testing.T, p *serverProcess) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("kmipd exited: %v", p.err)
	default:
	}
	if strings.Contains(p.stderr.String(), "panic") {
		t.Errorf("kmipd logged a panic")
	}
}

// Ensure that connections that never handshake cannot lock legitimate
// clients out: with 1,100 silent TCP connections held open (and reopened
// as the server drops them), a new client connects and Gets a key within a
// second.
func TestChaos_HandshakeFlood(t *testing.T) {
	dir := initDir(t)
	srv := startServer(t, dir, nil)
	key, err := createKey(dialKMIP(t, dir, srv.addr), "flood-probe")
	if err != nil {
		t.Fatal(err)
	}
	silent := 1100 // the figure of issue 12; make chaos holds them longer
	dur := time.Duration(scaled(3, 20)) * time.Second
	var opened, dropped atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	d := attacker("127.0.0.2")
	for range silent {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1)
			for {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := d.Dial("tcp", srv.addr)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				opened.Add(1)
				go func() { <-stop; nc.Close() }()
				// Silent: wait until the server gives up on us, then come
				// back (after a breath, so that this test's own dialling
				// does not take the two cores the server and the
				// legitimate client share with it).
				if _, err := nc.Read(buf); err != nil {
					dropped.Add(1)
				}
				nc.Close()
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // let the flood build up
	deadline := time.Now().Add(dur)
	cfg := clientTLS(t, dir)
	ps := probeStats{key: key}
	for time.Now().Before(deadline) {
		ps.run(t, srv.addr, cfg, legitLimit())
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	alive(t, srv)
	ps.report(t)
	chaosf(t, "%d silent connections held from 127.0.0.2: %d opened in %v, %d dropped by the server", silent, opened.Load(), dur, dropped.Load())
}

// Ensure that slow senders (slowloris: a message header, then one byte at a
// time) are cut off by the read timeout and do not delay other clients.
func TestChaos_Slowloris(t *testing.T) {
	dir := initDir(t, "--client", "mallory,alice")
	srv := startServer(t, dir, []string{"KMIPD_LIMITS_READ_TIMEOUT=2s"})
	n := scaled(50, 120)
	cfg := identityTLS(t, dir, "mallory")
	var connected, closed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread over addresses, so that the handshake cap per address
			// lets them all in: the read timeout is what is tested.
			nc, err := tls.DialWithDialer(attacker("127.0.1."+strconv.Itoa(1+i%200)), "tcp", srv.addr, cfg)
			if err != nil {
				return
			}
			connected.Add(1)
			defer nc.Close()
			// A Request Message announcing 64 bytes, sent one byte per 300 ms.
			msg := []byte{0x42, 0x00, 0x78, 0x01, 0, 0, 0, 64}
			msg = append(msg, make([]byte, 64)...)
			for _, b := range msg {
				if _, err := nc.Write([]byte{b}); err != nil {
					closed.Add(1)
					return
				}
				time.Sleep(300 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	probes(t, srv.addr, identityTLS(t, dir, "alice"), scaled(10, 50), legitLimit())
	wg.Wait()
	alive(t, srv)
	if closed.Load() == 0 {
		t.Errorf("no slow connection was cut off by the 2s read timeout")
	}
	if closed.Load() != connected.Load() {
		t.Errorf("%d of %d slow senders were not cut off", connected.Load()-closed.Load(), connected.Load())
	}
	chaosf(t, "%d slow senders, %d connected, %d cut off by the 2s read timeout, in %v", n, connected.Load(), closed.Load(), time.Since(start).Round(time.Millisecond))
}

// Ensure that one identity cannot hold every connection: mallory opens
// more connections than the per-identity cap; the extra ones are refused
// and alice still connects.
func TestChaos_IdleHoarding(t *testing.T) {
	dir := initDir(t, "--client", "mallory,alice")
	srv := startServer(t, dir, []string{"KMIPD_LIMITS_MAX_CONNECTIONS_PER_IDENTITY=64"})
	want := scaled(200, 1100)
	cfg := identityTLS(t, dir, "mallory")
	var held []net.Conn
	refused := 0
	for i := range want {
		d := attacker("127.0.0." + strconv.Itoa(10+i%200)) // spread over addresses: the identity cap is what is tested
		nc, err := tls.DialWithDialer(d, "tcp", srv.addr, cfg)
		if err == nil {
			// A refused connection is closed right after the handshake:
			// a read shows it.
			_ = nc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err = nc.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				nc.Close()
			} else {
				err = nil
				_ = nc.SetReadDeadline(time.Time{})
				held = append(held, nc)
				continue
			}
		}
		refused++
	}
	defer func() {
		for _, nc := range held {
			nc.Close()
		}
	}()
	if len(held) > 64 {
		t.Errorf("mallory holds %d connections, over the cap of 64", len(held))
	}
	probes(t, srv.addr, identityTLS(t, dir, "alice"), scaled(5, 20), legitLimit())
	alive(t, srv)
	chaosf(t, "mallory tried %d connections: %d held, %d refused (cap 64)", want, len(held), refused)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Ensure that HTTP request headers are bounded: a signed-in client sending
// megabytes of headers is cut off without the server's memory growing
// with them.
func TestChaos_HTTPHeaderFlood(t *testing.T) {
	dir := initDir(t)
	srv := startServer(t, dir, nil)
	pid := srv.cmd.Process.Pid
	before := serverRSS(t, pid)
	clients := scaled(4, 16)
	perClient := scaled(16<<20, 64<<20)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := tls.Dial("tcp", srv.addr, clientTLS(t, dir))
			if err != nil {
				return
			}
			defer nc.Close()
			_ = nc.SetWriteDeadline(time.Now().Add(20 * time.Second))
			w := bufio.NewWriter(nc)
			fmt.Fprintf(w, "POST /kmip HTTP/1.1\r\nHost: kmip\r\n")
			line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
			for n := 0; n < perClient; n += len(line) {
				if _, err := w.WriteString(line); err != nil {
					return
				}
				sent.Add(int64(len(line)))
			}
			_ = w.Flush()
		}()
	}
	wg.Wait()
	after := serverRSS(t, pid)
	growth := after - before
	if growth > 16<<20 {
		t.Errorf("server memory grew by %d MiB while clients sent %d MiB of headers", growth>>20, sent.Load()>>20)
	}
	probes(t, srv.addr, clientTLS(t, dir), 3, legitLimit())
	alive(t, srv)
	chaosf(t, "%d clients sent %d MiB of headers (of %d MiB tried); server RSS %d → %d MiB", clients, sent.Load()>>20,
		int64(clients*perClient)>>20, before>>20, after>>20)
}

// Ensure that malformed frames get a KMIP error or a closed connection,
// never a crash: every OASIS request, mutated at random (seeded), on its
// own connection.
func TestChaos_MalformedFrames(t *testing.T) {
	dir := initDir(t)
	srv := startServer(t, dir, nil)
	cfg := clientTLS(t, dir)
	seeds := malformedSeeds()
	n := scaled(300, 5000)
	rng := rand.New(rand.NewPCG(1, 2))
	var answered, closedConn, other int
	for i := range n {
		msg := mutate(rng, seeds[i%len(seeds)])
		nc, err := tls.Dial("tcp", srv.addr, cfg)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		_, werr := nc.Write(msg)
		// No more is coming: a message cut short then meets end of file
		// instead of the read timeout.
		_ = nc.CloseWrite()
		head := make([]byte, 8)
		_, rerr := io.ReadFull(nc, head)
		switch {
		case werr == nil && rerr == nil && head[0] == 0x42 && head[1] == 0x00 && head[2] == 0x7b:
			body := make([]byte, binary.BigEndian.Uint32(head[4:]))
			if _, err := io.ReadFull(nc, body); err != nil {
				t.Errorf("frame %d: truncated response: %v", i, err)
			}
			answered++
		case rerr != nil && !isTimeout(rerr):
			closedConn++
		default:
			other++
			t.Errorf("frame %d: neither a response nor a close (read %v, head %x)", i, rerr, head)
		}
		nc.Close()
	}
	probes(t, srv.addr, cfg, 3, legitLimit())
	alive(t, srv)
	chaosf(t, "%d malformed frames: %d answered with a KMIP response, %d connections closed, %d other", n, answered, closedConn, other)
}

// malformedSeeds are well-formed request messages to mutate: a Discover
// Versions, a Create and a Locate.
func malformedSeeds() [][]byte {
	var out [][]byte
	for _, payload := range []func(b *ttlv.Builder){
		func(b *ttlv.Builder) {},
		createPayload("chaos"),
		func(b *ttlv.Builder) { b.AddInt32(ttlv.TagMaximumItems, 1) },
	} {
		for _, op := range []kmip.Operation{kmip.OperationDiscoverVersions, kmip.OperationCreate, kmip.OperationLocate} {
			b := ttlv.NewBuilder(nil)
			b.Begin(ttlv.TagRequestMessage)
			b.Begin(ttlv.TagRequestHeader)
			b.Begin(ttlv.TagProtocolVersion)
			b.AddInt32(ttlv.TagProtocolVersionMajor, 2)
			b.AddInt32(ttlv.TagProtocolVersionMinor, 0)
			b.End()
			b.AddInt32(ttlv.TagBatchCount, 1)
			b.End()
			b.Begin(ttlv.TagBatchItem)
			b.AddEnum(ttlv.TagOperation, uint32(op))
			b.Begin(ttlv.TagRequestPayload)
			payload(b)
			b.End()
			b.End()
			b.End()
			msg, err := b.Bytes()
			if err == nil {
				out = append(out, msg)
			}
		}
	}
	return out
}

// mutate damages a message the ways a broken or hostile client does: flip
// bytes, change a length, cut it short, or append garbage. The outer
// length is kept consistent half of the time, so that the server reads a
// whole (bad) message rather than waiting for more.
func mutate(rng *rand.Rand, seed []byte) []byte {
	m := append([]byte(nil), seed...)
	switch rng.IntN(5) {
	case 0:
		for range 1 + rng.IntN(8) {
			m[8+rng.IntN(len(m)-8)] ^= byte(1 + rng.IntN(255))
		}
	case 1: // an inner length field
		off := 8 * (1 + rng.IntN(len(m)/8-1))
		binary.BigEndian.PutUint32(m[off+4:], rng.Uint32())
	case 2: // cut short
		m = m[:8+rng.IntN(len(m)-8)]
	case 3: // trailing garbage inside the announced length
		extra := make([]byte, 8*(1+rng.IntN(8)))
		for i := range extra {
			extra[i] = byte(rng.IntN(256))
		}
		m = append(m, extra...)
	case 4: // a huge announced length
		binary.BigEndian.PutUint32(m[4:], 0xfffffff0)
		return m
	}
	if rng.IntN(2) == 0 {
		binary.BigEndian.PutUint32(m[4:], uint32(len(m)-8))
	}
	return m
}
