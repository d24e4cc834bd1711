package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// Request payloads of the attribute operations (Add, Set, Modify, Delete
// and Adjust Attribute), Check and Re-key, in the KMIP 2.x form (New
// Attribute / Current Attribute / Attribute Reference, KMIP 2.0 §5.5–5.7)
// and, for the operations KMIP 1.x has, its form (Attribute{Attribute Name,
// Attribute Index?, Attribute Value}, KMIP 1.4 §2.1.1).
//
// Decoders alias the payload and never copy; a missing required field is
// Invalid Message, anything unexpected Invalid Field, as the other decoders
// of this package do.

// AddAttributeRequest is the Add Attribute request payload (KMIP 2.0
// §6.1.2: Unique Identifier?, New Attribute; KMIP 1.4 §4.14: Unique
// Identifier?, Attribute). Set Attribute (KMIP 2.0 §6.1.47) has the same
// shape and is decoded into it too.
type AddAttributeRequest struct {
	UniqueID UniqueID
	// Attribute is the attribute to add (or set). In the 1.x form Index is
	// the request's Attribute Index, 0 when absent.
	Attribute Attr
}

// Decode reads the payload in the form of version ver.
func (r *AddAttributeRequest) Decode(v ttlv.Value, ver Version) error {
	*r = AddAttributeRequest{}
	if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
		return err
	}
	var err error
	if ver.V2() {
		r.Attribute, err = readWrappedAttr(&v, ttlv.TagNewAttribute)
	} else {
		r.Attribute, err = readV1Attr(&v)
	}
	if err != nil {
		return err
	}
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected %s in request", v.PeekTag())
	}
	return nil
}

// ModifyAttributeRequest is the Modify Attribute request payload (KMIP 2.0
// §6.1.33: Unique Identifier?, Current Attribute?, New Attribute; KMIP 1.4
// §4.15: Unique Identifier?, Attribute{Attribute Name, Attribute Index?,
// Attribute Value}).
type ModifyAttributeRequest struct {
	UniqueID UniqueID
	// Current is the instance to modify (2.x), valid when HasCurrent.
	Current    Attr
	HasCurrent bool
	// New is the new value. In the 1.x form its Index selects the instance
	// (0 when absent, KMIP 1.4 §4.15).
	New Attr
}

// Decode reads the payload in the form of version ver.
func (r *ModifyAttributeRequest) Decode(v ttlv.Value, ver Version) error {
	*r = ModifyAttributeRequest{}
	if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
		return err
	}
	var err error
	if ver.V2() {
		if v.PeekTag() == ttlv.TagCurrentAttribute {
			if r.Current, err = readWrappedAttr(&v, ttlv.TagCurrentAttribute); err != nil {
				return err
			}
			r.HasCurrent = true
		}
		r.New, err = readWrappedAttr(&v, ttlv.TagNewAttribute)
	} else {
		r.New, err = readV1Attr(&v)
	}
	if err != nil {
		return err
	}
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected %s in Modify Attribute request", v.PeekTag())
	}
	return nil
}

// DeleteAttributeRequest is the Delete Attribute request payload (KMIP 2.0
// §6.1.13: Unique Identifier?, Current Attribute?, Attribute Reference?;
// KMIP 1.4 §4.16: Unique Identifier?, Attribute Name, Attribute Index?).
type DeleteAttributeRequest struct {
	UniqueID UniqueID
	// Current names one instance by its value (2.x), valid when HasCurrent.
	Current    Attr
	HasCurrent bool
	// Ref names the attribute: the 2.x Attribute Reference (valid when
	// HasRef) or the 1.x Attribute Name. A 1.x name that is no attribute
	// gives a Ref with only Name set, which matches nothing.
	Ref    AttrRef
	HasRef bool
	// Index is the 1.x Attribute Index (0 when absent).
	Index int32
}

// Decode reads the payload in the form of version ver.
func (r *DeleteAttributeRequest) Decode(v ttlv.Value, ver Version) error {
	*r = DeleteAttributeRequest{}
	if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
		return err
	}
	if ver.V2() {
		if v.PeekTag() == ttlv.TagCurrentAttribute {
			var err error
			if r.Current, err = readWrappedAttr(&v, ttlv.TagCurrentAttribute); err != nil {
				return err
			}
			r.HasCurrent = true
		}
		if v.PeekTag() == ttlv.TagAttributeReference {
			it, _ := v.Next()
			ref, err := ReadAttrRef(it)
			if err != nil {
				return err
			}
			r.Ref, r.HasRef = ref, true
		}
		if !r.HasCurrent && !r.HasRef {
			return Errorf(ResultReasonInvalidMessage, "Delete Attribute needs a Current Attribute or an Attribute Reference")
		}
	} else {
		var name []byte
		if !v.ReadText(ttlv.TagAttributeName, &name) {
			return Errorf(ResultReasonInvalidMessage, "Delete Attribute request lacks Attribute Name")
		}
		r.Ref, r.HasRef = refFromV1Name(name), true
		if v.PeekTag() == ttlv.TagAttributeIndex {
			if !v.ReadInt32(ttlv.TagAttributeIndex, &r.Index) || r.Index < 0 {
				return Errorf(ResultReasonInvalidField, "invalid Attribute Index")
			}
		}
	}
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected %s in Delete Attribute request", v.PeekTag())
	}
	return nil
}

// AdjustAttributeRequest is the Adjust Attribute request payload (KMIP 2.0
// §6.1.3: Unique Identifier?, Attribute Reference, Adjustment Type,
// Adjustment Value?).
type AdjustAttributeRequest struct {
	UniqueID UniqueID
	Ref      AttrRef
	Type     AdjustmentType
	// Value is the Adjustment Value item, valid when HasValue; its type is
	// whatever the client sent (Integer, Long Integer, Big Integer,
	// Interval...).
	Value    ttlv.Item
	HasValue bool
}

// Decode reads the payload.
func (r *AdjustAttributeRequest) Decode(v ttlv.Value) error {
	*r = AdjustAttributeRequest{}
	if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
		return err
	}
	it, ok := v.Peek()
	if !ok || it.Tag != ttlv.TagAttributeReference {
		return Errorf(ResultReasonInvalidMessage, "Adjust Attribute request lacks Attribute Reference")
	}
	v.Skip()
	ref, err := ReadAttrRef(it)
	if err != nil {
		return err
	}
	r.Ref = ref
	var typ uint32
	if !v.ReadEnum(ttlv.TagAdjustmentType, &typ) {
		return Errorf(ResultReasonInvalidMessage, "Adjust Attribute request lacks Adjustment Type")
	}
	r.Type = AdjustmentType(typ)
	if v.PeekTag() == ttlv.TagAdjustmentValue {
		r.Value, _ = v.Next()
		r.HasValue = true
	}
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected %s in Adjust Attribute request", v.PeekTag())
	}
	return nil
}

// CheckRequest is the Check request payload (KMIP 2.0 §6.1.7, "Check";
// KMIP 1.4 §4.10): Unique Identifier?, Usage Limits Count?, Cryptographic
// Usage Mask?, Lease Time?. These are plain items, not attributes.
type CheckRequest struct {
	UniqueID         UniqueID
	UsageLimitsCount int64
	HasUsageLimits   bool
	UsageMask        uint32
	HasUsageMask     bool
	LeaseTime        uint32
	HasLeaseTime     bool
}

// Decode reads the payload.
func (r *CheckRequest) Decode(v ttlv.Value) error {
	*r = CheckRequest{}
	if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
		return err
	}
	for !v.Empty() {
		it, _ := v.Next()
		ok := false
		switch it.Tag {
		case ttlv.TagUsageLimitsCount:
			ok = it.Type == ttlv.TypeLongInteger && !r.HasUsageLimits && it.Int64() >= 0
			r.UsageLimitsCount, r.HasUsageLimits = it.Int64(), true
		case ttlv.TagCryptographicUsageMask:
			ok = it.Type == ttlv.TypeInteger && !r.HasUsageMask
			r.UsageMask, r.HasUsageMask = it.Uint32(), true
		case ttlv.TagLeaseTime:
			ok = it.Type == ttlv.TypeInterval && !r.HasLeaseTime
			r.LeaseTime, r.HasLeaseTime = it.Uint32(), true
		}
		if !ok {
			return Errorf(ResultReasonInvalidField, "unexpected %s in Check request", it.Tag)
		}
	}
	return nil
}

// ReKeyRequest is the Re-key request payload (KMIP 2.0 §6.1.42: Unique
// Identifier?, Offset?, Attributes?, Protection Storage Masks?; KMIP 1.4
// §4.4: Unique Identifier?, Offset?, Template-Attribute?).
type ReKeyRequest struct {
	UniqueID  UniqueID
	Offset    uint32 // seconds, valid when HasOffset
	HasOffset bool
	// Attributes are the attributes the client wants on the replacement
	// key, in the request's form.
	Attributes             AttrList
	ProtectionStorageMasks ttlv.Value // 2.x, raw
}

// Decode reads the payload in the form of version ver.
func (r *ReKeyRequest) Decode(v ttlv.Value, ver Version) error {
	*r = ReKeyRequest{}
	if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
		return err
	}
	if v.PeekTag() == ttlv.TagOffset {
		if !v.ReadInterval(ttlv.TagOffset, &r.Offset) {
			return Errorf(ResultReasonInvalidField, "Offset must be an Interval")
		}
		r.HasOffset = true
	}
	seen := false
	for !v.Empty() {
		it, _ := v.Next()
		switch {
		case it.Tag == ttlv.TagAttributes && it.Type == ttlv.TypeStructure && ver.V2() && !seen:
			r.Attributes, seen = NewAttrList(it.Children(), false), true
		case it.Tag == ttlv.TagTemplateAttribute && it.Type == ttlv.TypeStructure && !ver.V2() && !seen:
			r.Attributes, seen = NewAttrList(it.Children(), true), true
		case it.Tag == ttlv.TagProtectionStorageMasks && it.Type == ttlv.TypeStructure && ver.V2():
			r.ProtectionStorageMasks = it.Children()
		default:
			return Errorf(ResultReasonInvalidField, "unexpected %s in Re-key request", it.Tag)
		}
	}
	return nil
}

// ReadAttrRef decodes an Attribute Reference item (KMIP 2.0 §5.5): an
// Enumeration whose value is the attribute's tag, or a Structure {Vendor
// Identification, Attribute Name} naming a vendor attribute.
func ReadAttrRef(it ttlv.Item) (AttrRef, error) {
	switch {
	case it.Tag != ttlv.TagAttributeReference:
	case it.Type == ttlv.TypeEnumeration:
		return AttrRef{Tag: ttlv.Tag(it.Uint32())}, nil
	case it.Type == ttlv.TypeStructure:
		c := it.Children()
		var ref AttrRef
		if c.ReadText(ttlv.TagVendorIdentification, &ref.VendorID) &&
			c.ReadText(ttlv.TagAttributeName, &ref.Name) && c.Empty() &&
			len(ref.VendorID) > 0 && len(ref.Name) > 0 {
			return ref, nil
		}
	}
	return AttrRef{}, Errorf(ResultReasonInvalidField, "malformed Attribute Reference")
}

// refFromV1Name turns a 1.x Attribute Name into an AttrRef: the tag of a
// standard attribute, vendor "x"/"y" for a custom "x-"/"y-" name, or just
// the name (matching nothing) when it is neither.
func refFromV1Name(name []byte) AttrRef {
	if len(name) > 2 && (name[0] == 'x' || name[0] == 'y') && name[1] == '-' {
		return AttrRef{VendorID: name[:1], Name: name[2:]}
	}
	if tag, ok := ttlv.TagBySpecNameBytes(name); ok {
		return AttrRef{Tag: tag}
	}
	return AttrRef{Name: name}
}

// readWrappedAttr reads a New Attribute or Current Attribute structure
// (KMIP 2.0 §5.6, §5.7), which holds exactly one attribute: a standard
// attribute item or a Vendor Attribute.
func readWrappedAttr(v *ttlv.Value, tag ttlv.Tag) (Attr, error) {
	it, ok := v.Peek()
	if !ok || it.Tag != tag {
		return Attr{}, Errorf(ResultReasonInvalidMessage, "request lacks %s", tag)
	}
	v.Skip()
	if it.Type != ttlv.TypeStructure {
		return Attr{}, Errorf(ResultReasonInvalidField, "%s must be a Structure", tag)
	}
	l := NewAttrList(it.Children(), false)
	a, ok, err := l.Next()
	if err != nil {
		return Attr{}, err
	}
	if !ok {
		return Attr{}, Errorf(ResultReasonInvalidField, "%s is empty", tag)
	}
	if !l.Empty() {
		return Attr{}, Errorf(ResultReasonInvalidField, "%s holds more than one attribute", tag)
	}
	return a, nil
}

// readV1Attr reads a 1.x Attribute{Attribute Name, Attribute Index?,
// Attribute Value} item.
func readV1Attr(v *ttlv.Value) (Attr, error) {
	it, ok := v.Peek()
	if !ok || it.Tag != ttlv.TagAttribute {
		return Attr{}, Errorf(ResultReasonInvalidMessage, "request lacks Attribute")
	}
	v.Skip()
	if it.Type != ttlv.TypeStructure {
		return Attr{}, Errorf(ResultReasonInvalidField, "Attribute must be a Structure")
	}
	l := NewAttrList(ttlv.Value(it.Raw), true)
	a, _, err := l.Next()
	if err != nil {
		return Attr{}, err
	}
	if a.Index < 0 {
		return Attr{}, Errorf(ResultReasonInvalidField, "negative Attribute Index")
	}
	return a, nil
}
