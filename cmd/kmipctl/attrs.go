package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kmipd/kmipd/ttlv"
)

// attribute is one attribute value, held in the KMIP 2.x way: a standard
// attribute has its Tag; a vendor attribute (KMIP 1.x custom attribute
// "x-name" or "y-name", vendor "x" or "y") has Tag 0 and Vendor and Name.
// Type and Data are the value's item type and encoded value (for a
// Structure, its encoded children).
type attribute struct {
	Tag    ttlv.Tag
	Vendor string
	Name   string
	Type   ttlv.Type
	Data   []byte
	Index  int32 // KMIP 1.x Attribute Index, from responses
}

// label names the attribute as kmipctl prints and reads it: the tag name
// (CryptographicAlgorithm), "x-name" for a custom attribute, VENDOR:NAME
// for another vendor's.
func (a attribute) label() string {
	switch {
	case a.Tag != 0:
		return a.Tag.String()
	case a.Vendor == "x" || a.Vendor == "y":
		return a.Vendor + "-" + a.Name
	}
	return a.Vendor + ":" + a.Name
}

// v1Name returns the KMIP 1.x Attribute Name.
func (a attribute) v1Name() (string, error) {
	if a.Tag != 0 {
		if s, ok := ttlv.TagSpecName(a.Tag); ok {
			return s, nil
		}
		return "", fmt.Errorf("%s has no KMIP 1.x name", a.Tag)
	}
	if a.Vendor == "x" || a.Vendor == "y" {
		return a.Vendor + "-" + a.Name, nil
	}
	return "", usageErrorf("KMIP 1.x cannot name vendor attribute %s: use --version 2.0", a.label())
}

// item returns the value as one encoded item, tagged with the attribute's
// tag (Attribute Value for a vendor attribute).
func (a attribute) item() []byte {
	tag := a.Tag
	if tag == 0 {
		tag = ttlv.TagAttributeValue
	}
	b := ttlv.NewBuilder(make([]byte, 0, len(a.Data)+16))
	b.AddItem(tag, a.Type, a.Data)
	raw, _ := b.Bytes()
	return raw
}

// write2 writes the attribute as a KMIP 2.x attribute item.
func (a attribute) write2(b *ttlv.Builder) {
	if a.Tag != 0 {
		b.AddItem(a.Tag, a.Type, a.Data)
		return
	}
	b.Begin(ttlv.TagAttribute)
	b.AddText(ttlv.TagVendorIdentification, a.Vendor)
	b.AddText(ttlv.TagAttributeName, a.Name)
	b.AddItem(ttlv.TagAttributeValue, a.Type, a.Data)
	b.End()
}

// write1 writes the attribute as a KMIP 1.x Attribute structure, with an
// Attribute Index when index > 0.
func (a attribute) write1(b *ttlv.Builder, index int32) error {
	name, err := a.v1Name()
	if err != nil {
		return err
	}
	b.Begin(ttlv.TagAttribute)
	b.AddText(ttlv.TagAttributeName, name)
	if index > 0 {
		b.AddInt32(ttlv.TagAttributeIndex, index)
	}
	b.AddItem(ttlv.TagAttributeValue, a.Type, a.Data)
	b.End()
	return nil
}

// writeRef writes a reference to the attribute: a KMIP 2.x Attribute
// Reference or a KMIP 1.x Attribute Name.
func (a attribute) writeRef(b *ttlv.Builder, v2 bool) error {
	if !v2 {
		name, err := a.v1Name()
		if err != nil {
			return err
		}
		b.AddText(ttlv.TagAttributeName, name)
		return nil
	}
	if a.Tag != 0 {
		b.AddEnum(ttlv.TagAttributeReference, uint32(a.Tag))
		return nil
	}
	b.Begin(ttlv.TagAttributeReference)
	b.AddText(ttlv.TagVendorIdentification, a.Vendor)
	b.AddText(ttlv.TagAttributeName, a.Name)
	b.End()
	return nil
}

// writeAttrs writes attributes for Create, Register and the like: in 2.x
// an Attributes-like structure tagged tag2, in 1.x a Template-Attribute
// tagged tag1 (or, when tag1 is 0, the bare Attribute items as Locate
// takes them).
func writeAttrs(b *ttlv.Builder, v2 bool, tag2, tag1 ttlv.Tag, attrs []attribute) error {
	if v2 {
		b.Begin(tag2)
		for _, a := range attrs {
			a.write2(b)
		}
		b.End()
		return nil
	}
	if tag1 != 0 {
		b.Begin(tag1)
	}
	for _, a := range attrs {
		if err := a.write1(b, 0); err != nil {
			return err
		}
	}
	if tag1 != 0 {
		b.End()
	}
	return nil
}

// readAttrs2 reads the children of a KMIP 2.x Attributes structure.
func readAttrs2(v ttlv.Value) ([]attribute, error) {
	var out []attribute
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return nil, fmt.Errorf("malformed Attributes")
		}
		if it.Tag != ttlv.TagAttribute {
			out = append(out, attribute{Tag: it.Tag, Type: it.Type, Data: it.Data})
			continue
		}
		c := it.Children()
		var vendor, name []byte
		if !c.ReadText(ttlv.TagVendorIdentification, &vendor) || !c.ReadText(ttlv.TagAttributeName, &name) {
			return nil, fmt.Errorf("malformed vendor attribute")
		}
		val, ok := c.Next()
		if !ok || val.Tag != ttlv.TagAttributeValue {
			return nil, fmt.Errorf("vendor attribute %s lacks its value", name)
		}
		out = append(out, attribute{Vendor: string(vendor), Name: string(name), Type: val.Type, Data: val.Data})
	}
	return out, nil
}

// readAttr1 reads one KMIP 1.x Attribute structure's children.
func readAttr1(c ttlv.Value) (attribute, error) {
	var name []byte
	if !c.ReadText(ttlv.TagAttributeName, &name) {
		return attribute{}, fmt.Errorf("attribute lacks Attribute Name")
	}
	var a attribute
	if c.PeekTag() == ttlv.TagAttributeIndex {
		c.ReadInt32(ttlv.TagAttributeIndex, &a.Index)
	}
	val, ok := c.Next()
	if !ok || val.Tag != ttlv.TagAttributeValue {
		return attribute{}, fmt.Errorf("attribute %q lacks Attribute Value", name)
	}
	a.Type, a.Data = val.Type, val.Data
	switch n := string(name); {
	case len(n) > 2 && (n[0] == 'x' || n[0] == 'y') && n[1] == '-':
		a.Vendor, a.Name = n[:1], n[2:]
	default:
		tag, ok := ttlv.TagBySpecName(n)
		if !ok {
			a.Vendor, a.Name = "?", n
		}
		a.Tag = tag
	}
	return a, nil
}

// attrJSON is an attribute in JSON output.
type attrJSON struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value any    `json:"value"`
	Index int32  `json:"index,omitempty"`
}

func (a attribute) json() attrJSON {
	return attrJSON{Name: a.label(), Type: a.Type.String(), Value: itemValue(a.item()), Index: a.Index}
}

// kjson is an item of the KMIP JSON encoding (ttlv.AppendJSON).
type kjson struct {
	Tag   string          `json:"tag"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// itemValue returns the value of an encoded item for JSON output: a
// scalar as the KMIP JSON encoding writes it (enumerations by name, masks
// as "Encrypt|Decrypt", dates in RFC 3339, bytes in hex), a structure as an
// object from child tag to value (an array when a tag repeats).
func itemValue(raw []byte) any {
	js, err := ttlv.AppendJSON(nil, raw, false)
	if err != nil {
		return hex.EncodeToString(raw)
	}
	var k kjson
	if err := json.Unmarshal(js, &k); err != nil {
		return hex.EncodeToString(raw)
	}
	return simplify(k)
}

func simplify(k kjson) any {
	if k.Type == "" || k.Type == "Structure" {
		var kids []kjson
		if len(k.Value) > 0 && string(k.Value) != "null" {
			json.Unmarshal(k.Value, &kids)
		}
		m := make(map[string]any, len(kids))
		for _, c := range kids {
			v := simplify(c)
			switch prev := m[c.Tag].(type) {
			case nil:
				m[c.Tag] = v
			case []any:
				m[c.Tag] = append(prev, v)
			default:
				m[c.Tag] = []any{prev, v}
			}
		}
		return m
	}
	d := json.NewDecoder(bytes.NewReader(k.Value))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return string(k.Value)
	}
	return v
}

// itemText renders an encoded item's value on one line for tables:
// scalars as in JSON without quotes, structures as Tag=value pairs.
func itemText(raw []byte) string {
	js, err := ttlv.AppendJSON(nil, raw, false)
	if err != nil {
		return hex.EncodeToString(raw)
	}
	var k kjson
	if err := json.Unmarshal(js, &k); err != nil {
		return hex.EncodeToString(raw)
	}
	return kText(k)
}

func kText(k kjson) string {
	if k.Type == "" || k.Type == "Structure" {
		var kids []kjson
		json.Unmarshal(k.Value, &kids)
		parts := make([]string, len(kids))
		for i, c := range kids {
			v := kText(c)
			if c.Type == "" || c.Type == "Structure" {
				v = "{" + v + "}"
			}
			parts[i] = c.Tag + "=" + v
		}
		return strings.Join(parts, ", ")
	}
	var s string
	if json.Unmarshal(k.Value, &s) == nil {
		return s
	}
	return string(k.Value)
}
