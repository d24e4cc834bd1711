package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// RequestHeader is a decoded Request Header (KMIP 2.0 §8.2). Byte-slice
// fields alias the request buffer.
type RequestHeader struct {
	Version                ProtocolVersion
	MaxResponseSize        int32 // 0: none given
	ClientCorrelationValue []byte
	ServerCorrelationValue []byte
	AsynchronousIndicator  bool
	AttestationCapable     bool
	Authentication         ttlv.Value // raw Authentication structure, if any
	BatchErrorContinuation BatchErrorContinuationOption
	BatchOrderOption       bool
	TimeStamp              int64 // 0: none given
	BatchCount             int32
}

// ProtocolVersion is an alias kept for readability at call sites that mirror
// the specification's field names.
type ProtocolVersion = Version

// BatchItem is one request Batch Item (KMIP 2.0 §8.3). Payload stays an
// undecoded sub-slice of the request so that only the handler that needs it
// decodes it.
type BatchItem struct {
	Operation  Operation
	ID         []byte     // Unique Batch Item ID, nil when absent
	Ephemeral  bool       // 2.x
	Payload    ttlv.Value // children of Request Payload
	Extensions ttlv.Value // the Message Extension items, raw
}

// Request is a parsed Request Message. A Request can be reused: Parse keeps
// the capacity of Items, so a connection that reuses one Request parses
// without allocating.
type Request struct {
	Header RequestHeader
	Items  []BatchItem
}

// Limits bound what a client may send.
type Limits struct {
	MaxDepth      int // structure nesting; 0 means ttlv.DefaultMaxDepth
	MaxBatchItems int // 0 means DefaultMaxBatchItems
}

// DefaultMaxBatchItems bounds the items of one request when Limits gives
// none. The OASIS vectors use at most 10.
const DefaultMaxBatchItems = 64

// ParseError is returned by Parse. Version is the request's protocol version
// when the header was readable (zero otherwise), so the server can answer a
// malformed body in the client's version.
type ParseError struct {
	Version Version
	Reason  ResultReason
	Msg     string
	Err     error
}

func (e *ParseError) Error() string {
	s := "kmip: invalid request: " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *ParseError) Unwrap() error { return e.Err }

// ResultReason maps the failure onto the wire.
func (e *ParseError) ResultReason() uint32 { return uint32(e.Reason) }

// Parse decodes msg, one complete TTLV Request Message as returned by
// ttlv.ReadMessage, into r. It validates the whole message once
// (ttlv.Check), then reads the header and the batch items. Batch Count comes
// from the client and is only compared with the items actually present;
// nothing is allocated from it.
func (r *Request) Parse(msg []byte, lim Limits) error {
	items := r.Items[:0]
	*r = Request{Items: items}
	if err := ttlv.Check(msg, lim.MaxDepth); err != nil {
		return &ParseError{Reason: ResultReasonInvalidMessage, Msg: "malformed TTLV", Err: err}
	}
	v := ttlv.Value(msg)
	var body ttlv.Value
	if !v.ReadStructure(ttlv.TagRequestMessage, &body) {
		return &ParseError{Reason: ResultReasonInvalidMessage, Msg: "not a Request Message"}
	}
	var hdr ttlv.Value
	if !body.ReadStructure(ttlv.TagRequestHeader, &hdr) {
		return &ParseError{Reason: ResultReasonInvalidMessage, Msg: "missing Request Header"}
	}
	if err := r.Header.parse(hdr); err != nil {
		return err
	}
	ver := r.Header.Version
	maxItems := lim.MaxBatchItems
	if maxItems <= 0 {
		maxItems = DefaultMaxBatchItems
	}
	for !body.Empty() {
		var it ttlv.Value
		if !body.ReadStructure(ttlv.TagBatchItem, &it) {
			return &ParseError{Version: ver, Reason: ResultReasonInvalidMessage, Msg: "expected Batch Item"}
		}
		if len(items) == maxItems {
			return &ParseError{Version: ver, Reason: ResultReasonInvalidMessage, Msg: "too many batch items"}
		}
		items = append(items, BatchItem{})
		if err := items[len(items)-1].parse(it, ver); err != nil {
			return err
		}
	}
	r.Items = items
	if len(items) == 0 {
		return &ParseError{Version: ver, Reason: ResultReasonInvalidMessage, Msg: "no batch items"}
	}
	if int(r.Header.BatchCount) != len(items) {
		return &ParseError{Version: ver, Reason: ResultReasonInvalidMessage, Msg: "Batch Count does not match the batch items"}
	}
	if len(items) > 1 {
		for i := range items {
			if items[i].ID == nil {
				return &ParseError{Version: ver, Reason: ResultReasonInvalidMessage, Msg: "Unique Batch Item ID required when Batch Count > 1"}
			}
		}
	}
	return nil
}

// parse reads the header fields. KMIP 2.0 §8 requires them in order, but
// real clients are not always strict, so fields are accepted in any order;
// an unknown field is refused, as is a repeated one.
func (h *RequestHeader) parse(v ttlv.Value) error {
	h.BatchErrorContinuation = BatchErrorContinuationOptionStop
	h.BatchOrderOption = true
	var seen uint32
	haveVersion, haveCount := false, false
	for !v.Empty() {
		it, _ := v.Next()
		var bit uint32
		var ok bool
		switch it.Tag {
		case ttlv.TagProtocolVersion:
			bit = 1 << 0
			ok = it.Type == ttlv.TypeStructure && h.Version.parse(it.Children())
			haveVersion = ok
		case ttlv.TagMaximumResponseSize:
			bit, ok = 1<<1, it.Type == ttlv.TypeInteger
			h.MaxResponseSize = it.Int32()
		case ttlv.TagClientCorrelationValue:
			bit, ok = 1<<2, it.Type == ttlv.TypeTextString
			h.ClientCorrelationValue = it.Data
		case ttlv.TagServerCorrelationValue:
			bit, ok = 1<<3, it.Type == ttlv.TypeTextString
			h.ServerCorrelationValue = it.Data
		case ttlv.TagAsynchronousIndicator:
			// A Boolean in KMIP 1.x and 2.0; KMIP 2.1's enumeration
			// (Mandatory, Optional, Prohibited) is taken too.
			bit = 1 << 4
			switch it.Type {
			case ttlv.TypeBoolean:
				ok, h.AsynchronousIndicator = true, it.Bool()
			case ttlv.TypeEnumeration:
				e := it.Uint32()
				ok, h.AsynchronousIndicator = e >= 1 && e <= 3, e == 1 || e == 2
			}
		case ttlv.TagAttestationCapableIndicator:
			bit, ok = 1<<5, it.Type == ttlv.TypeBoolean
			h.AttestationCapable = it.Bool()
		case ttlv.TagAttestationType:
			ok = it.Type == ttlv.TypeEnumeration // repeatable
		case ttlv.TagAuthentication:
			bit, ok = 1<<6, it.Type == ttlv.TypeStructure
			h.Authentication = it.Children()
		case ttlv.TagBatchErrorContinuationOption:
			bit, ok = 1<<7, it.Type == ttlv.TypeEnumeration
			h.BatchErrorContinuation = BatchErrorContinuationOption(it.Uint32())
			switch h.BatchErrorContinuation {
			case BatchErrorContinuationOptionContinue, BatchErrorContinuationOptionStop, BatchErrorContinuationOptionUndo:
			default:
				ok = false
			}
		case ttlv.TagBatchOrderOption:
			bit, ok = 1<<8, it.Type == ttlv.TypeBoolean
			h.BatchOrderOption = it.Bool()
		case ttlv.TagTimeStamp:
			bit, ok = 1<<9, it.Type == ttlv.TypeDateTime
			h.TimeStamp = it.Int64()
		case ttlv.TagBatchCount:
			bit, ok = 1<<10, it.Type == ttlv.TypeInteger
			h.BatchCount = it.Int32()
			haveCount = ok
		}
		if !ok || seen&bit != 0 {
			return &ParseError{Version: h.Version, Reason: ResultReasonInvalidMessage, Msg: "invalid Request Header field " + it.Tag.String()}
		}
		seen |= bit
	}
	if !haveVersion {
		return &ParseError{Reason: ResultReasonInvalidMessage, Msg: "missing Protocol Version"}
	}
	if !haveCount {
		return &ParseError{Version: h.Version, Reason: ResultReasonInvalidMessage, Msg: "missing Batch Count"}
	}
	return nil
}

// parse sets p only when the whole Protocol Version is well formed, so that
// a ParseError never carries half a version.
func (p *Version) parse(v ttlv.Value) bool {
	var x Version
	if !v.ReadInt32(ttlv.TagProtocolVersionMajor, &x.Major) ||
		!v.ReadInt32(ttlv.TagProtocolVersionMinor, &x.Minor) || !v.Empty() {
		return false
	}
	*p = x
	return true
}

func (b *BatchItem) parse(v ttlv.Value, ver Version) error {
	bad := func(msg string) error {
		return &ParseError{Version: ver, Reason: ResultReasonInvalidMessage, Msg: msg}
	}
	var op uint32
	if !v.ReadEnum(ttlv.TagOperation, &op) {
		return bad("Batch Item lacks Operation")
	}
	b.Operation = Operation(op)
	if v.PeekTag() == ttlv.TagEphemeral {
		if !v.ReadBool(ttlv.TagEphemeral, &b.Ephemeral) {
			return bad("invalid Ephemeral")
		}
	}
	if v.PeekTag() == ttlv.TagUniqueBatchItemID {
		if !v.ReadBytes(ttlv.TagUniqueBatchItemID, &b.ID) {
			return bad("invalid Unique Batch Item ID")
		}
		if b.ID == nil {
			b.ID = []byte{}
		}
	}
	var payload ttlv.Value
	if !v.ReadStructure(ttlv.TagRequestPayload, &payload) {
		return bad("Batch Item lacks Request Payload")
	}
	b.Payload = payload
	ext := v
	for !v.Empty() {
		var x ttlv.Value
		if !v.ReadStructure(ttlv.TagMessageExtension, &x) {
			return bad("unexpected item in Batch Item")
		}
	}
	b.Extensions = ext
	return nil
}
