package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// ResponseHeader holds the Response Header fields (KMIP 2.0 §8.5).
type ResponseHeader struct {
	Version                Version
	TimeStamp              int64 // seconds since the epoch; required
	ClientCorrelationValue []byte
	ServerCorrelationValue []byte
	BatchCount             int32
}

// ResponseWriter builds a Response Message in place. Batch items are written
// one at a time; a handler writes its payload straight into B between
// BeginSuccess and EndItem, and a failed item is rolled back to its Mark and
// rewritten as a failure. Nothing is allocated when the buffer given to
// Begin is large enough.
type ResponseWriter struct {
	B       ttlv.Builder
	Version Version

	countOff  int // offset of the header's Batch Count item
	statusOff int // offset of the last item's Result Status
	items     int32
}

// Begin resets the writer onto buf, caps the message at max bytes (0: no
// cap) and writes the header.
func (w *ResponseWriter) Begin(buf []byte, max int, h *ResponseHeader) {
	w.B.Reset(buf, max)
	w.Version = h.Version
	b := &w.B
	b.Begin(ttlv.TagResponseMessage)
	b.Begin(ttlv.TagResponseHeader)
	b.Begin(ttlv.TagProtocolVersion)
	b.AddInt32(ttlv.TagProtocolVersionMajor, h.Version.Major)
	b.AddInt32(ttlv.TagProtocolVersionMinor, h.Version.Minor)
	b.End()
	b.AddDateTime(ttlv.TagTimeStamp, h.TimeStamp)
	// Correlation values exist from KMIP 1.4 on (KMIP 1.4 §6.20, §6.21).
	if h.ClientCorrelationValue != nil && h.Version.AtLeast(V1_4) {
		b.AddTextBytes(ttlv.TagClientCorrelationValue, h.ClientCorrelationValue)
	}
	if h.ServerCorrelationValue != nil && h.Version.AtLeast(V1_4) {
		b.AddTextBytes(ttlv.TagServerCorrelationValue, h.ServerCorrelationValue)
	}
	w.countOff = b.Len()
	w.items = 0
	b.AddInt32(ttlv.TagBatchCount, h.BatchCount)
	b.End()
}

// SetBatchCount rewrites the header's Batch Count, for a batch that stopped
// before its last item (KMIP 2.0 §9.6, Batch Error Continuation Stop).
func (w *ResponseWriter) SetBatchCount(n int32) { w.B.PatchUint32(w.countOff, uint32(n)) }

// StatusOffset returns where the Result Status of the item last begun with
// BeginSuccess is, so that it can later be marked Operation Undone.
func (w *ResponseWriter) StatusOffset() int { return w.statusOff }

// MarkUndone rewrites the Result Status at off (from StatusOffset) to
// Operation Undone (KMIP 2.0 §9.6, Batch Error Continuation Undo).
func (w *ResponseWriter) MarkUndone(off int) {
	w.B.PatchUint32(off, uint32(ResultStatusOperationUndone))
}

// Finish closes the message and returns it.
func (w *ResponseWriter) Finish() ([]byte, error) {
	w.B.End()
	return w.B.Bytes()
}

// beginItem opens a Batch Item with its Operation and Unique Batch Item ID.
func (w *ResponseWriter) beginItem(op Operation, id []byte) {
	w.B.Begin(ttlv.TagBatchItem)
	if op != 0 {
		w.B.AddEnum(ttlv.TagOperation, uint32(op))
	}
	if id != nil {
		w.B.AddBytes(ttlv.TagUniqueBatchItemID, id)
	}
}

// BeginSuccess opens a successful batch item and its Response Payload; the
// caller writes the payload into B and calls EndItem.
func (w *ResponseWriter) BeginSuccess(op Operation, id []byte) {
	w.beginItem(op, id)
	w.statusOff = w.B.Len()
	w.B.AddEnum(ttlv.TagResultStatus, uint32(ResultStatusSuccess))
	w.B.Begin(ttlv.TagResponsePayload)
}

// EndItem closes a payload opened by BeginSuccess and its batch item.
func (w *ResponseWriter) EndItem() {
	w.B.End()
	w.B.End()
}

// Failure writes a whole failed batch item. The reason is translated to one
// that exists in the response's version.
func (w *ResponseWriter) Failure(op Operation, id []byte, status ResultStatus, reason ResultReason, msg string) {
	w.beginItem(op, id)
	w.B.AddEnum(ttlv.TagResultStatus, uint32(status))
	if status == ResultStatusOperationFailed {
		w.B.AddEnum(ttlv.TagResultReason, uint32(ReasonFor(w.Version, reason)))
	}
	if msg != "" {
		w.B.AddText(ttlv.TagResultMessage, msg)
	}
	w.B.End()
}

// failureBytes is Failure with the Result Message in bytes.
func (w *ResponseWriter) failureBytes(op Operation, id []byte, status ResultStatus, reason ResultReason, msg []byte) {
	w.beginItem(op, id)
	w.B.AddEnum(ttlv.TagResultStatus, uint32(status))
	if status == ResultStatusOperationFailed {
		w.B.AddEnum(ttlv.TagResultReason, uint32(ReasonFor(w.Version, reason)))
	}
	if len(msg) > 0 {
		w.B.AddTextBytes(ttlv.TagResultMessage, msg)
	}
	w.B.End()
}

// ReasonFor returns the Result Reason to send for r in version v. KMIP 2.0
// added 43 reasons (KMIP 2.0 §11.45); a 1.x client gets the nearest 1.x one,
// as the 1.4 test vectors expect (Item Not Found for an unknown object,
// Permission Denied for a lifecycle violation).
func ReasonFor(v Version, r ResultReason) ResultReason {
	if v.HasEnum(ttlv.TagResultReason, uint32(r)) {
		return r
	}
	// Every reason returned below exists in all versions; the 1.x-only
	// ones (Illegal Operation, Index Out Of Bounds) and 2.1's additions
	// must not reach a 2.0 client either.
	switch r {
	case ResultReasonObjectNotFound, ResultReasonAttributeNotFound, ResultReasonAttributeInstanceNotFound,
		ResultReasonWrappingObjectNotFound, ResultReasonUnknownObjectGroup:
		return ResultReasonItemNotFound
	case ResultReasonObjectDestroyed:
		// A destroyed object's key material no longer exists: 1.x has no
		// nearer reason, and clients written for 1.x (PyKMIP's suite)
		// expect Item Not Found from a Get after Destroy.
		return ResultReasonItemNotFound
	case ResultReasonIndexOutOfBounds, ResultReasonConstraintViolation:
		return ResultReasonInvalidField
	case ResultReasonWrongKeyLifecycleState, ResultReasonObjectArchived,
		ResultReasonWrappingObjectDestroyed, ResultReasonWrappingObjectArchived,
		ResultReasonAttributeReadOnly, ResultReasonReadOnlyAttribute, ResultReasonUsageLimitExceeded,
		ResultReasonNotAuthorised:
		return ResultReasonPermissionDenied
	case ResultReasonCodecError, ResultReasonUnknownTag, ResultReasonUnknownEnumeration,
		ResultReasonUnknownMessageExtension, ResultReasonUnsupportedProtocolVersion:
		return ResultReasonInvalidMessage
	case ResultReasonInvalidAttribute, ResultReasonInvalidAttributeValue, ResultReasonInvalidDataType,
		ResultReasonAttributeSingleValued, ResultReasonMultiValuedAttribute, ResultReasonNonUniqueNameAttribute,
		ResultReasonNumericRange, ResultReasonInvalidObjectType, ResultReasonIllegalObjectType,
		ResultReasonUnsupportedAttribute, ResultReasonMissingInitializationVector,
		ResultReasonBadCryptographicParameters, ResultReasonUnsupportedCryptographicParameters,
		ResultReasonIncompatibleCryptographicUsageMask, ResultReasonInvalidCorrelationValue:
		return ResultReasonInvalidField
	case ResultReasonServerLimitExceeded, ResultReasonInternalServerError:
		return ResultReasonGeneralFailure
	}
	return ResultReasonGeneralFailure
}

// Response is a parsed Response Message, as a client sees it.
type Response struct {
	Header ResponseHeader
	Items  []ResponseItem
}

// ResponseItem is one response Batch Item.
type ResponseItem struct {
	Operation Operation
	ID        []byte
	Status    ResultStatus
	Reason    ResultReason
	Message   []byte
	Payload   ttlv.Value
	// AsynchronousCorrelationValue is set when Status is Operation Pending.
	AsynchronousCorrelationValue []byte
}

// Err returns nil for a successful item and a *Error otherwise.
func (it *ResponseItem) Err() error {
	if it.Status == ResultStatusSuccess {
		return nil
	}
	if it.Status == ResultStatusOperationPending {
		return &Pending{CorrelationValue: it.AsynchronousCorrelationValue}
	}
	msg, rid := SplitRequestID(string(it.Message))
	return &Error{Reason: it.Reason, Message: msg, RequestID: rid}
}

// Parse decodes a Response Message (client side).
func (r *Response) Parse(msg []byte, lim Limits) error {
	*r = Response{Items: r.Items[:0]}
	if err := ttlv.Check(msg, lim.MaxDepth); err != nil {
		return err
	}
	bad := func(m string) error {
		return &ParseError{Version: r.Header.Version, Reason: ResultReasonInvalidMessage, Msg: m}
	}
	v := ttlv.Value(msg)
	var body, hdr ttlv.Value
	if !v.ReadStructure(ttlv.TagResponseMessage, &body) || !body.ReadStructure(ttlv.TagResponseHeader, &hdr) {
		return bad("not a Response Message")
	}
	for !hdr.Empty() {
		it, _ := hdr.Next()
		switch it.Tag {
		case ttlv.TagProtocolVersion:
			if !r.Header.Version.parse(it.Children()) {
				return bad("invalid Protocol Version")
			}
		case ttlv.TagTimeStamp:
			r.Header.TimeStamp = it.Int64()
		case ttlv.TagClientCorrelationValue:
			r.Header.ClientCorrelationValue = it.Data
		case ttlv.TagServerCorrelationValue:
			r.Header.ServerCorrelationValue = it.Data
		case ttlv.TagBatchCount:
			r.Header.BatchCount = it.Int32()
		}
	}
	for !body.Empty() {
		var bi ttlv.Value
		if !body.ReadStructure(ttlv.TagBatchItem, &bi) {
			return bad("expected Batch Item")
		}
		var ri ResponseItem
		for !bi.Empty() {
			it, _ := bi.Next()
			switch it.Tag {
			case ttlv.TagOperation:
				ri.Operation = Operation(it.Uint32())
			case ttlv.TagUniqueBatchItemID:
				ri.ID = it.Data
			case ttlv.TagResultStatus:
				ri.Status = ResultStatus(it.Uint32())
			case ttlv.TagResultReason:
				ri.Reason = ResultReason(it.Uint32())
			case ttlv.TagResultMessage:
				ri.Message = it.Data
			case ttlv.TagAsynchronousCorrelationValue:
				ri.AsynchronousCorrelationValue = it.Data
			case ttlv.TagResponsePayload:
				ri.Payload = it.Children()
			}
		}
		r.Items = append(r.Items, ri)
	}
	if int(r.Header.BatchCount) != len(r.Items) {
		return bad("Batch Count does not match the batch items")
	}
	return nil
}
