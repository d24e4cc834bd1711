package ttlv

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The KMIP XML encoding (KMIP Profiles 2.1 §5.4.1). An item is written in
// the specific form, named after its tag,
//
//	<ActivationDate type="DateTime" value="2001-01-01T10:00:00Z"/>
//
// with Structures carrying no type and nesting their items as child
// elements. Tags the tables do not know (extensions, 0x54xxxx) are written in
// the generic form, <TTLV tag="0x540001" type="Integer" value="1"/>. The
// decoder reads both forms.
//
// Values (ParseXML accepts more than AppendXML writes, as noted):
//
//   - Integer: decimal; masks (Cryptographic Usage Mask, …) as bit names
//     and 0x hex items separated by spaces (| is also read); 0x hex is also
//     read.
//   - Long Integer, Date-Time Extended (µs): decimal; 0x hex is also read.
//   - Big Integer: hex without 0x, the whole two's-complement value (a
//     multiple of 8 bytes); shorter input is sign-extended.
//   - Enumeration: the value's name, or 0x and 8 hex digits when the tables
//     have none; any 0x hex is read. The names come from the tag's table;
//     Attribute Reference values are tag names; the Attribute Value of a
//     KMIP 1.x Attribute takes the table of the tag named by its sibling
//     Attribute Name ("Cryptographic Algorithm" → AES), unless a Vendor
//     Identification marks it as a vendor attribute. The JSON encoding
//     follows the same rules.
//   - Boolean: true or false (1 and 0 are also read).
//   - Text String: the text. A Text or Byte String without a value
//     attribute is read as empty. Characters XML cannot carry (most C0
//     controls, U+FFFE, U+FFFF) make AppendXML fail with ErrNotXMLText.
//   - Byte String: hex without 0x.
//   - Date-Time: RFC 3339 (xsd:dateTime) in UTC, e.g. 2001-01-01T00:00:00Z;
//     input needs a time zone and any offset is accepted; fractional seconds
//     are truncated. Seconds outside the years 1–9999 are written as 0x and
//     16 hex digits, which is also read.
//   - Interval: decimal seconds; 0x hex is also read.

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

// ---------------------------------------------------------------------------
// Decoding.

// XMLDecoder reads messages in the KMIP XML encoding from a stream: either
// a sequence of top-level elements, one message each, or the OASIS
// test-case layout, in which the messages are the children of a <KMIP>
// wrapper. Comments, processing instructions and whitespace are skipped,
// and so is text between the messages inside the wrapper.
// Reading stops at the end of the wrapper, so anything after it (the
// duplicated </KMIP> of TC-ECDSA-SIGN-1-14.xml) is never looked at.
type XMLDecoder struct {
	d       *xml.Decoder
	conv    textConv
	depth   int
	state   uint8 // xmlTop, xmlWrapped, xmlDone
	started bool  // a top-level element was seen
	name    string
	line    int
}

const (
	xmlTop = iota
	xmlWrapped
	xmlDone
)

// NewXMLDecoder returns a decoder reading from r; opts may be nil.
func NewXMLDecoder(r io.Reader, opts *DecodeOptions) *XMLDecoder {
	d := &XMLDecoder{d: xml.NewDecoder(r), depth: opts.maxDepth()}
	d.conv = textConv{format: "xml", sep: ' ', line: func(pos int64) int { return int(pos) }}
	if opts != nil {
		d.conv.subst = opts.Substitute
	}
	return d
}

// Next returns the TTLV encoding of the next message, or io.EOF after the
// last. The slice is the caller's. Errors are *TextError values (the XML
// parser's own errors are wrapped as Err); after one, the decoder is not
// usable.
func (d *XMLDecoder) Next() ([]byte, error) {
	for d.state != xmlDone {
		tok, err := d.d.Token()
		if err == io.EOF {
			if d.state == xmlWrapped {
				return nil, d.syntaxErr(io.ErrUnexpectedEOF, "the <KMIP> element is not closed")
			}
			d.state = xmlDone
			break
		}
		if err != nil {
			d.state = xmlDone
			return nil, d.syntaxErr(err, "")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if d.state == xmlTop && !d.started && t.Name.Local == "KMIP" && (t.Name.Space == "" || t.Name.Space == xmlNamespace) {
				d.started = true
				d.state = xmlWrapped
				continue
			}
			d.started = true
			var n textNode
			if err := d.element(t, &n, 1); err != nil {
				d.state = xmlDone
				return nil, err
			}
			d.name, d.line = t.Name.Local, int(n.pos)
			msg, err := d.conv.message(&n)
			if err != nil {
				d.state = xmlDone
				return nil, err
			}
			return msg, nil
		case xml.EndElement:
			// Only the wrapper's end tag gets here: Token pairs them.
			d.state = xmlDone
		case xml.CharData:
			// Text between the messages of a test-case file is commentary
			// (some 1.x files have "# [[title]]" lines); outside a wrapper
			// it is an error.
			if d.state == xmlTop && len(bytes.TrimSpace(t)) != 0 {
				d.state = xmlDone
				return nil, d.syntaxErr(ErrSyntax, "text outside the elements")
			}
		}
	}
	return nil, io.EOF
}

// xmlNamespace is the KMIP XML namespace (KMIP Profiles 2.1 §5.4.1.6).
const xmlNamespace = "urn:oasis:tc:kmip:xmlns"

// Name returns the element name of the message Next last returned, such as
// RequestMessage or ResponseMessage.
func (d *XMLDecoder) Name() string { return d.name }

// Line returns the line on which the message Next last returned starts.
func (d *XMLDecoder) Line() int { return d.line }

func (d *XMLDecoder) inputLine() int {
	line, _ := d.d.InputPos()
	return line
}

func (d *XMLDecoder) syntaxErr(err error, detail string) error {
	return &TextError{Format: "xml", Line: d.inputLine(), Err: err, Detail: detail}
}

// element reads the element that start opens, and everything in it, into n.
// depth counts the Structures from the message down to this element.
func (d *XMLDecoder) element(start xml.StartElement, n *textNode, depth int) error {
	n.pos = int64(d.inputLine())
	n.name = start.Name.Local
	var tagAttr, nameAttr string
	var hasTag, hasName, hasType bool
	for _, a := range start.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "type":
			n.typName, hasType = a.Value, true
		case "value":
			n.s, n.kind = a.Value, valString
		case "tag":
			tagAttr, hasTag = a.Value, true
		case "name":
			nameAttr, hasName = a.Value, true
		}
	}
	var ok bool
	if start.Name.Local == "TTLV" {
		switch {
		case hasTag:
			n.name = tagAttr
		case hasName:
			n.name = nameAttr
		default:
			return d.conv.errAt(n, ErrUnknownTag, "a <TTLV> element needs a tag attribute")
		}
	}
	if n.tag, ok = TagByName(n.name); !ok || !ValidTag(n.tag) {
		return d.conv.errAt(n, ErrUnknownTag, "")
	}
	n.typ = TypeStructure
	if hasType {
		if n.typ, ok = ParseType(n.typName); !ok {
			return d.conv.errAt(n, ErrUnknownType, "")
		}
	}
	if n.typ == TypeStructure {
		if n.kind != valMissing {
			return d.conv.errAt(n, ErrSyntax, "a Structure has no value attribute")
		}
		if depth > d.depth {
			return d.conv.errAt(n, ErrSyntax, "structures nest deeper than "+strconv.Itoa(d.depth))
		}
	}
	for {
		tok, err := d.d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return d.syntaxErr(err, "")
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if n.typ != TypeStructure {
				return d.conv.errAt(n, ErrSyntax, "only a Structure has child elements")
			}
			n.kids = append(n.kids, textNode{})
			if err := d.element(t, &n.kids[len(n.kids)-1], depth+1); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return d.conv.errAt(n, ErrSyntax, "text inside an element; values go in the value attribute")
			}
		}
	}
}

// ParseXML converts one message in the KMIP XML encoding to TTLV. The input
// must hold exactly one message (optionally inside a <KMIP> wrapper).
func ParseXML(data []byte, opts *DecodeOptions) ([]byte, error) {
	d := NewXMLDecoder(bytes.NewReader(data), opts)
	msg, err := d.Next()
	if err == io.EOF {
		return nil, &TextError{Format: "xml", Line: d.inputLine(), Err: ErrSyntax, Detail: "no message"}
	}
	if err != nil {
		return nil, err
	}
	if _, err := d.Next(); err != io.EOF {
		if err == nil {
			return nil, &TextError{Format: "xml", Line: d.Line(), Err: ErrSyntax, Detail: "more than one message"}
		}
		return nil, err
	}
	return msg, nil
}

// ---------------------------------------------------------------------------
// Encoding.

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
