// Package objects is kmipd's managed-object model.
//
// An [Object] is a managed object's identity (Unique Identifier and Object
// Type), its owner, its protected key material and its attributes. The
// attributes are kept generically, each as the encoded TTLV item of its value
// in the KMIP 2.x form, so that every attribute — standard, multi-valued,
// legacy 1.x-only or vendor/custom — is stored, returned, filtered and
// version-gated by one mechanism:
//
//   - a standard attribute's item carries the attribute's own tag, e.g. a
//     Cryptographic Algorithm Enumeration or a Name Structure {Name Value,
//     Name Type} (KMIP 2.0 §5.1);
//   - a vendor attribute (2.x) or custom attribute (1.x "x-"/"y-" names) has
//     Tag 0, is identified by its Vendor Identification and Attribute Name,
//     and its item is the Attribute Value (KMIP 2.0 §4.53).
//
// [FromAttr] converts a request attribute of either protocol version into
// this form; [AppendAttributes] and [AppendAttributeNames] write attributes
// back in the form and subset of attributes the client's version defines;
// [Object.MarshalBinary] and [Object.UnmarshalBinary] are the storage codec.
//
// # Identity attributes
//
// The Unique Identifier and Object Type attributes are not kept in Attrs:
// Object.ID and Object.Type are their single source of truth. The accessors
// ([Object.All], [Object.Text], [Object.Enum], ...) and the wire writers
// present them as attributes, and [Object.Set] or [Object.Add] of either
// updates the field. They can be neither removed nor duplicated.
//
// # Ownership
//
// An Attribute's Raw bytes are immutable once the attribute is part of an
// Object: mutators replace attributes, they never write into Raw, so Raw
// slices may be shared between an Object and its [Object.Clone].
package objects

import (
	"bytes"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Attribute is one attribute instance. Raw is the encoded TTLV item of the
// value in KMIP 2.x form: for a standard attribute the item carries the
// attribute's own tag (e.g. a CryptographicAlgorithm Enumeration item, or a
// Name Structure {NameValue, NameType}); for a vendor/custom attribute Tag
// is 0, VendorID/Name identify it and Raw is an AttributeValue item of any
// type.
type Attribute struct {
	Tag      ttlv.Tag
	VendorID string
	Name     string
	Raw      []byte
}

// IsVendor reports whether a is a vendor (KMIP 2.x) or custom (KMIP 1.x
// "x-"/"y-") attribute rather than a standard one.
func (a Attribute) IsVendor() bool { return a.Tag == 0 }

// SameAttribute reports whether a and b are instances of the same attribute:
// the same tag, or for vendor attributes the same Vendor Identification and
// Attribute Name.
func (a Attribute) SameAttribute(b Attribute) bool {
	if a.Tag != 0 || b.Tag != 0 {
		return a.Tag == b.Tag
	}
	return a.VendorID == b.VendorID && a.Name == b.Name
}

// Equal reports whether a and b are the same attribute with the same
// encoded value.
func (a Attribute) Equal(b Attribute) bool {
	return a.SameAttribute(b) && bytes.Equal(a.Raw, b.Raw)
}

// Item decodes Raw, which must hold exactly one item. The item aliases Raw.
func (a Attribute) Item() (ttlv.Item, bool) {
	v := ttlv.Value(a.Raw)
	it, ok := v.Next()
	if !ok || !v.Empty() {
		return ttlv.Item{}, false
	}
	return it, true
}

// Object is a managed object.
type Object struct {
	ID    string          // Unique Identifier
	Type  kmip.ObjectType // Object Type
	Owner string          // identity that created/registered it
	// Tenant is the owner's tenant when the object was made; "" is the
	// default tenant (internal/access).
	Tenant string
	Attrs  []Attribute // in insertion order (multi-valued attributes come back in the order added)
	Blob   []byte      // protected key material (opaque; from the hsm backend); nil when destroyed / no material

	// KeyFormat is the Key Format Type of the material sealed in Blob (for
	// keys and Secret Data); 0 when there is none. It is what the material
	// is, not necessarily what a client asked for: Get converts.
	KeyFormat kmip.KeyFormatType

	// DataType qualifies the material of object types that carry a type
	// field outside the key block: the Secret Data Type of Secret Data, the
	// Opaque Data Type of an Opaque Object, the Certificate Type of a
	// Certificate, the Certificate Request Type of a Certificate Request.
	// 0 for other objects.
	DataType uint32

	// Extra holds encoded TTLV items of the object's value that kmipd keeps
	// verbatim rather than interpreting, e.g. the Split Key fields, PGP Key
	// Version, Key Compression Type, or the Key Wrapping Data of material
	// registered wrapped. nil when there are none.
	Extra []byte

	// Grants let other identities of the tenant use the object; nil when
	// none.
	Grants []Grant
}

// New returns an Object with the given identity and owner and no attributes.
func New(id string, typ kmip.ObjectType, owner string) *Object {
	return &Object{ID: id, Type: typ, Owner: owner}
}

// Clone returns a copy of o that can be modified without affecting o. Raw
// slices are shared (they are immutable); Blob and Extra are copied.
func (o *Object) Clone() *Object {
	c := *o
	c.Attrs = append([]Attribute(nil), o.Attrs...)
	c.Blob = cloneBytes(o.Blob)
	c.Extra = cloneBytes(o.Extra)
	c.Grants = cloneGrants(o.Grants)
	return &c
}

// cloneBytes copies b, keeping nil and empty apart.
func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// derived reports whether tag is one of the attributes held in Object
// fields rather than in Attrs.
func derived(tag ttlv.Tag) bool {
	return tag == ttlv.TagUniqueIdentifier || tag == ttlv.TagObjectType
}

// derivedAttrs returns the Unique Identifier and Object Type attributes that
// are set, in that order.
func (o *Object) derivedAttrs() []Attribute {
	var out []Attribute
	if o.ID != "" {
		out = append(out, TextAttr(ttlv.TagUniqueIdentifier, o.ID))
	}
	if o.Type != 0 {
		out = append(out, EnumAttr(ttlv.TagObjectType, uint32(o.Type)))
	}
	return out
}

// each calls f for every attribute instance, the identity attributes first.
func (o *Object) each(f func(a Attribute) bool) {
	for _, a := range o.derivedAttrs() {
		if !f(a) {
			return
		}
	}
	for _, a := range o.Attrs {
		if !f(a) {
			return
		}
	}
}

// first returns the value item of the first instance of a standard
// attribute.
func (o *Object) first(tag ttlv.Tag) (ttlv.Item, bool) {
	if tag == 0 {
		return ttlv.Item{}, false
	}
	if derived(tag) {
		for _, a := range o.derivedAttrs() {
			if a.Tag == tag {
				return a.Item()
			}
		}
		return ttlv.Item{}, false
	}
	for i := range o.Attrs {
		if o.Attrs[i].Tag == tag {
			return o.Attrs[i].Item()
		}
	}
	return ttlv.Item{}, false
}

// All returns the instances of the standard attribute tag, in order. The
// returned slice is new; the Raw bytes are shared.
func (o *Object) All(tag ttlv.Tag) []Attribute {
	if tag == 0 {
		return nil
	}
	var out []Attribute
	o.each(func(a Attribute) bool {
		if a.Tag == tag {
			out = append(out, a)
		}
		return true
	})
	return out
}

// Count returns the number of instances of the standard attribute tag.
func (o *Object) Count(tag ttlv.Tag) int {
	switch {
	case tag == 0:
		return 0
	case tag == ttlv.TagUniqueIdentifier:
		return boolInt(o.ID != "")
	case tag == ttlv.TagObjectType:
		return boolInt(o.Type != 0)
	}
	n := 0
	for i := range o.Attrs {
		if o.Attrs[i].Tag == tag {
			n++
		}
	}
	return n
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Vendor returns the instances of the vendor attribute (KMIP 2.x) or custom
// attribute (1.x; vendorID "x" or "y") with the given identification and
// name, in order.
func (o *Object) Vendor(vendorID, name string) []Attribute {
	var out []Attribute
	for _, a := range o.Attrs {
		if a.Tag == 0 && a.VendorID == vendorID && a.Name == name {
			out = append(out, a)
		}
	}
	return out
}

// Enum returns the value of the first instance of an Enumeration attribute.
func (o *Object) Enum(tag ttlv.Tag) (uint32, bool) {
	if tag == ttlv.TagObjectType {
		return uint32(o.Type), o.Type != 0
	}
	it, ok := o.first(tag)
	if !ok || it.Type != ttlv.TypeEnumeration {
		return 0, false
	}
	return it.Uint32(), true
}

// Int returns the value of the first instance of an Integer attribute
// (including bit masks such as Cryptographic Usage Mask).
func (o *Object) Int(tag ttlv.Tag) (int32, bool) {
	it, ok := o.first(tag)
	if !ok || it.Type != ttlv.TypeInteger {
		return 0, false
	}
	return it.Int32(), true
}

// Long returns the value of the first instance of a Long Integer attribute.
func (o *Object) Long(tag ttlv.Tag) (int64, bool) {
	it, ok := o.first(tag)
	if !ok || it.Type != ttlv.TypeLongInteger {
		return 0, false
	}
	return it.Int64(), true
}

// Interval returns the value, in seconds, of the first instance of an
// Interval attribute (Lease Time, Protection Period, Rotate Interval...).
func (o *Object) Interval(tag ttlv.Tag) (uint32, bool) {
	it, ok := o.first(tag)
	if !ok || it.Type != ttlv.TypeInterval {
		return 0, false
	}
	return it.Uint32(), true
}

// Bool returns the value of the first instance of a Boolean attribute.
func (o *Object) Bool(tag ttlv.Tag) (bool, bool) {
	it, ok := o.first(tag)
	if !ok || it.Type != ttlv.TypeBoolean {
		return false, false
	}
	return it.Bool(), true
}

// Date returns the value, in seconds since the Unix epoch, of the first
// instance of a Date-Time attribute. A Date-Time Extended value is
// truncated to whole seconds (rounding towards negative infinity).
func (o *Object) Date(tag ttlv.Tag) (int64, bool) {
	it, ok := o.first(tag)
	if !ok {
		return 0, false
	}
	switch it.Type {
	case ttlv.TypeDateTime:
		return it.Int64(), true
	case ttlv.TypeDateTimeExtended:
		us := it.Int64()
		s := us / 1e6
		if us%1e6 < 0 {
			s--
		}
		return s, true
	}
	return 0, false
}

// Text returns the value of the first instance of a Text String attribute.
func (o *Object) Text(tag ttlv.Tag) (string, bool) {
	if tag == ttlv.TagUniqueIdentifier {
		return o.ID, o.ID != ""
	}
	it, ok := o.first(tag)
	if !ok || it.Type != ttlv.TypeTextString {
		return "", false
	}
	return string(it.Data), true
}

// Bytes returns the value of the first instance of a Byte String attribute
// (Short Unique Identifier). The slice aliases the attribute: do not modify
// it.
func (o *Object) Bytes(tag ttlv.Tag) ([]byte, bool) {
	it, ok := o.first(tag)
	if !ok || it.Type != ttlv.TypeByteString {
		return nil, false
	}
	return it.Data, true
}

// State returns the object's State attribute, 0 if it has none.
func (o *Object) State() kmip.State {
	v, _ := o.Enum(ttlv.TagState)
	return kmip.State(v)
}

// SetState sets the State attribute.
func (o *Object) SetState(s kmip.State) { o.SetEnum(ttlv.TagState, uint32(s)) }

// encode builds one item.
func encode(f func(b *ttlv.Builder)) []byte {
	b := ttlv.NewBuilder(make([]byte, 0, 16))
	f(b)
	raw, _ := b.Bytes() // a Builder without a cap fails only on misuse
	return raw
}

// EnumAttr returns a standard Enumeration attribute.
func EnumAttr(tag ttlv.Tag, v uint32) Attribute {
	return Attribute{Tag: tag, Raw: encode(func(b *ttlv.Builder) { b.AddEnum(tag, v) })}
}

// IntAttr returns a standard Integer attribute.
func IntAttr(tag ttlv.Tag, v int32) Attribute {
	return Attribute{Tag: tag, Raw: encode(func(b *ttlv.Builder) { b.AddInt32(tag, v) })}
}

// LongAttr returns a standard Long Integer attribute.
func LongAttr(tag ttlv.Tag, v int64) Attribute {
	return Attribute{Tag: tag, Raw: encode(func(b *ttlv.Builder) { b.AddLong(tag, v) })}
}

// IntervalAttr returns a standard Interval attribute.
func IntervalAttr(tag ttlv.Tag, seconds uint32) Attribute {
	return Attribute{Tag: tag, Raw: encode(func(b *ttlv.Builder) { b.AddInterval(tag, seconds) })}
}

// BoolAttr returns a standard Boolean attribute.
func BoolAttr(tag ttlv.Tag, v bool) Attribute {
	return Attribute{Tag: tag, Raw: encode(func(b *ttlv.Builder) { b.AddBool(tag, v) })}
}

// DateAttr returns a standard Date-Time attribute (seconds since the epoch).
func DateAttr(tag ttlv.Tag, unix int64) Attribute {
	return Attribute{Tag: tag, Raw: encode(func(b *ttlv.Builder) { b.AddDateTime(tag, unix) })}
}

// TextAttr returns a standard Text String attribute.
func TextAttr(tag ttlv.Tag, s string) Attribute {
	return Attribute{Tag: tag, Raw: encode(func(b *ttlv.Builder) { b.AddText(tag, s) })}
}

// BytesAttr returns a standard Byte String attribute.
func BytesAttr(tag ttlv.Tag, v []byte) Attribute {
	return Attribute{Tag: tag, Raw: encode(func(b *ttlv.Builder) { b.AddBytes(tag, v) })}
}

// NameAttr returns a Name attribute (KMIP 2.0 §4, Name: {Name Value, Name
// Type}).
func NameAttr(value string, typ kmip.NameType) Attribute {
	return Attribute{Tag: ttlv.TagName, Raw: encode(func(b *ttlv.Builder) {
		b.Begin(ttlv.TagName)
		b.AddText(ttlv.TagNameValue, value)
		b.AddEnum(ttlv.TagNameType, uint32(typ))
		b.End()
	})}
}

// LinkAttr returns a Link attribute {Link Type, Linked Object Identifier}.
func LinkAttr(typ kmip.LinkType, id string) Attribute {
	return Attribute{Tag: ttlv.TagLink, Raw: encode(func(b *ttlv.Builder) {
		b.Begin(ttlv.TagLink)
		b.AddEnum(ttlv.TagLinkType, uint32(typ))
		b.AddText(ttlv.TagLinkedObjectIdentifier, id)
		b.End()
	})}
}

// VendorAttr returns a vendor attribute whose Attribute Value is built by
// value, which must add exactly one item tagged ttlv.TagAttributeValue.
func VendorAttr(vendorID, name string, value func(b *ttlv.Builder)) Attribute {
	return Attribute{VendorID: vendorID, Name: name, Raw: encode(value)}
}

// SetEnum replaces all instances of tag with one Enumeration.
func (o *Object) SetEnum(tag ttlv.Tag, v uint32) { o.Set(EnumAttr(tag, v)) }

// SetInt replaces all instances of tag with one Integer.
func (o *Object) SetInt(tag ttlv.Tag, v int32) { o.Set(IntAttr(tag, v)) }

// SetLong replaces all instances of tag with one Long Integer.
func (o *Object) SetLong(tag ttlv.Tag, v int64) { o.Set(LongAttr(tag, v)) }

// SetInterval replaces all instances of tag with one Interval.
func (o *Object) SetInterval(tag ttlv.Tag, seconds uint32) { o.Set(IntervalAttr(tag, seconds)) }

// SetBool replaces all instances of tag with one Boolean.
func (o *Object) SetBool(tag ttlv.Tag, v bool) { o.Set(BoolAttr(tag, v)) }

// SetDate replaces all instances of tag with one Date-Time (seconds).
func (o *Object) SetDate(tag ttlv.Tag, unix int64) { o.Set(DateAttr(tag, unix)) }

// SetText replaces all instances of tag with one Text String.
func (o *Object) SetText(tag ttlv.Tag, s string) { o.Set(TextAttr(tag, s)) }

// SetBytes replaces all instances of tag with one Byte String.
func (o *Object) SetBytes(tag ttlv.Tag, v []byte) { o.Set(BytesAttr(tag, v)) }

// setDerived stores a Unique Identifier or Object Type attribute in its
// field. It reports whether a was one of them (a malformed value is
// ignored).
func (o *Object) setDerived(a Attribute) bool {
	if !derived(a.Tag) {
		return false
	}
	it, ok := a.Item()
	if !ok || it.Tag != a.Tag {
		return true
	}
	switch {
	case a.Tag == ttlv.TagUniqueIdentifier && it.Type == ttlv.TypeTextString:
		o.ID = string(it.Data)
	case a.Tag == ttlv.TagObjectType && it.Type == ttlv.TypeEnumeration:
		o.Type = kmip.ObjectType(it.Uint32())
	}
	return true
}

// Set replaces all instances of a's attribute with a: the first instance
// keeps its position, later ones are removed; a is appended if there was
// none. The Object takes ownership of a.Raw.
func (o *Object) Set(a Attribute) {
	if o.setDerived(a) {
		return
	}
	n, done := 0, false
	for _, x := range o.Attrs {
		if x.SameAttribute(a) {
			if done {
				continue
			}
			x, done = a, true
		}
		o.Attrs[n] = x
		n++
	}
	clear(o.Attrs[n:])
	o.Attrs = o.Attrs[:n]
	if !done {
		o.Attrs = append(o.Attrs, a)
	}
}

// Add appends an instance of a's attribute after the existing ones. It does
// not check whether the attribute may have several instances (see
// [kmip.AttrInfo.Multi]). The Object takes ownership of a.Raw.
func (o *Object) Add(a Attribute) {
	if o.setDerived(a) {
		return
	}
	o.Attrs = append(o.Attrs, a)
}

// Remove deletes every instance of the standard attribute tag and returns
// how many there were. Unique Identifier and Object Type cannot be removed.
func (o *Object) Remove(tag ttlv.Tag) int {
	if tag == 0 || derived(tag) {
		return 0
	}
	return o.removeIf(func(a Attribute) bool { return a.Tag == tag })
}

// RemoveVendor deletes every instance of a vendor/custom attribute and
// returns how many there were.
func (o *Object) RemoveVendor(vendorID, name string) int {
	return o.removeIf(func(a Attribute) bool {
		return a.Tag == 0 && a.VendorID == vendorID && a.Name == name
	})
}

func (o *Object) removeIf(match func(Attribute) bool) int {
	n := 0
	for _, x := range o.Attrs {
		if !match(x) {
			o.Attrs[n] = x
			n++
		}
	}
	removed := len(o.Attrs) - n
	clear(o.Attrs[n:])
	o.Attrs = o.Attrs[:n]
	return removed
}

// RemoveIndex deletes instance i (counting from 0, in order) of the standard
// attribute tag and reports whether it existed. The later instances move
// down one index, as KMIP 1.x Delete Attribute implies.
func (o *Object) RemoveIndex(tag ttlv.Tag, i int) bool {
	if tag == 0 || derived(tag) {
		return false
	}
	return o.removeNth(func(a Attribute) bool { return a.Tag == tag }, i)
}

// RemoveVendorIndex deletes instance i of a vendor/custom attribute.
func (o *Object) RemoveVendorIndex(vendorID, name string, i int) bool {
	return o.removeNth(func(a Attribute) bool {
		return a.Tag == 0 && a.VendorID == vendorID && a.Name == name
	}, i)
}

func (o *Object) removeNth(match func(Attribute) bool, i int) bool {
	if i < 0 {
		return false
	}
	for j := range o.Attrs {
		if !match(o.Attrs[j]) {
			continue
		}
		if i > 0 {
			i--
			continue
		}
		copy(o.Attrs[j:], o.Attrs[j+1:])
		o.Attrs[len(o.Attrs)-1] = Attribute{}
		o.Attrs = o.Attrs[:len(o.Attrs)-1]
		return true
	}
	return false
}
