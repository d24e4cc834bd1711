package audit

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Ensure that one loss makes one gap record, although writing the gap may
// let go of the trail's lock (to flush a full ring) and let other appenders
// in.
func TestWAL_GapWrittenTwice(t *testing.T) {
	o := testOptions(t)
	o.WALSize = MinWALSize
	tr := openTrail(t, o)
	setFailWrite(tr, func(*os.File, []byte) (int, error) { return 0, syscall.ENOSPC })
	for i := 0; ; i++ {
		if _, err := tr.Append(opRecord(i)); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// The disk has room again, and is slow.
	setFailWrite(tr, func(f *os.File, b []byte) (int, error) {
		time.Sleep(20 * time.Millisecond)
		return f.Write(b)
	})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr.Append(opRecord(1000 + i))
		}()
	}
	wg.Wait()
	setFailWrite(tr, nil)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	gaps := 0
	for _, l := range readLines(t, o.Path) {
		if bytes.Contains(l, []byte(`"event":"gap"`)) {
			gaps++
			t.Logf("%s", l[:min(len(l), 160)])
		}
	}
	if gaps != 1 {
		t.Errorf("%d gap records for one loss, want 1", gaps)
	}
}
