package lifecycle_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
)

// stallingBackend is the real software backend whose Open, once armed,
// waits like a stuck HSM until the caller's context ends.
type stallingBackend struct {
	hsm.Backend
	armed  atomic.Bool
	gaveUp chan error
}

func (b *stallingBackend) Open(ctx context.Context, id string, blob, dst []byte) ([]byte, error) {
	if b.armed.Load() {
		<-ctx.Done()
		b.gaveUp <- ctx.Err()
		return nil, ctx.Err()
	}
	return b.Backend.Open(ctx, id, blob, dst)
}

// The request's context reaches the key backend: a Get stuck in the
// backend gives up when Shutdown's grace period ends.
func TestRequestContextReachesBackend(t *testing.T) {
	sb := &stallingBackend{gaveUp: make(chan error, 1)}
	le := lifecycletest.New(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) {
		sb.Backend = c.Backend
		c.Backend = sb
	}})
	srv := kmiptest.Start(t, kmiptest.MustPKI(t, "alice"), le.Service)
	c := srv.Dial(t, "alice", kmip.V2_0)
	id := create(t, c, "stalls")
	le.Service.ForgetCached()
	sb.armed.Store(true)
	go c.Do(kmip.OperationGet, byID(id))
	select {
	case err := <-sb.gaveUp:
		t.Fatalf("backend gave up before any shutdown: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	srv.Shutdown(ctx)
	select {
	case err := <-sb.gaveUp:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("backend's context ended with %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stuck backend call never saw its context end")
	}
}
