package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/audit/audittest"
	"github.com/kmipd/kmipd/internal/pki"
	"github.com/kmipd/kmipd/kmip"
)

// setAuditConfig edits DIR/kmipd.yaml: fail_closed, and lines added to the
// audit section (indented by four spaces, as init writes it).
func setAuditConfig(t *testing.T, dir string, failClosed bool, lines ...string) {
	t.Helper()
	p := filepath.Join(dir, "kmipd.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.Contains(s, "\naudit:\n") || !strings.Contains(s, "    fail_closed: false\n") {
		t.Fatalf("unexpected config layout:\n%s", s)
	}
	if failClosed {
		s = strings.Replace(s, "    fail_closed: false\n", "    fail_closed: true\n", 1)
	}
	var add strings.Builder
	for _, l := range lines {
		add.WriteString("    " + l + "\n")
	}
	s = strings.Replace(s, "\naudit:\n", "\naudit:\n"+add.String(), 1)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// trailLines returns the lines of DIR's audit trail.
func trailLines(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "audit", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// exerciseServer runs a few operations, one of them failing, and returns
// the failure.
func exerciseServer(t *testing.T, dir, addr string) error {
	t.Helper()
	c := dialKMIP(t, dir, addr)
	for _, name := range []string{"sink-a", "sink-b", "sink-c"} {
		id, err := createKey(c, name)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if _, err := getKey(c, id); err != nil {
			t.Fatalf("get: %v", err)
		}
	}
	_, err := getKey(c, "no-such-object")
	if !isKMIPError(err) {
		t.Fatalf("get of a missing object: %v, want a KMIP failure", err)
	}
	return err
}

// checkCopy requires the receiver to hold every line of the trail, in
// order, and `kmipd audit check-copy` to accept its copy.
func checkCopy(t *testing.T, dir string, r *audittest.Receiver) {
	t.Helper()
	if !r.WaitClosed(10 * time.Second) {
		t.Fatal("the sink's connection is still open after shutdown")
	}
	if errs := r.Errors(); len(errs) > 0 {
		t.Fatalf("receiver: %v", errs)
	}
	want := trailLines(t, dir)
	got := r.Messages()
	if len(got) != len(want) {
		t.Fatalf("the receiver got %d records, the trail has %d", len(got), len(want))
	}
	var cp strings.Builder
	for i := range want {
		if got[i].MSG != want[i] {
			t.Fatalf("record %d:\n got %s\nwant %s", i+1, got[i].MSG, want[i])
		}
		cp.WriteString(got[i].MSG + "\n")
	}
	if !strings.Contains(want[len(want)-1], `"event":"close"`) {
		t.Errorf("the trail does not end with the close checkpoint: %s", want[len(want)-1])
	}
	copyPath := filepath.Join(t.TempDir(), "siem.jsonl")
	if err := os.WriteFile(copyPath, []byte(cp.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI("audit", "check-copy", "--dir", dir, copyPath)
	if err != nil || !strings.Contains(out, "identical to the trail's") {
		t.Fatalf("audit check-copy: %v\n%s", err, out)
	}
	// A copy with a record left out shows the gap; an edited one fails.
	lines := strings.SplitAfter(cp.String(), "\n")
	gap := strings.Join(append(append([]string(nil), lines[:2]...), lines[3:]...), "")
	os.WriteFile(copyPath, []byte(gap), 0o600)
	if out, err := runCLI("audit", "check-copy", "--dir", dir, copyPath); err != nil || !strings.Contains(out, "missing from the copy: 1 records") {
		t.Errorf("check-copy of a copy without its third record: %v\n%s", err, out)
	}
	os.WriteFile(copyPath, []byte(strings.Replace(cp.String(), `"status":"Success"`, `"status":"Failure"`, 1)), 0o600)
	if out, err := runCLI("audit", "check-copy", "--dir", dir, copyPath); err == nil {
		t.Errorf("check-copy of an edited copy passed:\n%s", out)
	}
}

// Ensure that kmipd serve with a syslog sink delivers every audit record
// to a local syslog receiver, over TCP and over TLS with a client
// certificate.
func TestServe_AuditSyslogSink(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := "tcp"
		if useTLS {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			clearKMIPDEnv(t)
			dir := initDir(t)
			var r *audittest.Receiver
			lines := []string{"sinks:", "  - type: syslog"}
			if useTLS {
				b, err := pki.Generate(pki.Options{Hosts: []string{"127.0.0.1"}, ClientNames: []string{"kmipd"}})
				if err != nil {
					t.Fatal(err)
				}
				sinkPKI := filepath.Join(dir, "siem")
				os.Mkdir(sinkPKI, 0o700)
				for f, data := range map[string][]byte{"ca.crt": b.CACert, "kmipd.crt": b.Clients["kmipd"].Cert, "kmipd.key": b.Clients["kmipd"].Key} {
					if err := os.WriteFile(filepath.Join(sinkPKI, f), data, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(b.CACert)
				cert, err := tls.X509KeyPair(b.ServerCert, b.ServerKey)
				if err != nil {
					t.Fatal(err)
				}
				r = audittest.Syslog(t, &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
					ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})
				lines = append(lines, "    tls: {enabled: true, ca: siem/ca.crt, cert: siem/kmipd.crt, key: siem/kmipd.key}")
			} else {
				r = audittest.Syslog(t, nil)
			}
			lines = append(lines, "    address: "+r.Addr)
			setAuditConfig(t, dir, true, lines...)
			p := startServer(t, dir, nil)
			exerciseServer(t, dir, p.addr)
			p.stop(t)
			checkCopy(t, dir, r)
			m := r.Messages()[0]
			if m.AppName != "kmipd" || m.PRI != "110" {
				t.Errorf("syslog header %+v", m)
			}
		})
	}
}

// Ensure that kmipd serve with a JSON-lines sink on a unix socket delivers
// every audit record.
func TestServe_AuditJSONLSink(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	r := audittest.JSONL(t, "unix")
	setAuditConfig(t, dir, false, "sinks:", "  - {type: jsonl, network: unix, address: "+r.Addr+"}")
	p := startServer(t, dir, nil)
	exerciseServer(t, dir, p.addr)
	p.stop(t)
	checkCopy(t, dir, r)
}

// Ensure that, fail-closed, an operation whose record the sink cannot take
// is refused, and its record in the file superseded.
func TestServe_AuditSinkDownFailClosed(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	setAuditConfig(t, dir, true, "sinks:", "  - {type: syslog, address: "+freePort(t)+", timeout: 1s}")
	p := startServer(t, dir, nil)
	c := dialKMIP(t, dir, p.addr)
	_, err := createKey(c, "refused")
	var ke *kmip.Error
	if !errors.As(err, &ke) || ke.Reason != kmip.ResultReasonGeneralFailure || !strings.Contains(ke.Message, "audit trail unavailable") {
		t.Fatalf("create with the sink down: %v, want General Failure: audit trail unavailable", err)
	}
	p.stop(t)
	lines := trailLines(t, dir)
	var created, superseded bool
	for _, l := range lines {
		created = created || strings.Contains(l, `"operation":"Create"`) && strings.Contains(l, `"status":"Success"`) && !strings.Contains(l, "supersedes")
		superseded = superseded || strings.Contains(l, `"operation":"Create"`) && strings.Contains(l, `"supersedes":`)
	}
	if !created || !superseded {
		t.Errorf("trail: want the Create recorded and superseded:\n%s", strings.Join(lines, "\n"))
	}
	if !strings.Contains(p.stderr.String(), "audit sink unreachable") {
		t.Errorf("no log line about the sink:\n%s", p.stderr)
	}
}

// Ensure that, fail-open, operations succeed while the sink is down, and
// the records it could not take are counted and logged.
func TestServe_AuditSinkDownFailOpen(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	sinkAddr := freePort(t)
	setAuditConfig(t, dir, false, "sinks:", "  - {type: jsonl, address: "+sinkAddr+", queue: 2, timeout: 1s}")
	admin := freePort(t)
	p := startServer(t, dir, nil, "--addr", "127.0.0.1:0", "--admin-addr", admin)
	exerciseServer(t, dir, p.addr)
	_, metrics := adminGet(t, admin, "/metrics")
	if !regexp.MustCompile(`kmipd_audit_sink_dropped_total\{sink="jsonl:` + regexp.QuoteMeta(sinkAddr) + `"\} [1-9]`).MatchString(metrics) {
		t.Errorf("/metrics does not count the records not streamed:\n%s", metrics)
	}
	p.stop(t)
	logs := p.stderr.String()
	if !strings.Contains(logs, "audit sink: records not streamed") || !regexp.MustCompile(`"dropped_total":[1-9]`).MatchString(logs) {
		t.Errorf("no log line counting the records not streamed:\n%s", logs)
	}
}

// Ensure that a failed kmipctl call prints the server's request id, and
// that the id is in the server's log and in the audit trail.
func TestKmipctl_RequestIDInLogAndAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kmipctl")
	}
	clearKMIPDEnv(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command to build kmipctl")
	}
	ctl := filepath.Join(t.TempDir(), "kmipctl")
	if out, err := exec.Command(goBin, "build", "-o", ctl, "github.com/kmipd/kmipd/cmd/kmipctl").CombinedOutput(); err != nil {
		t.Fatalf("go build kmipctl: %v\n%s", err, out)
	}
	dir := initDir(t)
	p := startServer(t, dir, nil)
	pkiDir := filepath.Join(dir, "pki")
	cmd := exec.Command(ctl, "--server", p.addr, "--ca", filepath.Join(pkiDir, "ca.crt"),
		"--cert", filepath.Join(pkiDir, "client.crt"), "--key", filepath.Join(pkiDir, "client.key"), "get", "no-such-key")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("kmipctl get of a missing key succeeded: %s", out)
	}
	m := regexp.MustCompile(`\[request ([0-9a-f]{16}-[0-9]+)\]`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("kmipctl printed no request id: %s", out)
	}
	id := string(m[1])
	p.stop(t)
	if !strings.Contains(p.stderr.String(), `"request":"`+id+`"`) {
		t.Errorf("request %s is not in the server log:\n%s", id, p.stderr)
	}
	var found bool
	for _, l := range trailLines(t, dir) {
		found = found || strings.Contains(l, `"request":"`+id+`"`) && strings.Contains(l, `"operation":"Get"`)
	}
	if !found {
		t.Errorf("request %s is not in the audit trail", id)
	}
}

// Ensure that the commented audit.sinks example of the production config
// is valid once uncommented (its TLS files aside, which are the
// operator's).
func TestPackaging_ProductionConfigAuditSinksExample(t *testing.T) {
	data := readPackagingFile(t, packagingConfig)
	var out []string
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "  # sinks:":
			in = true
			out = append(out, "  sinks:")
		case in && strings.HasPrefix(line, "  #  "):
			out = append(out, "  "+line[4:])
		default:
			in = false
			out = append(out, line)
		}
	}
	cfg := loadPackagingConfig(t, []byte(strings.Join(out, "\n")))
	sinks := cfg.Audit.Sinks
	if len(sinks) != 2 || sinks[0].Type != "syslog" || !sinks[0].TLS.Enabled || sinks[0].TLS.CA == "" || sinks[1].Type != "jsonl" {
		t.Fatalf("audit.sinks = %+v, want the syslog-over-TLS and jsonl examples", sinks)
	}
	for i := range sinks {
		sinks[i].TLS.Enabled, sinks[i].TLS.CA, sinks[i].TLS.Cert, sinks[i].TLS.Key = false, "", "", ""
	}
	if _, err := auditSinks(cfg); err != nil {
		t.Errorf("audit.sinks example: %v", err)
	}
}
