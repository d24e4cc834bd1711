package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// metricValue returns the value of the first sample matching re in a
// Prometheus text exposition.
func metricValue(t *testing.T, body, re string) float64 {
	t.Helper()
	m := regexp.MustCompile(re + ` ([0-9.e+]+)`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// adminGet fetches path from the admin listener at addr and returns the
// status code and body, retrying for up to a second while the listener is
// not up yet (it starts with the server).
func adminGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	var resp *http.Response
	var err error
	for range 50 {
		if resp, err = http.Get("http://" + addr + path); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdmin_MetricsMoveAndHealth(t *testing.T) {
	dir := initDir(t)
	admin := freePort(t)
	p := startServer(t, dir, nil, "--addr", "127.0.0.1:0", "--admin-addr", admin)
	if code, _ := adminGet(t, admin, "/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, body := adminGet(t, admin, "/readyz"); code != 200 {
		t.Fatalf("/readyz %d: %s", code, body)
	}
	_, before := adminGet(t, admin, "/metrics")
	created := `kmipd_requests_total\{operation="Create",reason="",status="Success"\}`
	notFound := `kmipd_requests_total\{operation="Get",reason="ObjectNotFound",status="OperationFailed"\}`
	c := dialKMIP(t, dir, p.addr)
	for i := 0; i < 3; i++ {
		if _, err := createKey(c, "metrics-"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := getKey(c, "no-such-key"); !isKMIPError(err) {
		t.Fatalf("get unknown: %v", err)
	}
	// A client with no certificate fails its handshake.
	conn, err := tls.Dial("tcp", p.addr, &tls.Config{InsecureSkipVerify: true})
	if err == nil {
		conn.Read(make([]byte, 1))
		conn.Close()
	}
	time.Sleep(50 * time.Millisecond)
	_, after := adminGet(t, admin, "/metrics")
	if d := metricValue(t, after, created) - metricValue(t, before, created); d != 3 {
		t.Errorf("Create successes moved by %v, want 3\n%s", d, after)
	}
	if d := metricValue(t, after, notFound) - metricValue(t, before, notFound); d != 1 {
		t.Errorf("Get ObjectNotFound moved by %v, want 1", d)
	}
	if v := metricValue(t, after, `kmipd_connections_open`); v != 1 {
		t.Errorf("open connections %v, want 1", v)
	}
	if v := metricValue(t, after, `kmipd_tls_handshake_failures_total\{reason="[a-z_]+"\}`); v < 1 {
		t.Errorf("no handshake failure counted")
	}
	if v := metricValue(t, after, `kmipd_store_objects`); v != 3 {
		t.Errorf("store objects %v, want 3", v)
	}
	if !regexp.MustCompile(`(?m)^kmipd_audit_unsynced_records `).MatchString(after) {
		t.Error("no audit lag metric")
	}
	for _, m := range []string{`(?m)^kmipd_audit_ring_pending_bytes`, `(?m)^kmipd_audit_ring_waits_total`, `(?m)^kmipd_audit_file_write_failing`} {
		if v := metricValue(t, after, m); v != 0 {
			t.Errorf("%s %v, want 0 on an idle trail that can be written", m, v)
		}
	}
	if v := metricValue(t, after, `kmipd_request_duration_seconds_count\{operation="Create"\}`); v < 3 {
		t.Errorf("latency histogram count %v", v)
	}
}
