package kmip_test

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/pki"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/ttlv"
)

// echoHandler answers Query with a payload naming the caller and fails or
// panics on demand, recording what it saw.
type echoHandler struct {
	mu      sync.Mutex
	calls   []kmip.Operation
	release chan struct{} // when set, Query blocks until it is closed
}

func (h *echoHandler) ServeKMIP(c *kmip.Call, w *ttlv.Builder) error {
	h.mu.Lock()
	h.calls = append(h.calls, c.Item.Operation)
	rel := h.release
	h.mu.Unlock()
	switch c.Item.Operation {
	case kmip.OperationQuery:
		if rel != nil {
			<-rel
		}
		w.AddText(ttlv.TagVendorIdentification, c.Identity.Name)
		return nil
	case kmip.OperationActivate:
		w.AddText(ttlv.TagUniqueIdentifier, "1")
		return nil
	case kmip.OperationCheck:
		return kmip.Errorf(kmip.ResultReasonIncompatibleCryptographicUsageMask, "check failed")
	case kmip.OperationDestroy:
		panic("handler bug")
	case kmip.OperationLocate:
		for i := 0; i < 100; i++ {
			w.AddText(ttlv.TagUniqueIdentifier, "a-rather-long-unique-identifier-to-fill-the-response")
		}
		return nil
	case kmip.OperationGet:
		return kmip.Errorf(kmip.ResultReasonObjectNotFound, "no such object")
	}
	return kmip.Errorf(kmip.ResultReasonOperationNotSupported, "")
}

type txHandler struct {
	echoHandler
	committed, rolledBack atomic.Int32
}

func (h *txHandler) RunBatch(c *kmip.Call, fn func() error) error {
	if err := fn(); err != nil {
		h.rolledBack.Add(1)
		return err
	}
	h.committed.Add(1)
	return nil
}

func request(t *testing.T, ver kmip.Version, o *kmip.RequestOptions, ops ...kmip.Operation) []byte {
	t.Helper()
	var w kmip.RequestWriter
	w.Begin(nil, ver, len(ops), o)
	for i, op := range ops {
		var id []byte
		if len(ops) > 1 {
			id = []byte{byte(i + 1)}
		}
		w.Item(op, id, nil)
	}
	msg, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func roundTrip(t *testing.T, c *kmip.Client, msg []byte) *kmip.Response {
	t.Helper()
	out, err := c.RoundTrip(msg)
	if err != nil {
		t.Fatal(err)
	}
	var r kmip.Response
	if err := r.Parse(append([]byte(nil), out...), kmip.Limits{}); err != nil {
		t.Fatalf("response: %v", err)
	}
	return &r
}

// dialTLS opens a raw TLS connection to addr with cfg; the caller closes it.
func dialTLS(t *testing.T, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	nc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// withBadPadding returns a copy of the request msg with a non-zero byte in
// the padding of its Protocol Version Minor: a malformed message whose
// framing is intact.
func withBadPadding(msg []byte) []byte {
	bad := append([]byte(nil), msg...)
	// ProtocolVersionMinor value sits at 8 (msg) + 8 (header) + 8 (version) + 16 (major) + 8: its padding follows.
	bad[8+8+8+16+8+4] = 1
	return bad
}

// criticalExtensionRequest is a KMIP 2.0 Query request carrying a Message
// Extension, marked critical, that the server does not know.
func criticalExtensionRequest() []byte {
	var b ttlv.Builder
	b.Begin(ttlv.TagRequestMessage)
	b.Begin(ttlv.TagRequestHeader)
	b.Begin(ttlv.TagProtocolVersion)
	b.AddInt32(ttlv.TagProtocolVersionMajor, 2)
	b.AddInt32(ttlv.TagProtocolVersionMinor, 0)
	b.End()
	b.AddInt32(ttlv.TagBatchCount, 1)
	b.End()
	b.Begin(ttlv.TagBatchItem)
	b.AddEnum(ttlv.TagOperation, uint32(kmip.OperationQuery))
	b.Begin(ttlv.TagRequestPayload)
	b.End()
	b.Begin(ttlv.TagMessageExtension)
	b.AddText(ttlv.TagVendorIdentification, "acme")
	b.AddBool(ttlv.TagCriticalityIndicator, true)
	b.Begin(ttlv.TagVendorExtension)
	b.End()
	b.End()
	b.End()
	b.End()
	msg, _ := b.Bytes()
	return msg
}

func TestServer_AnswersInRequestVersionWithIdentity(t *testing.T) {
	p := kmiptest.MustPKI(t, "alice", "bob")
	s := kmiptest.Start(t, p, &echoHandler{})
	for _, ver := range []kmip.Version{kmip.V1_0, kmip.V1_2, kmip.V1_4, kmip.V2_0, kmip.V2_1} {
		for _, who := range []string{"alice", "bob"} {
			c := s.Dial(t, who, ver)
			r := roundTrip(t, c, request(t, ver, &kmip.RequestOptions{ClientCorrelationValue: "cc"}, kmip.OperationQuery))
			if r.Header.Version != ver {
				t.Errorf("%s: answered in %s", ver, r.Header.Version)
			}
			if d := time.Since(time.Unix(r.Header.TimeStamp, 0)); d < -time.Minute || d > time.Minute {
				t.Errorf("%s: time stamp off by %v", ver, d)
			}
			if want := ver.AtLeast(kmip.V1_4); (string(r.Header.ClientCorrelationValue) == "cc") != want {
				t.Errorf("%s: client correlation value %q", ver, r.Header.ClientCorrelationValue)
			}
			it := r.Items[0]
			if it.Status != kmip.ResultStatusSuccess || it.Operation != kmip.OperationQuery {
				t.Fatalf("%s: %+v", ver, it)
			}
			var name []byte
			if !it.Payload.ReadText(ttlv.TagVendorIdentification, &name) || string(name) != who {
				t.Errorf("%s: identity %q, want %q", ver, name, who)
			}
		}
	}
}

func TestServer_Errors(t *testing.T) {
	p := kmiptest.MustPKI(t)
	s := kmiptest.Start(t, p, &echoHandler{})
	c := s.Dial(t, "admin", kmip.V2_0)
	cases := []struct {
		name   string
		ver    kmip.Version
		ops    []kmip.Operation
		reason kmip.ResultReason
		wantV  kmip.Version
	}{
		{"unsupported version 3.0", kmip.Version{Major: 3}, []kmip.Operation{kmip.OperationQuery}, kmip.ResultReasonUnsupportedProtocolVersion, kmip.V2_1},
		{"unsupported version 1.5 answered in 1.4", kmip.Version{Major: 1, Minor: 5}, []kmip.Operation{kmip.OperationQuery}, kmip.ResultReasonInvalidMessage, kmip.V1_4},
		{"not-found at 2.0", kmip.V2_0, []kmip.Operation{kmip.OperationGet}, kmip.ResultReasonObjectNotFound, kmip.V2_0},
		{"not-found at 1.2 is item not found", kmip.V1_2, []kmip.Operation{kmip.OperationGet}, kmip.ResultReasonItemNotFound, kmip.V1_2},
		{"panic is general failure", kmip.V2_0, []kmip.Operation{kmip.OperationDestroy}, kmip.ResultReasonGeneralFailure, kmip.V2_0},
		{"2.1 operation at 2.0", kmip.V2_0, []kmip.Operation{kmip.OperationPing}, kmip.ResultReasonOperationNotSupported, kmip.V2_0},
		{"2.0 operation at 1.4", kmip.V1_4, []kmip.Operation{kmip.OperationLog}, kmip.ResultReasonOperationNotSupported, kmip.V1_4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := roundTrip(t, c, request(t, tc.ver, nil, tc.ops...))
			if r.Header.Version != tc.wantV {
				t.Errorf("answered in %s, want %s", r.Header.Version, tc.wantV)
			}
			it := r.Items[0]
			if it.Status != kmip.ResultStatusOperationFailed || it.Reason != tc.reason {
				t.Fatalf("got %s/%s (%s), want %s", it.Status, it.Reason, it.Message, tc.reason)
			}
		})
	}
	// The connection survives all of that.
	r := roundTrip(t, c, request(t, kmip.V2_0, nil, kmip.OperationQuery))
	if r.Items[0].Status != kmip.ResultStatusSuccess {
		t.Fatal("connection unusable after errors")
	}
}

func TestServer_BatchContinuation(t *testing.T) {
	p := kmiptest.MustPKI(t)
	h := &txHandler{}
	s := kmiptest.Start(t, p, h)
	c := s.Dial(t, "admin", kmip.V2_1)
	ops := []kmip.Operation{kmip.OperationActivate, kmip.OperationQuery, kmip.OperationCheck, kmip.OperationQuery}

	t.Run("undo", func(t *testing.T) {
		r := roundTrip(t, c, request(t, kmip.V2_1, &kmip.RequestOptions{BatchErrorContinuation: kmip.BatchErrorContinuationOptionUndo}, ops...))
		want := []kmip.ResultStatus{kmip.ResultStatusOperationUndone, kmip.ResultStatusOperationUndone, kmip.ResultStatusOperationFailed}
		checkStatuses(t, r, want)
		if r.Items[2].Reason != kmip.ResultReasonIncompatibleCryptographicUsageMask {
			t.Errorf("reason %s", r.Items[2].Reason)
		}
		// Undone items keep their payloads (BL-M-2-21).
		var uid []byte
		if !r.Items[0].Payload.ReadText(ttlv.TagUniqueIdentifier, &uid) || string(uid) != "1" {
			t.Errorf("undone item lost its payload")
		}
		if h.rolledBack.Load() != 1 || h.committed.Load() != 0 {
			t.Errorf("rolled back %d, committed %d", h.rolledBack.Load(), h.committed.Load())
		}
	})
	t.Run("stop", func(t *testing.T) {
		r := roundTrip(t, c, request(t, kmip.V2_1, &kmip.RequestOptions{BatchErrorContinuation: kmip.BatchErrorContinuationOptionStop}, ops...))
		checkStatuses(t, r, []kmip.ResultStatus{kmip.ResultStatusSuccess, kmip.ResultStatusSuccess, kmip.ResultStatusOperationFailed})
	})
	t.Run("continue", func(t *testing.T) {
		r := roundTrip(t, c, request(t, kmip.V2_1, &kmip.RequestOptions{BatchErrorContinuation: kmip.BatchErrorContinuationOptionContinue}, ops...))
		checkStatuses(t, r, []kmip.ResultStatus{kmip.ResultStatusSuccess, kmip.ResultStatusSuccess, kmip.ResultStatusOperationFailed, kmip.ResultStatusSuccess})
		for i, it := range r.Items {
			if it.ID[0] != byte(i+1) {
				t.Errorf("item %d: batch item id %x not echoed", i, it.ID)
			}
		}
	})
	t.Run("undo success commits", func(t *testing.T) {
		r := roundTrip(t, c, request(t, kmip.V2_1, &kmip.RequestOptions{BatchErrorContinuation: kmip.BatchErrorContinuationOptionUndo}, kmip.OperationQuery, kmip.OperationActivate))
		checkStatuses(t, r, []kmip.ResultStatus{kmip.ResultStatusSuccess, kmip.ResultStatusSuccess})
		if h.committed.Load() != 1 {
			t.Errorf("committed %d", h.committed.Load())
		}
	})
}

func checkStatuses(t *testing.T, r *kmip.Response, want []kmip.ResultStatus) {
	t.Helper()
	if len(r.Items) != len(want) || int(r.Header.BatchCount) != len(want) {
		t.Fatalf("%d items (batch count %d), want %d", len(r.Items), r.Header.BatchCount, len(want))
	}
	for i, it := range r.Items {
		if it.Status != want[i] {
			t.Errorf("item %d: %s, want %s", i, it.Status, want[i])
		}
	}
}

func TestServer_MaximumResponseSize(t *testing.T) {
	p := kmiptest.MustPKI(t)
	s := kmiptest.Start(t, p, &echoHandler{})
	c := s.Dial(t, "admin", kmip.V2_0)
	r := roundTrip(t, c, request(t, kmip.V2_0, &kmip.RequestOptions{MaxResponseSize: 256}, kmip.OperationLocate))
	if it := r.Items[0]; it.Status != kmip.ResultStatusOperationFailed || it.Reason != kmip.ResultReasonResponseTooLarge {
		t.Fatalf("got %s/%s", it.Status, it.Reason)
	}
	r = roundTrip(t, c, request(t, kmip.V2_0, &kmip.RequestOptions{MaxResponseSize: 1 << 20}, kmip.OperationLocate))
	if r.Items[0].Status != kmip.ResultStatusSuccess {
		t.Fatalf("got %s", r.Items[0].Status)
	}
}

func TestServer_CriticalExtensionRejectsMessage(t *testing.T) {
	p := kmiptest.MustPKI(t)
	s := kmiptest.Start(t, p, &echoHandler{})
	c := s.Dial(t, "admin", kmip.V2_0)
	r := roundTrip(t, c, criticalExtensionRequest())
	if it := r.Items[0]; it.Reason != kmip.ResultReasonUnknownMessageExtension {
		t.Fatalf("got %s/%s", it.Status, it.Reason)
	}
}

func TestServer_MalformedInput(t *testing.T) {
	p := kmiptest.MustPKI(t)
	s := kmiptest.Start(t, p, &echoHandler{}, func(s *kmip.Server) { s.MaxMessageSize = 4096 })
	hdr := func(tag uint32, typ byte, n uint32) []byte {
		b := []byte{byte(tag >> 16), byte(tag >> 8), byte(tag), typ, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[4:], n)
		return b
	}
	t.Run("bad padding answered with Invalid Message", func(t *testing.T) {
		c := s.Dial(t, "admin", kmip.V2_0)
		msg := request(t, kmip.V2_0, nil, kmip.OperationQuery)
		r := roundTrip(t, c, withBadPadding(msg))
		if it := r.Items[0]; it.Status != kmip.ResultStatusOperationFailed || it.Reason != kmip.ResultReasonInvalidMessage {
			t.Fatalf("got %s/%s", it.Status, it.Reason)
		}
		if r2 := roundTrip(t, c, msg); r2.Items[0].Status != kmip.ResultStatusSuccess {
			t.Fatal("connection unusable after a malformed message")
		}
	})
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"over the size limit", hdr(0x420078, 1, 1<<20)},
		{"2^31 length", hdr(0x420078, 1, 1<<31)},
		{"not a structure", append(hdr(0x420078, 2, 4), 0, 0, 0, 1, 0, 0, 0, 0)},
		{"garbage", []byte("\x00\x01garbage that is neither TTLV nor HTTP")},
	} {
		t.Run(tc.name+" closes the connection", func(t *testing.T) {
			conn := dialTLS(t, s.Addr, p.ClientTLS(t, "admin"))
			defer conn.Close()
			conn.Write(tc.msg)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := conn.Read(make([]byte, 64))
			if n != 0 || err == nil {
				t.Fatalf("read %d, %v; want the connection closed", n, err)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("connection left open")
			}
		})
	}
}

func TestServer_ClientCertificates(t *testing.T) {
	p := kmiptest.MustPKI(t)
	s := kmiptest.Start(t, p, &echoHandler{})
	try := func(cfg *tls.Config) error {
		c, err := kmip.Dial(s.Addr, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_, _, err = c.Do(kmip.OperationQuery, nil)
		return err
	}
	// A serverAuth-only client certificate (as vCenter sends) is accepted.
	kp, err := pki.IssueClient(p.Bundle.CACert, p.Bundle.CAKey, "vcenter", nil, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := try(kmiptest.ClientTLSFor(t, p.Pool, kp)); err != nil {
		t.Errorf("serverAuth-only client rejected: %v", err)
	}
	// A certificate without a subject CN has no identity: refused.
	if err := try(kmiptest.ClientTLSFor(t, p.Pool, issueNoCN(t, p))); err == nil {
		t.Error("client certificate without CN accepted")
	}
	// A certificate from another CA is refused.
	other := kmiptest.MustPKI(t, "mallory")
	cfg := kmiptest.ClientTLSFor(t, p.Pool, other.Bundle.Clients["mallory"])
	if err := try(cfg); err == nil {
		t.Error("client of another CA accepted")
	}
	// No certificate at all is refused.
	if err := try(&tls.Config{RootCAs: p.Pool, ServerName: "127.0.0.1"}); err == nil {
		t.Error("client without certificate accepted")
	}
	// TLS 1.1 is never negotiated.
	old := p.ClientTLS(t, "admin")
	old.MaxVersion = tls.VersionTLS11
	if err := try(old); err == nil {
		t.Error("TLS 1.1 accepted")
	}
}

func TestServer_IdleTimeoutAndConnLimit(t *testing.T) {
	p := kmiptest.MustPKI(t)
	s := kmiptest.Start(t, p, &echoHandler{}, func(s *kmip.Server) {
		s.IdleTimeout = 300 * time.Millisecond
		s.MaxConns = 1
	})
	c := s.Dial(t, "admin", kmip.V2_0)
	if _, _, err := c.Do(kmip.OperationQuery, nil); err != nil {
		t.Fatal(err)
	}
	// While c holds the only slot, a second connection is closed at once.
	c2, err := kmip.Dial(s.Addr, p.ClientTLS(t, "admin"))
	if err == nil {
		_, _, err = c2.Do(kmip.OperationQuery, nil)
		c2.Close()
	}
	if err == nil {
		t.Error("second connection served over MaxConns=1")
	}
	time.Sleep(700 * time.Millisecond)
	if _, _, err := c.Do(kmip.OperationQuery, nil); err == nil {
		t.Error("idle connection not closed")
	}
	// The slot is free again.
	c3 := s.Dial(t, "admin", kmip.V2_0)
	if _, _, err := c3.Do(kmip.OperationQuery, nil); err != nil {
		t.Errorf("after idle close: %v", err)
	}
}

func TestServer_ShutdownFinishesRequestsInFlight(t *testing.T) {
	p := kmiptest.MustPKI(t)
	h := &echoHandler{release: make(chan struct{})}
	s := kmiptest.Start(t, p, h)
	c := s.Dial(t, "admin", kmip.V2_0)
	got := make(chan error, 1)
	go func() {
		_, _, err := c.Do(kmip.OperationQuery, nil)
		got <- err
	}()
	for {
		h.mu.Lock()
		n := len(h.calls)
		h.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(t.Context()) }()
	time.Sleep(100 * time.Millisecond)
	close(h.release)
	if err := <-got; err != nil {
		t.Fatalf("request in flight failed: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if _, err := kmip.Dial(s.Addr, p.ClientTLS(t, "admin")); err == nil {
		t.Error("still accepting after shutdown")
	}
}

// The server reads a request split into many small writes.
func TestServer_FragmentedRequest(t *testing.T) {
	p := kmiptest.MustPKI(t)
	s := kmiptest.Start(t, p, &echoHandler{})
	conn := dialTLS(t, s.Addr, p.ClientTLS(t, "admin"))
	defer conn.Close()
	msg := request(t, kmip.V2_0, nil, kmip.OperationQuery)
	for i := 0; i < len(msg); i += 5 {
		conn.Write(msg[i:min(i+5, len(msg))])
		time.Sleep(time.Millisecond)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	out, err := ttlv.ReadMessage(conn, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var r kmip.Response
	if err := r.Parse(out, kmip.Limits{}); err != nil || r.Items[0].Status != kmip.ResultStatusSuccess {
		t.Fatalf("%v %+v", err, r.Items)
	}
}

// issueNoCN signs, with the test CA, a client certificate whose subject has
// no Common Name (only an Organization).
func issueNoCN(t *testing.T, p *kmiptest.PKI) pki.KeyPair {
	t.Helper()
	return issueCert(t, p, &x509.Certificate{
		SerialNumber: big.NewInt(99),
		Subject:      pkix.Name{Organization: []string{"no common name"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}
