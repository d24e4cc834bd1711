package audit

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Ensure that requests waiting for room in the ring stop waiting when the
// flusher's write fails (fail-open: answered, their records counted lost),
// as newer requests do.
func TestWAL_WaitersHangWhenFlushFails(t *testing.T) {
	o := testOptions(t)
	o.WALSize, o.AnchorPeriod = MinWALSize, -1
	tr := openTrail(t, o)
	srv, session := auditedServer(tr)
	time.Sleep(50 * time.Millisecond)
	tr.fmu.Lock()
	var wg sync.WaitGroup
	var done atomic.Int32
	for i := 0; ringWaitsNow(tr) < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Handle(session(), getRequest(t, fmt.Sprintf("w-%d", i)))
			done.Add(1)
		}()
		time.Sleep(200 * time.Microsecond)
	}
	time.Sleep(50 * time.Millisecond)
	launched := 0
	tr.mu.Lock()
	waits := tr.ringWaits
	launched = int(tr.written.Load())
	tr.mu.Unlock()
	before := done.Load()
	tr.failWrite = func(*os.File, []byte) (int, error) { return 0, syscall.ENOSPC } // under fmu
	tr.fmu.Unlock()
	time.Sleep(time.Second)
	after := done.Load()
	t.Logf("%d waits, %d lines, %d answered before, %d after 1s of ENOSPC", waits, launched, before, after)
	tr.mu.Lock()
	ferr := tr.flushErr
	tr.mu.Unlock()
	if ferr == nil {
		t.Fatal("flush did not fail")
	}
	// A new request fails fast (fail-open: answered, record lost).
	start := time.Now()
	srv.Handle(session(), getRequest(t, "new"))
	t.Logf("a new request took %v", time.Since(start))
	if after == before {
		t.Errorf("requests waiting for room still blocked 1s after the flusher failed with %v", ferr)
	}
	setFailWrite(tr, nil)
	wg.Wait()
}
