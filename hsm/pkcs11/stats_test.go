//go:build cgo

package pkcs11

import (
	"bytes"
	"testing"
	"time"
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
	// Every session taken: the next operation must wait, and is counted.
	for i := 0; i < cap(b.sem); i++ {
		b.sem <- struct{}{}
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.Open(bg, "s", sealed, nil)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().PoolWaits == before.PoolWaits {
		if time.Now().After(deadline) {
			t.Fatal("no pool wait counted while every session was taken")
		}
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < cap(b.sem); i++ {
		<-b.sem
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
