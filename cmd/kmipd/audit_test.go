package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// startAudited serves DIR in-process on a free port, after mutate has
// changed the loaded config.
func startAudited(t *testing.T, dir string, mutate func(*Config)) *inProcessServer {
	t.Helper()
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Log.Level, cfg.Log.Format = "127.0.0.1:0", "warn", "json"
	if mutate != nil {
		mutate(cfg)
	}
	return serveInProcess(t, cfg)
}

// exportRecords runs `kmipd audit export` and decodes its lines.
func exportRecords(t *testing.T, args ...string) []audit.Record {
	t.Helper()
	out, err := runCLI(append([]string{"audit", "export"}, args...)...)
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, out)
	}
	var recs []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("export line is not a record: %v: %s", err, line)
		}
		recs = append(recs, r)
	}
	return recs
}

// clientFingerprint is the SHA-256 of the dev client certificate, hex.
func clientFingerprint(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "pki", "client.crt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:])
}

func TestAuditRecordsOperationsOfARealServer(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	srv := startAudited(t, dir, nil)
	c := dialKMIP(t, dir, srv.addr)

	id, err := createKey(c, "audited-key")
	if err != nil {
		t.Fatal(err)
	}
	key, err := getKey(c, id)
	if err != nil || len(key) != 32 {
		t.Fatalf("Get: %v", err)
	}
	password := []byte("kmipd-audit-test correct horse battery staple 7c1e")
	pwID, err := registerSecretData(c, password, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, got, err := getMaterial(c, pwID); err != nil || !bytes.Equal(got, password) {
		t.Fatalf("Get of the secret: %q %v", got, err)
	}
	if _, err := getKey(c, "no-such-object"); !isKMIPError(err) {
		t.Fatalf("Get of an unknown object: %v", err)
	}

	// Verify while serving: intact, the tail not signed yet.
	out, err := runCLI("audit", "verify", "--dir", dir)
	if err != nil || !strings.Contains(out, "kmipd is running") {
		t.Fatalf("verify while serving: %v\n%s", err, out)
	}
	c.Close()
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI("audit", "verify", "--dir", dir)
	if err != nil || !strings.Contains(out, "every record is signed") {
		t.Fatalf("verify after shutdown: %v\n%s", err, out)
	}

	recs := exportRecords(t, "--dir", dir)
	var ops []string
	fp := clientFingerprint(t, dir)
	for _, r := range recs {
		ops = append(ops, r.Operation+":"+r.Status)
		if r.Kind != audit.KindOp {
			continue
		}
		if r.Identity != "admin" || r.Fingerprint != fp || !strings.HasPrefix(r.Remote, "127.0.0.1:") || r.Version != "2.0" || r.Time.IsZero() {
			t.Errorf("record without identity, fingerprint, address, version or time: %+v", r)
		}
	}
	want := "Create:Success Get:Success Register:Success Get:Success Get:OperationFailed"
	if got := strings.Join(ops, " "); got != want {
		t.Fatalf("records: %s\nwant:    %s", got, want)
	}
	if r := recs[0]; len(r.ResponseUIDs) != 1 || r.ResponseUIDs[0] != id {
		t.Errorf("Create record does not name the key: %+v", r)
	}
	if r := recs[1]; r.RequestUID != id || len(r.ResponseUIDs) != 1 || r.ResponseUIDs[0] != id {
		t.Errorf("Get record does not name the key: %+v", r)
	}
	if r := recs[4]; r.RequestUID != "no-such-object" || r.Reason == "" {
		t.Errorf("failed Get record: %+v", r)
	}
	if recs := exportRecords(t, "--dir", dir, "--since", time.Now().Add(time.Hour).Format(time.RFC3339)); len(recs) != 0 {
		t.Errorf("export --since the future: %d records", len(recs))
	}
	if recs := exportRecords(t, "--dir", dir, "--since", "1h", "--checkpoints"); len(recs) != 7 {
		t.Errorf("export --since 1h --checkpoints: %d lines, want 7", len(recs))
	}

	// No key material, in any encoding.
	data, err := os.ReadFile(filepath.Join(dir, "audit", "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	mk, _ := os.ReadFile(filepath.Join(dir, "master.key"))
	for what, secret := range map[string][]byte{"key": key, "secret data": password, "master key": mk} {
		if found := leaks(string(data), secret); len(found) > 0 {
			t.Errorf("the audit trail contains the %s (%s)", what, strings.Join(found, ", "))
		}
	}
	for _, p := range []string{"audit", "audit/audit.log", "audit/audit.key"} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v, mode %v: want private", p, err, fi.Mode())
		}
	}
}

func TestAuditVerifyCatchesTampering(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	srv := startAudited(t, dir, func(cfg *Config) { cfg.Audit.CheckpointInterval = 3 })
	c := dialKMIP(t, dir, srv.addr)
	for i := range 5 {
		if _, err := createKey(c, "tamper-"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	srv.stop()
	logPath, keyPath := filepath.Join(dir, "audit", "audit.log"), filepath.Join(dir, "audit", "audit.key")
	data, _ := os.ReadFile(logPath)
	// open, 3 creates, checkpoint, 2 creates, close
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 8 {
		t.Fatalf("%d lines:\n%s", len(lines), data)
	}
	verify := func(name string, ls []string) (string, error) {
		p := filepath.Join(t.TempDir(), "audit.log")
		text := strings.Join(ls, "")
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		if text == string(data) {
			t.Fatalf("%s: the tampering changed nothing", name)
		}
		os.WriteFile(p, []byte(text), 0o600)
		return runCLI("audit", "verify", "--file", p, "--key", keyPath)
	}
	clone := func() []string { return append([]string(nil), lines...) }
	for _, tc := range []struct {
		name string
		ls   []string
		want string
	}{
		{"modified", func() []string {
			l := clone()
			l[2] = strings.Replace(l[2], `"Success"`, `"OperationFailed"`, 1)
			return l
		}(), "line 3 (seq 3): the record does not match its hash"},
		{"deleted", func() []string { l := clone(); return append(l[:2], l[3:]...) }(), "line 3 (seq 4): seq 4 follows seq 2"},
		{"reordered", func() []string { l := clone(); l[2], l[3] = l[3], l[2]; return l }(), "line 3 (seq 4): seq 4 follows seq 2"},
		{"truncated tail", clone()[:7], "2 records after the last checkpoint (line 5) are unsigned"},
	} {
		out, err := verify(tc.name, tc.ls)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: verify gave %v\n%s\nwant an error containing %q", tc.name, err, out, tc.want)
		}
	}
	// The first bad line is printed.
	l := clone()
	l[2] = strings.Replace(l[2], `"admin"`, `"mallory"`, 1)
	if out, err := verify("identity", l); err == nil || !strings.Contains(out, `"mallory"`) {
		t.Errorf("verify does not show the bad line: %v\n%s", err, out)
	}
	// The intact original passes; export of a damaged trail exports it all
	// but fails.
	if out, err := runCLI("audit", "verify", "--file", logPath, "--key", keyPath); err != nil {
		t.Fatalf("original: %v\n%s", err, out)
	}
	p := filepath.Join(t.TempDir(), "audit.log")
	os.WriteFile(p, []byte(strings.Join(append(clone()[:2], clone()[3:]...), "")), 0o600)
	out, err := runCLI("audit", "export", "--file", p, "--key", keyPath)
	if err == nil || strings.Count(out, `"kind":"op"`) != 4 {
		t.Errorf("export of a trail with a deleted record: %v\n%s", err, out)
	}
}

func TestAuditFailClosedRefusesOperations(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	srv := startAudited(t, dir, func(cfg *Config) { cfg.Audit.FailClosed = true })
	c := dialKMIP(t, dir, srv.addr)
	first, err := createKey(c, "before")
	if err != nil {
		t.Fatal(err)
	}
	// The trail cannot be written: its directory is gone.
	if err := os.RemoveAll(filepath.Join(dir, "audit")); err != nil {
		t.Fatal(err)
	}
	var ke *kmip.Error
	if _, err := createKey(c, "refused"); !errors.As(err, &ke) || ke.Reason != kmip.ResultReasonGeneralFailure {
		t.Fatalf("Create without a trail: %v, want General Failure", err)
	}
	if _, err := getKey(c, first); !errors.As(err, &ke) || ke.Reason != kmip.ResultReasonGeneralFailure {
		t.Fatalf("Get without a trail: %v, want General Failure", err)
	}
	// Back: operations go on, in a new file continuing the chain.
	if err := os.MkdirAll(filepath.Join(dir, "audit"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := createKey(c, "after"); err != nil {
		t.Fatalf("Create once the trail is back: %v", err)
	}
	c.Close()
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "kmipd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := db.Stats().Objects
	db.Close()
	if n != 2 {
		t.Fatalf("store holds %d objects, want 2: the refused Create must leave nothing", n)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "audit", "audit.log"))
	if !bytes.Contains(data, []byte(`"event":"reopen"`)) || !bytes.Contains(data, []byte(`2 operations were refused`)) {
		t.Fatalf("new trail lacks the reopen checkpoint or the gap record:\n%s", data)
	}
}

// undoBatch sends Create(name) then Get(getID) as one request with Batch
// Error Continuation Undo and returns the response items.
func undoBatch(t *testing.T, c *kmip.Client, name string, get func(b *ttlv.Builder)) []kmip.ResponseItem {
	t.Helper()
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 2, &kmip.RequestOptions{BatchErrorContinuation: kmip.BatchErrorContinuationOptionUndo})
	w.Item(kmip.OperationCreate, []byte{1}, createPayload(name))
	w.Item(kmip.OperationGet, []byte{2}, get)
	req, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	var resp kmip.Response
	if err := resp.Parse(bytes.Clone(out), kmip.Limits{}); err != nil {
		t.Fatal(err)
	}
	return resp.Items
}

func TestAuditUndoBatchStillRollsBack(t *testing.T) {
	for _, failClosed := range []bool{false, true} {
		name := "fail-open"
		if failClosed {
			name = "fail-closed"
		}
		t.Run(name, func(t *testing.T) {
			clearKMIPDEnv(t)
			dir := initDir(t)
			srv := startAudited(t, dir, func(cfg *Config) { cfg.Audit.FailClosed = failClosed })
			c := dialKMIP(t, dir, srv.addr)
			items := undoBatch(t, c, "undone", byID("no-such-object"))
			if len(items) != 2 || items[0].Status != kmip.ResultStatusOperationUndone || items[1].Status != kmip.ResultStatusOperationFailed {
				t.Fatalf("undo batch: %+v", items)
			}
			items = undoBatch(t, c, "kept", nil) // Get of the ID Placeholder
			if items[0].Status != kmip.ResultStatusSuccess || items[1].Status != kmip.ResultStatusSuccess {
				t.Fatalf("good batch: %+v %+v", items[0].Err(), items[1].Err())
			}
			c.Close()
			srv.stop()
			db, err := store.Open(filepath.Join(dir, "kmipd.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			n := db.Stats().Objects
			db.Close()
			if n != 1 {
				t.Fatalf("store holds %d objects, want 1 (the undone Create rolled back)", n)
			}
			var got []string
			for _, r := range exportRecords(t, "--dir", dir) {
				got = append(got, r.Operation+":"+r.Status)
			}
			want := "Create:OperationUndone Get:OperationFailed Create:Success Get:Success"
			if strings.Join(got, " ") != want {
				t.Fatalf("records %v, want %s", got, want)
			}
		})
	}
}
