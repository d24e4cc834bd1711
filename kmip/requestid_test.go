package kmip_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// TestRequestID_FailedItem checks that every request message gets its own
// id, that a failed item's Result Message ends with it, that the client
// takes it off the message into Error.RequestID, and that the server's log
// line about the failure names it.
func TestRequestID_FailedItem(t *testing.T) {
	var logs bytes.Buffer
	var seen []kmip.RequestID
	srv := &kmip.Server{
		Logger: zerolog.New(&logs),
		Handler: kmip.HandlerFunc(func(c *kmip.Call, w *ttlv.Builder) error {
			seen = append(seen, c.RequestID)
			return kmip.Errorf(kmip.ResultReasonItemNotFound, "no such object")
		}),
	}
	sess := srv.NewSession(kmip.Identity{Name: "alice"}, nil)
	msg := ttMsg(ttHeader(kmip.V1_4, ttCount(1)), ttItem(kmip.OperationGet, "a", ttUID("1")))
	var ids []string
	for range 3 {
		var r kmip.Response
		if err := r.Parse(srv.Handle(sess, msg), kmip.Limits{}); err != nil {
			t.Fatal(err)
		}
		if len(r.Items) != 1 {
			t.Fatalf("%d items", len(r.Items))
		}
		text, id := kmip.SplitRequestID(string(r.Items[0].Message))
		if text != "no such object" || id == "" {
			t.Fatalf("Result Message %q: want \"no such object (request ID)\"", r.Items[0].Message)
		}
		ke, ok := r.Items[0].Err().(*kmip.Error)
		if !ok || ke.Message != "no such object" || ke.RequestID != id {
			t.Fatalf("Err() = %#v, want message without id and RequestID %s", r.Items[0].Err(), id)
		}
		ids = append(ids, id)
	}
	if len(seen) != 3 {
		t.Fatalf("handler saw %d calls", len(seen))
	}
	for i, id := range ids {
		if seen[i].String() != id {
			t.Errorf("call %d: Call.RequestID %s, answered %s", i, seen[i], id)
		}
		if i > 0 && (id == ids[i-1] || seen[i].Prefix != seen[0].Prefix || seen[i].N != seen[i-1].N+1) {
			t.Errorf("ids %v: want one prefix and consecutive counters", ids)
		}
		if !strings.Contains(logs.String(), `"request":"`+id+`"`) {
			t.Errorf("no log line names request %s:\n%s", id, logs.String())
		}
	}
}

func TestSplitRequestID(t *testing.T) {
	id := kmip.RequestID{Prefix: 0x4f2a91c3d05e7b12, N: 17}
	if s := id.String(); s != "4f2a91c3d05e7b12-17" {
		t.Fatalf("String() = %q", s)
	}
	for _, c := range []struct{ msg, text, id string }{
		{"no such object (request 4f2a91c3d05e7b12-17)", "no such object", "4f2a91c3d05e7b12-17"},
		{"(request 4f2a91c3d05e7b12-1)", "", "4f2a91c3d05e7b12-1"},
		{"no such object", "no such object", ""},
		{"bad (request x)", "bad (request x)", ""},
		{"bad (request 4f2a91c3d05e7b1-17)", "bad (request 4f2a91c3d05e7b1-17)", ""},
		{"bad (request 4f2a91c3d05e7b12-)", "bad (request 4f2a91c3d05e7b12-)", ""},
	} {
		text, id := kmip.SplitRequestID(c.msg)
		if text != c.text || id != c.id {
			t.Errorf("SplitRequestID(%q) = %q, %q; want %q, %q", c.msg, text, id, c.text, c.id)
		}
	}
	if (kmip.RequestID{}).String() != "" {
		t.Error("zero id formats as non-empty")
	}
}
