package kmip_test

import (
	"errors"
	"io"
	"testing"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// A handler's *kmip.Pending becomes an Operation Pending item with the
// Asynchronous Correlation Value and no payload; it is no failure, so a
// batch that stops at the first failure goes on. The handler sees the
// Asynchronous Indicator of the header, a Boolean or KMIP 2.1's
// enumeration.
func TestPendingItem(t *testing.T) {
	var seen []bool
	h := kmip.HandlerFunc(func(c *kmip.Call, w *ttlv.Builder) error {
		seen = append(seen, c.Request.Header.AsynchronousIndicator)
		if c.Item.Operation == kmip.OperationLocate {
			return &kmip.Pending{CorrelationValue: []byte{7, 7}}
		}
		return nil
	})
	srv := &kmip.Server{Handler: h, Logger: zerolog.New(io.Discard)}
	sess := srv.NewSession(kmip.Identity{Name: "alice"}, nil)

	var rw kmip.RequestWriter
	rw.Begin(nil, kmip.V2_1, 2, &kmip.RequestOptions{AsynchronousIndicator: true})
	rw.Item(kmip.OperationLocate, []byte{1}, nil)
	rw.Item(kmip.OperationQuery, []byte{2}, nil)
	msg, err := rw.Finish()
	if err != nil {
		t.Fatal(err)
	}
	var resp kmip.Response
	if err := resp.Parse(srv.Handle(sess, msg), kmip.Limits{}); err != nil {
		t.Fatal(err)
	}
	if len(resp.Items) != 2 {
		t.Fatalf("%d items: %+v", len(resp.Items), resp.Items)
	}
	it := resp.Items[0]
	var p *kmip.Pending
	if it.Status != kmip.ResultStatusOperationPending || string(it.AsynchronousCorrelationValue) != "\x07\x07" ||
		it.Payload != nil || !errors.As(it.Err(), &p) {
		t.Errorf("pending item %+v", it)
	}
	if resp.Items[1].Status != kmip.ResultStatusSuccess {
		t.Errorf("second item %+v", resp.Items[1])
	}

	// KMIP 2.1's enumeration: Mandatory and Optional allow it, Prohibited not.
	for _, tc := range []struct {
		v    uint32
		want bool
	}{{1, true}, {2, true}, {3, false}} {
		var b ttlv.Builder
		b.Reset(nil, 0)
		b.Begin(ttlv.TagRequestMessage)
		b.Begin(ttlv.TagRequestHeader)
		b.Begin(ttlv.TagProtocolVersion)
		b.AddInt32(ttlv.TagProtocolVersionMajor, 2)
		b.AddInt32(ttlv.TagProtocolVersionMinor, 1)
		b.End()
		b.AddEnum(ttlv.TagAsynchronousIndicator, tc.v)
		b.AddInt32(ttlv.TagBatchCount, 1)
		b.End()
		b.Begin(ttlv.TagBatchItem)
		b.AddEnum(ttlv.TagOperation, uint32(kmip.OperationQuery))
		b.Begin(ttlv.TagRequestPayload)
		b.End()
		b.End()
		b.End()
		msg, _ := b.Bytes()
		seen = seen[:0]
		if err := resp.Parse(srv.Handle(sess, msg), kmip.Limits{}); err != nil || resp.Items[0].Status != kmip.ResultStatusSuccess {
			t.Fatalf("enumeration %d: %v %+v", tc.v, err, resp.Items)
		}
		if len(seen) != 1 || seen[0] != tc.want {
			t.Errorf("enumeration %d: indicator %v, want %v", tc.v, seen, tc.want)
		}
	}
}
