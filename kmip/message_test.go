package kmip_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/internal/benchcmp"
	"github.com/kmipd/kmipd/ttlv"
)

// Hand encoders. They lay items out byte by byte, independently of
// ttlv.Builder, so that a test asserting an encoding does not compare the
// encoder with itself.

func ttRaw(tag ttlv.Tag, typ ttlv.Type, val []byte) []byte {
	pad := (8 - len(val)%8) % 8
	out := []byte{byte(tag >> 16), byte(tag >> 8), byte(tag), byte(typ), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[4:], uint32(len(val)))
	out = append(out, val...)
	return append(out, make([]byte, pad)...)
}

func ttStruct(tag ttlv.Tag, children ...[]byte) []byte {
	return ttRaw(tag, ttlv.TypeStructure, bytes.Join(children, nil))
}

func tt4(tag ttlv.Tag, typ ttlv.Type, v uint32) []byte {
	return ttRaw(tag, typ, binary.BigEndian.AppendUint32(nil, v))
}

func tt8(tag ttlv.Tag, typ ttlv.Type, v uint64) []byte {
	return ttRaw(tag, typ, binary.BigEndian.AppendUint64(nil, v))
}

func ttInt(tag ttlv.Tag, v int32) []byte    { return tt4(tag, ttlv.TypeInteger, uint32(v)) }
func ttEnum(tag ttlv.Tag, v uint32) []byte  { return tt4(tag, ttlv.TypeEnumeration, v) }
func ttLong(tag ttlv.Tag, v int64) []byte   { return tt8(tag, ttlv.TypeLongInteger, uint64(v)) }
func ttDate(tag ttlv.Tag, v int64) []byte   { return tt8(tag, ttlv.TypeDateTime, uint64(v)) }
func ttText(tag ttlv.Tag, s string) []byte  { return ttRaw(tag, ttlv.TypeTextString, []byte(s)) }
func ttBytes(tag ttlv.Tag, b []byte) []byte { return ttRaw(tag, ttlv.TypeByteString, b) }

func ttBool(tag ttlv.Tag, v bool) []byte {
	var x uint64
	if v {
		x = 1
	}
	return tt8(tag, ttlv.TypeBoolean, x)
}

func ttVersion(v kmip.Version) []byte {
	return ttStruct(ttlv.TagProtocolVersion,
		ttInt(ttlv.TagProtocolVersionMajor, v.Major), ttInt(ttlv.TagProtocolVersionMinor, v.Minor))
}

// ttHeader is a Request Header: the Protocol Version, then fields as given
// (the caller adds Batch Count, so that it can get it wrong).
func ttHeader(v kmip.Version, fields ...[]byte) []byte {
	return ttStruct(ttlv.TagRequestHeader, append([][]byte{ttVersion(v)}, fields...)...)
}

// ttItem is a request Batch Item; id "" leaves the Unique Batch Item ID out.
func ttItem(op kmip.Operation, id string, payload ...[]byte) []byte {
	parts := [][]byte{ttEnum(ttlv.TagOperation, uint32(op))}
	if id != "" {
		parts = append(parts, ttBytes(ttlv.TagUniqueBatchItemID, []byte(id)))
	}
	parts = append(parts, ttStruct(ttlv.TagRequestPayload, payload...))
	return ttStruct(ttlv.TagBatchItem, parts...)
}

func ttMsg(header []byte, items ...[]byte) []byte {
	return ttStruct(ttlv.TagRequestMessage, append([][]byte{header}, items...)...)
}

func ttCount(n int32) []byte { return ttInt(ttlv.TagBatchCount, n) }

func ttUID(s string) []byte { return ttText(ttlv.TagUniqueIdentifier, s) }

func ttCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// wantItem is what a parsed request Batch Item should hold.
type wantItem struct {
	op        kmip.Operation
	id        []byte // nil: absent
	ephemeral bool
	payload   []byte // the Request Payload's children
	ext       []byte // the Message Extension items
}

func TestParse_Valid(t *testing.T) {
	auth := ttStruct(ttlv.TagCredential,
		ttEnum(ttlv.TagCredentialType, uint32(kmip.CredentialTypeUsernameAndPassword)),
		ttStruct(ttlv.TagCredentialValue, ttText(ttlv.TagUsername, "alice"), ttText(ttlv.TagPassword, "s3cret")))
	uid := ttUID("4a8b9a8e-key")
	create20 := ttCat(
		ttEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey)),
		ttStruct(ttlv.TagAttributes,
			ttEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES)),
			ttInt(ttlv.TagCryptographicLength, 256),
			ttInt(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt)),
			ttStruct(ttlv.TagName,
				ttText(ttlv.TagNameValue, "SKLC-M-1-21"),
				ttEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString)))))
	ext := ttStruct(ttlv.TagMessageExtension,
		ttText(ttlv.TagVendorIdentification, "kmipd-test"),
		ttBool(ttlv.TagCriticalityIndicator, false),
		ttStruct(ttlv.TagVendorExtension, ttText(ttlv.TagComment, "x")))

	// The defaults of the two options that have one (KMIP 2.0 §8.2).
	std := kmip.RequestHeader{BatchErrorContinuation: kmip.BatchErrorContinuationOptionStop, BatchOrderOption: true}
	with := func(f func(h *kmip.RequestHeader)) kmip.RequestHeader {
		h := std
		f(&h)
		return h
	}

	cases := []struct {
		name   string
		msg    []byte
		header kmip.RequestHeader
		items  []wantItem
	}{
		{
			name:   "1.0 single Get",
			msg:    ttMsg(ttHeader(kmip.V1_0, ttCount(1)), ttItem(kmip.OperationGet, "", uid)),
			header: with(func(h *kmip.RequestHeader) { h.Version, h.BatchCount = kmip.V1_0, 1 }),
			items:  []wantItem{{op: kmip.OperationGet, payload: uid}},
		},
		{
			name: "1.2 header options, two items",
			msg: ttMsg(ttHeader(kmip.V1_2,
				ttInt(ttlv.TagMaximumResponseSize, 4096),
				ttBool(ttlv.TagAsynchronousIndicator, false),
				ttEnum(ttlv.TagBatchErrorContinuationOption, uint32(kmip.BatchErrorContinuationOptionContinue)),
				ttBool(ttlv.TagBatchOrderOption, false),
				ttDate(ttlv.TagTimeStamp, 1700000000),
				ttCount(2)),
				ttItem(kmip.OperationGet, "\x01", uid),
				ttItem(kmip.OperationGetAttributes, "\x02", uid)),
			header: kmip.RequestHeader{
				Version:                kmip.V1_2,
				MaxResponseSize:        4096,
				BatchErrorContinuation: kmip.BatchErrorContinuationOptionContinue,
				BatchOrderOption:       false,
				TimeStamp:              1700000000,
				BatchCount:             2,
			},
			items: []wantItem{
				{op: kmip.OperationGet, id: []byte{1}, payload: uid},
				{op: kmip.OperationGetAttributes, id: []byte{2}, payload: uid},
			},
		},
		{
			name: "1.4 authentication and correlation value, three items",
			msg: ttMsg(ttHeader(kmip.V1_4,
				ttText(ttlv.TagClientCorrelationValue, "corr-1"),
				ttStruct(ttlv.TagAuthentication, auth),
				ttEnum(ttlv.TagBatchErrorContinuationOption, uint32(kmip.BatchErrorContinuationOptionUndo)),
				ttCount(3)),
				ttItem(kmip.OperationCreate, "c", create20[:16]),
				ttItem(kmip.OperationActivate, "a"),
				ttItem(kmip.OperationGet, "g", uid)),
			header: with(func(h *kmip.RequestHeader) {
				h.Version, h.BatchCount = kmip.V1_4, 3
				h.ClientCorrelationValue = []byte("corr-1")
				h.Authentication = ttlv.Value(auth)
				h.BatchErrorContinuation = kmip.BatchErrorContinuationOptionUndo
			}),
			items: []wantItem{
				{op: kmip.OperationCreate, id: []byte("c"), payload: create20[:16]},
				{op: kmip.OperationActivate, id: []byte("a"), payload: []byte{}},
				{op: kmip.OperationGet, id: []byte("g"), payload: uid},
			},
		},
		{
			name: "2.0 Create with correlation value (hand-written fixture)",
			msg:  benchcmp.CreateRequest20,
			header: with(func(h *kmip.RequestHeader) {
				h.Version, h.BatchCount = kmip.V2_0, 1
				h.ClientCorrelationValue = []byte("SKLC-M-1-21 step=0")
			}),
			items: []wantItem{{op: kmip.OperationCreate, payload: create20}},
		},
		{
			name: "2.1 Ephemeral, extension and batch order",
			msg: ttMsg(ttHeader(kmip.V2_1,
				ttInt(ttlv.TagMaximumResponseSize, 1<<20),
				ttBool(ttlv.TagBatchOrderOption, true),
				ttDate(ttlv.TagTimeStamp, 1),
				ttCount(2)),
				ttStruct(ttlv.TagBatchItem,
					ttEnum(ttlv.TagOperation, uint32(kmip.OperationCreate)),
					ttBool(ttlv.TagEphemeral, true),
					ttBytes(ttlv.TagUniqueBatchItemID, []byte("id-1")),
					ttStruct(ttlv.TagRequestPayload, create20)),
				ttStruct(ttlv.TagBatchItem,
					ttEnum(ttlv.TagOperation, uint32(kmip.OperationGet)),
					ttBytes(ttlv.TagUniqueBatchItemID, []byte("id-2")),
					ttStruct(ttlv.TagRequestPayload),
					ext)),
			header: with(func(h *kmip.RequestHeader) {
				h.Version, h.BatchCount = kmip.V2_1, 2
				h.MaxResponseSize = 1 << 20
				h.TimeStamp = 1
			}),
			items: []wantItem{
				{op: kmip.OperationCreate, id: []byte("id-1"), ephemeral: true, payload: create20},
				{op: kmip.OperationGet, id: []byte("id-2"), payload: []byte{}, ext: ext},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := ttlv.Check(c.msg, 0); err != nil {
				t.Fatalf("test message is malformed: %v", err)
			}
			var r kmip.Request
			if err := r.Parse(c.msg, kmip.Limits{}); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkRequest(t, &r, c.header, c.items)
		})
	}

	// A reused Request must not keep anything of the previous message.
	t.Run("reuse", func(t *testing.T) {
		var r kmip.Request
		for i := 2; i < len(cases); i++ {
			if err := r.Parse(cases[i].msg, kmip.Limits{}); err != nil {
				t.Fatalf("Parse %s: %v", cases[i].name, err)
			}
		}
		if err := r.Parse(cases[0].msg, kmip.Limits{}); err != nil {
			t.Fatalf("Parse: %v", err)
		}
		checkRequest(t, &r, cases[0].header, cases[0].items)
	})
}

func checkRequest(t *testing.T, r *kmip.Request, header kmip.RequestHeader, items []wantItem) {
	t.Helper()
	if !reflect.DeepEqual(r.Header, header) {
		t.Errorf("header =\n%+v, want\n%+v", r.Header, header)
	}
	if len(r.Items) != len(items) {
		t.Fatalf("%d items, want %d", len(r.Items), len(items))
	}
	for i, w := range items {
		it := r.Items[i]
		if it.Operation != w.op {
			t.Errorf("item %d: Operation %v, want %v", i, it.Operation, w.op)
		}
		if (it.ID == nil) != (w.id == nil) || !bytes.Equal(it.ID, w.id) {
			t.Errorf("item %d: ID %q (nil %v), want %q (nil %v)", i, it.ID, it.ID == nil, w.id, w.id == nil)
		}
		if it.Ephemeral != w.ephemeral {
			t.Errorf("item %d: Ephemeral %v, want %v", i, it.Ephemeral, w.ephemeral)
		}
		if !bytes.Equal(it.Payload, w.payload) {
			t.Errorf("item %d: payload\n%x, want\n%x", i, []byte(it.Payload), w.payload)
		}
		if !bytes.Equal(it.Extensions, w.ext) {
			t.Errorf("item %d: extensions\n%x, want\n%x", i, []byte(it.Extensions), w.ext)
		}
	}
}

func TestParse_Invalid(t *testing.T) {
	uid := ttUID("k")
	get := ttItem(kmip.OperationGet, "", uid)
	getID := func(id string) []byte { return ttItem(kmip.OperationGet, id, uid) }
	items := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = getID(string(rune('A'+i%26)) + string(rune('a'+i/26)))
		}
		return out
	}
	v14, v20 := kmip.V1_4, kmip.V2_0
	none := kmip.Version{}
	valid := ttMsg(ttHeader(v14, ttCount(1)), get)

	cases := []struct {
		name    string
		msg     []byte
		lim     kmip.Limits
		version kmip.Version // expected in the ParseError
	}{
		// Batch Count and the items.
		{"Batch Count more than items", ttMsg(ttHeader(v20, ttCount(2)), get), kmip.Limits{}, v20},
		{"Batch Count fewer than items", ttMsg(ttHeader(v14, ttCount(1)), getID("a"), getID("b")), kmip.Limits{}, v14},
		{"Batch Count negative", ttMsg(ttHeader(v14, ttCount(-1)), get), kmip.Limits{}, v14},
		{"zero items, Batch Count 0", ttMsg(ttHeader(v14, ttCount(0))), kmip.Limits{}, v14},
		{"zero items, Batch Count 1", ttMsg(ttHeader(v20, ttCount(1))), kmip.Limits{}, v20},
		{"more items than Limits.MaxBatchItems", ttMsg(ttHeader(v14, ttCount(3)), items(3)...), kmip.Limits{MaxBatchItems: 2}, v14},
		{"more items than DefaultMaxBatchItems", ttMsg(ttHeader(v14, ttCount(kmip.DefaultMaxBatchItems+1)), items(kmip.DefaultMaxBatchItems+1)...), kmip.Limits{}, v14},
		{"multi-item without IDs", ttMsg(ttHeader(v14, ttCount(2)), get, get), kmip.Limits{}, v14},
		{"multi-item, one without ID", ttMsg(ttHeader(v20, ttCount(2)), getID("a"), get), kmip.Limits{}, v20},

		// The header.
		{"missing Request Header", ttStruct(ttlv.TagRequestMessage, get), kmip.Limits{}, none},
		{"Request Header after the items", ttStruct(ttlv.TagRequestMessage, get, ttHeader(v14, ttCount(1))), kmip.Limits{}, none},
		{"missing Protocol Version", ttMsg(ttStruct(ttlv.TagRequestHeader, ttCount(1)), get), kmip.Limits{}, none},
		{"missing Batch Count", ttMsg(ttHeader(v14), get), kmip.Limits{}, v14},
		{"duplicated Protocol Version", ttMsg(ttHeader(v14, ttVersion(v14), ttCount(1)), get), kmip.Limits{}, v14},
		{"duplicated Batch Count", ttMsg(ttHeader(v14, ttCount(1), ttCount(1)), get), kmip.Limits{}, v14},
		{"duplicated Maximum Response Size", ttMsg(ttHeader(v14, ttInt(ttlv.TagMaximumResponseSize, 1000), ttInt(ttlv.TagMaximumResponseSize, 1000), ttCount(1)), get), kmip.Limits{}, v14},
		{"duplicated Client Correlation Value", ttMsg(ttHeader(v14, ttText(ttlv.TagClientCorrelationValue, "a"), ttText(ttlv.TagClientCorrelationValue, "b"), ttCount(1)), get), kmip.Limits{}, v14},
		{"duplicated Time Stamp", ttMsg(ttHeader(v14, ttDate(ttlv.TagTimeStamp, 1), ttDate(ttlv.TagTimeStamp, 1), ttCount(1)), get), kmip.Limits{}, v14},
		{"duplicated Batch Order Option", ttMsg(ttHeader(v14, ttBool(ttlv.TagBatchOrderOption, true), ttBool(ttlv.TagBatchOrderOption, true), ttCount(1)), get), kmip.Limits{}, v14},
		{"duplicated Authentication", ttMsg(ttHeader(v14, ttStruct(ttlv.TagAuthentication), ttStruct(ttlv.TagAuthentication), ttCount(1)), get), kmip.Limits{}, v14},
		{"Protocol Version an Integer", ttMsg(ttStruct(ttlv.TagRequestHeader, ttInt(ttlv.TagProtocolVersion, 1), ttCount(1)), get), kmip.Limits{}, none},
		{"Protocol Version Major an Enumeration", ttMsg(ttStruct(ttlv.TagRequestHeader, ttStruct(ttlv.TagProtocolVersion, ttEnum(ttlv.TagProtocolVersionMajor, 1), ttInt(ttlv.TagProtocolVersionMinor, 4)), ttCount(1)), get), kmip.Limits{}, none},
		{"Protocol Version Minor a Long Integer", ttMsg(ttStruct(ttlv.TagRequestHeader, ttStruct(ttlv.TagProtocolVersion, ttInt(ttlv.TagProtocolVersionMajor, 2), ttLong(ttlv.TagProtocolVersionMinor, 0)), ttCount(1)), get), kmip.Limits{}, none},
		{"Protocol Version without Minor", ttMsg(ttStruct(ttlv.TagRequestHeader, ttStruct(ttlv.TagProtocolVersion, ttInt(ttlv.TagProtocolVersionMajor, 2)), ttCount(1)), get), kmip.Limits{}, none},
		{"Protocol Version with a stray field", ttMsg(ttStruct(ttlv.TagRequestHeader, ttStruct(ttlv.TagProtocolVersion, ttInt(ttlv.TagProtocolVersionMajor, 1), ttInt(ttlv.TagProtocolVersionMinor, 4), ttInt(ttlv.TagProtocolVersionMinor, 4)), ttCount(1)), get), kmip.Limits{}, none},
		{"Batch Count a Long Integer", ttMsg(ttHeader(v14, ttLong(ttlv.TagBatchCount, 1)), get), kmip.Limits{}, v14},
		{"Maximum Response Size a Text String", ttMsg(ttHeader(v14, ttText(ttlv.TagMaximumResponseSize, "1000"), ttCount(1)), get), kmip.Limits{}, v14},
		{"Client Correlation Value a Byte String", ttMsg(ttHeader(v14, ttBytes(ttlv.TagClientCorrelationValue, []byte("a")), ttCount(1)), get), kmip.Limits{}, v14},
		{"Batch Error Continuation Option an Integer", ttMsg(ttHeader(v14, ttInt(ttlv.TagBatchErrorContinuationOption, 1), ttCount(1)), get), kmip.Limits{}, v14},
		{"Batch Error Continuation Option 4", ttMsg(ttHeader(v14, ttEnum(ttlv.TagBatchErrorContinuationOption, 4), ttCount(1)), get), kmip.Limits{}, v14},
		{"Batch Order Option an Integer", ttMsg(ttHeader(v14, ttInt(ttlv.TagBatchOrderOption, 1), ttCount(1)), get), kmip.Limits{}, v14},
		{"Time Stamp a Long Integer", ttMsg(ttHeader(v14, ttLong(ttlv.TagTimeStamp, 1), ttCount(1)), get), kmip.Limits{}, v14},
		{"Authentication a Text String", ttMsg(ttHeader(v14, ttText(ttlv.TagAuthentication, "me"), ttCount(1)), get), kmip.Limits{}, v14},
		{"stray field in header", ttMsg(ttHeader(v14, uid, ttCount(1)), get), kmip.Limits{}, v14},

		// The batch items.
		{"Batch Item a Text String", ttMsg(ttHeader(v14, ttCount(1)), ttText(ttlv.TagBatchItem, "get")), kmip.Limits{}, v14},
		{"stray item after the items", ttMsg(ttHeader(v14, ttCount(1)), get, ttCount(1)), kmip.Limits{}, v14},
		{"missing Operation", ttMsg(ttHeader(v14, ttCount(1)), ttStruct(ttlv.TagBatchItem, ttStruct(ttlv.TagRequestPayload, uid))), kmip.Limits{}, v14},
		{"Operation an Integer", ttMsg(ttHeader(v14, ttCount(1)), ttStruct(ttlv.TagBatchItem, ttInt(ttlv.TagOperation, 10), ttStruct(ttlv.TagRequestPayload, uid))), kmip.Limits{}, v14},
		{"missing Request Payload", ttMsg(ttHeader(v20, ttCount(1)), ttStruct(ttlv.TagBatchItem, ttEnum(ttlv.TagOperation, uint32(kmip.OperationGet)))), kmip.Limits{}, v20},
		{"Request Payload a Text String", ttMsg(ttHeader(v14, ttCount(1)), ttStruct(ttlv.TagBatchItem, ttEnum(ttlv.TagOperation, uint32(kmip.OperationGet)), ttText(ttlv.TagRequestPayload, "k"))), kmip.Limits{}, v14},
		{"Unique Batch Item ID a Text String", ttMsg(ttHeader(v14, ttCount(1)), ttStruct(ttlv.TagBatchItem, ttEnum(ttlv.TagOperation, uint32(kmip.OperationGet)), ttText(ttlv.TagUniqueBatchItemID, "a"), ttStruct(ttlv.TagRequestPayload, uid))), kmip.Limits{}, v14},
		{"Ephemeral an Integer", ttMsg(ttHeader(v20, ttCount(1)), ttStruct(ttlv.TagBatchItem, ttEnum(ttlv.TagOperation, uint32(kmip.OperationGet)), ttInt(ttlv.TagEphemeral, 1), ttStruct(ttlv.TagRequestPayload, uid))), kmip.Limits{}, v20},
		{"stray item before Request Payload", ttMsg(ttHeader(v14, ttCount(1)), ttStruct(ttlv.TagBatchItem, ttEnum(ttlv.TagOperation, uint32(kmip.OperationGet)), uid, ttStruct(ttlv.TagRequestPayload, uid))), kmip.Limits{}, v14},
		{"stray item after Request Payload", ttMsg(ttHeader(v14, ttCount(1)), ttStruct(ttlv.TagBatchItem, ttEnum(ttlv.TagOperation, uint32(kmip.OperationGet)), ttStruct(ttlv.TagRequestPayload, uid), uid)), kmip.Limits{}, v14},
		{"two Request Payloads", ttMsg(ttHeader(v14, ttCount(1)), ttStruct(ttlv.TagBatchItem, ttEnum(ttlv.TagOperation, uint32(kmip.OperationGet)), ttStruct(ttlv.TagRequestPayload, uid), ttStruct(ttlv.TagRequestPayload, uid))), kmip.Limits{}, v14},

		// The message itself.
		{"Response Message", ttStruct(ttlv.TagResponseMessage, ttHeader(v14, ttCount(1)), get), kmip.Limits{}, none},
		{"truncated", valid[:len(valid)-8], kmip.Limits{}, none},
		{"trailing data", ttCat(valid, uid), kmip.Limits{}, none},
		{"empty", nil, kmip.Limits{}, none},
		{"deeper than Limits.MaxDepth", valid, kmip.Limits{MaxDepth: 2}, none},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r kmip.Request
			err := r.Parse(c.msg, c.lim)
			if err == nil {
				t.Fatalf("Parse accepted %x", c.msg)
			}
			var pe *kmip.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *kmip.ParseError", err, err)
			}
			if pe.Reason != kmip.ResultReasonInvalidMessage || pe.ResultReason() != uint32(kmip.ResultReasonInvalidMessage) {
				t.Errorf("reason %v, want Invalid Message", pe.Reason)
			}
			if pe.Version != c.version {
				t.Errorf("error carries version %v, want %v (%v)", pe.Version, c.version, err)
			}
			if reason, _ := kmip.ResultOf(err); reason != kmip.ResultReasonInvalidMessage {
				t.Errorf("ResultOf = %v, want Invalid Message", reason)
			}
			if !strings.HasPrefix(err.Error(), "kmip: invalid request: ") {
				t.Errorf("message %q", err)
			}
		})
	}

	t.Run("malformed TTLV wraps the codec error", func(t *testing.T) {
		var r kmip.Request
		err := r.Parse(valid[:len(valid)-8], kmip.Limits{})
		var te *ttlv.Error
		if !errors.As(err, &te) || !errors.Is(err, ttlv.ErrTruncated) {
			t.Errorf("error %v does not wrap ttlv.ErrTruncated", err)
		}
	})
}

// A client claiming 2^31-1 batch items must not make the server reserve
// room for them: Parse only counts the items actually present.
func TestParse_HugeBatchCountAllocatesNothingLarge(t *testing.T) {
	msg := ttMsg(ttHeader(kmip.V1_4, ttCount(1<<31-1)), ttItem(kmip.OperationGet, "", ttUID("k")))
	var err error
	const runs = 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		var r kmip.Request // no capacity: anything reserved would show
		err = r.Parse(msg, kmip.Limits{})
	}
	runtime.ReadMemStats(&after)
	var pe *kmip.ParseError
	if !errors.As(err, &pe) || pe.Version != kmip.V1_4 || pe.Reason != kmip.ResultReasonInvalidMessage {
		t.Fatalf("Parse = %v, want an Invalid Message ParseError at 1.4", err)
	}
	if per := (after.TotalAlloc - before.TotalAlloc) / runs; per > 4096 {
		t.Errorf("Parse allocated %d bytes per call for a message of %d bytes", per, len(msg))
	}
}

func TestRequestWriter(t *testing.T) {
	off := false
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V1_4, 2, &kmip.RequestOptions{
		MaxResponseSize:        8192,
		ClientCorrelationValue: "cv",
		BatchErrorContinuation: kmip.BatchErrorContinuationOptionContinue,
		BatchOrderOption:       &off,
	})
	w.Item(kmip.OperationGet, []byte{1}, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "k1") })
	w.Item(kmip.OperationDestroy, []byte{2}, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "k1") })
	got, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	want := ttMsg(ttHeader(kmip.V1_4,
		ttInt(ttlv.TagMaximumResponseSize, 8192),
		ttText(ttlv.TagClientCorrelationValue, "cv"),
		ttEnum(ttlv.TagBatchErrorContinuationOption, uint32(kmip.BatchErrorContinuationOptionContinue)),
		ttBool(ttlv.TagBatchOrderOption, false),
		ttCount(2)),
		ttItem(kmip.OperationGet, "\x01", ttUID("k1")),
		ttItem(kmip.OperationDestroy, "\x02", ttUID("k1")))
	if !bytes.Equal(got, want) {
		t.Fatalf("RequestWriter wrote\n%x\nwant\n%x", got, want)
	}
	var r kmip.Request
	if err := r.Parse(got, kmip.Limits{}); err != nil {
		t.Fatalf("Parse of the written request: %v", err)
	}
	if r.Header.MaxResponseSize != 8192 || string(r.Header.ClientCorrelationValue) != "cv" || r.Header.BatchOrderOption {
		t.Errorf("header %+v", r.Header)
	}

	// Without options: a single-item request as the OASIS 2.0 Get.
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationGet, nil, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, benchcmp.FixtureUID) })
	got, err = w.Finish()
	if err != nil || !bytes.Equal(got, benchcmp.GetRequest20) {
		t.Fatalf("RequestWriter wrote\n%x (%v)\nwant\n%x", got, err, benchcmp.GetRequest20)
	}
}

// ---- ResponseWriter ----

func TestResponseWriter_GetEncoding(t *testing.T) {
	var w kmip.ResponseWriter
	got, err := benchcmp.EncodeGetResponse(&w, nil, benchcmp.FixtureTime, []byte(benchcmp.FixtureUID), benchcmp.FixtureKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, benchcmp.GetResponse20) {
		t.Fatalf("Get response\n%s\nwant (hand-written)\n%s", hex.EncodeToString(got), hex.EncodeToString(benchcmp.GetResponse20))
	}
}

func TestResponseWriter_RoundTrip(t *testing.T) {
	var w kmip.ResponseWriter
	w.Begin(make([]byte, 0, 64), 0, &kmip.ResponseHeader{
		Version:                kmip.V2_0,
		TimeStamp:              1700000000,
		ClientCorrelationValue: []byte("ccv"),
		ServerCorrelationValue: []byte("scv"),
		BatchCount:             2,
	})
	w.BeginSuccess(kmip.OperationGet, []byte("one"))
	p := kmip.GetResponse{
		ObjectType: kmip.ObjectTypeSymmetricKey,
		UniqueID:   []byte("uid-1"),
		Key: kmip.KeyBlock{
			FormatType: kmip.KeyFormatTypeTransparentSymmetricKey, Material: bytes.Repeat([]byte{7}, 16),
			CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: 128,
		},
	}
	p.MarshalTTLV(&w.B)
	w.EndItem()
	w.Failure(kmip.OperationDestroy, []byte("two"), kmip.ResultStatusOperationFailed, kmip.ResultReasonObjectNotFound, "no such object")
	msg, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}

	var r kmip.Response
	if err := r.Parse(msg, kmip.Limits{}); err != nil {
		t.Fatalf("Response.Parse: %v", err)
	}
	h := r.Header
	if h.Version != kmip.V2_0 || h.TimeStamp != 1700000000 || string(h.ClientCorrelationValue) != "ccv" ||
		string(h.ServerCorrelationValue) != "scv" || h.BatchCount != 2 || len(r.Items) != 2 {
		t.Fatalf("header %+v, %d items", h, len(r.Items))
	}
	ok, bad := r.Items[0], r.Items[1]
	if ok.Operation != kmip.OperationGet || string(ok.ID) != "one" || ok.Status != kmip.ResultStatusSuccess || ok.Err() != nil {
		t.Errorf("success item %+v", ok)
	}
	wantPayload := ttCat(
		ttEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey)),
		ttText(ttlv.TagUniqueIdentifier, "uid-1"),
		ttStruct(ttlv.TagSymmetricKey, ttStruct(ttlv.TagKeyBlock,
			ttEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeTransparentSymmetricKey)),
			ttStruct(ttlv.TagKeyValue, ttStruct(ttlv.TagKeyMaterial, ttBytes(ttlv.TagKey, bytes.Repeat([]byte{7}, 16)))),
			ttEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES)),
			ttInt(ttlv.TagCryptographicLength, 128))))
	if !bytes.Equal(ok.Payload, wantPayload) {
		t.Errorf("payload\n%x\nwant\n%x", []byte(ok.Payload), wantPayload)
	}
	if bad.Operation != kmip.OperationDestroy || string(bad.ID) != "two" || bad.Status != kmip.ResultStatusOperationFailed ||
		bad.Reason != kmip.ResultReasonObjectNotFound || string(bad.Message) != "no such object" || bad.Payload != nil {
		t.Errorf("failure item %+v", bad)
	}
	if err := bad.Err(); !errors.Is(err, kmip.ErrObjectNotFound) {
		t.Errorf("failure item Err() = %v", err)
	}
	wantFailure := ttStruct(ttlv.TagBatchItem,
		ttEnum(ttlv.TagOperation, uint32(kmip.OperationDestroy)),
		ttBytes(ttlv.TagUniqueBatchItemID, []byte("two")),
		ttEnum(ttlv.TagResultStatus, uint32(kmip.ResultStatusOperationFailed)),
		ttEnum(ttlv.TagResultReason, uint32(kmip.ResultReasonObjectNotFound)),
		ttText(ttlv.TagResultMessage, "no such object"))
	if !bytes.HasSuffix(msg, wantFailure) {
		t.Errorf("failure item not encoded as\n%x\nin\n%x", wantFailure, msg)
	}
}

// reasonSent encodes one failed item at version v and returns the Result
// Reason found on the wire, read back by hand.
func reasonSent(t *testing.T, v kmip.Version, reason kmip.ResultReason) kmip.ResultReason {
	t.Helper()
	var w kmip.ResponseWriter
	w.Begin(nil, 0, &kmip.ResponseHeader{Version: v, TimeStamp: 1, BatchCount: 1})
	w.Failure(kmip.OperationGet, nil, kmip.ResultStatusOperationFailed, reason, "")
	msg, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	// The Result Reason item is the last 16 bytes of the message.
	tail := msg[len(msg)-16:]
	if !bytes.Equal(tail[:8], []byte{0x42, 0x00, 0x7E, 0x05, 0, 0, 0, 4}) {
		t.Fatalf("message does not end with a Result Reason: %x", msg)
	}
	var r kmip.Response
	if err := r.Parse(msg, kmip.Limits{}); err != nil || len(r.Items) != 1 {
		t.Fatalf("Response.Parse: %v", err)
	}
	if got := kmip.ResultReason(binary.BigEndian.Uint32(tail[8:12])); got != r.Items[0].Reason {
		t.Fatalf("Parse read %v, wire has %v", r.Items[0].Reason, got)
	}
	return r.Items[0].Reason
}

func TestResponseWriter_FailureReasonPerVersion(t *testing.T) {
	cases := []struct {
		v      kmip.Version
		reason kmip.ResultReason
		want   kmip.ResultReason
	}{
		{kmip.V1_0, kmip.ResultReasonObjectNotFound, kmip.ResultReasonItemNotFound},
		{kmip.V1_2, kmip.ResultReasonObjectNotFound, kmip.ResultReasonItemNotFound},
		{kmip.V1_4, kmip.ResultReasonObjectNotFound, kmip.ResultReasonItemNotFound},
		{kmip.V2_0, kmip.ResultReasonObjectNotFound, kmip.ResultReasonObjectNotFound},
		{kmip.V2_1, kmip.ResultReasonObjectNotFound, kmip.ResultReasonObjectNotFound},
		{kmip.V1_2, kmip.ResultReasonWrongKeyLifecycleState, kmip.ResultReasonPermissionDenied},
		{kmip.V2_0, kmip.ResultReasonWrongKeyLifecycleState, kmip.ResultReasonWrongKeyLifecycleState},
		{kmip.V1_4, kmip.ResultReasonPermissionDenied, kmip.ResultReasonPermissionDenied},
		{kmip.V1_2, kmip.ResultReasonInvalidField, kmip.ResultReasonInvalidField},
		{kmip.V1_4, kmip.ResultReasonResponseTooLarge, kmip.ResultReasonResponseTooLarge},
		// A destroyed object is Item Not Found at 1.x (what 1.x clients
		// expect from a Get after Destroy), Object Destroyed from 2.0 on.
		{kmip.V1_0, kmip.ResultReasonObjectDestroyed, kmip.ResultReasonItemNotFound},
		{kmip.V1_2, kmip.ResultReasonObjectDestroyed, kmip.ResultReasonItemNotFound},
		{kmip.V1_4, kmip.ResultReasonObjectDestroyed, kmip.ResultReasonItemNotFound},
		{kmip.V2_0, kmip.ResultReasonObjectDestroyed, kmip.ResultReasonObjectDestroyed},
		{kmip.V2_1, kmip.ResultReasonObjectDestroyed, kmip.ResultReasonObjectDestroyed},
		// A destroyed wrapping key stays Permission Denied.
		{kmip.V1_4, kmip.ResultReasonWrappingObjectDestroyed, kmip.ResultReasonPermissionDenied},
	}
	for _, c := range cases {
		t.Run(c.v.String()+" "+c.reason.String(), func(t *testing.T) {
			if got := reasonSent(t, c.v, c.reason); got != c.want {
				t.Errorf("sent %v, want %v", got, c.want)
			}
			if got := kmip.ReasonFor(c.v, c.reason); got != c.want {
				t.Errorf("ReasonFor = %v, want %v", got, c.want)
			}
		})
	}
}

// Whatever the reason, a 1.x client must get one that exists in its version.
func TestReasonFor_EveryReasonExistsInVersion(t *testing.T) {
	n := 0
	for val := range ttlv.Enums(ttlv.TagResultReason) {
		n++
		r := kmip.ResultReason(val)
		for _, v := range kmip.SupportedVersions {
			got := kmip.ReasonFor(v, r)
			if !v.HasEnum(ttlv.TagResultReason, uint32(got)) {
				t.Errorf("ReasonFor(%v, %v) = %v, which %v lacks", v, r, got, v)
			}
			if v.HasEnum(ttlv.TagResultReason, val) && got != r {
				t.Errorf("ReasonFor(%v, %v) = %v, but %v has %v", v, r, got, v, r)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d Result Reasons in the tables", n)
	}
}

func TestResponseWriter_CorrelationValueFrom14(t *testing.T) {
	for _, c := range []struct {
		v    kmip.Version
		want bool
	}{
		{kmip.V1_0, false}, {kmip.V1_2, false}, {kmip.V1_3, false},
		{kmip.V1_4, true}, {kmip.V2_0, true}, {kmip.V2_1, true},
	} {
		t.Run(c.v.String(), func(t *testing.T) {
			var w kmip.ResponseWriter
			w.Begin(nil, 0, &kmip.ResponseHeader{Version: c.v, TimeStamp: 1, ClientCorrelationValue: []byte("corr"), BatchCount: 1})
			w.Failure(kmip.OperationGet, nil, kmip.ResultStatusOperationFailed, kmip.ResultReasonGeneralFailure, "")
			msg, err := w.Finish()
			if err != nil {
				t.Fatal(err)
			}
			wantHeader := ttStruct(ttlv.TagResponseHeader, ttVersion(c.v), ttDate(ttlv.TagTimeStamp, 1), ttCount(1))
			if c.want {
				wantHeader = ttStruct(ttlv.TagResponseHeader, ttVersion(c.v), ttDate(ttlv.TagTimeStamp, 1),
					ttText(ttlv.TagClientCorrelationValue, "corr"), ttCount(1))
			}
			if !bytes.Equal(msg[8:8+len(wantHeader)], wantHeader) {
				t.Errorf("header\n%x\nwant\n%x", msg[8:8+len(wantHeader)], wantHeader)
			}
			var r kmip.Response
			if err := r.Parse(msg, kmip.Limits{}); err != nil {
				t.Fatal(err)
			}
			if got := r.Header.ClientCorrelationValue != nil; got != c.want {
				t.Errorf("Client Correlation Value present = %v, want %v", got, c.want)
			}
		})
	}
}

func TestResponseWriter_MaximumResponseSize(t *testing.T) {
	hdr := &kmip.ResponseHeader{Version: kmip.V1_4, TimeStamp: 1, BatchCount: 1}
	big := kmip.GetResponse{
		ObjectType: kmip.ObjectTypeSymmetricKey,
		UniqueID:   []byte("k"),
		Key:        kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: make([]byte, 1024)},
	}
	const max = 256

	t.Run("over the cap", func(t *testing.T) {
		var w kmip.ResponseWriter
		w.Begin(nil, max, hdr)
		w.BeginSuccess(kmip.OperationGet, nil)
		big.MarshalTTLV(&w.B)
		w.EndItem()
		msg, err := w.Finish()
		if !errors.Is(err, ttlv.ErrTooLarge) || msg != nil {
			t.Fatalf("Finish = %d bytes, %v; want ttlv.ErrTooLarge", len(msg), err)
		}
		if !errors.Is(w.B.Err(), ttlv.ErrTooLarge) {
			t.Errorf("Builder error %v", w.B.Err())
		}
	})

	t.Run("rollback to the item's mark", func(t *testing.T) {
		var w kmip.ResponseWriter
		w.Begin(nil, max, hdr)
		m := w.B.Mark()
		w.BeginSuccess(kmip.OperationGet, []byte("id"))
		big.MarshalTTLV(&w.B)
		w.EndItem()
		if !errors.Is(w.B.Err(), ttlv.ErrTooLarge) {
			t.Fatalf("Builder error %v, want ttlv.ErrTooLarge", w.B.Err())
		}
		w.B.Rollback(m)
		w.Failure(kmip.OperationGet, []byte("id"), kmip.ResultStatusOperationFailed, kmip.ResultReasonResponseTooLarge, "")
		msg, err := w.Finish()
		if err != nil {
			t.Fatalf("Finish after Rollback: %v", err)
		}
		if len(msg) > max {
			t.Errorf("%d bytes over the %d-byte cap", len(msg), max)
		}
		want := ttStruct(ttlv.TagResponseMessage,
			ttStruct(ttlv.TagResponseHeader, ttVersion(kmip.V1_4), ttDate(ttlv.TagTimeStamp, 1), ttCount(1)),
			ttStruct(ttlv.TagBatchItem,
				ttEnum(ttlv.TagOperation, uint32(kmip.OperationGet)),
				ttBytes(ttlv.TagUniqueBatchItemID, []byte("id")),
				ttEnum(ttlv.TagResultStatus, uint32(kmip.ResultStatusOperationFailed)),
				ttEnum(ttlv.TagResultReason, uint32(kmip.ResultReasonResponseTooLarge))))
		if !bytes.Equal(msg, want) {
			t.Fatalf("after Rollback\n%x\nwant\n%x", msg, want)
		}
		if err := ttlv.Check(msg, 0); err != nil {
			t.Errorf("Check: %v", err)
		}
	})

	t.Run("exactly at the cap", func(t *testing.T) {
		var w kmip.ResponseWriter
		w.Begin(nil, 0, hdr)
		w.Failure(kmip.OperationGet, nil, kmip.ResultStatusOperationFailed, kmip.ResultReasonResponseTooLarge, "")
		full, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		w.Begin(nil, len(full), hdr)
		w.Failure(kmip.OperationGet, nil, kmip.ResultStatusOperationFailed, kmip.ResultReasonResponseTooLarge, "")
		if msg, err := w.Finish(); err != nil || !bytes.Equal(msg, full) {
			t.Errorf("at the cap: %v", err)
		}
		w.Begin(nil, len(full)-1, hdr)
		w.Failure(kmip.OperationGet, nil, kmip.ResultStatusOperationFailed, kmip.ResultReasonResponseTooLarge, "")
		if _, err := w.Finish(); !errors.Is(err, ttlv.ErrTooLarge) {
			t.Errorf("one byte over the cap: %v", err)
		}
	})
}

// ---- Version ----

func TestVersion_Supported(t *testing.T) {
	for _, c := range []struct {
		v    kmip.Version
		want bool
	}{
		{kmip.Version{Major: 1, Minor: 0}, true},
		{kmip.Version{Major: 1, Minor: 1}, true},
		{kmip.Version{Major: 1, Minor: 2}, true},
		{kmip.Version{Major: 1, Minor: 3}, true},
		{kmip.Version{Major: 1, Minor: 4}, true},
		{kmip.Version{Major: 2, Minor: 0}, true},
		{kmip.Version{Major: 2, Minor: 1}, true},
		{kmip.Version{Major: 1, Minor: 5}, false},
		{kmip.Version{Major: 2, Minor: 2}, false},
		{kmip.Version{Major: 3, Minor: 0}, false},
		{kmip.Version{Major: 0, Minor: 9}, false},
		{kmip.Version{Major: 1, Minor: -1}, false},
		{kmip.Version{}, false},
	} {
		if got := c.v.Supported(); got != c.want {
			t.Errorf("%v.Supported() = %v, want %v", c.v, got, c.want)
		}
	}
	for _, v := range kmip.SupportedVersions {
		if !v.Supported() {
			t.Errorf("SupportedVersions lists %v, which is not Supported", v)
		}
	}
	for i := 1; i < len(kmip.SupportedVersions); i++ {
		if !kmip.SupportedVersions[i].Less(kmip.SupportedVersions[i-1]) {
			t.Errorf("SupportedVersions not newest first at %d", i)
		}
	}
}

func TestVersion_Order(t *testing.T) {
	if !kmip.V1_4.Less(kmip.V2_0) || kmip.V2_0.Less(kmip.V1_4) || kmip.V1_2.Less(kmip.V1_2) {
		t.Error("Less")
	}
	if !kmip.V2_0.AtLeast(kmip.V1_4) || !kmip.V1_4.AtLeast(kmip.V1_4) || kmip.V1_3.AtLeast(kmip.V1_4) {
		t.Error("AtLeast")
	}
	if kmip.V1_4.V2() || !kmip.V2_0.V2() || !kmip.V2_1.V2() {
		t.Error("V2")
	}
	if s := kmip.V2_1.String(); s != "2.1" {
		t.Errorf("String = %q", s)
	}
}

func TestVersion_HasTag(t *testing.T) {
	for _, c := range []struct {
		v    kmip.Version
		tag  ttlv.Tag
		want bool
	}{
		{kmip.V1_2, ttlv.TagAttributes, false},
		{kmip.V1_4, ttlv.TagAttributes, false},
		{kmip.V2_0, ttlv.TagAttributes, true},
		{kmip.V2_1, ttlv.TagAttributes, true},
		{kmip.V1_4, ttlv.TagTemplateAttribute, true},
		{kmip.V1_0, ttlv.TagTemplateAttribute, true},
		{kmip.V2_0, ttlv.TagTemplateAttribute, false},
		{kmip.V1_4, ttlv.TagEphemeral, false},
		{kmip.V2_0, ttlv.TagEphemeral, true},
		{kmip.V1_4, ttlv.TagClientCorrelationValue, true},
		{kmip.V1_0, ttlv.TagUniqueIdentifier, true},
		{kmip.V2_1, ttlv.TagUniqueIdentifier, true},
		{kmip.V1_4, ttlv.Tag(0x540001), true}, // extension tags are always allowed
		{kmip.V2_0, ttlv.Tag(0x42FFFF), false},
	} {
		if got := c.v.HasTag(c.tag); got != c.want {
			t.Errorf("%v.HasTag(%v) = %v, want %v", c.v, c.tag, got, c.want)
		}
	}
}

func TestVersion_HasEnum(t *testing.T) {
	for _, c := range []struct {
		v    kmip.Version
		tag  ttlv.Tag
		val  uint32
		want bool
	}{
		{kmip.V1_4, ttlv.TagResultReason, uint32(kmip.ResultReasonObjectNotFound), false},
		{kmip.V1_2, ttlv.TagResultReason, uint32(kmip.ResultReasonObjectNotFound), false},
		{kmip.V2_0, ttlv.TagResultReason, uint32(kmip.ResultReasonObjectNotFound), true},
		{kmip.V2_1, ttlv.TagResultReason, uint32(kmip.ResultReasonObjectNotFound), true},
		{kmip.V1_0, ttlv.TagResultReason, uint32(kmip.ResultReasonItemNotFound), true},
		{kmip.V2_0, ttlv.TagResultReason, uint32(kmip.ResultReasonItemNotFound), true},
		{kmip.V1_4, ttlv.TagObjectType, uint32(kmip.ObjectTypeTemplate), true},
		{kmip.V1_4, ttlv.TagResultReason, 0x80000001, true}, // extension value
		{kmip.V2_0, ttlv.TagResultReason, 0x7FFFFFFF, false},
	} {
		if got := c.v.HasEnum(c.tag, c.val); got != c.want {
			t.Errorf("%v.HasEnum(%v, %#x) = %v, want %v", c.v, c.tag, c.val, got, c.want)
		}
	}
}
