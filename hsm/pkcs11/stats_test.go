//go:build cgo

package pkcs11

import (
	"bytes"
	"sync"
	"testing"
)

// Stats count failed HSM calls and waits for a free session.
func TestStats(t *testing.T) {
	b := openTest(t, mainToken)
	before := b.Stats()
	sealed, err := b.Seal(bg, "s", []byte("some secret data"))
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1 // the GCM tag: C_Decrypt fails inside the HSM
	if _, err := b.Open(bg, "s", bad, nil); err == nil {
		t.Fatal("tampered blob opened")
	}
	if got := b.Stats().Errors; got <= before.Errors {
		t.Errorf("errors %d, want more than %d after a failed C_Decrypt", got, before.Errors)
	}
	// More goroutines than sessions: some must wait.
	var wg sync.WaitGroup
	for i := 0; i < 4*cap(b.sem); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if _, err := b.Open(bg, "s", sealed, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if b.Stats().PoolWaits == before.PoolWaits {
		t.Error("no pool wait counted with more goroutines than sessions")
	}
}
