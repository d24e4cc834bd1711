package ttlv

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
)

// The KMIP JSON encoding (KMIP Profiles 2.1 §5.5.1). Each item is an object
//
//	{"tag": "ActivationDate", "type": "DateTime", "value": "2001-01-01T10:00:00Z"}
//
// where tag is the tag's name or 0x and six hex digits, type is omitted for
// a Structure, and a Structure's value is the array of its items.
//
// AppendJSON writes: Integers as numbers (masks as "Encrypt|Decrypt" strings,
// unnamed bits as 0x hex items); Long Integers and Date-Time Extended as
// numbers, or as 0x and 16 hex digits when their magnitude is 2^52 or more
// (JSON numbers lose precision beyond); Big Integers as 0x and the whole
// two's-complement value in hex; Enumerations by name (Attribute Reference
// by tag name, a 1.x Attribute Value by its Attribute Name's table) or
// "0x0000002a"; Booleans as true or false; Byte Strings as hex without 0x;
// Date-Times as RFC 3339 in UTC (0x hex outside the years 1–9999);
// Intervals as numbers.
//
// ParseJSON reads every form of §5.5.1.6: numbers or 0x hex strings for
// Integer, Long Integer, Big Integer, Enumeration, Interval and Date-Time
// Extended; mask strings; enumeration names; Booleans as true/false or hex;
// Date-Times as RFC 3339 with a time zone (fractional seconds truncated) or
// hex; a Structure's value as an array or null. "name" members are
// ignored; other unknown members are an error.

// AppendJSON appends the JSON encoding of the TTLV item msg (a whole
// message, or any single item) to dst. If indent is set every item starts a
// new line, indented by two spaces a level; otherwise there is no
// whitespace. msg is validated with Check first; its errors are returned as
// they are.
func AppendJSON(dst, msg []byte, indent bool) ([]byte, error) {
	if err := Check(msg, 0); err != nil {
		return dst, err
	}
	it, _ := Value(msg).Peek()
	e := jsonEncoder{buf: dst, indent: indent}
	e.item(it, it.Tag, 0)
	if indent {
		e.buf = append(e.buf, '\n')
	}
	return e.buf, nil
}

// MarshalJSON returns the indented JSON encoding of the TTLV item msg.
func MarshalJSON(msg []byte) ([]byte, error) { return AppendJSON(nil, msg, true) }

type jsonEncoder struct {
	buf    []byte
	indent bool
}

// jsonExact bounds the magnitude of the Long Integers written as numbers.
const jsonExact = 1 << 52

func (e *jsonEncoder) item(it Item, names Tag, depth int) {
	e.buf = append(e.buf, `{"tag":"`...)
	e.buf = append(e.buf, it.Tag.String()...)
	e.buf = append(e.buf, '"')
	if it.Type == TypeStructure {
		e.buf = append(e.buf, `,"value":[`...)
		kids := it.Children()
		var attrTag Tag
		if it.Tag == TagAttribute {
			attrTag = attributeValueTag(kids)
		}
		for first := true; !kids.Empty(); first = false {
			k, _ := kids.Next()
			if !first {
				e.buf = append(e.buf, ',')
			}
			if e.indent {
				e.buf = append(e.buf, '\n')
				for i := 0; i <= depth; i++ {
					e.buf = append(e.buf, ' ', ' ')
				}
			}
			kn := k.Tag
			if attrTag != 0 && k.Tag == TagAttributeValue {
				kn = attrTag
			}
			e.item(k, kn, depth+1)
		}
		e.buf = append(e.buf, "]}"...)
		return
	}
	e.buf = append(e.buf, `,"type":"`...)
	e.buf = append(e.buf, it.Type.String()...)
	e.buf = append(e.buf, `","value":`...)
	e.buf = appendJSONValue(e.buf, it, names)
	e.buf = append(e.buf, '}')
}

// appendJSONValue appends the JSON value of a checked non-Structure item.
func appendJSONValue(dst []byte, it Item, names Tag) []byte {
	switch it.Type {
	case TypeInteger:
		if IsMask(names) {
			dst = append(dst, '"')
			dst = AppendMask(dst, names, it.Uint32(), '|')
			return append(dst, '"')
		}
		return strconv.AppendInt(dst, int64(it.Int32()), 10)
	case TypeLongInteger, TypeDateTimeExtended:
		v := it.Int64()
		if v > -jsonExact && v < jsonExact {
			return strconv.AppendInt(dst, v, 10)
		}
		dst = append(dst, '"')
		dst = appendHex64(dst, uint64(v))
		return append(dst, '"')
	case TypeInterval:
		return strconv.AppendUint(dst, uint64(it.Uint32()), 10)
	case TypeEnumeration:
		dst = append(dst, '"')
		dst = appendEnum(dst, it, names)
		return append(dst, '"')
	case TypeBoolean:
		return strconv.AppendBool(dst, it.Int64() == 1)
	case TypeBigInteger:
		dst = append(dst, `"0x`...)
		dst = appendHex(dst, it.Data)
		return append(dst, '"')
	case TypeByteString:
		dst = append(dst, '"')
		dst = appendHex(dst, it.Data)
		return append(dst, '"')
	case TypeDateTime:
		dst = append(dst, '"')
		dst = appendDateTime(dst, it.Int64())
		return append(dst, '"')
	case TypeTextString:
		return appendJSONString(dst, it.Data)
	}
	return append(dst, "null"...)
}

// appendJSONString appends s, which is valid UTF-8, as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// ParseJSON converts one item (usually a message) in the KMIP JSON
// encoding to TTLV. Errors are *TextError values.
func ParseJSON(data []byte, opts *DecodeOptions) ([]byte, error) {
	p := jsonParser{data: data, maxDepth: opts.maxDepth()}
	p.dec = json.NewDecoder(bytes.NewReader(data))
	p.dec.UseNumber()
	conv := textConv{format: "json", sep: '|', line: p.lineAt}
	if opts != nil {
		conv.subst = opts.Substitute
	}
	var root textNode
	if err := p.item(&root, 1); err != nil {
		return nil, err
	}
	if tok, err := p.dec.Token(); err != io.EOF {
		if err == nil {
			return nil, p.errHere(ErrSyntax, "trailing data after the item: "+tokenString(tok))
		}
		return nil, p.errHere(err, "")
	}
	return conv.message(&root)
}

type jsonParser struct {
	dec      *json.Decoder
	data     []byte
	maxDepth int
}

// lineAt returns the line of byte offset off.
func (p *jsonParser) lineAt(off int64) int {
	if off > int64(len(p.data)) {
		off = int64(len(p.data))
	}
	return 1 + bytes.Count(p.data[:off], []byte{'\n'})
}

func (p *jsonParser) errHere(err error, detail string) *TextError {
	return &TextError{Format: "json", Line: p.lineAt(p.dec.InputOffset()), Err: err, Detail: detail}
}

func (p *jsonParser) token() (json.Token, error) {
	tok, err := p.dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, p.errHere(err, "")
	}
	return tok, nil
}

func tokenString(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		return string(t)
	case string:
		return strconv.Quote(t)
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return "null"
	}
	return "?"
}

// item reads one item object into n; depth counts the Structures from the
// message down to this item.
func (p *jsonParser) item(n *textNode, depth int) error {
	n.pos = p.dec.InputOffset()
	tok, err := p.token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return p.errHere(ErrSyntax, "want an item object, not "+tokenString(tok))
	}
	var hasTag, hasType, hasValue, hasName bool
	for p.dec.More() {
		tok, err := p.token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var dup *bool
		switch key {
		case "tag":
			dup = &hasTag
		case "type":
			dup = &hasType
		case "name":
			dup = &hasName
		case "value":
			dup = &hasValue
		default:
			return p.errHere(ErrSyntax, "unknown member "+strconv.Quote(key))
		}
		if *dup {
			return p.errHere(ErrSyntax, "duplicate member "+strconv.Quote(key))
		}
		*dup = true
		if key == "value" {
			if err := p.value(n, depth); err != nil {
				return err
			}
			continue
		}
		tok, err = p.token()
		if err != nil {
			return err
		}
		s, ok := tok.(string)
		if !ok {
			return p.errHere(ErrSyntax, "member "+strconv.Quote(key)+" must be a string, not "+tokenString(tok))
		}
		switch key {
		case "tag":
			n.name = s
		case "type":
			n.typName = s
		}
	}
	if _, err := p.token(); err != nil { // the closing brace
		return err
	}
	var ok bool
	if !hasTag {
		return &TextError{Format: "json", Line: p.lineAt(n.pos), Err: ErrUnknownTag, Detail: "the item has no tag"}
	}
	conv := textConv{format: "json", line: p.lineAt}
	if n.tag, ok = TagByName(n.name); !ok || !ValidTag(n.tag) {
		return conv.errAt(n, ErrUnknownTag, "")
	}
	switch {
	case hasType:
		if n.typ, ok = ParseType(n.typName); !ok {
			return conv.errAt(n, ErrUnknownType, "")
		}
	case n.kind == valArray || n.kind == valNull || n.kind == valMissing:
		n.typ = TypeStructure
	default:
		return conv.errAt(n, ErrUnknownType, "the item has no type")
	}
	if n.typ != TypeStructure && n.kind == valArray {
		return conv.errAt(n, ErrSyntax, "only a Structure has items as its value")
	}
	if n.typ == TypeStructure {
		switch n.kind {
		case valArray, valNull, valMissing:
		default:
			return conv.errAt(n, ErrSyntax, "a Structure's value is an array of items")
		}
		if depth > p.maxDepth {
			return conv.errAt(n, ErrSyntax, "structures nest deeper than "+strconv.Itoa(p.maxDepth))
		}
	}
	return nil
}

// value reads an item's value member into n.
func (p *jsonParser) value(n *textNode, depth int) error {
	tok, err := p.token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t != '[' {
			return p.errHere(ErrSyntax, "a value is an array, a string, a number or a Boolean")
		}
		if depth > p.maxDepth {
			return p.errHere(ErrSyntax, "structures nest deeper than "+strconv.Itoa(p.maxDepth))
		}
		n.kind = valArray
		for p.dec.More() {
			n.kids = append(n.kids, textNode{})
			if err := p.item(&n.kids[len(n.kids)-1], depth+1); err != nil {
				return err
			}
		}
		_, err := p.token() // the closing bracket
		return err
	case string:
		n.kind, n.s = valString, t
	case json.Number:
		n.kind, n.s = valNumber, string(t)
	case bool:
		n.kind, n.b = valBool, t
	case nil:
		n.kind = valNull
	}
	return nil
}
