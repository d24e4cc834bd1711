package ttlv

import (
	"encoding/binary"
	"strconv"
	"time"
)

// This file holds the readable tree printer and the naming rules that it
// shares with the XML and JSON encodings (xml.go, json.go).

// Format renders a sequence of TTLV items (usually one message) as an
// indented tree, one item a line, for logs, tests and debugging:
//
//	RequestMessage
//	  RequestHeader
//	    ProtocolVersion
//	      ProtocolVersionMajor (Integer) 2
//	  BatchItem
//	    Operation (Enumeration) Create
//	    ...
//
// Enumerations and mask bits are shown by name, Date-Times in RFC 3339,
// Text Strings quoted, Byte Strings and Big Integers in hex (long ones
// shortened, with their length). Format never fails: malformed input is
// shown as far as it can be read, followed by a line naming the problem.
func Format(items []byte) string {
	return string(AppendFormat(nil, items))
}

// AppendFormat appends Format(items) to dst.
func AppendFormat(dst, items []byte) []byte {
	v := Value(items)
	dst = appendFormatSeq(dst, v, 0, 0)
	if err := CheckSeq(items, formatMaxDepth); err != nil {
		dst = append(dst, "!! "...)
		dst = append(dst, err.Error()...)
		dst = append(dst, '\n')
	}
	return dst
}

// formatMaxDepth bounds the printer's recursion on unchecked input.
const formatMaxDepth = 64

// formatBytesMax is the longest Byte String or Big Integer printed whole;
// longer ones show their first formatBytesHead bytes.
const (
	formatBytesMax  = 64
	formatBytesHead = 32
)

func appendFormatSeq(dst []byte, v Value, depth int, parent Tag) []byte {
	var attrTag Tag
	if parent == TagAttribute {
		attrTag = attributeValueTag(v)
	}
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return dst
		}
		for i := 0; i < depth; i++ {
			dst = append(dst, "  "...)
		}
		dst = append(dst, it.Tag.String()...)
		if it.Type == TypeStructure {
			dst = append(dst, '\n')
			if depth < formatMaxDepth {
				dst = appendFormatSeq(dst, it.Children(), depth+1, it.Tag)
			}
			continue
		}
		names := it.Tag
		if attrTag != 0 && it.Tag == TagAttributeValue {
			names = attrTag
		}
		dst = append(dst, " ("...)
		dst = append(dst, it.Type.String()...)
		dst = append(dst, ") "...)
		dst = appendFormatValue(dst, it, names)
		dst = append(dst, '\n')
	}
	return dst
}

// appendFormatValue appends the readable form of a non-Structure item's
// value; names is the tag whose tables name the value.
func appendFormatValue(dst []byte, it Item, names Tag) []byte {
	if fl := it.Type.fixedLen(); fl != 0 && len(it.Data) != fl {
		return append(dst, "!! bad length "+strconv.Itoa(len(it.Data))...)
	}
	switch it.Type {
	case TypeInteger:
		if IsMask(names) {
			return AppendMask(dst, names, it.Uint32(), '|')
		}
		return strconv.AppendInt(dst, int64(it.Int32()), 10)
	case TypeEnumeration:
		if s, ok := EnumName(names, it.Uint32()); ok {
			return append(dst, s...)
		}
		return namesAppendHex(dst, it.Uint32(), 8)
	case TypeInterval:
		return strconv.AppendUint(dst, uint64(it.Uint32()), 10)
	case TypeLongInteger:
		return strconv.AppendInt(dst, it.Int64(), 10)
	case TypeBoolean:
		switch binary.BigEndian.Uint64(it.Data) {
		case 0:
			return append(dst, "false"...)
		case 1:
			return append(dst, "true"...)
		}
		return append(dst, "!! bad boolean 0x"+strconv.FormatUint(binary.BigEndian.Uint64(it.Data), 16)...)
	case TypeDateTime:
		if t, ok := dateTime(it.Int64()); ok {
			return t.AppendFormat(dst, time.RFC3339)
		}
		return strconv.AppendInt(dst, it.Int64(), 10)
	case TypeDateTimeExtended:
		us := it.Int64()
		if _, ok := dateTime(us / 1e6); ok {
			return time.UnixMicro(us).UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z07:00")
		}
		return strconv.AppendInt(dst, us, 10)
	case TypeTextString:
		return strconv.AppendQuote(dst, string(it.Data))
	case TypeBigInteger:
		dst = append(dst, "0x"...)
		return appendFormatHex(dst, it.Data)
	case TypeByteString:
		return appendFormatHex(dst, it.Data)
	}
	return appendHex(dst, it.Data)
}

func appendFormatHex(dst, b []byte) []byte {
	if len(b) <= formatBytesMax {
		return appendHex(dst, b)
	}
	dst = appendHex(dst, b[:formatBytesHead])
	dst = append(dst, "… ("...)
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	return append(dst, " bytes)"...)
}

// attributeValueTag returns the tag whose tables name the Attribute Value of
// a KMIP 1.x Attribute structure with the given children: the tag whose
// specification name is the text of the sibling Attribute Name, e.g.
// "Cryptographic Algorithm". It returns 0 for custom attributes ("x-…"),
// for 2.x vendor attributes (which carry a Vendor Identification) and when
// there is no Attribute Name.
func attributeValueTag(children Value) Tag {
	var name []byte
	for !children.Empty() {
		it, ok := children.Next()
		if !ok {
			return 0
		}
		switch it.Tag {
		case TagVendorIdentification:
			return 0
		case TagAttributeName:
			if it.Type != TypeTextString {
				return 0
			}
			name = it.Data
		}
	}
	if name == nil {
		return 0
	}
	t, _ := TagBySpecNameBytes(name)
	return t
}

// The Date-Times shown in RFC 3339: years 1 to 9999.
const (
	minDateTime = -62135596800 // 0001-01-01T00:00:00Z
	maxDateTime = 253402300799 // 9999-12-31T23:59:59Z
)

// dateTime converts seconds since the epoch to a UTC time, reporting false
// when the year is outside 1–9999 and so has no plain RFC 3339 form.
func dateTime(sec int64) (time.Time, bool) {
	if sec < minDateTime || sec > maxDateTime {
		return time.Time{}, false
	}
	return time.Unix(sec, 0).UTC(), true
}

const hexDigits = "0123456789abcdef"

// appendHex appends b in lowercase hex, without a 0x prefix.
func appendHex(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return dst
}

// appendHex64 appends 0x and v as 16 lowercase hex digits.
func appendHex64(dst []byte, v uint64) []byte {
	dst = append(dst, '0', 'x')
	for i := 15; i >= 0; i-- {
		dst = append(dst, hexDigits[v>>(4*uint(i))&0xf])
	}
	return dst
}
