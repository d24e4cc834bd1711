package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// Pending is what a handler returns when it goes on with the item after the
// response is sent: the item is answered with Result Status Operation
// Pending and this Asynchronous Correlation Value (KMIP 2.0 Response Batch
// Item), which the client gives to Poll or Cancel. A handler may return it
// only when the request's header allows it
// (RequestHeader.AsynchronousIndicator).
type Pending struct {
	CorrelationValue []byte
}

func (p *Pending) Error() string { return "kmip: operation pending" }

// pendingOf reports whether err says the item goes on asynchronously. A
// handler returns *Pending as it is (middleware passes it on unwrapped);
// a type assertion, unlike errors.As, costs a failed item no allocation.
func pendingOf(err error) (*Pending, bool) {
	p, ok := err.(*Pending)
	return p, ok
}

// Pending writes a whole batch item that answers Operation Pending (KMIP
// 2.0 Response Batch Item: the Asynchronous Correlation Value follows the
// Result Status and there is no payload).
func (w *ResponseWriter) Pending(op Operation, id []byte, acv []byte) {
	w.beginItem(op, id)
	w.B.AddEnum(ttlv.TagResultStatus, uint32(ResultStatusOperationPending))
	w.B.AddBytes(ttlv.TagAsynchronousCorrelationValue, acv)
	w.B.End()
}
