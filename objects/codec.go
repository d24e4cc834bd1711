package objects

import (
	"errors"
	"fmt"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Storage encoding
//
// An Object is stored as one TTLV structure, so the store needs no second
// codec and every stored object can be validated with ttlv.Check:
//
//	StoredObject (0x540001) Structure
//	  FormatVersion (0x540002) Integer         1
//	  UniqueIdentifier         Text String     Object.ID
//	  ObjectType               Enumeration     Object.Type
//	  Owner (0x540003)         Text String     Object.Owner, absent when ""
//	  Tenant (0x540007)        Text String     Object.Tenant, absent when ""
//	  KeyFormatType            Enumeration     Object.KeyFormat, absent when 0
//	  DataType (0x540005)      Enumeration     Object.DataType, absent when 0
//	  Blob (0x540004)          Byte String     Object.Blob, absent when nil
//	  Extra (0x540006)         Structure       Object.Extra as its children, absent when nil
//	  Grants (0x540008)        Structure       Object.Grants, absent when none: per grant a
//	    Grant (0x540009)       Structure       {Identity (0x54000A) Text String, Operation
//	                                           Enumeration per operation, FollowReKey
//	                                           (0x54000B) Boolean when true}
//	  Attributes               Structure       Object.Attrs in the KMIP 2.x wire form
//
// kmipd's store keeps the key material apart, in store.Record.Secret, so
// lifecycle encodes objects with Blob nil; a Blob is still read from (and
// written to) this encoding, as stores of format 2 held it here.
//
// The 0x54xxxx extension tags are private to this encoding; fields appear in
// the order shown. A change of layout gets a new FormatVersion, and
// UnmarshalBinary keeps reading the old ones.
const (
	tagStoredObject  ttlv.Tag = 0x540001
	tagFormatVersion ttlv.Tag = 0x540002
	tagOwner         ttlv.Tag = 0x540003
	tagBlob          ttlv.Tag = 0x540004
	tagDataType      ttlv.Tag = 0x540005
	tagExtra         ttlv.Tag = 0x540006
	tagTenant        ttlv.Tag = 0x540007
	tagGrants        ttlv.Tag = 0x540008
	tagGrant         ttlv.Tag = 0x540009
	tagGrantIdentity ttlv.Tag = 0x54000A
	tagFollowReKey   ttlv.Tag = 0x54000B
)

// FormatVersion is the storage format MarshalBinary writes.
const FormatVersion = 1

// Errors of the storage codec.
var (
	// ErrCorrupt is returned by UnmarshalBinary for bytes that are not a
	// well-formed stored object.
	ErrCorrupt = errors.New("objects: corrupt stored object")
	// ErrFormatVersion is returned by UnmarshalBinary for a stored object of
	// a format version this build cannot read.
	ErrFormatVersion = errors.New("objects: unknown storage format version")
	// ErrInvalid is returned by MarshalBinary for an Object that cannot be
	// stored: no ID, or an attribute whose Raw is not one well-formed item
	// of its attribute.
	ErrInvalid = errors.New("objects: invalid object")
)

// MarshalBinary encodes o for storage. It implements
// encoding.BinaryMarshaler.
func (o *Object) MarshalBinary() ([]byte, error) {
	if o.ID == "" {
		return nil, fmt.Errorf("%w: no unique identifier", ErrInvalid)
	}
	n := 128 + len(o.ID) + len(o.Owner) + len(o.Blob) + len(o.Extra)
	for i := range o.Attrs {
		n += len(o.Attrs[i].Raw) + 48 + len(o.Attrs[i].VendorID) + len(o.Attrs[i].Name)
	}
	b := ttlv.NewBuilder(make([]byte, 0, n))
	b.Begin(tagStoredObject)
	b.AddInt32(tagFormatVersion, FormatVersion)
	b.AddText(ttlv.TagUniqueIdentifier, o.ID)
	b.AddEnum(ttlv.TagObjectType, uint32(o.Type))
	if o.Owner != "" {
		b.AddText(tagOwner, o.Owner)
	}
	if o.Tenant != "" {
		b.AddText(tagTenant, o.Tenant)
	}
	if o.KeyFormat != 0 {
		b.AddEnum(ttlv.TagKeyFormatType, uint32(o.KeyFormat))
	}
	if o.DataType != 0 {
		b.AddEnum(tagDataType, o.DataType)
	}
	if o.Blob != nil {
		b.AddBytes(tagBlob, o.Blob)
	}
	if o.Extra != nil {
		b.Begin(tagExtra)
		b.AddRaw(o.Extra)
		b.End()
	}
	if len(o.Grants) > 0 {
		appendGrants(b, o.Grants)
	}
	b.Begin(ttlv.TagAttributes)
	for i, a := range o.Attrs {
		it, ok := a.Item()
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: attribute %d is malformed", ErrInvalid, i)
		case a.Tag == 0 && (it.Tag != ttlv.TagAttributeValue || a.VendorID == "" || a.Name == ""):
			return nil, fmt.Errorf("%w: vendor attribute %d is malformed", ErrInvalid, i)
		case a.Tag != 0 && (it.Tag != a.Tag || it.Tag == ttlv.TagAttribute || derived(a.Tag)):
			return nil, fmt.Errorf("%w: attribute %d (%s) is malformed", ErrInvalid, i, a.Tag)
		}
		appendV2(b, a, it)
	}
	b.End()
	b.End()
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// The checks above looked at headers only; this validates every byte
	// (and Extra), so nothing unreadable is ever stored.
	if err := ttlv.Check(out, 0); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return out, nil
}

// UnmarshalBinary decodes a stored object into o, replacing its contents.
// It implements encoding.BinaryUnmarshaler. The input is validated in full
// and copied, so o does not alias data (which may be a database page). On
// error o is left unchanged.
func (o *Object) UnmarshalBinary(data []byte) error {
	if err := ttlv.Check(data, 0); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	v := ttlv.Value(cloneBytes(data))
	var body ttlv.Value
	var ver int32
	if !v.ReadStructure(tagStoredObject, &body) || !body.ReadInt32(tagFormatVersion, &ver) {
		return fmt.Errorf("%w: not a stored object", ErrCorrupt)
	}
	var n Object
	var err error
	switch ver {
	case 1:
		err = n.decodeV1(body)
	default:
		return fmt.Errorf("%w: %d", ErrFormatVersion, ver)
	}
	if err != nil {
		return err
	}
	*o = n
	return nil
}

func corrupt(what string) error { return fmt.Errorf("%w: %s", ErrCorrupt, what) }

// decodeV1 reads the fields after FormatVersion 1.
func (o *Object) decodeV1(v ttlv.Value) error {
	var id, owner []byte
	var typ uint32
	if !v.ReadText(ttlv.TagUniqueIdentifier, &id) || len(id) == 0 {
		return corrupt("missing unique identifier")
	}
	if !v.ReadEnum(ttlv.TagObjectType, &typ) {
		return corrupt("missing object type")
	}
	o.ID, o.Type = string(id), kmip.ObjectType(typ)
	if v.PeekTag() == tagOwner {
		if !v.ReadText(tagOwner, &owner) {
			return corrupt("bad owner")
		}
		o.Owner = string(owner)
	}
	if v.PeekTag() == tagTenant {
		var t []byte
		if !v.ReadText(tagTenant, &t) {
			return corrupt("bad tenant")
		}
		o.Tenant = string(t)
	}
	if v.PeekTag() == ttlv.TagKeyFormatType {
		var kft uint32
		if !v.ReadEnum(ttlv.TagKeyFormatType, &kft) {
			return corrupt("bad key format type")
		}
		o.KeyFormat = kmip.KeyFormatType(kft)
	}
	if v.PeekTag() == tagDataType && !v.ReadEnum(tagDataType, &o.DataType) {
		return corrupt("bad data type")
	}
	if v.PeekTag() == tagBlob {
		var blob []byte
		if !v.ReadBytes(tagBlob, &blob) {
			return corrupt("bad blob")
		}
		o.Blob = blob[:len(blob):len(blob)]
	}
	if v.PeekTag() == tagExtra {
		var extra ttlv.Value
		if !v.ReadStructure(tagExtra, &extra) {
			return corrupt("bad extra")
		}
		o.Extra = extra[:len(extra):len(extra)]
	}
	if v.PeekTag() == tagGrants {
		var gs ttlv.Value
		if !v.ReadStructure(tagGrants, &gs) {
			return corrupt("bad grants")
		}
		var err error
		if o.Grants, err = decodeGrants(gs); err != nil {
			return err
		}
	}
	var attrs ttlv.Value
	if !v.ReadStructure(ttlv.TagAttributes, &attrs) {
		return corrupt("missing attributes")
	}
	if !v.Empty() {
		return corrupt("unexpected field " + v.PeekTag().String())
	}
	for !attrs.Empty() {
		it, _ := attrs.Next() // Check has validated the structure
		switch {
		case it.Tag == ttlv.TagAttribute:
			c := it.Children()
			var vid, name []byte
			if !c.ReadText(ttlv.TagVendorIdentification, &vid) || len(vid) == 0 ||
				!c.ReadText(ttlv.TagAttributeName, &name) || len(name) == 0 {
				return corrupt("malformed vendor attribute")
			}
			val, ok := c.Next()
			if !ok || val.Tag != ttlv.TagAttributeValue || !c.Empty() {
				return corrupt("malformed vendor attribute")
			}
			o.Attrs = append(o.Attrs, Attribute{VendorID: string(vid), Name: string(name), Raw: val.Raw})
		case derived(it.Tag):
			return corrupt("identity attribute among attributes")
		default:
			o.Attrs = append(o.Attrs, Attribute{Tag: it.Tag, Raw: it.Raw})
		}
	}
	return nil
}

func appendGrants(b *ttlv.Builder, gs []Grant) {
	b.Begin(tagGrants)
	for _, g := range gs {
		b.Begin(tagGrant)
		b.AddText(tagGrantIdentity, g.Identity)
		for _, op := range g.Ops {
			b.AddEnum(ttlv.TagOperation, uint32(op))
		}
		if g.FollowReKey {
			b.AddBool(tagFollowReKey, true)
		}
		b.End()
	}
	b.End()
}

func decodeGrants(v ttlv.Value) ([]Grant, error) {
	var out []Grant
	for !v.Empty() {
		var gv ttlv.Value
		if !v.ReadStructure(tagGrant, &gv) {
			return nil, corrupt("bad grant")
		}
		var g Grant
		var id []byte
		if !gv.ReadText(tagGrantIdentity, &id) || len(id) == 0 {
			return nil, corrupt("grant without identity")
		}
		g.Identity = string(id)
		for gv.PeekTag() == ttlv.TagOperation {
			var op uint32
			if !gv.ReadEnum(ttlv.TagOperation, &op) {
				return nil, corrupt("bad grant operation")
			}
			g.Ops = append(g.Ops, kmip.Operation(op))
		}
		if gv.PeekTag() == tagFollowReKey && !gv.ReadBool(tagFollowReKey, &g.FollowReKey) {
			return nil, corrupt("bad grant follow re-key")
		}
		if !gv.Empty() {
			return nil, corrupt("unexpected field in grant")
		}
		out = append(out, g)
	}
	return out, nil
}
