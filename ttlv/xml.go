package ttlv

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
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
