//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kmipd/kmipd/hsm"
)

// With every session busy, an operation waits at most PoolWait and then
// fails with hsm.ErrBusy, or gives up sooner when its context ends; the
// backend stays usable once a session is free.
func TestPoolWait(t *testing.T) {
	needHSM(t)
	opts := testOptions(mainToken)
	opts.PoolSize, opts.PoolWait = 1, 150*time.Millisecond
	b, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	holding, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		_, err := b.try(bg, func(*op) error { close(holding); <-release; return nil })
		held <- err
	}()
	<-holding

	start := time.Now()
	_, err = b.GenerateSymmetric(bg, "busy", 32)
	if waited := time.Since(start); !errors.Is(err, hsm.ErrBusy) || waited < 150*time.Millisecond || waited > 5*time.Second {
		t.Errorf("with the pool busy: %v after %v, want hsm.ErrBusy after about 150ms", err, waited)
	}
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = b.GenerateSymmetric(ctx, "busy", 32)
	if waited := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || waited > 140*time.Millisecond {
		t.Errorf("with the pool busy and a 20ms context: %v after %v, want the context's deadline", err, waited)
	}

	close(release)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if _, err := b.GenerateSymmetric(bg, "free", 32); err != nil {
		t.Fatalf("after the session is free: %v", err)
	}
}
