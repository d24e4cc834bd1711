package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

func ringWaitsNow(tr *Trail) uint64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.ringWaits
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Ensure that requests waiting for room in a full ring when Close runs put
// no line after the close checkpoint (a waiter looks at closed again once
// woken), that the ring is empty after Close, and that nothing panics.
func TestWAL_CloseWhileWaitingForRoom(t *testing.T) {
	for _, mode := range []SyncMode{SyncNone, SyncAlways} {
		t.Run(string(mode), func(t *testing.T) { closeWhileWaitingForRoom(t, mode) })
	}
}

func closeWhileWaitingForRoom(t *testing.T, mode SyncMode) {
	o := testOptions(t)
	o.WALSize, o.AnchorPeriod, o.Sync = MinWALSize, -1, mode
	tr, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	srv, session := auditedServer(tr)
	time.Sleep(50 * time.Millisecond) // the loop has synced the open checkpoint
	tr.fmu.Lock()                     // a slow disk: the flusher cannot write
	var wg sync.WaitGroup
	var emu sync.Mutex
	var errs []error
	req := func(id string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := served(t, srv.Handle(session(), getRequest(t, id)), id); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		}()
	}
	// Fill the ring until one request waits for room.
	for i := 0; ringWaitsNow(tr) == 0; i++ {
		req(fmt.Sprintf("fill-%d", i))
		time.Sleep(200 * time.Microsecond)
	}
	time.Sleep(100 * time.Millisecond) // fill requests still in flight wait too
	w0 := ringWaitsNow(tr)
	closed := make(chan error, 1)
	go func() { closed <- tr.Close() }()
	waitFor(t, "Close to wait for room", func() bool { return ringWaitsNow(tr) == w0+1 })
	const late = 50
	for i := range late {
		req(fmt.Sprintf("late-%d", i))
	}
	waitFor(t, "late requests to wait", func() bool { return ringWaitsNow(tr) == w0+1+late })
	tr.fmu.Unlock()
	wg.Wait()
	if err := <-closed; err != nil {
		t.Logf("Close: %v", err)
	}
	lines := readLines(t, o.Path)
	var last Record
	json.Unmarshal(lines[len(lines)-1], &last)
	after := 0
	for i := len(lines) - 1; i >= 0; i-- {
		if bytes.Contains(lines[i], []byte(`"event":"close"`)) {
			break
		}
		after++
	}
	answered := 0
	for _, l := range lines {
		if bytes.Contains(l, []byte(`"late-`)) {
			answered++
		}
	}
	t.Logf("%d late requests recorded, %d errors", answered, len(errs))
	// Fail-open, a request whose record finds the trail closed is answered
	// unrecorded (as before the ring); none is recorded after the close
	// checkpoint, and none is left in the ring.
	if answered+len(errs) > late {
		t.Errorf("%d late requests recorded or refused, of %d", answered+len(errs), late)
	}
	if left, err := readWAL(WALPath(o.Path)); err != nil || len(left) != 0 {
		ls, _ := walLines(left)
		t.Errorf("ring after Close: %d bytes (%d lines), %v; want empty", len(left), len(ls), err)
	}
	if after > 0 {
		t.Errorf("%d lines after the close checkpoint (last: seq %d kind %s)", after, last.Seq, last.Kind)
	}
	if _, err := VerifyFile(o.Path, mustKey(t, o.KeyPath)); err != nil {
		t.Errorf("VerifyFile after Close: %v", err)
	}
}
