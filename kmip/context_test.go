package kmip_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/ttlv"
)

// waitHandler blocks each request until its context is done, as a handler
// waiting for a busy HSM session does, and reports the context's error.
type waitHandler struct {
	started chan struct{}
	ended   chan error
}

func (h *waitHandler) ServeKMIP(c *kmip.Call, w *ttlv.Builder) error {
	close(h.started)
	<-c.Context().Done()
	h.ended <- c.Context().Err()
	return c.Context().Err()
}

// Requests get a live context; when Shutdown's grace period ends, the
// context of a request still in flight is cancelled, so it stops waiting.
func TestServer_ShutdownCancelsRequestContext(t *testing.T) {
	p := kmiptest.MustPKI(t)
	h := &waitHandler{started: make(chan struct{}), ended: make(chan error, 1)}
	s := kmiptest.Start(t, p, h)
	c := s.Dial(t, "admin", kmip.V2_0)
	go c.Do(kmip.OperationQuery, nil)
	select {
	case <-h.started:
	case <-time.After(10 * time.Second):
		t.Fatal("request never reached the handler")
	}
	select {
	case err := <-h.ended:
		t.Fatalf("request context ended before any shutdown: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a request stuck: %v, want deadline exceeded", err)
	}
	select {
	case err := <-h.ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("request context error %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("request context not cancelled by Shutdown")
	}
}

// A Call built by hand has a usable context.
func TestCall_ContextDefault(t *testing.T) {
	var c kmip.Call
	if c.Context() == nil || c.Context().Err() != nil {
		t.Fatal("zero Call has no live context")
	}
}
