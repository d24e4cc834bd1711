package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/kmip"
)

// countingObserver is the next Observer: it counts what is forwarded.
type countingObserver struct{ opened, closed, failed, served atomic.Int64 }

func (c *countingObserver) ConnOpened()            { c.opened.Add(1) }
func (c *countingObserver) ConnClosed()            { c.closed.Add(1) }
func (c *countingObserver) HandshakeFailed(string) { c.failed.Add(1) }
func (c *countingObserver) ItemServed(kmip.Operation, kmip.ResultStatus, kmip.ResultReason, time.Duration) {
	c.served.Add(1)
}

func openTestTrail(t *testing.T, sync audit.SyncMode) (*audit.Trail, audit.Options) {
	t.Helper()
	dir := t.TempDir()
	o := audit.Options{Path: filepath.Join(dir, "audit.log"), KeyPath: filepath.Join(dir, "audit.key"), Sync: sync, CheckpointPeriod: -1}
	tr, err := audit.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, o
}

// readTrail verifies the closed trail and returns its records.
func readTrail(t *testing.T, o audit.Options) []audit.Record {
	t.Helper()
	out, err := runCLI("audit", "export", "--file", o.Path, "--key", o.KeyPath)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	if out, err := runCLI("audit", "verify", "--file", o.Path, "--key", o.KeyPath); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	return exportRecords(t, "--file", o.Path, "--key", o.KeyPath)
}

var suppressedRE = regexp.MustCompile(`^(\d+) refused connections and (\d+) refused messages were not recorded`)

// TestAuditRefusalFloodIsBounded: 10,000 refused handshakes and messages
// leave at most burst + rate × elapsed records, and summaries that account
// for every other one; nothing blocks on the disk.
func TestAuditRefusalFloodIsBounded(t *testing.T) {
	tr, o := openTestTrail(t, audit.SyncAlways)
	next := &countingObserver{}
	limit := refusalLimit{Rate: 10, Burst: 100, Summary: 50 * time.Millisecond}
	start := time.Now()
	obs := newRefusalAuditor(tr, next, limit)
	var _ kmip.RefusalObserver = obs
	remote := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
	alice := &kmip.Identity{Name: "alice", Fingerprint: [32]byte{1, 2, 3}}
	const n = 10000
	for i := range n {
		if i%2 == 0 {
			obs.HandshakeFailed("unknown_authority")
			obs.ConnectionRefused(remote, nil, "unknown_authority", "tls: certificate signed by unknown authority")
		} else {
			obs.MessageRefused(remote, alice, kmip.ResultReasonInvalidMessage, "malformed TTLV: "+strings.Repeat("x", 1000))
		}
	}
	elapsed := time.Since(start)
	// The flood took far less than a second: the observer did not wait
	// for 10,000 fsyncs.
	if elapsed > 5*time.Second {
		t.Errorf("10,000 refusals took %v", elapsed)
	}
	obs.ConnOpened()
	obs.ConnClosed()
	obs.ItemServed(kmip.OperationGet, kmip.ResultStatusSuccess, 0, time.Millisecond)
	if next.failed.Load() != n/2 || next.opened.Load() != 1 || next.closed.Load() != 1 || next.served.Load() != 1 {
		t.Fatalf("not forwarded to the next observer: %+v", next)
	}
	// A summary follows the flood without waiting for shutdown.
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(o.Path)
		if strings.Contains(string(data), `"event":"refusals_suppressed"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no summary of the suppressed refusals 10s after the flood")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}

	var conns, msgs, summaries, suppressedConns, suppressedMsgs int
	var sawConn, sawMsg bool
	for _, r := range readTrail(t, o) {
		switch r.Event {
		case audit.EventConnectionRefused:
			conns++
			if r.Remote != "192.0.2.7:40000" || r.Reason != "unknown_authority" || r.Identity != "" || !strings.Contains(r.Detail, "unknown authority") {
				t.Fatalf("connection record %+v", r)
			}
			sawConn = true
		case audit.EventMessageRefused:
			msgs++
			if r.Remote != "192.0.2.7:40000" || r.Reason != kmip.ResultReasonInvalidMessage.String() || r.Identity != "alice" ||
				!strings.HasPrefix(r.Fingerprint, "010203") || len(r.Detail) > maxRefusalDetail+len("…") {
				t.Fatalf("message record %+v", r)
			}
			sawMsg = true
		case audit.EventRefusalsSuppressed:
			summaries++
			m := suppressedRE.FindStringSubmatch(r.Detail)
			if m == nil {
				t.Fatalf("summary %q", r.Detail)
			}
			c, _ := strconv.Atoi(m[1])
			s, _ := strconv.Atoi(m[2])
			suppressedConns += c
			suppressedMsgs += s
		}
	}
	recorded := conns + msgs
	most := limit.Burst + int(limit.Rate*elapsed.Seconds()) + 1
	t.Logf("%d refusals in %v: %d recorded (at most %d), %d in %d summaries", n, elapsed, recorded, most, suppressedConns+suppressedMsgs, summaries)
	if !sawConn || !sawMsg {
		t.Fatal("no record of a refused connection or message")
	}
	if recorded > most {
		t.Fatalf("%d refusals recorded, more than burst + rate × elapsed = %d", recorded, most)
	}
	if conns+suppressedConns != n/2 || msgs+suppressedMsgs != n/2 {
		t.Fatalf("recorded %d+%d, suppressed %d+%d: want %d each", conns, msgs, suppressedConns, suppressedMsgs, n/2)
	}
	// At most one summary per Summary period, and one at shutdown.
	if most := int(elapsed/limit.Summary) + 2; summaries < 1 || summaries > most {
		t.Fatalf("%d summaries, want 1 to %d", summaries, most)
	}
}

// TestAuditRefusalRateRefills: after the burst, the bucket refills at the
// rate; a summary still owed at shutdown is written before the close
// checkpoint.
func TestAuditRefusalRateRefills(t *testing.T) {
	tr, o := openTestTrail(t, audit.SyncNone)
	obs := newRefusalAuditor(tr, nil, refusalLimit{Rate: 50, Burst: 5, Summary: time.Hour})
	for i := range 10 {
		obs.ConnectionRefused(nil, nil, "timeout", fmt.Sprint(i))
	}
	time.Sleep(110 * time.Millisecond) // ≥ 5 tokens
	for i := range 10 {
		obs.ConnectionRefused(nil, nil, "timeout", fmt.Sprint(10+i))
	}
	tr.Close()
	var recorded, suppressed int
	recs := readTrail(t, o)
	for _, r := range recs {
		switch r.Event {
		case audit.EventConnectionRefused:
			recorded++
		case audit.EventRefusalsSuppressed:
			m := suppressedRE.FindStringSubmatch(r.Detail)
			c, _ := strconv.Atoi(m[1])
			suppressed += c
		}
	}
	if recorded < 10 || recorded > 13 || recorded+suppressed != 20 {
		t.Fatalf("%d recorded, %d suppressed: want 10 to 13 recorded (5 + 5 refilled, + what the pauses add) and 20 in all", recorded, suppressed)
	}
	if last := recs[len(recs)-1]; last.Event != audit.EventRefusalsSuppressed {
		t.Fatalf("the summary owed at shutdown is not the last record: %+v", last)
	}
}

func TestAuditObserverWithoutTrail(t *testing.T) {
	next := &countingObserver{}
	if obs := auditObserver(nil, next); obs != kmip.Observer(next) {
		t.Fatalf("auditObserver(nil, next) = %T, want next", obs)
	}
}
