package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func testOptions(t *testing.T) Options {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "audit")
	return Options{Path: filepath.Join(dir, "audit.log"), KeyPath: filepath.Join(dir, "audit.key"), Sync: SyncNone, CheckpointPeriod: -1}
}

func openTrail(t *testing.T, o Options) *Trail {
	t.Helper()
	tr, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func opRecord(i int) *Record {
	return &Record{
		Time: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Kind: KindOp,
		Identity: "admin", Fingerprint: strings.Repeat("ab", 32), Remote: "127.0.0.1:4000", Version: "2.0",
		Operation: "Create", ResponseUIDs: []string{fmt.Sprintf("uid-%d", i)}, Status: "Success",
	}
}

// fillTrail writes n records into a new trail with the given checkpoint
// interval, closes it and returns its lines and key.
func fillTrail(t *testing.T, n, every int) (lines [][]byte, key []byte, o Options) {
	t.Helper()
	o = testOptions(t)
	o.CheckpointInterval = every
	tr := openTrail(t, o)
	for i := range n {
		if _, err := tr.Append(opRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	return readLines(t, o.Path), mustKey(t, o.KeyPath), o
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	return lines[:len(lines)-1]
}

func mustKey(t *testing.T, path string) []byte {
	t.Helper()
	k, err := ReadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeLines(t *testing.T, lines [][]byte) string {
	t.Helper()
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		if !bytes.HasSuffix(l, []byte("\n")) {
			b.WriteByte('\n')
		}
	}
	p := filepath.Join(t.TempDir(), "copy.log")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTrailWritesAVerifiableChain(t *testing.T) {
	lines, key, o := fillTrail(t, 12, 5)
	// open checkpoint, 5 records, checkpoint, 5 records, checkpoint, 2 records, close checkpoint
	if len(lines) != 16 {
		t.Fatalf("%d lines, want 16", len(lines))
	}
	rep, err := VerifyFile(o.Path, key)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 12 || rep.Checkpoints != 4 || !rep.Closed || rep.Unsigned != 0 || rep.LastSeq != 16 {
		t.Fatalf("report %+v", rep)
	}
	for i, l := range lines {
		var r Record
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		if r.Seq != uint64(i+1) {
			t.Fatalf("line %d has seq %d", i+1, r.Seq)
		}
	}
	if fi, err := os.Stat(o.Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("trail mode %v, %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(o.KeyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, %v", fi.Mode(), err)
	}

	// A second run continues the chain.
	tr := openTrail(t, o)
	if _, err := tr.Append(opRecord(99)); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	rep, err = VerifyFile(o.Path, key)
	if err != nil || rep.Records != 13 || rep.LastSeq != 19 || !rep.Closed {
		t.Fatalf("after a second run: %+v %v", rep, err)
	}
}

func TestRecordEscaping(t *testing.T) {
	o := testOptions(t)
	tr := openTrail(t, o)
	r := opRecord(0)
	r.Identity = "a\"b\\c\n\x00\xff\u2028é"
	r.RequestUID = "</script>"
	if _, err := tr.Append(r); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	lines := readLines(t, o.Path)
	var got Record
	if err := json.Unmarshal(lines[1], &got); err != nil {
		t.Fatalf("%v: %s", err, lines[1])
	}
	if got.Identity != "a\"b\\c\n\x00\ufffd\u2028é" || got.RequestUID != "</script>" {
		t.Fatalf("round trip: %q %q", got.Identity, got.RequestUID)
	}
	if _, err := VerifyFile(o.Path, mustKey(t, o.KeyPath)); err != nil {
		t.Fatal(err)
	}
}

// rechain recomputes the hashes of lines[from:] as an attacker without the
// key can, keeping the old MACs.
func rechain(t *testing.T, lines [][]byte, from int) {
	t.Helper()
	var prev [32]byte
	if from > 0 {
		p, err := splitLine(bytes.TrimSuffix(lines[from-1], []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		prev = p.hash
	}
	for i := from; i < len(lines); i++ {
		p, err := splitLine(bytes.TrimSuffix(lines[i], []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		k := bytes.LastIndex(p.canonical, []byte(`"prev_hash":"`))
		canon := append(append([]byte(nil), p.canonical[:k]...), `"prev_hash":"`+hex.EncodeToString(prev[:])+`"}`...)
		h := chainHash(&prev, canon)
		l := append(canon[:len(canon)-1:len(canon)-1], hashKey+hex.EncodeToString(h[:])+`"`...)
		if p.hasMAC {
			l = append(l, macKey+hex.EncodeToString(p.mac[:])+`"`...)
		}
		lines[i] = append(l, "}\n"...)
		prev = h
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	lines, key, _ := fillTrail(t, 12, 5) // records at lines 2-6, 8-12, 14-15
	clone := func() [][]byte {
		c := make([][]byte, len(lines))
		for i, l := range lines {
			c[i] = bytes.Clone(l)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		tamper   func(l [][]byte) [][]byte
		line     int    // first bad line; 0: ErrIncomplete
		contains string // in the error
	}{
		{"modified record", func(l [][]byte) [][]byte {
			l[3] = bytes.Replace(l[3], []byte(`"uid-2"`), []byte(`"uid-X"`), 1)
			return l
		}, 4, "modified"},
		{"modified record with its hash recomputed", func(l [][]byte) [][]byte {
			l[3] = bytes.Replace(l[3], []byte(`"Success"`), []byte(`"Failure"`), 1)
			rechain(t, l[:4], 3)
			return l
		}, 5, "prev_hash"},
		{"modified record with the chain recomputed", func(l [][]byte) [][]byte {
			l[3] = bytes.Replace(l[3], []byte(`"admin"`), []byte(`"eve"`), 1)
			rechain(t, l, 3)
			return l
		}, 7, "signature"},
		{"deleted record", func(l [][]byte) [][]byte { return append(l[:4], l[5:]...) }, 5, "deleted"},
		{"deleted first line", func(l [][]byte) [][]byte { return l[1:] }, 1, "beginning"},
		{"reordered records", func(l [][]byte) [][]byte { l[3], l[4] = l[4], l[3]; return l }, 4, "reordered"},
		{"inserted copy", func(l [][]byte) [][]byte {
			return append(l[:5], append([][]byte{l[4]}, l[5:]...)...)
		}, 6, "seq"},
		{"added field", func(l [][]byte) [][]byte {
			l[2] = bytes.Replace(l[2], []byte(`{"seq":3,`), []byte(`{"seq":3,"note":"x",`), 1)
			return l
		}, 3, ""},
		{"forged checkpoint signature", func(l [][]byte) [][]byte {
			i := bytes.Index(l[6], []byte(`"mac":"`)) + 7
			if l[6][i] == '0' {
				l[6][i] = '1'
			} else {
				l[6][i] = '0'
			}
			return l
		}, 7, "signature"},
		{"truncated tail", func(l [][]byte) [][]byte { return l[:len(l)-2] }, 0, "1 records after the last checkpoint (line 13)"},
		{"truncated to a checkpoint", func(l [][]byte) [][]byte { return l[:13] }, 0, "shutdown checkpoint"},
		{"torn last line", func(l [][]byte) [][]byte {
			l[len(l)-1] = l[len(l)-1][:20]
			return l
		}, 0, "shutdown checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.tamper(clone())
			var b bytes.Buffer
			for _, x := range l {
				b.Write(x)
			}
			if bytes.Equal(b.Bytes(), bytes.Join(lines, nil)) {
				t.Fatal("the tampering changed nothing")
			}
			p := filepath.Join(t.TempDir(), "t.log")
			if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := VerifyFile(p, key)
			if err == nil {
				t.Fatal("verify passed")
			}
			var le *LineError
			if tc.line == 0 {
				if !errors.Is(err, ErrIncomplete) {
					t.Fatalf("got %v, want ErrIncomplete", err)
				}
			} else if !errors.As(err, &le) || le.Line != tc.line {
				t.Fatalf("got %v, want an error at line %d", err, tc.line)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Fatalf("error %q does not mention %q", err, tc.contains)
			}
		})
	}
	// The untouched trail passes, and a wrong key fails at the first
	// checkpoint.
	p := writeLines(t, lines)
	if _, err := VerifyFile(p, key); err != nil {
		t.Fatal(err)
	}
	var le *LineError
	if _, err := VerifyFile(p, bytes.Repeat([]byte{1}, 32)); !errors.As(err, &le) || le.Line != 1 {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestVerifyWhileInUse(t *testing.T) {
	o := testOptions(t)
	tr := openTrail(t, o)
	for i := range 3 {
		tr.Append(opRecord(i))
	}
	key := mustKey(t, o.KeyPath)
	rep, err := VerifyFile(o.Path, key)
	if err != nil || !rep.InUse || rep.Unsigned != 3 || rep.Closed {
		t.Fatalf("open trail: %+v %v", rep, err)
	}
	if _, err := Open(o); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	tr.Close()
	rep, err = VerifyFile(o.Path, key)
	if err != nil || rep.InUse || !rep.Closed {
		t.Fatalf("closed trail: %+v %v", rep, err)
	}
}

// crash abandons a trail as a killed process would: no close checkpoint.
func crash(tr *Trail) {
	tr.closeOnce.Do(func() { close(tr.stop) })
	<-tr.done
	tr.mu.Lock()
	tr.closed = true
	tr.f.Close()
	tr.mu.Unlock()
}

func TestOpenAfterCrash(t *testing.T) {
	o := testOptions(t)
	tr := openTrail(t, o)
	for i := range 3 {
		tr.Append(opRecord(i))
	}
	crash(tr)
	key := mustKey(t, o.KeyPath)
	if _, err := VerifyFile(o.Path, key); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("after a crash: %v, want ErrIncomplete", err)
	}
	// A torn write.
	f, _ := os.OpenFile(o.Path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":5,"time":"2026`)
	f.Close()

	tr = openTrail(t, o)
	tr.Close()
	lines := readLines(t, o.Path)
	var open Record
	json.Unmarshal(lines[4], &open)
	if open.Event != EventOpen || !strings.Contains(open.Detail, "without a shutdown checkpoint") || !strings.Contains(open.Detail, "discarded 21 bytes") {
		t.Fatalf("open checkpoint after a crash: %+v", open)
	}
	if rep, err := VerifyFile(o.Path, key); err != nil || rep.Records != 3 {
		t.Fatalf("%+v %v", rep, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Run("corrupt last line", func(t *testing.T) {
		_, _, o := fillTrail(t, 2, 10)
		data, _ := os.ReadFile(o.Path)
		data[len(data)-10] ^= 1
		os.WriteFile(o.Path, data, 0o600)
		if _, err := Open(o); err == nil || !strings.Contains(err.Error(), "not intact") {
			t.Fatalf("Open: %v", err)
		}
	})
	t.Run("missing key", func(t *testing.T) {
		_, _, o := fillTrail(t, 2, 10)
		os.Remove(o.KeyPath)
		if _, err := Open(o); err == nil || !strings.Contains(err.Error(), "missing") {
			t.Fatalf("Open: %v", err)
		}
		if _, err := os.Stat(o.KeyPath); err == nil {
			t.Fatal("a new key was created for an existing trail")
		}
	})
	t.Run("bad sync mode", func(t *testing.T) {
		o := testOptions(t)
		o.Sync = "sometimes"
		if _, err := Open(o); err == nil {
			t.Fatal("Open accepted sync mode sometimes")
		}
	})
}

func setFailWrite(tr *Trail, f func(*os.File, []byte) (int, error)) {
	tr.fmu.Lock()
	tr.failWrite = f
	tr.fmu.Unlock()
}

// Ensure that while the file cannot be written the records wait in the
// ring (fail-open: recorded; fail-closed: refused, but kept), that once the
// ring is full they are lost and counted, and that the gap record says how
// many once the file can be written again.
func TestWriteFailures(t *testing.T) {
	for _, failClosed := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail_closed=%v", failClosed), func(t *testing.T) {
			o := testOptions(t)
			o.FailClosed, o.WALSize = failClosed, MinWALSize
			tr := openTrail(t, o)
			tr.Append(opRecord(0))
			setFailWrite(tr, func(*os.File, []byte) (int, error) { return 0, syscall.ENOSPC })
			held := 0
			if failClosed {
				// Each is refused, and is in the ring all the same.
				for held = 0; held < 3; held++ {
					if _, err := tr.Append(opRecord(1 + held)); !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("fail-closed Append with a full disk: %v", err)
					}
				}
			} else {
				// Recorded in the ring until it is full.
				for ; ; held++ {
					_, err := tr.Append(opRecord(1 + held))
					if err != nil {
						if !errors.Is(err, syscall.ENOSPC) {
							t.Fatalf("Append with a full disk: %v", err)
						}
						break
					}
					if held > MinWALSize/100 {
						t.Fatalf("%d records held in a ring of %d bytes", held, MinWALSize)
					}
				}
				if held < 100 {
					t.Fatalf("the ring held %d records, want it to hold many", held)
				}
			}
			lost := 0
			if !failClosed {
				lost = 1 // the Append that found the ring full
				for range 2 {
					if _, err := tr.Append(opRecord(999)); !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("Append with a full disk and a full ring: %v", err)
					}
					lost++
				}
			}
			// Check counts as one more refused operation.
			if err := tr.Check(); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Check with a full disk: %v", err)
			}
			lost++
			setFailWrite(tr, nil)
			if _, err := tr.Append(opRecord(9)); err != nil {
				t.Fatal(err)
			}
			tr.Close()
			if _, err := VerifyFile(o.Path, mustKey(t, o.KeyPath)); err != nil {
				t.Fatal(err)
			}
			lines := readLines(t, o.Path)
			// open, record 0, the held records, the gap, record 9, close.
			if len(lines) != 2+held+3 {
				t.Fatalf("%d lines, want %d", len(lines), 2+held+3)
			}
			for i := range held {
				var r Record
				json.Unmarshal(lines[2+i], &r)
				if want := fmt.Sprintf("uid-%d", 1+i); r.Kind != KindOp || len(r.ResponseUIDs) != 1 || r.ResponseUIDs[0] != want {
					t.Fatalf("line %d: %s, want the record of %s", 2+i, lines[2+i], want)
				}
			}
			var gap Record
			json.Unmarshal(lines[2+held], &gap)
			what := "not recorded"
			if failClosed {
				what = "refused or rolled back"
			}
			if gap.Kind != KindEvent || gap.Event != "gap" || !strings.HasPrefix(gap.Detail, fmt.Sprintf("%d operations were %s", lost, what)) {
				t.Fatalf("no gap record for %d: %s", lost, lines[2+held])
			}
		})
	}
}

// Ensure that a write cut short is taken back: the file keeps whole lines
// only, and the line is written whole once the file can be written.
func TestPartialWriteIsTakenBack(t *testing.T) {
	o := testOptions(t)
	tr := openTrail(t, o)
	tr.Append(opRecord(0))
	before := fileSize(t, o.Path)
	setFailWrite(tr, func(f *os.File, b []byte) (int, error) {
		n, _ := f.Write(b[:len(b)/2])
		return n, syscall.ENOSPC
	})
	if _, err := tr.Append(opRecord(1)); err != nil {
		t.Fatalf("fail-open Append: %v, want it held in the ring", err)
	}
	if got := fileSize(t, o.Path); got != before {
		t.Fatalf("file of %d bytes after a partial write, want %d", got, before)
	}
	if err := tr.Check(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Check: %v", err)
	}
	setFailWrite(tr, nil)
	if _, err := tr.Append(opRecord(2)); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if _, err := VerifyFile(o.Path, mustKey(t, o.KeyPath)); err != nil {
		t.Fatal(err)
	}
	if n := len(readLines(t, o.Path)); n != 6 { // open, 0, 1, gap (the Check), 2, close
		t.Fatalf("%d lines, want 6", n)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// Ensure that a trail file renamed or removed is followed by a new one
// that holds every record not yet written, and that a file put in its
// place is never written to.
func TestRemovedFileIsRecreated(t *testing.T) {
	o := testOptions(t)
	tr := openTrail(t, o)
	tr.Append(opRecord(0))
	if err := os.Rename(o.Path, o.Path+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Append(opRecord(1)); err != nil {
		t.Fatal(err)
	}
	// Replaced by someone else's file: never written to.
	tr2 := o.Path + ".2"
	os.Rename(o.Path, tr2)
	os.WriteFile(o.Path, []byte("not ours\n"), 0o600)
	if _, err := tr.Append(opRecord(2)); err != nil {
		t.Fatalf("Append to a replaced file: %v, want it held in the ring", err)
	}
	if err := tr.Check(); err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("Check with a replaced file: %v", err)
	}
	if data, _ := os.ReadFile(o.Path); string(data) != "not ours\n" {
		t.Fatalf("the replacing file was written to: %q", data)
	}
	// Removing the file in the way lets kmipd start a new one by itself.
	os.Remove(o.Path)
	deadline := time.Now().Add(10 * time.Second)
	for _, err := os.Stat(o.Path); err != nil; _, err = os.Stat(o.Path) {
		if time.Now().After(deadline) {
			t.Fatal("the trail file was not recreated once the file in its way was removed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Directory gone: cannot be written, the records wait in the ring.
	os.RemoveAll(filepath.Dir(o.Path) + "-x")
	if err := os.Rename(filepath.Dir(o.Path), filepath.Dir(o.Path)+"-x"); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Append(opRecord(3)); err != nil {
		t.Fatalf("Append with the directory gone: %v, want it held in the ring", err)
	}
	if err := tr.Check(); err == nil {
		t.Fatal("Check passed with the directory gone")
	}
	os.Rename(filepath.Dir(o.Path)+"-x", filepath.Dir(o.Path))
	if _, err := tr.Append(opRecord(4)); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	key := mustKey(t, o.KeyPath)
	if _, err := VerifyFile(o.Path+".1", key); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("the renamed file: %v, want ErrIncomplete (no close checkpoint)", err)
	}
	var le *LineError
	if _, err := VerifyFile(o.Path, key); !errors.As(err, &le) || le.Line != 1 || !strings.Contains(err.Error(), "continues") {
		t.Fatalf("the recreated file: %v", err)
	}
	// Read past the first line: the rest is intact.
	f, _ := os.Open(o.Path)
	defer f.Close()
	r := NewReader(f, key)
	var events []string
	for {
		rec, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil && r.Report().Lines > 1 {
			t.Fatalf("line %d: %v", r.Report().Lines, err)
		}
		events = append(events, rec.Kind+":"+rec.Event+strings.Join(rec.ResponseUIDs, ""))
	}
	// The records held while the directory was gone, each after the gap
	// record of the Check refused before it.
	if got, want := strings.Join(events, " "), "checkpoint:reopen event:gap op:uid-3 event:gap op:uid-4 checkpoint:close"; got != want {
		t.Fatalf("recreated file holds %s, want %s", got, want)
	}
	// The record put while another file was in the way is in the file it
	// was meant for (renamed away since).
	f2, _ := os.Open(tr2)
	defer f2.Close()
	r = NewReader(f2, key)
	events = nil
	for {
		rec, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil && r.Report().Lines > 1 {
			t.Fatalf("%s line %d: %v", tr2, r.Report().Lines, err)
		}
		events = append(events, rec.Kind+":"+rec.Event+strings.Join(rec.ResponseUIDs, ""))
	}
	if got, want := strings.Join(events, " "), "checkpoint:reopen op:uid-2"; got != want {
		t.Fatalf("%s holds %s, want %s", tr2, got, want)
	}
}

func TestConcurrentAppends(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncInterval, SyncNone} {
		t.Run(string(mode), func(t *testing.T) {
			o := testOptions(t)
			o.Sync, o.CheckpointInterval, o.SyncInterval = mode, 37, 5*time.Millisecond
			o.CheckpointPeriod = 10 * time.Millisecond
			tr := openTrail(t, o)
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 100 {
						if _, err := tr.Append(opRecord(g*1000 + i)); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			rep, err := VerifyFile(o.Path, mustKey(t, o.KeyPath))
			if err != nil || rep.Records != 800 {
				t.Fatalf("%+v %v", rep, err)
			}
		})
	}
}
