package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// cutTo truncates the trail at path after its first keep lines, as an
// attacker removing the tail at a record boundary would.
func cutTo(t *testing.T, path string, keep int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range keep {
		i := bytes.IndexByte(data[n:], '\n')
		if i < 0 {
			t.Fatalf("the trail has fewer than %d lines", keep)
		}
		n += i + 1
	}
	if err := os.Truncate(path, int64(n)); err != nil {
		t.Fatal(err)
	}
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// wantTruncated checks that Open refuses the trail, leaving it and its
// anchor as they are, and that VerifyFile fails, both naming missing.
func wantTruncated(t *testing.T, o Options, missing string) {
	t.Helper()
	before, anchorBefore := fileSum(t, o.Path), fileSum(t, AnchorPath(o.Path))
	tr, err := Open(o)
	if err == nil {
		tr.Close()
		t.Fatalf("Open continued a cut trail; want an error naming %q", missing)
	}
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "accept-truncation") {
		t.Fatalf("Open: %v\nwant ErrTruncated naming %q and the way out", err, missing)
	}
	if fileSum(t, o.Path) != before || fileSum(t, AnchorPath(o.Path)) != anchorBefore {
		t.Fatal("the refused Open changed the trail or its anchor")
	}
	_, err = VerifyFile(o.Path, mustKey(t, o.KeyPath))
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("VerifyFile: %v\nwant ErrTruncated naming %q", err, missing)
	}
}

func TestCutTailIsDetectedAfterRestart(t *testing.T) {
	// 250 records, a checkpoint every 100: open (seq 1), records 2-101,
	// checkpoint 102, records 103-202, checkpoint 203, records 204-253,
	// close 254.
	for _, tc := range []struct {
		name    string
		keep    int
		missing string
	}{
		{"several checkpoint intervals", 150, "records 151 to 254 are missing"},
		{"back to a signed checkpoint", 203, "records 204 to 254 are missing"},
		{"within the last checkpoint interval", 250, "records 251 to 254 are missing"},
		{"the shutdown checkpoint only", 253, "record 254 is missing"},
		{"everything", 0, "records 1 to 254 are missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines, _, o := fillTrail(t, 250, 100)
			if len(lines) != 254 {
				t.Fatalf("%d lines", len(lines))
			}
			cutTo(t, o.Path, tc.keep)
			wantTruncated(t, o, tc.missing)
		})
	}
	t.Run("file removed", func(t *testing.T) {
		_, _, o := fillTrail(t, 5, 100)
		os.Remove(o.Path)
		before := fileSum(t, AnchorPath(o.Path))
		if _, err := Open(o); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "records 1 to 7 are missing") {
			t.Fatalf("Open without the trail: %v", err)
		}
		if fileSum(t, AnchorPath(o.Path)) != before {
			t.Fatal("the anchor was replaced")
		}
	})
}

// Cutting back to the shutdown checkpoint of an earlier run leaves a
// trail that is complete by itself: only the anchor tells.
func TestCutBackToAnEarlierRun(t *testing.T) {
	lines, key, o := fillTrail(t, 10, 100) // open, 10 records, close: 12 lines
	tr := openTrail(t, o)
	for i := range 10 {
		tr.Append(opRecord(i))
	}
	tr.Close()
	cutTo(t, o.Path, len(lines))
	rep, err := Verify(bytes.NewReader(bytes.Join(lines, nil)), key)
	if err != nil || !rep.Closed {
		t.Fatalf("the first run's trail by itself: %+v %v", rep, err)
	}
	wantTruncated(t, o, "records 13 to 24 are missing")
}

// After a crash the records after the last checkpoint are signed by the
// next start, so the anchor follows the durable head between checkpoints.
func TestCutAfterCrashWithinCheckpointInterval(t *testing.T) {
	o := testOptions(t)
	o.Sync, o.CheckpointInterval, o.AnchorPeriod = SyncAlways, 100, 5*time.Millisecond
	tr := openTrail(t, o)
	for i := range 20 {
		if _, err := tr.Append(opRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	key := mustKey(t, o.KeyPath)
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := ReadAnchor(AnchorPath(o.Path), key)
		if err == nil && a.Seq == 21 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the anchor did not reach seq 21: %+v %v", a, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	crash(tr)
	cutTo(t, o.Path, 16)
	wantTruncated(t, o, "records 17 to 21 are missing")
}

// Only durable records are anchored: a power cut must not leave the trail
// shorter than its anchor.
func TestAnchorFollowsOnlyDurableRecords(t *testing.T) {
	o := testOptions(t)
	o.Sync, o.AnchorPeriod = SyncNone, 2*time.Millisecond
	tr := openTrail(t, o)
	time.Sleep(50 * time.Millisecond) // the open checkpoint's sync is done
	for i := range 5 {
		tr.Append(opRecord(i))
	}
	time.Sleep(50 * time.Millisecond)
	key := mustKey(t, o.KeyPath)
	if a, err := ReadAnchor(AnchorPath(o.Path), key); err != nil || a.Seq != 1 {
		t.Fatalf("with sync none and no checkpoint the anchor is %+v, %v: want the open checkpoint, seq 1", a, err)
	}
	tr.Close()
	if a, err := ReadAnchor(AnchorPath(o.Path), key); err != nil || a.Seq != 7 {
		t.Fatalf("after Close the anchor is %+v, %v: want seq 7", a, err)
	}
}

// A trail cut and rewritten up to the anchor's seq (the chain recomputed,
// as anyone can) has another record there.
func TestRewrittenTailIsDetected(t *testing.T) {
	lines, _, o := fillTrail(t, 20, 100) // open, 20 records, close: 22 lines
	forged := append([][]byte(nil), lines[:14]...)
	for seq := 15; seq <= 22; seq++ {
		l := bytes.Replace(lines[1], []byte(`{"seq":2,`), fmt.Appendf(nil, `{"seq":%d,`, seq), 1)
		forged = append(forged, bytes.Replace(l, []byte("uid-0"), []byte("uid-forged"), 1))
	}
	rechain(t, forged, 14)
	if err := os.WriteFile(o.Path, bytes.Join(forged, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	wantTruncated(t, o, "the record at seq 22 is not the one anchored")
}

func TestAnchorRemovedOrForged(t *testing.T) {
	t.Run("removed", func(t *testing.T) {
		_, key, o := fillTrail(t, 5, 100)
		cutTo(t, o.Path, 3)
		os.Remove(AnchorPath(o.Path))
		if _, err := Open(o); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "is missing although the trail was anchored") {
			t.Fatalf("Open: %v", err)
		}
		if _, err := VerifyAnchored(o.Path, AnchorPath(o.Path), true, key); !errors.Is(err, ErrTruncated) {
			t.Fatalf("VerifyAnchored, anchor required: %v", err)
		}
	})
	t.Run("forged", func(t *testing.T) {
		_, _, o := fillTrail(t, 5, 100)
		cutTo(t, o.Path, 3)
		// Moved back to the cut without the key: the MAC no longer holds.
		p := AnchorPath(o.Path)
		data, _ := os.ReadFile(p)
		os.WriteFile(p, bytes.Replace(data, []byte(`"seq":7,`), []byte(`"seq":3,`), 1), 0o600)
		if _, err := Open(o); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "does not verify") {
			t.Fatalf("Open: %v", err)
		}
	})
}

func TestAcceptTruncation(t *testing.T) {
	_, key, o := fillTrail(t, 10, 100) // 12 lines
	accept := o
	accept.AcceptTruncation = "local operator"
	if _, err := Open(accept); !errors.Is(err, ErrNotTruncated) {
		t.Fatalf("accepting an intact trail: %v", err)
	}
	cutTo(t, o.Path, 8)
	tr, err := Open(accept)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tr.Truncation(), "records 9 to 12 are missing") {
		t.Fatalf("accepted %q", tr.Truncation())
	}
	tr.Close()
	lines := readLines(t, o.Path)
	if !bytes.Contains(lines[8], []byte(`"kind":"event","identity":"local operator","event":"truncation","detail":"truncation accepted by the operator: `)) ||
		!bytes.Contains(lines[8], []byte("records 9 to 12 are missing")) {
		t.Fatalf("line 9: %s", lines[8])
	}
	rep, err := VerifyFile(o.Path, key)
	if err != nil || len(rep.Truncations) != 1 || rep.Anchor == nil || rep.Anchor.Seq != rep.LastSeq {
		t.Fatalf("verify after acceptance: %+v %v", rep, err)
	}
	// The trail goes on normally.
	tr = openTrail(t, o)
	tr.Append(opRecord(1))
	tr.Close()
	if _, err := VerifyFile(o.Path, key); err != nil {
		t.Fatal(err)
	}
}

// resign recomputes the chain and the checkpoint MACs of lines with the
// key: a trail as an earlier kmipd (without anchors) wrote it.
func resign(t *testing.T, lines [][]byte, key []byte) {
	t.Helper()
	rechain(t, lines, 0)
	for i, l := range lines {
		p, err := splitLine(bytes.TrimSuffix(l, []byte("\n")))
		if err != nil {
			t.Fatal(err)
		}
		if p.hasMAC {
			m := hmac.New(sha256.New, key)
			m.Write([]byte("kmipd audit checkpoint v1\x00"))
			m.Write(p.hash[:])
			k := bytes.LastIndex(l, []byte(macKey))
			lines[i] = append(l[:k:k], macKey+hex.EncodeToString(m.Sum(nil))+"\"}\n"...)
		}
	}
}

func TestTrailFromBeforeAnchorsIsAdopted(t *testing.T) {
	lines, key, o := fillTrail(t, 3, 100)
	if !bytes.Contains(lines[0], anchorMarker) {
		t.Fatalf("a new trail's open checkpoint does not say it created the anchor: %s", lines[0])
	}
	i := bytes.Index(lines[0], []byte(`,"detail":`))
	j := bytes.Index(lines[0], []byte(`,"prev_hash"`))
	lines[0] = append(append([]byte(nil), lines[0][:i]...), lines[0][j:]...)
	resign(t, lines, key)
	os.WriteFile(o.Path, bytes.Join(lines, nil), 0o600)
	os.Remove(AnchorPath(o.Path))
	if _, err := VerifyAnchored(o.Path, AnchorPath(o.Path), true, key); err != nil {
		t.Fatalf("a trail from before anchors: %v", err)
	}
	tr := openTrail(t, o)
	tr.Close()
	lines = readLines(t, o.Path)
	if !bytes.Contains(lines[5], anchorMarker) {
		t.Fatalf("the adopting open checkpoint: %s", lines[5])
	}
	if rep, err := VerifyAnchored(o.Path, AnchorPath(o.Path), true, key); err != nil || rep.Anchor == nil || rep.Anchor.Seq != 7 {
		t.Fatalf("%+v %v", rep, err)
	}
}

func TestAnchorAfterReopen(t *testing.T) {
	o := testOptions(t)
	tr := openTrail(t, o)
	tr.Append(opRecord(0))
	os.Rename(o.Path, o.Path+".1")
	tr.Append(opRecord(1))
	tr.Close()
	// An anchor left behind in the old file (a crash before it moved on)
	// is passed by the recreated file's signed reopen checkpoint.
	key := mustKey(t, o.KeyPath)
	p, err := splitLine(bytes.TrimSuffix(readLines(t, o.Path+".1")[0], []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAnchor(AnchorPath(o.Path), key, &Anchor{Seq: 1, Hash: p.hash, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tr = openTrail(t, o)
	tr.Close()
	// The anchor follows the recreated file, which starts at seq 3.
	if a, err := ReadAnchor(AnchorPath(o.Path), key); err != nil || a.Seq != 7 {
		t.Fatalf("anchor %+v %v", a, err)
	}
	os.Remove(o.Path)
	if _, err := Open(o); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Open after removing the recreated file: %v", err)
	}
}

func TestPost(t *testing.T) {
	o := testOptions(t)
	tr := openTrail(t, o)
	tr.OnClose(func() {
		if !tr.Post(&Record{Kind: KindEvent, Event: "last"}) {
			t.Error("Post in an OnClose hook failed")
		}
	})
	for i := range 3 {
		if !tr.Post(opRecord(i)) {
			t.Fatal("Post failed")
		}
	}
	tr.Close()
	if tr.Post(opRecord(9)) {
		t.Fatal("Post after Close succeeded")
	}
	rep, err := VerifyFile(o.Path, mustKey(t, o.KeyPath))
	if err != nil || rep.Records != 4 {
		t.Fatalf("%+v %v", rep, err)
	}
	lines := readLines(t, o.Path)
	if !bytes.Contains(lines[4], []byte(`"event":"last"`)) || !bytes.Contains(lines[5], []byte(`"event":"close"`)) {
		t.Fatalf("the hook's record is not just before the close checkpoint:\n%s", bytes.Join(lines, nil))
	}
}

// A trail started again after its file was removed stays anchored: losing
// its anchor later is not taken for a trail from before anchors.
func TestAcceptTruncationOfARemovedTrail(t *testing.T) {
	_, key, o := fillTrail(t, 3, 100)
	os.Remove(o.Path)
	accept := o
	accept.AcceptTruncation = "local operator"
	tr, err := Open(accept)
	if err != nil || !strings.Contains(tr.Truncation(), "records 1 to 5 are missing") {
		t.Fatalf("Open: %v", err)
	}
	tr.Close()
	if _, err := VerifyFile(o.Path, key); err != nil {
		t.Fatal(err)
	}
	os.Remove(AnchorPath(o.Path))
	if _, err := Open(o); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Open without the anchor: %v", err)
	}
}

// A trail replaced by a forged one that starts after the anchored seq (so
// there is no record to compare) is refused too: only kmipd's own signed
// reopen checkpoint may start a file there.
func TestForgedTrailStartingAfterTheAnchor(t *testing.T) {
	lines, _, o := fillTrail(t, 3, 100) // open, 3 records, close: anchor at seq 5
	var forged [][]byte
	for seq := 9; seq <= 12; seq++ {
		forged = append(forged, bytes.Replace(lines[1], []byte(`{"seq":2,`), fmt.Appendf(nil, `{"seq":%d,`, seq), 1))
	}
	rechain(t, forged, 0)
	if err := os.WriteFile(o.Path, bytes.Join(forged, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	before := fileSum(t, o.Path)
	_, err := Open(o)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "without a signed reopen checkpoint") {
		t.Fatalf("Open of a forged trail: %v", err)
	}
	if fileSum(t, o.Path) != before {
		t.Fatal("the refused Open changed the trail")
	}
	accept := o
	accept.AcceptTruncation = "local operator"
	tr, err := Open(accept)
	if err != nil || !strings.Contains(tr.Truncation(), "were replaced") {
		t.Fatalf("accepting it: %v", err)
	}
	tr.Close()
}
