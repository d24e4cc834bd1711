package audit

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/audit/audittest"
	"github.com/kmipd/kmipd/internal/pki"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// fileLines returns the trail's lines without their newlines.
func fileLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// checkStreamed requires the receiver to have got every line of the trail,
// in order, once.
func checkStreamed(t *testing.T, r *audittest.Receiver, path string) {
	t.Helper()
	if !r.WaitClosed(5 * time.Second) {
		t.Fatal("the sink did not close its connection")
	}
	if errs := r.Errors(); len(errs) > 0 {
		t.Fatalf("receiver: %v", errs)
	}
	want := fileLines(t, path)
	got := r.Messages()
	if len(got) != len(want) {
		t.Fatalf("received %d records, the trail has %d", len(got), len(want))
	}
	for i := range want {
		if got[i].MSG != want[i] {
			t.Fatalf("record %d:\n got %s\nwant %s", i+1, got[i].MSG, want[i])
		}
	}
}

func openWithSinks(t *testing.T, failClosed bool, sinks ...SinkOptions) (*Trail, string) {
	t.Helper()
	dir := t.TempDir()
	tr, err := Open(Options{Path: dir + "/audit.log", KeyPath: dir + "/audit.key", Sync: SyncNone,
		CheckpointInterval: 5, FailClosed: failClosed, Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	return tr, dir + "/audit.log"
}

func TestSink_Syslog(t *testing.T) {
	r := audittest.Syslog(t, nil)
	tr, path := openWithSinks(t, false, SinkOptions{Type: SinkSyslog, Address: r.Addr})
	for i := range 20 {
		if _, err := tr.Append(opRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	checkStreamed(t, r, path)
	m := r.Messages()[0]
	if m.PRI != "110" || m.AppName != "kmipd" || m.MsgID != "audit" {
		t.Errorf("header %+v: want PRI 110 (log audit, informational), APP-NAME kmipd, MSGID audit", m)
	}
	st := tr.SinkStats()
	if len(st) != 1 || st[0].Sent != uint64(len(fileLines(t, path))) || st[0].Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSink_SyslogTLS(t *testing.T) {
	b, err := pki.Generate(pki.Options{Hosts: []string{"127.0.0.1"}, ClientNames: []string{"kmipd"}})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b.CACert)
	srvCert, err := tls.X509KeyPair(b.ServerCert, b.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	cliCert, err := tls.X509KeyPair(b.Clients["kmipd"].Cert, b.Clients["kmipd"].Key)
	if err != nil {
		t.Fatal(err)
	}
	r := audittest.Syslog(t, &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
	tr, path := openWithSinks(t, true, SinkOptions{Type: SinkSyslog, Address: r.Addr,
		TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cliCert}, ServerName: "127.0.0.1"}})
	for i := range 10 {
		// Fail-closed: Append returns once the record is sent.
		if _, err := tr.Append(opRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	checkStreamed(t, r, path)
}

func TestSink_JSONLUnix(t *testing.T) {
	r := audittest.JSONL(t, "unix")
	tr, path := openWithSinks(t, false, SinkOptions{Type: SinkJSONL, Network: "unix", Address: r.Addr})
	for i := range 20 {
		if _, err := tr.Append(opRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	checkStreamed(t, r, path)

	// The copy checks out against the trail; an edited copy does not.
	var cp bytes.Buffer
	for _, m := range r.Messages() {
		cp.WriteString(m.MSG + "\n")
	}
	trail, _ := os.ReadFile(path)
	rep, err := VerifyCopy(bytes.NewReader(trail), bytes.NewReader(cp.Bytes()))
	if err != nil || rep.Matched != len(r.Messages()) || rep.Missing != 0 {
		t.Fatalf("VerifyCopy: %+v, %v", rep, err)
	}
	edited := bytes.Replace(cp.Bytes(), []byte(`"operation":"Create"`), []byte(`"operation":"Destroy"`), 1)
	var le *LineError
	if _, err := VerifyCopy(bytes.NewReader(trail), bytes.NewReader(edited)); !errors.As(err, &le) || !strings.Contains(le.Msg, "differs") {
		t.Fatalf("edited copy: %v", err)
	}
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestSink_FailOpenDown(t *testing.T) {
	tr, path := openWithSinks(t, false, SinkOptions{Type: SinkJSONL, Address: deadAddr(t), Queue: 4, Timeout: 200 * time.Millisecond})
	for i := range 20 {
		if _, err := tr.Append(opRecord(i)); err != nil {
			t.Fatalf("fail-open Append with the sink down: %v", err)
		}
	}
	st := tr.SinkStats()
	if st[0].Connected || st[0].Queued != 4 || st[0].Dropped == 0 {
		t.Errorf("stats %+v: want 4 queued and the rest dropped", st[0])
	}
	tr.Close()
	st = tr.SinkStats()
	if lines := len(fileLines(t, path)); st[0].Dropped != uint64(lines) || st[0].Sent != 0 {
		t.Errorf("after Close: %+v, want all %d records dropped", st[0], lines)
	}
}

func TestSink_FailClosedDown(t *testing.T) {
	tr, path := openWithSinks(t, true, SinkOptions{Type: SinkSyslog, Address: deadAddr(t), Timeout: 2 * time.Second})
	defer tr.Close()
	seq, err := tr.Append(opRecord(1))
	if !errors.Is(err, ErrSink) || seq == 0 {
		t.Fatalf("fail-closed Append with the sink down: seq %d, %v; want the record's seq and ErrSink", seq, err)
	}

	// Through the middleware: a Get is answered with General Failure and
	// its record, which is in the file, is superseded.
	svc := &fakeService{objs: map[string][]byte{"key-1": make([]byte, 32)}}
	srv := &kmip.Server{Handler: Wrap(svc, tr)}
	sess := srv.NewSession(kmip.Identity{Name: "alice"}, nil)
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationGet, nil, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "key-1") })
	msg, _ := w.Finish()
	var resp kmip.Response
	if err := resp.Parse(srv.Handle(sess, msg), kmip.Limits{}); err != nil {
		t.Fatal(err)
	}
	if it := resp.Items[0]; it.Status != kmip.ResultStatusOperationFailed || it.Reason != kmip.ResultReasonGeneralFailure {
		t.Fatalf("Get with the sink down: %v %v, want General Failure", it.Status, it.Reason)
	}
	lines := fileLines(t, path)
	last := lines[len(lines)-1]
	if !strings.Contains(last, `"supersedes":`) || !strings.Contains(last, `"status":"OperationFailed"`) {
		t.Errorf("last record %s: want the Get's record superseded", last)
	}
}

// Ensure that, fail-closed, a sink whose receiver stops reading makes
// Append fail once the connection's buffers are full and the record is
// not sent within the timeout.
func TestSink_FailClosedBlocked(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var held []net.Conn // accepted, never read
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetReadBuffer(4096)
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	tr, _ := openWithSinks(t, true, SinkOptions{Type: SinkJSONL, Address: l.Addr().String(), Timeout: 300 * time.Millisecond})
	defer tr.Close()
	big := opRecord(0)
	big.Detail = strings.Repeat("x", 4000)
	start := time.Now()
	for i := 0; ; i++ {
		_, err := tr.Append(big)
		if errors.Is(err, ErrSink) {
			t.Logf("refused after %d records, %v", i, time.Since(start))
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 100000 || time.Since(start) > 30*time.Second {
			t.Fatalf("%d records sent to a receiver that does not read", i)
		}
	}
}

// Ensure that VerifyCopy accepts a resent record, counts the records a
// copy lacks, and refuses records out of order or not in the trail.
func TestVerifyCopy(t *testing.T) {
	lines, _, o := fillTrail(t, 6, 100)
	trail, err := os.ReadFile(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	l := func(i int) string { return string(lines[i]) + "\n" } // lines[i] has seq i+1
	for _, c := range []struct {
		name, copy string
		matched    int
		dups       int
		missing    []string
		err        string
	}{
		{name: "whole", copy: strings.Join([]string{l(0), l(1), l(2), l(3), l(4), l(5), l(6), l(7)}, ""), matched: 8},
		{name: "syslog prefix and a resent record", copy: "<110>1 - h kmipd 1 audit - " + l(2) + l(3) + l(3) + l(4), matched: 3, dups: 1},
		{name: "gaps", copy: l(1) + l(4) + l(5) + l(7), matched: 4, missing: []string{"3-4", "7"}},
		{name: "out of order", copy: l(3) + l(2), err: "out of order"},
		{name: "not in the trail", copy: l(0) + strings.Replace(l(1), `"seq":2,`, `"seq":99,`, 1), err: "not in the trail"},
		{name: "not a record", copy: "hello\n", err: "not an audit record"},
	} {
		rep, err := VerifyCopy(bytes.NewReader(trail), strings.NewReader(c.copy))
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, want %q", c.name, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case rep.Matched != c.matched || rep.Duplicates != c.dups || strings.Join(rep.MissingRanges, ",") != strings.Join(c.missing, ","):
			t.Errorf("%s: %+v, want %d matched, %d duplicates, missing %v", c.name, rep, c.matched, c.dups, c.missing)
		}
	}
}

// Ensure that a sink reconnects with backoff: records written while its
// receiver is down are queued and delivered once it is up.
func TestSink_Reconnects(t *testing.T) {
	addr := deadAddr(t)
	tr, path := openWithSinks(t, false, SinkOptions{Type: SinkSyslog, Address: addr, Timeout: time.Second})
	for i := range 10 {
		if _, err := tr.Append(opRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond) // a few failed attempts
	if st := tr.SinkStats()[0]; st.Connected || st.Sent != 0 || st.Queued == 0 {
		t.Fatalf("stats with the receiver down: %+v", st)
	}
	r := audittest.Listen(t, "tcp", addr, nil, true)
	deadline := time.Now().Add(15 * time.Second)
	for tr.SinkStats()[0].Queued > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the queue was not sent once the receiver was up: %+v", tr.SinkStats()[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := tr.Append(opRecord(11)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	checkStreamed(t, r, path)
}

// A sink with on_full: block that is known down does not hold the trail:
// once its queue is full, records are dropped at once rather than each
// waiting out the timeout.
func TestSink_BlockDoesNotWaitOnADownSink(t *testing.T) {
	tr, _ := openWithSinks(t, false, SinkOptions{Type: SinkJSONL, Address: deadAddr(t), Queue: 4,
		Timeout: 2 * time.Second, OnFull: OnFullBlock})
	defer tr.Close()
	deadline := time.Now().Add(5 * time.Second)
	for tr.SinkStats()[0].Connected || time.Now().Before(deadline) && !sinkDown(tr) {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	for i := range 12 {
		if _, err := tr.Append(opRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("12 records with a down sink took %v (each waiting out the block timeout)", d)
	}
}

func sinkDown(tr *Trail) bool {
	for _, s := range tr.sinks {
		s.mu.Lock()
		down := s.down != nil
		s.mu.Unlock()
		if down {
			return true
		}
	}
	return false
}
