package objects

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// AppendAttributes writes o's attributes for a response in version ver,
// those for which want returns true (all when want is nil), in order: the
// Unique Identifier, the Object Type, then Attrs in insertion order.
//
// For ver >= 2.0 it writes one Attributes structure (KMIP 2.0 §5.1), even
// when empty, whose children are the attribute items, vendor attributes as
// Attribute{Vendor Identification, Attribute Name, Attribute Value} (§4.53).
//
// For 1.x it writes a sequence of Attribute{Attribute Name, Attribute
// Index, Attribute Value} items (KMIP 1.4 §2.1.1) and leaves wrapping them
// to the caller (a 1.x Get Attributes response lists them directly after
// the Unique Identifier). Attribute Name is the specification name, e.g.
// "Cryptographic Algorithm", or "x-foo"/"y-foo" for custom attributes;
// Attribute Index is written only when it is not 0, and is the instance's
// index among all instances of that attribute in o, so that it names the
// same instance in a later Modify or Delete Attribute whatever want
// selected.
//
// Version gating: an attribute is skipped when ver does not define it
// (KMIP 2.x-only attributes such as Short Unique Identifier never reach a
// 1.x client, 1.x-only ones such as Operation Policy Name never reach a 2.x
// client, and 1.x attributes are held back from 1.x versions older than the
// one that introduced them, e.g. Fresh from 1.0), when its value contains a
// tag ver lacks, or an enumeration value ver lacks, or when it is a vendor
// attribute that 1.x cannot name (a Vendor Identification other than "x" or
// "y"). A malformed Raw is skipped too.
func AppendAttributes(b *ttlv.Builder, o *Object, ver kmip.Version, want func(Attribute) bool) {
	AppendAttributesIn(b, o, ver, want)
}

// AppendAttributesIn is AppendAttributes for the attributes that each of
// sel selects, in the order of sel (a Get Attributes answers in the order
// the client named the attributes; clients such as PyKMIP index the answer
// by position). A nil selector selects every attribute.
func AppendAttributesIn(b *ttlv.Builder, o *Object, ver kmip.Version, sel ...func(Attribute) bool) {
	if ver.V2() {
		b.Begin(ttlv.TagAttributes)
		for _, want := range sel {
			o.each(func(a Attribute) bool {
				it, ok := emittable(a, ver)
				if ok && (want == nil || want(a)) {
					appendV2(b, a, it)
				}
				return true
			})
		}
		b.End()
		return
	}
	for _, want := range sel {
		var seen []Attribute // instances so far, for Attribute Index
		o.each(func(a Attribute) bool {
			idx := 0
			for _, s := range seen {
				if s.SameAttribute(a) {
					idx++
				}
			}
			seen = append(seen, a)
			it, ok := emittable(a, ver)
			if !ok || want != nil && !want(a) {
				return true
			}
			appendV1(b, a, it, idx)
			return true
		})
	}
}

// AppendV1Attribute writes instance idx of a as a KMIP 1.x Attribute
// {Attribute Name, Attribute Index, Attribute Value}, as 1.x Add, Modify and
// Delete Attribute answer.
func AppendV1Attribute(b *ttlv.Builder, a Attribute, idx int) {
	if it, ok := a.Item(); ok {
		appendV1(b, a, it, idx)
	}
}

// appendV1 writes the Attribute Index even when it is 0: KMIP 1.x lets a
// 0 be left out (KMIP 1.4 §2.1.1) but clients read it unconditionally
// (PyKMIP), and an explicit 0 means the same.
func appendV1(b *ttlv.Builder, a Attribute, it ttlv.Item, idx int) {
	b.Begin(ttlv.TagAttribute)
	b.AddText(ttlv.TagAttributeName, V1Name(a))
	b.AddInt32(ttlv.TagAttributeIndex, int32(idx))
	b.AddItem(ttlv.TagAttributeValue, it.Type, it.Data)
	b.End()
}

// AppendAttributeNames writes the names of o's attributes that version ver
// can carry (see the gating rules of [AppendAttributes]), each attribute
// once, for a Get Attribute List response: for 2.x, Attribute Reference
// items (KMIP 2.0 §5.5), an Enumeration whose value is the attribute's tag
// or, for a vendor attribute, a Structure {Vendor Identification, Attribute
// Name}; for 1.x, Attribute Name text items.
func AppendAttributeNames(b *ttlv.Builder, o *Object, ver kmip.Version) {
	var done []Attribute
	o.each(func(a Attribute) bool {
		if _, ok := emittable(a, ver); !ok {
			return true
		}
		for _, d := range done {
			if d.SameAttribute(a) {
				return true
			}
		}
		done = append(done, a)
		switch {
		case !ver.V2():
			b.AddText(ttlv.TagAttributeName, V1Name(a))
		case a.Tag != 0:
			b.AddEnum(ttlv.TagAttributeReference, uint32(a.Tag))
		default:
			b.Begin(ttlv.TagAttributeReference)
			b.AddText(ttlv.TagVendorIdentification, a.VendorID)
			b.AddText(ttlv.TagAttributeName, a.Name)
			b.End()
		}
		return true
	})
}

// V1Name returns the KMIP 1.x Attribute Name of a: the specification name
// of a standard attribute, "x-foo"/"y-foo" for a custom one, "" when 1.x
// cannot name it.
func V1Name(a Attribute) string {
	if a.Tag != 0 {
		s, _ := ttlv.TagSpecName(a.Tag)
		return s
	}
	if a.Name != "" && (a.VendorID == "x" || a.VendorID == "y") {
		return a.VendorID + "-" + a.Name
	}
	return ""
}

func appendV2(b *ttlv.Builder, a Attribute, it ttlv.Item) {
	if a.Tag != 0 {
		b.AddRaw(it.Raw)
		return
	}
	b.Begin(ttlv.TagAttribute)
	b.AddText(ttlv.TagVendorIdentification, a.VendorID)
	b.AddText(ttlv.TagAttributeName, a.Name)
	b.AddRaw(it.Raw)
	b.End()
}

// Emittable reports whether version ver can carry a, by the rules of
// [AppendAttributes].
func Emittable(a Attribute, ver kmip.Version) bool {
	_, ok := emittable(a, ver)
	return ok
}

// emittable decodes a's value and reports whether ver can carry it.
func emittable(a Attribute, ver kmip.Version) (ttlv.Item, bool) {
	it, ok := a.Item()
	if !ok {
		return it, false
	}
	if a.Tag == 0 {
		if it.Tag != ttlv.TagAttributeValue || a.VendorID == "" || a.Name == "" {
			return it, false
		}
		if !ver.V2() && V1Name(a) == "" {
			return it, false
		}
		return it, fits(it, ver, 0)
	}
	if it.Tag != a.Tag || a.Tag == ttlv.TagSecretDataType {
		// Secret Data Type is a field of the Secret Data object, not an
		// attribute in any version; objects stored by earlier kmipd releases
		// carry it as one, and clients reject it in an attribute list.
		return it, false
	}
	if info, ok := kmip.AttrInfoOf(a.Tag); ok {
		if !info.InVersion(ver) {
			return it, false
		}
	} else if !ver.HasTag(a.Tag) || !ver.V2() && V1Name(a) == "" {
		// An attribute kmipd does not know (e.g. stored by Import): all
		// that can be checked is that the version knows its tag and, for
		// 1.x, can name it.
		return it, false
	}
	return it, fits(it, ver, 0)
}

// maxFitDepth bounds the recursion of fits; stored values were checked to
// nest less deeply than this anyway.
const maxFitDepth = ttlv.DefaultMaxDepth

// fits reports whether every tag in it, and every named enumeration value,
// exists in ver.
func fits(it ttlv.Item, ver kmip.Version, depth int) bool {
	if !ver.HasTag(it.Tag) {
		return false
	}
	switch it.Type {
	case ttlv.TypeEnumeration:
		switch ttlv.TagKind(it.Tag) {
		case ttlv.KindEnum, ttlv.KindTagEnum:
			return len(it.Data) == 4 && ver.HasEnum(it.Tag, it.Uint32())
		}
	case ttlv.TypeStructure:
		if depth >= maxFitDepth {
			return false
		}
		c := it.Children()
		for !c.Empty() {
			ch, ok := c.Next()
			if !ok || !fits(ch, ver, depth+1) {
				return false
			}
		}
	}
	return true
}
