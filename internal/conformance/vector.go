package conformance

import (
	"bytes"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kmipd/kmipd/ttlv"
)

// Node is one element of a KMIP message as a generic tree. Values are kept
// as text, exactly as the test-case file writes them, so that placeholders
// such as $UNIQUE_IDENTIFIER_0 or $NOW-3600 survive until the runner
// substitutes or checks them. A tree decoded from a server's TTLV response
// (NodeFromTTLV) uses the same text forms as the XML encoding (KMIP Profiles
// 2.1 §5.4.1): enumerations and mask bits by name, byte strings in hex,
// date-times in RFC 3339.
type Node struct {
	Name     string    // element name (the tag's name, or 0x and six hex digits)
	Tag      ttlv.Tag  // the element's tag
	Type     ttlv.Type // TypeStructure for structures
	Value    string    // the value text; empty for structures
	Children []*Node   // a structure's items, in order
	Line     int       // line in the file; 0 for decoded responses
}

// Step is one request and the response the test case expects for it.
type Step struct {
	Request  *Node // a RequestMessage
	Response *Node // a ResponseMessage
}

// Vector is a loaded test-case file.
type Vector struct {
	File  string
	Steps []Step
}

// Load reads a test-case file: a <KMIP> element whose children are request
// and response messages in the KMIP XML encoding. See Parse.
func Load(file string) (*Vector, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, data)
}

// Parse reads a test-case file's contents. XML comments (which in some
// files hold whole commented-out messages) and text between the messages
// are ignored; reading stops where the <KMIP> wrapper closes, so the
// duplicated </KMIP> of the 1.4 TC-ECDSA-SIGN-1-14 file is never looked at.
// The k-th request is paired with the k-th response: files normally
// alternate, and TC-DERIVEKEY-4-10 sends two requests before their two
// responses, which a synchronous replay handles the same way.
func Parse(name string, data []byte) (*Vector, error) {
	msgs, err := parseMessages(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var reqs, resps []*Node
	for _, m := range msgs {
		switch m.Tag {
		case ttlv.TagRequestMessage:
			reqs = append(reqs, m)
		case ttlv.TagResponseMessage:
			resps = append(resps, m)
		default:
			return nil, fmt.Errorf("%s:%d: <%s> is neither a RequestMessage nor a ResponseMessage", name, m.Line, m.Name)
		}
	}
	if len(reqs) != len(resps) {
		return nil, fmt.Errorf("%s: %d requests but %d responses", name, len(reqs), len(resps))
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%s: no messages", name)
	}
	v := &Vector{File: name}
	for i := range reqs {
		if reqs[i].Line > resps[i].Line {
			return nil, fmt.Errorf("%s:%d: response before its request", name, resps[i].Line)
		}
		v.Steps = append(v.Steps, Step{Request: reqs[i], Response: resps[i]})
	}
	return v, nil
}

// ParseNode reads a single message (or any single element) in the KMIP XML
// encoding into a tree.
func ParseNode(data []byte) (*Node, error) {
	msgs, err := parseMessages(data)
	if err != nil {
		return nil, err
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("want one element, found %d", len(msgs))
	}
	return msgs[0], nil
}

// parseMessages returns the top-level messages: the children of a <KMIP>
// wrapper, or the top-level elements of a file without one.
func parseMessages(data []byte) ([]*Node, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	line := func() int { l, _ := d.InputPos(); return l }
	var msgs []*Node
	wrapped, started := false, false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if wrapped {
				return nil, fmt.Errorf("line %d: the <KMIP> element is not closed", line())
			}
			return msgs, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !started && t.Name.Local == "KMIP" {
				started, wrapped = true, true
				continue
			}
			started = true
			n, err := parseElement(d, t, line)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, n)
		case xml.EndElement:
			// Only the wrapper's end reaches here; whatever follows it
			// (a duplicated </KMIP>) is not read.
			return msgs, nil
		case xml.CharData:
			if !wrapped && len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("line %d: text outside the elements", line())
			}
		}
	}
}

func parseElement(d *xml.Decoder, start xml.StartElement, line func() int) (*Node, error) {
	n := &Node{Name: start.Name.Local, Line: line(), Type: ttlv.TypeStructure}
	typName, hasValue := "", false
	for _, a := range start.Attr {
		switch a.Name.Local {
		case "type":
			typName = a.Value
		case "value":
			n.Value, hasValue = a.Value, true
		case "tag":
			if n.Name == "TTLV" {
				n.Name = a.Value
			}
		}
	}
	if n.Name == "TTLV" {
		for _, a := range start.Attr {
			if a.Name.Local == "name" {
				n.Name = a.Value
			}
		}
	}
	tag, ok := ttlv.TagByName(n.Name)
	if !ok {
		return nil, fmt.Errorf("line %d: unknown element <%s>", n.Line, n.Name)
	}
	n.Tag = tag
	if typName != "" {
		if n.Type, ok = ttlv.ParseType(typName); !ok {
			return nil, fmt.Errorf("line %d: <%s>: unknown type %q", n.Line, n.Name, typName)
		}
	}
	if n.Type != ttlv.TypeStructure && !hasValue && n.Type != ttlv.TypeTextString && n.Type != ttlv.TypeByteString {
		return nil, fmt.Errorf("line %d: <%s>: no value", n.Line, n.Name)
	}
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if n.Type != ttlv.TypeStructure {
				return nil, fmt.Errorf("line %d: <%s> is a %s and cannot have child elements", n.Line, n.Name, n.Type)
			}
			k, err := parseElement(d, t, line)
			if err != nil {
				return nil, err
			}
			n.Children = append(n.Children, k)
		case xml.EndElement:
			return n, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("line %d: <%s>: text inside an element", line(), n.Name)
			}
		}
	}
}

// Child returns the first child with the given tag, or nil.
func (n *Node) Child(tag ttlv.Tag) *Node {
	if n == nil {
		return nil
	}
	for _, k := range n.Children {
		if k.Tag == tag {
			return k
		}
	}
	return nil
}

// Path follows a chain of first children with the given tags.
func (n *Node) Path(tags ...ttlv.Tag) *Node {
	for _, t := range tags {
		n = n.Child(t)
	}
	return n
}

// All returns the children with the given tag.
func (n *Node) All(tag ttlv.Tag) []*Node {
	if n == nil {
		return nil
	}
	var out []*Node
	for _, k := range n.Children {
		if k.Tag == tag {
			out = append(out, k)
		}
	}
	return out
}

// Clone returns a deep copy.
func (n *Node) Clone() *Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Children = make([]*Node, len(n.Children))
	for i, k := range n.Children {
		c.Children[i] = k.Clone()
	}
	return &c
}

// walk calls fn for n and every node below it, parents first.
func (n *Node) walk(fn func(*Node)) {
	fn(n)
	for _, k := range n.Children {
		k.walk(fn)
	}
}

// AppendXML appends the node in the KMIP XML encoding, indented by two
// spaces a level from depth if indent is set.
func (n *Node) AppendXML(dst []byte, indent bool, depth int) []byte {
	if indent {
		for range depth {
			dst = append(dst, ' ', ' ')
		}
	}
	name := n.Name
	if _, ok := ttlv.TagByName(name); !ok || strings.HasPrefix(name, "0x") {
		name = "TTLV"
		dst = append(dst, `<TTLV tag="`...)
		dst = append(dst, n.Tag.String()...)
		dst = append(dst, '"')
	} else {
		dst = append(dst, '<')
		dst = append(dst, name...)
	}
	if n.Type != ttlv.TypeStructure {
		dst = append(dst, ` type="`...)
		dst = append(dst, n.Type.String()...)
		dst = append(dst, `" value="`...)
		var b bytes.Buffer
		xml.EscapeText(&b, []byte(n.Value))
		dst = append(dst, b.Bytes()...)
		dst = append(dst, `"/>`...)
	} else if len(n.Children) == 0 {
		dst = append(dst, "/>"...)
	} else {
		dst = append(dst, '>')
		if indent {
			dst = append(dst, '\n')
		}
		for _, k := range n.Children {
			dst = k.AppendXML(dst, indent, depth+1)
		}
		if indent {
			for range depth {
				dst = append(dst, ' ', ' ')
			}
		}
		dst = append(dst, "</"...)
		dst = append(dst, name...)
		dst = append(dst, '>')
	}
	if indent {
		dst = append(dst, '\n')
	}
	return dst
}

// String returns the node in the indented KMIP XML encoding.
func (n *Node) String() string {
	if n == nil {
		return "(none)"
	}
	return strings.TrimRight(string(n.AppendXML(nil, true, 0)), "\n")
}

// TTLV encodes the tree, which must hold no placeholders, with the codec's
// XML decoder.
func (n *Node) TTLV() ([]byte, error) {
	return ttlv.ParseXML(n.AppendXML(nil, false, 0), nil)
}

// NodeFromTTLV decodes a TTLV message into a tree whose values are written
// as the XML encoding writes them.
func NodeFromTTLV(msg []byte) (*Node, error) {
	if err := ttlv.Check(msg, 0); err != nil {
		return nil, err
	}
	it, ok := ttlv.Value(msg).Peek()
	if !ok {
		return nil, errors.New("empty message")
	}
	return nodeFromItem(it, it.Tag), nil
}

func nodeFromItem(it ttlv.Item, names ttlv.Tag) *Node {
	n := &Node{Name: it.Tag.String(), Tag: it.Tag, Type: it.Type}
	if it.Type == ttlv.TypeStructure {
		kids := it.Children()
		for !kids.Empty() {
			k, _ := kids.Next()
			n.Children = append(n.Children, nodeFromItem(k, k.Tag))
		}
		if it.Tag == ttlv.TagAttribute {
			// A 1.x Attribute Value is named by its Attribute Name's
			// table; re-format it now that the siblings are known.
			if at := attributeValueTag(n); at != 0 {
				kids := it.Children()
				for i := 0; !kids.Empty(); i++ {
					k, _ := kids.Next()
					if k.Tag == ttlv.TagAttributeValue && k.Type != ttlv.TypeStructure {
						n.Children[i] = nodeFromItem(k, at)
					}
				}
			}
		}
		return n
	}
	n.Value = formatValue(it, names)
	return n
}

// attributeValueTag returns the tag that names the values of a 1.x
// Attribute's Attribute Value: the tag whose specification name is the
// Attribute Name ("Cryptographic Algorithm"). 0 for vendor and custom
// attributes.
func attributeValueTag(attr *Node) ttlv.Tag {
	if attr == nil || attr.Tag != ttlv.TagAttribute || attr.Child(ttlv.TagVendorIdentification) != nil {
		return 0
	}
	name := attr.Child(ttlv.TagAttributeName)
	if name == nil || name.Type != ttlv.TypeTextString {
		return 0
	}
	t, _ := ttlv.TagBySpecName(name.Value)
	return t
}

func formatValue(it ttlv.Item, names ttlv.Tag) string {
	switch it.Type {
	case ttlv.TypeInteger:
		if ttlv.IsMask(names) {
			return string(ttlv.AppendMask(nil, names, it.Uint32(), ' '))
		}
		return strconv.FormatInt(int64(it.Int32()), 10)
	case ttlv.TypeLongInteger, ttlv.TypeDateTimeExtended:
		return strconv.FormatInt(it.Int64(), 10)
	case ttlv.TypeInterval:
		return strconv.FormatUint(uint64(it.Uint32()), 10)
	case ttlv.TypeBigInteger, ttlv.TypeByteString:
		return hex.EncodeToString(it.Data)
	case ttlv.TypeEnumeration:
		v := it.Uint32()
		if s, ok := ttlv.EnumName(names, v); ok {
			return s
		}
		if s, ok := extraEnumName(names, v); ok {
			return s
		}
		return fmt.Sprintf("0x%08x", v)
	case ttlv.TypeBoolean:
		return strconv.FormatBool(it.Bool())
	case ttlv.TypeTextString:
		return string(it.Data)
	case ttlv.TypeDateTime:
		sec := it.Int64()
		if sec < -62135596800 || sec > 253402300799 {
			return fmt.Sprintf("0x%016x", uint64(sec))
		}
		return time.Unix(sec, 0).UTC().Format(time.RFC3339)
	}
	return hex.EncodeToString(it.Data)
}

// extraEnums names the values of enumerations the specification does not
// tabulate but the test cases use: the PKCS#11 function and return code
// (KMIP 2.1 §11.x lists no values; the runner uses the PKCS#11 numbering of
// C_Initialize, C_Finalize, C_GetInfo and CKR_OK, as the test cases need).
var extraEnums = map[ttlv.Tag]map[string]uint32{
	ttlv.TagPKCS_11Function:   {"C_Initialize": 1, "C_Finalize": 2, "C_GetInfo": 3},
	ttlv.TagPKCS_11ReturnCode: {"OK": 0},
}

func extraEnumValue(t ttlv.Tag, name string) (uint32, bool) {
	v, ok := extraEnums[t][name]
	return v, ok
}

func extraEnumName(t ttlv.Tag, v uint32) (string, bool) {
	for name, x := range extraEnums[t] {
		if x == v {
			return name, true
		}
	}
	return "", false
}

// canonical converts a value text to a form in which equal values are
// equal strings: enumerations and masks by number (so a name, another
// version's name and 0x hex compare equal), integers in decimal, byte
// strings in lower-case hex, big integers by value, date-times in seconds.
// names is the tag whose tables name the value.
func canonical(names ttlv.Tag, typ ttlv.Type, s string) (string, error) {
	bad := func(what string) (string, error) {
		return "", fmt.Errorf("%q is not %s", s, what)
	}
	switch typ {
	case ttlv.TypeInteger:
		if x, err := strconv.ParseInt(s, 10, 32); err == nil {
			return strconv.FormatUint(uint64(uint32(int32(x))), 10), nil
		}
		if x, ok := ttlv.ParseMask(names, s, ' '); ok {
			return strconv.FormatUint(uint64(x), 10), nil
		}
		if x, ok := ttlv.ParseMask(names, s, '|'); ok {
			return strconv.FormatUint(uint64(x), 10), nil
		}
		return bad("a 32-bit integer or mask")
	case ttlv.TypeLongInteger, ttlv.TypeDateTimeExtended:
		if x, err := strconv.ParseInt(s, 10, 64); err == nil {
			return strconv.FormatInt(x, 10), nil
		}
		if h, ok := strings.CutPrefix(s, "0x"); ok {
			if x, err := strconv.ParseUint(h, 16, 64); err == nil {
				return strconv.FormatInt(int64(x), 10), nil
			}
		}
		return bad("a 64-bit integer")
	case ttlv.TypeInterval:
		if x, err := strconv.ParseUint(s, 10, 32); err == nil {
			return strconv.FormatUint(x, 10), nil
		}
		if h, ok := strings.CutPrefix(s, "0x"); ok {
			if x, err := strconv.ParseUint(h, 16, 32); err == nil {
				return strconv.FormatUint(x, 10), nil
			}
		}
		return bad("an interval")
	case ttlv.TypeBigInteger:
		h := strings.TrimPrefix(s, "0x")
		if len(h)%2 == 1 {
			h = "0" + h
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			return bad("a big integer in hex")
		}
		x := new(big.Int).SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 {
			x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		return x.String(), nil
	case ttlv.TypeEnumeration:
		if h, ok := strings.CutPrefix(s, "0x"); ok {
			if x, err := strconv.ParseUint(h, 16, 32); err == nil {
				return strconv.FormatUint(x, 10), nil
			}
			return bad("an enumeration value")
		}
		if x, ok := ttlv.EnumValue(names, s); ok {
			return strconv.FormatUint(uint64(x), 10), nil
		}
		if x, ok := extraEnumValue(names, s); ok {
			return strconv.FormatUint(uint64(x), 10), nil
		}
		return bad("a value of " + names.String())
	case ttlv.TypeBoolean:
		switch s {
		case "true", "1", "0x0000000000000001":
			return "true", nil
		case "false", "0", "0x0000000000000000":
			return "false", nil
		}
		return bad("a Boolean")
	case ttlv.TypeTextString:
		return s, nil
	case ttlv.TypeByteString:
		b, err := hex.DecodeString(s)
		if err != nil {
			return bad("hex")
		}
		return hex.EncodeToString(b), nil
	case ttlv.TypeDateTime:
		sec, ok := parseDateTime(s)
		if !ok {
			return bad("a date-time")
		}
		return strconv.FormatInt(sec, 10), nil
	}
	return s, nil
}

func parseDateTime(s string) (int64, bool) {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		x, err := strconv.ParseUint(h, 16, 64)
		return int64(x), err == nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, false
	}
	return t.Unix(), true
}
