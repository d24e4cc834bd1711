package ttlv

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendXML appends the XML encoding of the TTLV item msg (a whole message,
// or any single item) to dst. Each element goes on its own line, indented by
// two spaces a level, if indent is set; otherwise there is no whitespace.
// msg is validated with Check first; its errors are returned as they are.
func AppendXML(dst, msg []byte, indent bool) ([]byte, error) {
	if err := Check(msg, 0); err != nil {
		return dst, err
	}
	it, _ := Value(msg).Peek()
	e := xmlEncoder{buf: dst, indent: indent}
	if err := e.item(it, it.Tag, 0); err != nil {
		return dst, err
	}
	return e.buf, nil
}

// MarshalXML returns the indented XML encoding of the TTLV item msg.
func MarshalXML(msg []byte) ([]byte, error) { return AppendXML(nil, msg, true) }

type xmlEncoder struct {
	buf    []byte
	indent bool
}

func (e *xmlEncoder) pad(depth int) {
	if e.indent {
		for i := 0; i < depth; i++ {
			e.buf = append(e.buf, ' ', ' ')
		}
	}
}

func (e *xmlEncoder) nl() {
	if e.indent {
		e.buf = append(e.buf, '\n')
	}
}

func (e *xmlEncoder) item(it Item, names Tag, depth int) error {
	e.pad(depth)
	known := lookupTag(it.Tag) != nil
	e.buf = append(e.buf, '<')
	if known {
		e.buf = append(e.buf, it.Tag.String()...)
	} else {
		e.buf = append(e.buf, `TTLV tag="`...)
		e.buf = namesAppendHex(e.buf, uint32(it.Tag), 6)
		e.buf = append(e.buf, '"')
	}
	if it.Type == TypeStructure {
		kids := it.Children()
		if kids.Empty() {
			e.buf = append(e.buf, "/>"...)
			e.nl()
			return nil
		}
		e.buf = append(e.buf, '>')
		e.nl()
		var attrTag Tag
		if it.Tag == TagAttribute {
			attrTag = attributeValueTag(kids)
		}
		for !kids.Empty() {
			k, _ := kids.Next()
			kn := k.Tag
			if attrTag != 0 && k.Tag == TagAttributeValue {
				kn = attrTag
			}
			if err := e.item(k, kn, depth+1); err != nil {
				return err
			}
		}
		e.pad(depth)
		e.buf = append(e.buf, "</"...)
		if known {
			e.buf = append(e.buf, it.Tag.String()...)
		} else {
			e.buf = append(e.buf, "TTLV"...)
		}
		e.buf = append(e.buf, '>')
		e.nl()
		return nil
	}
	e.buf = append(e.buf, ` type="`...)
	e.buf = append(e.buf, it.Type.String()...)
	e.buf = append(e.buf, `" value="`...)
	var err error
	e.buf, err = appendXMLValue(e.buf, it, names)
	if err != nil {
		return err
	}
	e.buf = append(e.buf, `"/>`...)
	e.nl()
	return nil
}

// appendXMLValue appends the value attribute's text for a checked item.
func appendXMLValue(dst []byte, it Item, names Tag) ([]byte, error) {
	switch it.Type {
	case TypeInteger:
		if IsMask(names) {
			return AppendMask(dst, names, it.Uint32(), ' '), nil
		}
		return strconv.AppendInt(dst, int64(it.Int32()), 10), nil
	case TypeLongInteger, TypeDateTimeExtended:
		return strconv.AppendInt(dst, it.Int64(), 10), nil
	case TypeInterval:
		return strconv.AppendUint(dst, uint64(it.Uint32()), 10), nil
	case TypeEnumeration:
		return appendEnum(dst, it, names), nil
	case TypeBoolean:
		return strconv.AppendBool(dst, it.Int64() == 1), nil
	case TypeBigInteger, TypeByteString:
		return appendHex(dst, it.Data), nil
	case TypeDateTime:
		return appendDateTime(dst, it.Int64()), nil
	case TypeTextString:
		return appendXMLEscaped(dst, it.Data)
	}
	return dst, ErrBadType
}

func appendEnum(dst []byte, it Item, names Tag) []byte {
	if s, ok := EnumName(names, it.Uint32()); ok {
		return append(dst, s...)
	}
	return namesAppendHex(dst, it.Uint32(), 8)
}

func appendDateTime(dst []byte, sec int64) []byte {
	if t, ok := dateTime(sec); ok {
		return t.AppendFormat(dst, time.RFC3339)
	}
	return appendHex64(dst, uint64(sec))
}

// appendXMLEscaped appends UTF-8 text escaped for a double-quoted
// attribute. Tab, newline and carriage return become character references
// so that attribute-value normalization keeps them.
func appendXMLEscaped(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '&':
				dst = append(dst, "&amp;"...)
			case c == '<':
				dst = append(dst, "&lt;"...)
			case c == '>':
				dst = append(dst, "&gt;"...)
			case c == '"':
				dst = append(dst, "&quot;"...)
			case c == '\t':
				dst = append(dst, "&#x9;"...)
			case c == '\n':
				dst = append(dst, "&#xA;"...)
			case c == '\r':
				dst = append(dst, "&#xD;"...)
			case c < 0x20:
				return dst, ErrNotXMLText
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 || r == 0xFFFE || r == 0xFFFF {
			return dst, ErrNotXMLText
		}
		dst = append(dst, s[i:i+n]...)
		i += n
	}
	return dst, nil
}
