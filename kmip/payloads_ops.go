package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// ReadUniqueID consumes a leading Unique Identifier item, if there is one.
func ReadUniqueID(v *ttlv.Value, out *UniqueID) error {
	*out = UniqueID{}
	return readUniqueID(v, ttlv.TagUniqueIdentifier, out)
}

// RevokeRequest is the Revoke request payload (KMIP 2.0 §6.1.40).
type RevokeRequest struct {
	UniqueID                 UniqueID
	Code                     RevocationReasonCode
	Message                  []byte
	CompromiseOccurrenceDate int64
}

// Decode reads the payload.
func (r *RevokeRequest) Decode(v ttlv.Value) error {
	*r = RevokeRequest{}
	if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
		return err
	}
	var rr ttlv.Value
	if !v.ReadStructure(ttlv.TagRevocationReason, &rr) {
		return Errorf(ResultReasonInvalidMessage, "Revoke request lacks Revocation Reason")
	}
	var code uint32
	if !rr.ReadEnum(ttlv.TagRevocationReasonCode, &code) {
		return Errorf(ResultReasonInvalidMessage, "Revocation Reason lacks its code")
	}
	r.Code = RevocationReasonCode(code)
	if !rr.Empty() && !rr.ReadText(ttlv.TagRevocationMessage, &r.Message) {
		return Errorf(ResultReasonInvalidField, "invalid Revocation Message")
	}
	if !rr.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected item in Revocation Reason")
	}
	if !v.Empty() && !v.ReadDateTime(ttlv.TagCompromiseOccurrenceDate, &r.CompromiseOccurrenceDate) {
		return Errorf(ResultReasonInvalidField, "invalid Compromise Occurrence Date")
	}
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected item in Revoke request")
	}
	return nil
}

// AttrRef names an attribute in Get Attributes and Get Attribute List: by
// tag, or for vendor/custom attributes by vendor and name.
type AttrRef struct {
	Tag      ttlv.Tag
	VendorID []byte
	Name     []byte
}

// GetAttributesRequest is the Get Attributes request payload (KMIP 2.0
// §6.1.21 with Attribute Reference; KMIP 1.4 §4.12 with Attribute Name).
type GetAttributesRequest struct {
	UniqueID UniqueID
	Refs     []AttrRef // none: all attributes
}

// Decode reads the payload in the form of version ver.
func (r *GetAttributesRequest) Decode(v ttlv.Value, ver Version) error {
	refs := r.Refs[:0]
	*r = GetAttributesRequest{}
	if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
		return err
	}
	for !v.Empty() {
		it, _ := v.Next()
		switch {
		case it.Tag == ttlv.TagAttributeReference && it.Type == ttlv.TypeEnumeration:
			refs = append(refs, AttrRef{Tag: ttlv.Tag(it.Uint32())})
		case it.Tag == ttlv.TagAttributeReference && it.Type == ttlv.TypeStructure:
			c := it.Children()
			var ref AttrRef
			if !c.ReadText(ttlv.TagVendorIdentification, &ref.VendorID) || !c.ReadText(ttlv.TagAttributeName, &ref.Name) {
				return Errorf(ResultReasonInvalidField, "malformed Attribute Reference")
			}
			refs = append(refs, ref)
		case it.Tag == ttlv.TagAttributeName && it.Type == ttlv.TypeTextString && !ver.V2():
			name := it.Data
			if len(name) > 2 && (name[0] == 'x' || name[0] == 'y') && name[1] == '-' {
				refs = append(refs, AttrRef{VendorID: name[:1], Name: name[2:]})
				continue
			}
			tag, ok := ttlv.TagBySpecNameBytes(name)
			if !ok {
				// An unknown name matches nothing (KMIP 1.4 §4.12 returns
				// only the attributes that exist).
				refs = append(refs, AttrRef{Name: name})
				continue
			}
			refs = append(refs, AttrRef{Tag: tag})
		default:
			return Errorf(ResultReasonInvalidField, "unexpected %s in Get Attributes request", it.Tag)
		}
	}
	r.Refs = refs
	return nil
}

// LocateRequest is the Locate request payload (KMIP 2.0 §6.1.27; 1.x keeps
// the filter attributes as Attribute items).
type LocateRequest struct {
	MaximumItems      int32 // 0: no limit
	OffsetItems       int32
	StorageStatusMask uint32 // 0: Online only
	ObjectGroupMember uint32
	Attributes        AttrList
}

// Decode reads the payload in the form of version ver.
func (r *LocateRequest) Decode(v ttlv.Value, ver Version) error {
	*r = LocateRequest{}
	var attrs ttlv.Value
	v1 := !ver.V2()
	for !v.Empty() {
		it, _ := v.Next()
		ok := true
		switch it.Tag {
		case ttlv.TagMaximumItems:
			ok = it.Type == ttlv.TypeInteger && it.Int32() >= 0
			r.MaximumItems = it.Int32()
		case ttlv.TagOffsetItems:
			ok = it.Type == ttlv.TypeInteger && it.Int32() >= 0
			r.OffsetItems = it.Int32()
		case ttlv.TagStorageStatusMask:
			ok = it.Type == ttlv.TypeInteger
			r.StorageStatusMask = it.Uint32()
		case ttlv.TagObjectGroupMember:
			ok = it.Type == ttlv.TypeEnumeration
			r.ObjectGroupMember = it.Uint32()
		case ttlv.TagAttributes:
			ok = it.Type == ttlv.TypeStructure && !v1
			attrs = it.Children()
		case ttlv.TagAttribute:
			// 1.x: the filter attributes follow as a sequence.
			ok = v1
			if attrs == nil {
				attrs = ttlv.Value(it.Raw[:0:0])
			}
			attrs = ttlv.Value(append([]byte(attrs), it.Raw...))
		default:
			ok = false
		}
		if !ok {
			return Errorf(ResultReasonInvalidField, "unexpected %s in Locate request", it.Tag)
		}
	}
	r.Attributes = NewAttrList(attrs, v1)
	return nil
}
