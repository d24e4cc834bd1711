package main

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// without serves everything h does except the operations in ops, which it
// answers with Operation Not Supported, as servers lacking them do.
type without struct {
	h   kmip.Handler
	ops []kmip.Operation
}

func (w without) ServeKMIP(c *kmip.Call, b *ttlv.Builder) error {
	for _, op := range w.ops {
		if c.Item.Operation == op {
			return kmip.Errorf(kmip.ResultReasonOperationNotSupported, "operation %s is not supported", op)
		}
	}
	return w.h.ServeKMIP(c, b)
}

// newCtlEnvWithout is newCtlEnv for a server without the operations ops.
func newCtlEnvWithout(t *testing.T, ops ...kmip.Operation) *ctlEnv {
	t.Helper()
	isolateEnv(t)
	le := lifecycletest.New(t, nil)
	p := kmiptest.MustPKI(t, "admin")
	srv := kmiptest.Start(t, p, without{le.Service, ops})
	return &ctlEnv{t: t, addr: srv.Addr, pki: writePKI(t, p)}
}

// benchJSON runs bench with args for 1 s on 2 connections and returns the
// report from --json FILE, checking it against the one on stdout.
func (e *ctlEnv) bench(args ...string) benchReport {
	e.t.Helper()
	file := filepath.Join(e.t.TempDir(), "bench.json")
	var stdout benchReport
	e.json(&stdout, append([]string{"bench", "--conns", "2", "--duration", "1s", "--json", file}, args...)...)
	data, err := os.ReadFile(file)
	if err != nil {
		e.t.Fatal(err)
	}
	var rep benchReport
	if err := json.Unmarshal(data, &rep); err != nil {
		e.t.Fatalf("%v\n%s", err, data)
	}
	if rep.Ops != stdout.Ops || rep.Mix != stdout.Mix {
		e.t.Errorf("--json file and stdout differ: %+v, %+v", rep, stdout)
	}
	return rep
}

func checkOp(t *testing.T, rep benchReport, op string) {
	t.Helper()
	r := rep.Operations[op]
	if r == nil || r.Count == 0 || r.OpsPerSec <= 0 || r.Errors != 0 {
		t.Fatalf("%s: %+v", op, r)
	}
	if !(0 < r.P50MS && r.P50MS <= r.P90MS && r.P90MS <= r.P99MS && r.P99MS <= r.MaxMS) {
		t.Errorf("%s percentiles out of order: %+v", op, r)
	}
}

// Ensure that bench get runs for the duration on every connection and
// reports ops/s and percentiles.
func TestBench_Get(t *testing.T) {
	e := newCtlEnv(t)
	rep := e.bench("--mix", "get", "--keys", "4")
	if rep.Mix != "get" || rep.Conns != 2 || rep.OpsPerSec <= 0 || rep.Errors != 0 || rep.DurationS < 1 || rep.DurationS > 3 {
		t.Fatalf("report %+v", rep)
	}
	checkOp(t, rep, "Get")
	if r := rep.Operations["Get"]; r.RequestBytes < 140 || r.RequestBytes > 180 || r.ResponseBytes < 280 || r.ResponseBytes > 340 {
		t.Errorf("Get sizes %d/%d", r.RequestBytes, r.ResponseBytes)
	}
	// The keys it made are destroyed.
	var l locateJSON
	e.json(&l, "locate")
	if l.Count != 0 {
		t.Errorf("bench left %d keys", l.Count)
	}
	// Table output.
	out := e.ok("bench", "--conns", "1", "--duration", "200ms", "--keys", "1")
	if !strings.Contains(out, "ops/s") || !strings.Contains(out, "P99 ms") || !strings.Contains(out, "Get ") {
		t.Errorf("table output:\n%s", out)
	}
}

// Ensure that bench tls-echo measures the TLS round trip with Get-sized
// messages against its own listener.
func TestBench_TLSEcho(t *testing.T) {
	e := newCtlEnv(t)
	rep := e.bench("--mix", "tls-echo")
	if rep.OpsPerSec <= 0 || !strings.HasPrefix(rep.Server, "127.0.0.1:") || rep.Server == e.addr {
		t.Fatalf("report %+v", rep)
	}
	checkOp(t, rep, "Get")
	if r := rep.Operations["Get"]; r.RequestBytes < 140 || r.RequestBytes > 180 || r.ResponseBytes < 280 || r.ResponseBytes > 340 {
		t.Errorf("sizes %d/%d", r.RequestBytes, r.ResponseBytes)
	}
	// Without a CA the listener cannot check client certificates.
	_, errOut, code := runCtl("", "bench", "--mix", "tls-echo", "--duration", "1s",
		"--cert", filepath.Join(e.pki, "client.crt"), "--key", filepath.Join(e.pki, "client.key"))
	if code != 2 || !strings.Contains(errOut, "--ca") {
		t.Errorf("no CA: exit %d %s", code, errOut)
	}
}

// Ensure that the create, locate and encrypt mixes run, and that a server
// without Encrypt is reported as such.
func TestBench_Mixes(t *testing.T) {
	e := newCtlEnv(t)
	rep := e.bench("--mix", "create")
	for _, op := range []string{"Create", "Get", "Destroy"} {
		checkOp(t, rep, op)
	}
	rep = e.bench("--mix", "locate", "--keys", "3")
	checkOp(t, rep, "Locate")
	if e.supports("Encrypt") {
		rep = e.bench("--mix", "encrypt", "--keys", "1")
		checkOp(t, rep, "Encrypt")
	}

	e = newCtlEnvWithout(t, kmip.OperationEncrypt)
	file := filepath.Join(t.TempDir(), "enc.json")
	_, errOut, code := e.run("bench", "--mix", "encrypt", "--conns", "2", "--duration", "1s", "--keys", "1", "--json", file)
	if code != 4 || !strings.Contains(errOut, "bench encrypt: operation not supported (KMIP OperationNotSupported)") {
		t.Fatalf("encrypt unsupported: exit %d %s", code, errOut)
	}
	var rep2 benchReport
	data, _ := os.ReadFile(file)
	if err := json.Unmarshal(data, &rep2); err != nil || !strings.Contains(rep2.Error, "does not support Encrypt") || rep2.Ops != 0 {
		t.Errorf("encrypt unsupported report: %s", data)
	}
	// Its key was revoked and destroyed again.
	var l locateJSON
	e.json(&l, "locate")
	if l.Count != 0 {
		t.Errorf("bench left %d keys", l.Count)
	}
}

// Ensure that create-key-pair reports a server without Create Key Pair.
func TestCreateKeyPair_Unsupported(t *testing.T) {
	e := newCtlEnvWithout(t, kmip.OperationCreateKeyPair)
	out, errOut, code := e.run("create-key-pair", "--curve", "P-256", "-o", "json")
	if code != 4 || requestSuffix.ReplaceAllString(errOut, "") != "kmipctl: create-key-pair: operation not supported (KMIP OperationNotSupported)" {
		t.Fatalf("exit %d %s", code, errOut)
	}
	var doc jsonError
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Reason != "OperationNotSupported" || doc.ExitCode != 4 {
		t.Errorf("json error %q", out)
	}
}

// Ensure that bench only loads loopback servers.
func TestBench_LoopbackOnly(t *testing.T) {
	e := newCtlEnv(t)
	_, errOut, code := runCtl("", append(e.connArgs()[2:], "bench", "--server", "192.0.2.1:5696", "--duration", "1s")...)
	if code != 2 || !strings.Contains(errOut, "loopback") {
		t.Fatalf("exit %d %s", code, errOut)
	}
	for _, addr := range []string{"127.0.0.1:5696", "[::1]:5696", "localhost:5696"} {
		if err := loopbackOnly(addr); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

// Ensure that the histogram's quantiles are within its bucket precision.
func TestHistogram(t *testing.T) {
	var h histogram
	var all []time.Duration
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		d := time.Duration(r.ExpFloat64() * float64(300*time.Microsecond))
		h.record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := all[int(q*float64(len(all)))-1]
		got := h.quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.02 || diff < -0.02 {
			t.Errorf("q%.2f = %v, want %v", q, got, want)
		}
	}
	if h.quantile(1) != all[len(all)-1] || h.max != all[len(all)-1] {
		t.Errorf("max %v, want %v", h.max, all[len(all)-1])
	}
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1 << 20, 1<<40 + 12345, 1<<63 - 1} {
		b := histBucket(v)
		if b < 0 || b >= histBuckets {
			t.Fatalf("bucket(%d) = %d", v, b)
		}
		if mid := histMid(b); histBucket(mid) != b {
			t.Errorf("mid of bucket %d (%d) is in bucket %d", b, mid, histBucket(mid))
		}
	}
}
