package ttlv

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// DecodeOptions adjust ParseXML, ParseJSON and XMLDecoder. The zero value
// (or a nil pointer) is valid.
type DecodeOptions struct {
	// Substitute, if set, sees the text of every non-Structure value
	// given as a string, before it is converted, and may replace it. Test
	// runners use it for the placeholders of the OASIS test cases: $NOW-3600
	// in a DateTime, $UNIQUE_IDENTIFIER_0 in a TextString, $DATA_0 in a
	// ByteString. tag is the item's tag, typ its declared type. Return the
	// replacement and true, or false to keep value.
	//
	// Without a substitution a placeholder that does not convert to its type
	// (a Date-Time $NOW) is an error naming the tag and the value; in a Text
	// String it is kept as text.
	Substitute func(tag Tag, typ Type, value string) (string, bool)

	// MaxDepth bounds how deeply structures nest, as for Check:
	// DefaultMaxDepth if zero or negative, at most MaxBuilderDepth.
	MaxDepth int
}

func (o *DecodeOptions) maxDepth() int {
	d := DefaultMaxDepth
	if o != nil && o.MaxDepth > 0 {
		d = o.MaxDepth
	}
	return min(d, MaxBuilderDepth)
}

// Errors of the XML and JSON decoders, wrapped in a *TextError.
var (
	// ErrUnknownTag: an element name or tag that is neither a known name nor
	// 0x and six hex digits in the 0x42xxxx or 0x54xxxx range.
	ErrUnknownTag = errors.New("ttlv: unknown tag")
	// ErrUnknownType: a type name other than the eleven item types.
	ErrUnknownType = errors.New("ttlv: unknown type")
	// ErrMissingValue: a non-Structure item without a value.
	ErrMissingValue = errors.New("ttlv: missing value")
	// ErrBadValue: a value that does not convert to its item's type.
	ErrBadValue = errors.New("ttlv: bad value")
	// ErrSyntax: input that is well-formed XML or JSON but not a KMIP
	// encoding: text between elements, a Structure with a value, an item
	// nested in a non-Structure, unknown JSON members, nesting deeper than
	// the limit, trailing input.
	ErrSyntax = errors.New("ttlv: not a KMIP encoding")
	// ErrNotXMLText is returned by AppendXML for a Text String holding a
	// character that XML 1.0 cannot carry, even escaped.
	ErrNotXMLText = errors.New("ttlv: text string has a character XML cannot carry")
)

// TextError describes XML or JSON input that cannot be converted to TTLV.
type TextError struct {
	Format string // "xml" or "json"
	Line   int    // line of the element or object, 1-based; 0 if unknown
	Name   string // the element name or JSON tag, as written
	Type   string // the type, as written
	Value  string // the value, after substitution
	Detail string // what is wrong, more precisely than Err
	Err    error  // one of ErrUnknownTag, ErrUnknownType, ErrMissingValue, ErrBadValue, ErrSyntax, or an error of the XML or JSON parser
}

func (e *TextError) Error() string {
	var b strings.Builder
	b.WriteString("ttlv: ")
	b.WriteString(e.Format)
	if e.Line > 0 {
		b.WriteString(" line ")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Name != "" {
		b.WriteString(": ")
		b.WriteString(e.Name)
		if e.Type != "" {
			b.WriteString(" (" + e.Type + ")")
		}
		if e.Value != "" || e.Err == ErrBadValue {
			b.WriteString(" " + strconv.Quote(e.Value))
		}
	}
	b.WriteString(": ")
	b.WriteString(strings.TrimPrefix(e.Err.Error(), "ttlv: "))
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns Err.
func (e *TextError) Unwrap() error { return e.Err }

// ---------------------------------------------------------------------------
// The tree both decoders build before converting. A whole message is read
// first so that an Attribute Value can find its Attribute Name wherever it
// stands; the tree costs a few words an item.

type valueKind uint8

const (
	valMissing valueKind = iota
	valString
	valNumber // JSON only; s holds the literal
	valBool   // JSON only
	valNull   // JSON only
	valArray  // JSON only: the children are in kids
)

type textNode struct {
	tag     Tag
	typ     Type
	kind    valueKind
	s       string
	b       bool
	kids    []textNode
	pos     int64  // XML: line; JSON: byte offset
	name    string // tag as written
	typName string // type as written
}

// textConv converts a textNode tree to TTLV.
type textConv struct {
	format string
	sep    byte // mask separator
	subst  func(Tag, Type, string) (string, bool)
	line   func(pos int64) int
	b      Builder
}

func (c *textConv) errAt(n *textNode, err error, detail string) *TextError {
	e := &TextError{Format: c.format, Name: n.name, Type: n.typName, Err: err, Detail: detail}
	if c.line != nil {
		e.Line = c.line(n.pos)
	}
	return e
}

func (c *textConv) message(n *textNode) ([]byte, error) {
	c.b.Reset(nil, 0)
	if err := c.build(n, n.tag); err != nil {
		return nil, err
	}
	out, err := c.b.Bytes()
	if err != nil {
		return nil, c.errAt(n, ErrSyntax, err.Error())
	}
	return out, nil
}

func (c *textConv) build(n *textNode, names Tag) error {
	if n.typ == TypeStructure {
		c.b.Begin(n.tag)
		var attrTag Tag
		if n.tag == TagAttribute {
			attrTag = nodeAttributeValueTag(n.kids)
		}
		for i := range n.kids {
			k := &n.kids[i]
			kn := k.tag
			if attrTag != 0 && k.tag == TagAttributeValue {
				kn = attrTag
			}
			if err := c.build(k, kn); err != nil {
				return err
			}
		}
		c.b.End()
		return nil
	}
	s, kind := n.s, n.kind
	if kind == valString && c.subst != nil {
		if r, ok := c.subst(n.tag, n.typ, s); ok {
			s = r
		}
	}
	if kind == valMissing && c.format == "xml" && (n.typ == TypeTextString || n.typ == TypeByteString) {
		// An empty string or byte string whose value attribute was left
		// out, as encoders built on encoding/xml's omitempty do.
		kind = valString
	}
	if kind == valMissing || kind == valNull {
		return c.errAt(n, ErrMissingValue, "")
	}
	if detail := c.scalar(n.tag, names, n.typ, kind, s, n.b); detail != "" {
		e := c.errAt(n, ErrBadValue, detail)
		if kind == valBool {
			s = strconv.FormatBool(n.b)
		}
		e.Value = s
		return e
	}
	return nil
}

// nodeAttributeValueTag is attributeValueTag for a textNode tree.
func nodeAttributeValueTag(kids []textNode) Tag {
	var name string
	found := false
	for i := range kids {
		switch k := &kids[i]; k.tag {
		case TagVendorIdentification:
			return 0
		case TagAttributeName:
			if k.typ != TypeTextString || k.kind != valString {
				return 0
			}
			name, found = k.s, true
		}
	}
	if !found {
		return 0
	}
	t, _ := TagBySpecName(name)
	return t
}

// scalar appends one non-Structure item whose value is given as text (or,
// from JSON, as a number or Boolean); names is the tag whose tables name
// the value. It returns what is wrong, or "".
func (c *textConv) scalar(tag, names Tag, typ Type, kind valueKind, s string, bv bool) string {
	b := &c.b
	if kind == valArray {
		return "only a Structure has items as its value"
	}
	if kind == valBool && typ != TypeBoolean {
		return "want a " + typ.String() + ", not a Boolean"
	}
	num := kind == valNumber
	switch typ {
	case TypeInteger:
		if x, err := strconv.ParseInt(s, 10, 32); err == nil {
			b.AddInt32(tag, int32(x))
			return ""
		}
		if !num {
			if IsMask(names) {
				x, ok := ParseMask(names, s, c.sep)
				if !ok && c.sep == ' ' {
					// Some encoders (gemalto/kmip-go) write the JSON
					// separator in XML too.
					x, ok = ParseMask(names, s, '|')
				}
				if ok {
					b.AddInt32(tag, int32(x))
					return ""
				}
				return "want a decimal 32-bit integer, or names of " + names.String() + " bits and 0x hex separated by " + sepName(c.sep)
			}
			if x, ok := parseHex(s, 8); ok {
				b.AddInt32(tag, int32(x))
				return ""
			}
		}
		return "want a decimal 32-bit integer or 0x and up to 8 hex digits"
	case TypeLongInteger, TypeDateTimeExtended:
		if x, err := strconv.ParseInt(s, 10, 64); err == nil {
			c.add8(tag, typ, uint64(x))
			return ""
		}
		if x, ok := parseHex(s, 16); ok && !num {
			c.add8(tag, typ, x)
			return ""
		}
		return "want a decimal 64-bit integer or 0x and up to 16 hex digits"
	case TypeInterval:
		if x, err := strconv.ParseUint(s, 10, 32); err == nil {
			b.AddInterval(tag, uint32(x))
			return ""
		}
		if x, ok := parseHex(s, 8); ok && !num {
			b.AddInterval(tag, uint32(x))
			return ""
		}
		return "want a decimal unsigned 32-bit integer or 0x and up to 8 hex digits"
	case TypeEnumeration:
		if num {
			if x, err := strconv.ParseUint(s, 10, 32); err == nil {
				b.AddEnum(tag, uint32(x))
				return ""
			}
			return "want an unsigned 32-bit integer"
		}
		if strings.HasPrefix(s, "0x") {
			if x, ok := parseHex(s, 8); ok {
				b.AddEnum(tag, uint32(x))
				return ""
			}
			return "want 0x and up to 8 hex digits"
		}
		if x, ok := EnumValue(names, s); ok {
			b.AddEnum(tag, x)
			return ""
		}
		switch TagKind(names) {
		case KindEnum, KindMask:
			return "not a value of " + names.String() + "; give its name or 0x and 8 hex digits"
		case KindTagEnum:
			return "not a tag name; give one or 0x and 8 hex digits"
		}
		return names.String() + " has no value names; give 0x and 8 hex digits"
	case TypeBoolean:
		if kind == valBool {
			b.AddBool(tag, bv)
			return ""
		}
		switch s {
		case "true", "1":
			b.AddBool(tag, true)
			return ""
		case "false", "0":
			b.AddBool(tag, false)
			return ""
		}
		if x, ok := parseHex(s, 16); ok && x <= 1 && !num {
			b.AddBool(tag, x == 1)
			return ""
		}
		return "want true or false"
	case TypeTextString:
		if num {
			return "want a string"
		}
		b.AddText(tag, s)
		return ""
	case TypeByteString:
		if num {
			return "want hex digits in a string"
		}
		v, ok := decodeHex(s)
		if !ok {
			return "want an even number of hex digits, without 0x"
		}
		b.AddBytes(tag, v)
		return ""
	case TypeBigInteger:
		if num {
			x, ok := new(big.Int).SetString(s, 10)
			if !ok {
				return "want an integer"
			}
			b.AddBigIntValue(tag, x)
			return ""
		}
		h, prefixed := strings.CutPrefix(s, "0x")
		if !prefixed && c.format == "json" {
			return "want 0x and hex digits"
		}
		if len(h)%2 == 1 {
			h = "0" + h
		}
		v, ok := decodeHex(h)
		if !ok {
			return "want hex digits"
		}
		// AddItem keeps an empty value empty; AddBigInt sign-extends.
		b.AddItem(tag, TypeBigInteger, v)
		return ""
	case TypeDateTime:
		if num {
			return "want an RFC 3339 date-time string or 0x and 16 hex digits"
		}
		if x, ok := parseHex(s, 16); ok {
			b.AddDateTime(tag, int64(x))
			return ""
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return "want an RFC 3339 date-time with a time zone, like 2001-01-01T10:00:00+10:00"
		}
		b.AddDateTime(tag, t.Unix())
		return ""
	}
	return "unknown type"
}

func (c *textConv) add8(tag Tag, typ Type, v uint64) {
	if typ == TypeLongInteger {
		c.b.AddLong(tag, int64(v))
	} else {
		c.b.AddDateTimeExtended(tag, int64(v))
	}
}

func sepName(sep byte) string {
	if sep == ' ' {
		return "spaces"
	}
	return strconv.QuoteRune(rune(sep))
}

// parseHex parses 0x and 1 to max hex digits (either case).
func parseHex(s string, max int) (uint64, bool) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || h == "" || len(h) > max {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(h); i++ {
		d, ok := hexVal(h[i])
		if !ok {
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeHex decodes an even number of hex digits of either case.
func decodeHex(s string) ([]byte, bool) {
	if len(s)%2 != 0 {
		return nil, false
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		hi, ok1 := hexVal(s[2*i])
		lo, ok2 := hexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, false
		}
		out[i] = hi<<4 | lo
	}
	return out, true
}
