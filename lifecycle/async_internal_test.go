package lifecycle

import (
	"testing"
	"time"
)

// A job forgotten while it still runs (Cancel) keeps its place in its
// owner's count until it ends, so cancelling cannot start more concurrent
// work than async.limit allows.
func TestAsyncJobs_CancelKeepsPlaceUntilEnd(t *testing.T) {
	var a asyncJobs
	a.jobs, a.count = map[string]*asyncJob{}, map[string]int{}
	running := &asyncJob{owner: "alice"}
	a.jobs["j1"] = running
	a.count["alice"] = 1
	a.drop("j1", running)
	if a.count["alice"] != 1 || a.jobs["j1"] != nil {
		t.Fatalf("after dropping a running job: count %d, job %v", a.count["alice"], a.jobs["j1"])
	}
	// What runAsync does when the job ends.
	running.ended = time.Now()
	if running.dropped {
		a.release(running.owner)
	}
	if a.count["alice"] != 0 {
		t.Fatalf("after the job ended: count %d", a.count["alice"])
	}
	ended := &asyncJob{owner: "bob", ended: time.Now()}
	a.jobs["j2"], a.count["bob"] = ended, 1
	a.drop("j2", ended)
	if a.count["bob"] != 0 || ended.dropped {
		t.Fatalf("after dropping an ended job: count %d dropped %v", a.count["bob"], ended.dropped)
	}
}
