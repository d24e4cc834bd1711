package lifecycle_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// asyncClient dials id with the Asynchronous Indicator set in every
// request header.
func asyncClient(t *testing.T, e *env, id string, ver kmip.Version) *kmip.Client {
	c := e.srv.Dial(t, id, ver)
	c.Options = &kmip.RequestOptions{AsynchronousIndicator: true}
	return c
}

// startLocate sends a Locate of every object and returns the correlation
// value of its Operation Pending answer.
func startLocate(t *testing.T, c *kmip.Client) []byte {
	t.Helper()
	_, err := do(t, c, kmip.OperationLocate, nil)
	var p *kmip.Pending
	if !errors.As(err, &p) || len(p.CorrelationValue) == 0 {
		t.Fatalf("asynchronous Locate: %v, want Operation Pending", err)
	}
	return p.CorrelationValue
}

// pollDone polls acv until the operation has ended.
func pollDone(t *testing.T, c *kmip.Client, acv []byte) (*kmip.ResponseItem, error) {
	t.Helper()
	for range 500 {
		it, err := do(t, c, kmip.OperationPoll, fACV(acv))
		var p *kmip.Pending
		if !errors.As(err, &p) {
			return it, err
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("Poll: still pending after a second")
	return nil, nil
}

func fACV(acv []byte) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) { b.AddBytes(ttlv.TagAsynchronousCorrelationValue, acv) }
}

func locatedIDs(p ttlv.Value) []string {
	var ids []string
	for !p.Empty() {
		it, _ := p.Next()
		if it.Tag == ttlv.TagUniqueIdentifier {
			ids = append(ids, string(it.Data))
		}
	}
	return ids
}

// A Locate the client lets go on asynchronously answers Operation Pending;
// Poll returns its result once and only to the identity that started it;
// without the indicator Locate answers at once; Query says so.
func TestAsync_LocatePoll(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0, kmip.V2_1} {
		alice := asyncClient(t, e, "alice", ver)
		id := create(t, e.srv.Dial(t, "alice", ver), "")
		acv := startLocate(t, alice)
		_, err := do(t, e.srv.Dial(t, "bob", ver), kmip.OperationPoll, fACV(acv))
		wantReason(t, err, kmip.ReasonFor(ver, kmip.ResultReasonInvalidAsynchronousCorrelationValue))
		it, err := pollDone(t, alice, acv)
		if err != nil {
			t.Fatalf("%s: Poll: %v", ver, err)
		}
		if !slices.Contains(locatedIDs(it.Payload), id) {
			t.Errorf("%s: Poll result %s lacks %s", ver, ttlv.Format(it.Payload), id)
		}
		_, err = do(t, alice, kmip.OperationPoll, fACV(acv))
		wantReason(t, err, kmip.ReasonFor(ver, kmip.ResultReasonInvalidAsynchronousCorrelationValue))
		// Synchronous without the indicator.
		if _, err := do(t, e.srv.Dial(t, "alice", ver), kmip.OperationLocate, nil); err != nil {
			t.Errorf("%s: synchronous Locate: %v", ver, err)
		}
		// Only Locate goes on asynchronously.
		if _, err := do(t, alice, kmip.OperationQuery, nil); err != nil {
			t.Errorf("%s: Query with the indicator: %v", ver, err)
		}
	}
	it := must(t, e.srv.Dial(t, "alice", kmip.V1_4), kmip.OperationQuery, fEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryCapabilities)))
	if c, ok := it.Payload.Find(ttlv.TagCapabilityInformation); !ok {
		t.Error("no Capability Information")
	} else if a, ok := c.Children().Find(ttlv.TagAsynchronousCapability); !ok || !a.Bool() {
		t.Error("Asynchronous Capability is not true")
	}
}

// Cancel ends an operation: Canceled while it runs, Completed once it has
// ended; either way it is gone, and another identity cannot cancel it.
func TestAsync_Cancel(t *testing.T) {
	e := newEnv(t)
	alice := asyncClient(t, e, "alice", kmip.V2_1)
	acv := startLocate(t, alice)
	_, err := do(t, e.srv.Dial(t, "bob", kmip.V2_1), kmip.OperationCancel, fACV(acv))
	wantReason(t, err, kmip.ResultReasonInvalidAsynchronousCorrelationValue)
	it, err := do(t, alice, kmip.OperationCancel, fACV(acv))
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	var res uint32
	p := it.Payload
	if !p.ReadBytes(ttlv.TagAsynchronousCorrelationValue, &got) || !p.ReadEnum(ttlv.TagCancellationResult, &res) || !p.Empty() ||
		string(got) != string(acv) {
		t.Fatalf("Cancel payload %s", ttlv.Format(it.Payload))
	}
	if r := kmip.CancellationResult(res); r != kmip.CancellationResultCanceled && r != kmip.CancellationResultCompleted {
		t.Errorf("Cancellation Result %s", r)
	}
	_, err = do(t, alice, kmip.OperationPoll, fACV(acv))
	wantReason(t, err, kmip.ResultReasonInvalidAsynchronousCorrelationValue)

	// Once ended: Completed.
	acv = startLocate(t, alice)
	time.Sleep(50 * time.Millisecond)
	it, err = do(t, alice, kmip.OperationCancel, fACV(acv))
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := it.Payload.Find(ttlv.TagCancellationResult); kmip.CancellationResult(r.Uint32()) != kmip.CancellationResultCompleted {
		t.Errorf("Cancel of an ended Locate: %s", ttlv.Format(it.Payload))
	}
}

// An identity with Config.AsyncLimit operations outstanding is answered at
// once; a result not polled within Config.AsyncTTL is gone; a negative
// limit serves everything at once.
func TestAsync_LimitAndExpiry(t *testing.T) {
	e := newEnvWith(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) {
		c.AsyncLimit, c.AsyncTTL = 1, 100*time.Millisecond
	}})
	alice := asyncClient(t, e, "alice", kmip.V2_1)
	acv := startLocate(t, alice)
	if _, err := do(t, alice, kmip.OperationLocate, nil); err != nil {
		t.Errorf("Locate beyond the limit: %v, want an answer at once", err)
	}
	// Another identity has its own allowance.
	startLocate(t, asyncClient(t, e, "bob", kmip.V2_1))
	time.Sleep(250 * time.Millisecond)
	_, err := do(t, alice, kmip.OperationPoll, fACV(acv))
	wantReason(t, err, kmip.ResultReasonInvalidAsynchronousCorrelationValue)
	startLocate(t, alice) // the expired one no longer counts

	off := newEnvWith(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) { c.AsyncLimit = -1 }})
	c := asyncClient(t, off, "alice", kmip.V2_1)
	if _, err := do(t, c, kmip.OperationLocate, nil); err != nil {
		t.Errorf("Locate with asynchronous operations off: %v", err)
	}
	it := must(t, c, kmip.OperationQuery, fEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryCapabilities)))
	ci, _ := it.Payload.Find(ttlv.TagCapabilityInformation)
	if a, ok := ci.Children().Find(ttlv.TagAsynchronousCapability); !ok || a.Bool() {
		t.Error("Asynchronous Capability is not false with asynchronous operations off")
	}
}

// Poll and Cancel take one Asynchronous Correlation Value.
func TestAsync_BadRequests(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	for _, op := range []kmip.Operation{kmip.OperationPoll, kmip.OperationCancel} {
		_, err := do(t, c, op, nil)
		wantReason(t, err, kmip.ResultReasonInvalidMessage)
		_, err = do(t, c, op, func(b *ttlv.Builder) {
			fACV([]byte{1})(b)
			b.AddText(ttlv.TagUniqueIdentifier, "x")
		})
		wantReason(t, err, kmip.ResultReasonInvalidField)
	}
}

// A Locate answered Pending empties the batch's ID Placeholder, as a
// synchronous Locate would set or empty it: a later item without an
// identifier must not act on an earlier item's object.
func TestAsync_LocateEmptiesPlaceholder(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	items := aoBatch(t, c, &kmip.RequestOptions{AsynchronousIndicator: true, BatchErrorContinuation: kmip.BatchErrorContinuationOptionContinue},
		aoItem{kmip.OperationCreate, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			symAttrs(kmip.V2_1, kmip.CryptographicAlgorithmAES, 128, "", nil)(b)
		}},
		aoItem{kmip.OperationLocate, func(*ttlv.Builder) {}},
		aoItem{kmip.OperationDestroy, func(*ttlv.Builder) {}},
	)
	if items[0].Status != kmip.ResultStatusSuccess || items[1].Status != kmip.ResultStatusOperationPending {
		t.Fatalf("Create %s, Locate %s", items[0].Status, items[1].Status)
	}
	if items[2].Status == kmip.ResultStatusSuccess || items[2].Reason != kmip.ResultReasonInvalidField {
		t.Fatalf("Destroy without an identifier after a pending Locate: %s %s, want Invalid Field", items[2].Status, items[2].Reason)
	}
}
