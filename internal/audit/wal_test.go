package audit

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// walCrashHelper runs in a child process (TestWAL_Kill9): it serves
// flushed Gets, then stalls the flusher and serves held more, whose lines
// only the ring has, says so on stdout and waits to be killed.
func walCrashHelper(t *testing.T, dir string, flushed, held int) {
	o := Options{Path: filepath.Join(dir, "audit.log"), KeyPath: filepath.Join(dir, "audit.key"), Sync: SyncInterval, CheckpointPeriod: -1}
	tr, err := Open(o)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	srv, session := auditedServer(tr)
	sess := session()
	get := func(id string) {
		if err := served(t, srv.Handle(sess, getRequest(t, id)), id); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
	}
	for i := range flushed {
		get(fmt.Sprintf("f-%d", i))
	}
	if _, _, _, err := tr.flush(); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	tr.fmu.Lock() // nothing more reaches the file
	for i := range held {
		get(fmt.Sprintf("h-%d", i))
	}
	fmt.Println("ready", tr.written.Load())
	time.Sleep(time.Minute)
}

func TestWAL_Kill9Helper(t *testing.T) {
	dir := os.Getenv("KMIPD_WAL_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestWAL_Kill9")
	}
	walCrashHelper(t, dir, 50, 300)
}

// Ensure that records only the write-ahead ring held when kmipd was killed
// (answered, not yet in the file) are in the trail after the next Open,
// once each and in order, and that the open checkpoint says so.
func TestWAL_Kill9(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWAL_Kill9Helper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "KMIPD_WAL_CRASH_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready ") {
		t.Fatalf("helper: %q %v", line, err)
	}
	lastSeq, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "ready ")), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	o := Options{Path: filepath.Join(dir, "audit.log"), KeyPath: filepath.Join(dir, "audit.key"), Sync: SyncInterval, CheckpointPeriod: -1}
	data, err := os.ReadFile(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"h-0"`) || strings.Count(string(data), "\n") >= int(lastSeq) {
		t.Fatalf("the file holds %d lines before the restart: want the held records only in the ring", strings.Count(string(data), "\n"))
	}
	if n, err := RingRecords(o.Path); err != nil || n < 300 {
		t.Fatalf("RingRecords: %d, %v; want the 300 held records at least", n, err)
	}
	tr, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := RingRecords(o.Path); err != nil || n != 0 {
		t.Fatalf("RingRecords after a clean Close: %d, %v", n, err)
	}
	seen := map[string]int{}
	var order []string
	for _, r := range trailRecords(t, o) {
		seen[r.RequestUID]++
		order = append(order, r.RequestUID)
	}
	for i := range 300 {
		if id := fmt.Sprintf("h-%d", i); seen[id] != 1 || order[50+i] != id {
			t.Fatalf("%s recorded %d times, at %d", id, seen[id], 50+i)
		}
	}
	if len(order) != 350 {
		t.Fatalf("%d records, want 350", len(order))
	}
	if !strings.Contains(string(mustRead(t, o.Path)), "appended 300 records the previous run had left in the write-ahead ring") {
		t.Fatal("the open checkpoint does not say that records were appended from the ring")
	}
}

// Ensure that a ring that does not continue the trail (its trail was moved
// aside) is not appended, but kept, and the open checkpoint says where.
func TestWAL_ForeignRingKeptAside(t *testing.T) {
	o := testOptions(t)
	tr := openTrail(t, o)
	tr.fmu.Lock()
	heldGets(t, tr, "x", 5)
	// A crash, as far as the files can tell: the ring's copy is what a
	// killed process leaves.
	ring, err := os.ReadFile(WALPath(o.Path))
	tr.fmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	os.Rename(o.Path, o.Path+".old")
	os.Rename(AnchorPath(o.Path), AnchorPath(o.Path)+".old")
	if err := os.WriteFile(WALPath(o.Path), ring, 0o600); err != nil {
		t.Fatal(err)
	}
	tr2, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	tr2.Close()
	if recs := trailRecords(t, o); len(recs) != 0 {
		t.Fatalf("%d records of another trail appended", len(recs))
	}
	kept, _ := filepath.Glob(WALPath(o.Path) + ".unreplayed-*")
	if len(kept) != 1 {
		t.Fatalf("kept: %v", kept)
	}
	data := string(mustRead(t, kept[0]))
	if strings.Count(data, "\n") != 5 || !strings.Contains(data, `"x-4"`) {
		t.Fatalf("%s holds %q, want the 5 lines of the ring", kept[0], data)
	}
	if !strings.Contains(string(mustRead(t, o.Path)), filepath.Base(kept[0])) {
		t.Fatal("the open checkpoint does not name the file that keeps the ring")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Ensure that a ring whose lines have the seqs of lines the trail already
// holds, but are not those lines (the trail was replaced by a longer one),
// is kept aside, not taken as already written.
func TestWAL_ForeignRingBehindTheTrail(t *testing.T) {
	o := testOptions(t)
	tr := openTrail(t, o)
	tr.fmu.Lock()
	heldGets(t, tr, "y", 5)
	ring, err := os.ReadFile(WALPath(o.Path))
	tr.fmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	os.Rename(o.Path, o.Path+".old")
	os.Rename(AnchorPath(o.Path), AnchorPath(o.Path)+".old")
	other, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		other.Append(opRecord(i))
	}
	other.Close()
	if err := os.WriteFile(WALPath(o.Path), ring, 0o600); err != nil {
		t.Fatal(err)
	}
	tr2, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	tr2.Close()
	kept, _ := filepath.Glob(WALPath(o.Path) + ".unreplayed-*")
	if len(kept) != 1 {
		t.Fatalf("kept: %v, want the ring kept aside", kept)
	}
	if data := string(mustRead(t, kept[0])); strings.Count(data, "\n") != 5 || !strings.Contains(data, `"y-4"`) {
		t.Fatalf("%s holds %q, want the 5 lines of the ring", kept[0], data)
	}
}

// heldGets serves n audited Gets of PREFIX-i; the caller holds tr.fmu, so
// their lines stay in the ring (it is released when a Get fails).
func heldGets(t *testing.T, tr *Trail, prefix string, n int) {
	t.Helper()
	srv, session := auditedServer(tr)
	for i := range n {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if err := served(t, srv.Handle(session(), getRequest(t, id)), id); err != nil {
			tr.fmu.Unlock()
			t.Fatal(err)
		}
	}
}
