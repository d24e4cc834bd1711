package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// AttrList is a zero-copy view of the attributes of a request, in either of
// the two forms KMIP uses: the 2.x Attributes structure whose children are
// the attributes themselves (KMIP 2.0 §5.1), or the 1.x Template-Attribute
// whose children are Name items and Attribute{Attribute Name, Attribute
// Index, Attribute Value} structures (KMIP 1.4 §2.1.1, §2.1.8).
type AttrList struct {
	items ttlv.Value
	v1    bool
}

// Attr is one attribute from an AttrList. For a standard attribute Tag is
// its tag and Value the item (for 1.x, the Attribute Value item, whose
// children or data have the same layout). For a custom (1.x "x-"/"y-") or
// vendor (2.x) attribute Tag is 0 and Name (and, for 2.x, VendorID) tell it
// apart.
type Attr struct {
	Tag      ttlv.Tag
	VendorID []byte
	Name     []byte
	Index    int32 // 1.x Attribute Index, 0 when absent
	Value    ttlv.Item
}

// NewAttrList wraps the children of an Attributes (v2) or Template-Attribute
// (v1) structure.
func NewAttrList(children ttlv.Value, v1 bool) AttrList {
	return AttrList{items: children, v1: v1}
}

// Empty reports whether the list holds no attribute.
func (l AttrList) Empty() bool { return l.items.Empty() }

// Next returns the next attribute. It returns false at the end and an error
// for an item that is not a well-formed attribute.
func (l *AttrList) Next() (Attr, bool, error) {
	it, ok := l.items.Next()
	if !ok {
		if !l.items.Empty() {
			return Attr{}, false, ErrInvalidMessage
		}
		return Attr{}, false, nil
	}
	if l.v1 {
		switch it.Tag {
		case ttlv.TagName:
			// A Template-Attribute may carry Name items directly.
			return Attr{Tag: ttlv.TagName, Value: it}, true, nil
		case ttlv.TagAttribute:
			a, err := parseV1Attribute(it.Children())
			return a, err == nil, err
		}
		return Attr{}, false, Errorf(ResultReasonInvalidField, "unexpected %s in Template-Attribute", it.Tag)
	}
	if it.Tag == ttlv.TagAttribute { // 2.x Vendor Attribute (KMIP 2.0 §4.53)
		c := it.Children()
		var a Attr
		if !c.ReadText(ttlv.TagVendorIdentification, &a.VendorID) ||
			!c.ReadText(ttlv.TagAttributeName, &a.Name) {
			return Attr{}, false, Errorf(ResultReasonInvalidField, "malformed Vendor Attribute")
		}
		if a.Value, ok = c.Next(); !ok || a.Value.Tag != ttlv.TagAttributeValue || !c.Empty() {
			return Attr{}, false, Errorf(ResultReasonInvalidField, "malformed Vendor Attribute")
		}
		return a, true, nil
	}
	return Attr{Tag: it.Tag, Value: it}, true, nil
}

func parseV1Attribute(c ttlv.Value) (Attr, error) {
	var a Attr
	if !c.ReadText(ttlv.TagAttributeName, &a.Name) {
		return a, Errorf(ResultReasonInvalidField, "Attribute lacks Attribute Name")
	}
	if c.PeekTag() == ttlv.TagAttributeIndex && !c.ReadInt32(ttlv.TagAttributeIndex, &a.Index) {
		return a, Errorf(ResultReasonInvalidField, "invalid Attribute Index")
	}
	var ok bool
	if a.Value, ok = c.Next(); !ok || a.Value.Tag != ttlv.TagAttributeValue || !c.Empty() {
		// Attribute Value may be absent only in requests that name an
		// attribute (Get Attributes, Delete Attribute in 1.x).
		if !ok && c.Empty() {
			a.Value = ttlv.Item{}
		} else {
			return a, Errorf(ResultReasonInvalidField, "malformed Attribute")
		}
	}
	if len(a.Name) > 2 && (a.Name[0] == 'x' || a.Name[0] == 'y') && a.Name[1] == '-' {
		return a, nil // custom attribute (KMIP 1.4 §3.40)
	}
	if t, ok := ttlv.TagBySpecNameBytes(a.Name); ok {
		a.Tag = t
		a.Name = nil
		return a, nil
	}
	return a, Errorf(ResultReasonInvalidField, "unknown attribute %q", a.Name)
}
