package lifecycle_test

import (
	"sync"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Readers racing a writer never see a state older than one they saw
// before, and see the final state once the writer is done: the object cache
// stays coherent with the store.
func TestService_CacheCoherentUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	w := e.srv.Dial(t, "alice", kmip.V2_0)
	const keys = 8
	ids := make([]string, keys)
	for i := range ids {
		ids[i] = create(t, w, "")
	}
	rank := map[kmip.State]int{kmip.StatePreActive: 0, kmip.StateActive: 1, kmip.StateDeactivated: 2, kmip.StateDestroyed: 3}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := 0; r < 3; r++ {
		c := e.srv.Dial(t, "alice", kmip.V2_0)
		wg.Add(1)
		go func() {
			defer wg.Done()
			seen := make([]int, keys)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i, id := range ids {
					_, it, err := c.Do(kmip.OperationGetAttributes, func(b *ttlv.Builder) {
						b.AddText(ttlv.TagUniqueIdentifier, id)
						b.AddEnum(ttlv.TagAttributeReference, uint32(ttlv.TagState))
					})
					if err != nil {
						t.Error(err)
						return
					}
					st, ok := findPath(it.Payload, ttlv.TagAttributes, ttlv.TagState)
					if !ok {
						t.Errorf("no state: %s", ttlv.Format(it.Payload))
						return
					}
					r := rank[kmip.State(st.Uint32())]
					if r < seen[i] {
						t.Errorf("key %d went back from rank %d to %d", i, seen[i], r)
						return
					}
					seen[i] = r
				}
			}
		}()
	}
	revoke := func(id string) func(b *ttlv.Builder) {
		return func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			b.Begin(ttlv.TagRevocationReason)
			b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeCessationOfOperation))
			b.End()
		}
	}
	for _, id := range ids {
		for _, step := range []struct {
			op kmip.Operation
			p  func(b *ttlv.Builder)
		}{{kmip.OperationActivate, byID(id)}, {kmip.OperationRevoke, revoke(id)}, {kmip.OperationDestroy, byID(id)}} {
			if _, err := do(t, w, step.op, step.p); err != nil {
				t.Fatalf("%s: %v", step.op, err)
			}
		}
	}
	close(stop)
	wg.Wait()
	for _, id := range ids {
		if st := kmip.State(attrsOf(t, w, id)[ttlv.TagState].Uint32()); st != kmip.StateDestroyed {
			t.Errorf("%s ends %s", id, st)
		}
		_, err := do(t, w, kmip.OperationGet, byID(id))
		wantReason(t, err, kmip.ResultReasonObjectDestroyed)
	}
}
