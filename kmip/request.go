package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// RequestWriter builds a Request Message, for clients and tests. Items are
// appended with Item, whose function writes the payload's children.
type RequestWriter struct {
	B       ttlv.Builder
	Version Version
}

// RequestOptions are the optional Request Header fields a client may set.
type RequestOptions struct {
	MaxResponseSize        int32
	ClientCorrelationValue string
	// Authentication, when set, writes the children of the header's
	// Authentication: a Credential (PasswordCredential, TicketCredential).
	Authentication         func(b *ttlv.Builder)
	BatchErrorContinuation BatchErrorContinuationOption
	BatchOrderOption       *bool
	// AsynchronousIndicator lets the server answer Operation Pending
	// (KMIP 2.0 §8.2).
	AsynchronousIndicator bool
}

// Begin starts a request of count batch items.
func (w *RequestWriter) Begin(buf []byte, ver Version, count int, o *RequestOptions) {
	w.B.Reset(buf, 0)
	w.Version = ver
	b := &w.B
	b.Begin(ttlv.TagRequestMessage)
	b.Begin(ttlv.TagRequestHeader)
	b.Begin(ttlv.TagProtocolVersion)
	b.AddInt32(ttlv.TagProtocolVersionMajor, ver.Major)
	b.AddInt32(ttlv.TagProtocolVersionMinor, ver.Minor)
	b.End()
	if o != nil {
		if o.MaxResponseSize != 0 {
			b.AddInt32(ttlv.TagMaximumResponseSize, o.MaxResponseSize)
		}
		if o.ClientCorrelationValue != "" {
			b.AddText(ttlv.TagClientCorrelationValue, o.ClientCorrelationValue)
		}
		if o.AsynchronousIndicator {
			b.AddBool(ttlv.TagAsynchronousIndicator, true)
		}
		if o.Authentication != nil {
			b.Begin(ttlv.TagAuthentication)
			o.Authentication(b)
			b.End()
		}
		if o.BatchErrorContinuation != 0 {
			b.AddEnum(ttlv.TagBatchErrorContinuationOption, uint32(o.BatchErrorContinuation))
		}
		if o.BatchOrderOption != nil {
			b.AddBool(ttlv.TagBatchOrderOption, *o.BatchOrderOption)
		}
	}
	b.AddInt32(ttlv.TagBatchCount, int32(count))
	b.End()
}

// Item appends one batch item; id may be nil for single-item requests.
func (w *RequestWriter) Item(op Operation, id []byte, payload func(b *ttlv.Builder)) {
	b := &w.B
	b.Begin(ttlv.TagBatchItem)
	b.AddEnum(ttlv.TagOperation, uint32(op))
	if id != nil {
		b.AddBytes(ttlv.TagUniqueBatchItemID, id)
	}
	b.Begin(ttlv.TagRequestPayload)
	if payload != nil {
		payload(b)
	}
	b.End()
	b.End()
}

// Finish closes the message and returns it.
func (w *RequestWriter) Finish() ([]byte, error) {
	w.B.End()
	return w.B.Bytes()
}
