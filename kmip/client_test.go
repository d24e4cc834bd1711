package kmip_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/ttlv"
)

func dialTimeout(t *testing.T, s *kmiptest.Server) *kmip.Client {
	t.Helper()
	c, err := kmip.DialTimeout(s.Addr, s.PKI.ClientTLS(t, "admin"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClient_DialTimeoutConnectionState(t *testing.T) {
	s := kmiptest.Start(t, kmiptest.MustPKI(t), &echoHandler{})
	c := dialTimeout(t, s)
	if c.Version != kmip.V2_0 {
		t.Errorf("Version = %v, want 2.0", c.Version)
	}
	cs := c.ConnectionState()
	if !cs.HandshakeComplete || cs.Version < tls.VersionTLS12 || len(cs.PeerCertificates) == 0 {
		t.Errorf("ConnectionState = complete %v, version %x, %d peer certificates", cs.HandshakeComplete, cs.Version, len(cs.PeerCertificates))
	}
	// Nothing listens on a closed port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := kmip.DialTimeout(addr, s.PKI.ClientTLS(t, "admin"), time.Second); err == nil {
		t.Error("DialTimeout to a closed port succeeded")
	}
}

func TestClient_Call(t *testing.T) {
	s := kmiptest.Start(t, kmiptest.MustPKI(t), &echoHandler{})
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_1} {
		c := dialTimeout(t, s)
		c.Version = ver
		for range 2 { // the second call reuses the buffers
			p, err := c.Call(kmip.OperationQuery, nil)
			if err != nil {
				t.Fatalf("%v: Call(Query): %v", ver, err)
			}
			if it, ok := p.Find(ttlv.TagVendorIdentification); !ok || string(it.Data) != "admin" {
				t.Errorf("%v: Query payload = %v, want the vendor identification admin", ver, p)
			}
		}
		_, err := c.Call(kmip.OperationGet, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "1") })
		// KMIP 1.x has no Object Not Found; the server says Item Not Found.
		want := kmip.ResultReasonObjectNotFound
		if !ver.V2() {
			want = kmip.ResultReasonItemNotFound
		}
		var ke *kmip.Error
		if !errors.As(err, &ke) || ke.Reason != want || ke.Message != "no such object" {
			t.Errorf("%v: Call(Get) error = %v, want %v: no such object", ver, err, want)
		}
	}
}

func TestClient_EncodeRequestExchange(t *testing.T) {
	s := kmiptest.Start(t, kmiptest.MustPKI(t), &echoHandler{})
	c := dialTimeout(t, s)
	c.Version = kmip.V1_2
	payload := func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "abc") }
	buf := make([]byte, 0, 512)
	req, err := c.EncodeRequest(buf, kmip.OperationActivate, payload)
	if err != nil {
		t.Fatal(err)
	}
	if &req[0] != &buf[:1][0] {
		t.Error("EncodeRequest did not build the message in buf")
	}
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V1_2, 1, nil)
	w.Item(kmip.OperationActivate, nil, payload)
	want, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(req, want) {
		t.Fatalf("EncodeRequest = %x, want %x", req, want)
	}

	p, size, err := c.Exchange(req)
	if err != nil {
		t.Fatal(err)
	}
	if it, ok := p.Find(ttlv.TagUniqueIdentifier); !ok || string(it.Data) != "1" {
		t.Errorf("Activate payload = %v, want the identifier 1", p)
	}
	// The size is that of the whole response message, which RoundTrip
	// returns as it is (the time stamp does not change the size).
	raw, err := c.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if size != len(raw) {
		t.Errorf("Exchange size = %d, want %d", size, len(raw))
	}

	// A request of two items gets two: not the one Exchange expects.
	w.Begin(nil, kmip.V1_2, 2, nil)
	w.Item(kmip.OperationQuery, []byte{1}, nil)
	w.Item(kmip.OperationQuery, []byte{2}, nil)
	two, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Exchange(two); !errors.Is(err, kmip.ErrNoBatchItem) {
		t.Errorf("Exchange of two items: error = %v, want ErrNoBatchItem", err)
	}
}

func TestClient_NetError(t *testing.T) {
	h := &echoHandler{release: make(chan struct{})}
	s := kmiptest.Start(t, kmiptest.MustPKI(t), h)
	t.Cleanup(func() { close(h.release) })

	// The server does not answer within the timeout.
	c := dialTimeout(t, s)
	c.Timeout = 100 * time.Millisecond
	_, err := c.Call(kmip.OperationQuery, nil)
	var ne *kmip.NetError
	if !errors.As(err, &ne) || !errors.Is(err, os.ErrDeadlineExceeded) || ne.Addr != s.Addr {
		t.Errorf("Call to a silent server: error = %v, want a NetError for %s wrapping the deadline", err, s.Addr)
	} else if want := s.Addr + ": "; ne.Error()[:len(want)] != want {
		t.Errorf("NetError = %q, want it to start with %q", ne.Error(), want)
	}

	// The connection is closed.
	c2 := dialTimeout(t, s)
	c2.Close()
	if _, err := c2.Call(kmip.OperationActivate, nil); !errors.As(err, &ne) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Call on a closed client: error = %v, want a NetError wrapping net.ErrClosed", err)
	}
}
