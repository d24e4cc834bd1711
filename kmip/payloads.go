package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// UniqueID is a Unique Identifier field as a request may give it: a Text
// String, or in KMIP 2.x an ID Placeholder enumeration or an Integer index
// into the batch's earlier results (KMIP 2.0 §4.31, §11.56). The zero value
// means the field was absent, which also refers to the ID Placeholder.
type UniqueID struct {
	Text  []byte
	Enum  UniqueIdentifier
	Index int32
	Kind  UniqueIDKind
}

// UniqueIDKind tells which form a UniqueID took.
type UniqueIDKind uint8

// The forms of a Unique Identifier field.
const (
	UniqueIDAbsent UniqueIDKind = iota
	UniqueIDText
	UniqueIDEnum
	UniqueIDIndex
)

// readUniqueID consumes a Unique Identifier item if the next item is one.
func readUniqueID(v *ttlv.Value, tag ttlv.Tag, out *UniqueID) error {
	it, ok := v.Peek()
	if !ok || it.Tag != tag {
		return nil
	}
	v.Skip()
	switch it.Type {
	case ttlv.TypeTextString:
		*out = UniqueID{Text: it.Data, Kind: UniqueIDText}
	case ttlv.TypeEnumeration:
		*out = UniqueID{Enum: UniqueIdentifier(it.Uint32()), Kind: UniqueIDEnum}
	case ttlv.TypeInteger:
		*out = UniqueID{Index: it.Int32(), Kind: UniqueIDIndex}
	default:
		return Errorf(ResultReasonInvalidField, "invalid %s", tag)
	}
	return nil
}

// GetRequest is the Get request payload (KMIP 2.0 §6.1.19).
type GetRequest struct {
	UniqueID                 UniqueID
	KeyFormatType            KeyFormatType // 0: server's choice
	KeyWrapType              KeyWrapType
	KeyCompressionType       KeyCompressionType
	KeyWrappingSpecification ttlv.Value // raw, nil when absent
}

// Decode reads the payload. Unknown fields are refused.
func (r *GetRequest) Decode(v ttlv.Value) error { return r.decode(v, "Get") }

// decode reads a Get or an Export payload, which have the same fields (KMIP
// 2.0 §6.1.18); op names the request in errors.
func (r *GetRequest) decode(v ttlv.Value, op string) error {
	*r = GetRequest{}
	if err := readUniqueID(&v, ttlv.TagUniqueIdentifier, &r.UniqueID); err != nil {
		return err
	}
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return Errorf(ResultReasonInvalidMessage, "malformed %s request", op)
		}
		switch it.Tag {
		case ttlv.TagKeyFormatType:
			ok = it.Type == ttlv.TypeEnumeration
			r.KeyFormatType = KeyFormatType(it.Uint32())
		case ttlv.TagKeyWrapType:
			ok = it.Type == ttlv.TypeEnumeration
			r.KeyWrapType = KeyWrapType(it.Uint32())
		case ttlv.TagKeyCompressionType:
			ok = it.Type == ttlv.TypeEnumeration
			r.KeyCompressionType = KeyCompressionType(it.Uint32())
		case ttlv.TagKeyWrappingSpecification:
			ok = it.Type == ttlv.TypeStructure
			r.KeyWrappingSpecification = it.Children()
		default:
			ok = false
		}
		if !ok {
			return Errorf(ResultReasonInvalidField, "unexpected %s in %s request", it.Tag, op)
		}
	}
	return nil
}

// CreateRequest is the Create request payload (KMIP 2.0 §6.1.8; 1.x uses a
// Template-Attribute, KMIP 1.4 §4.1).
type CreateRequest struct {
	ObjectType             ObjectType
	Attributes             AttrList
	ProtectionStorageMasks ttlv.Value // 2.x, raw
}

// Decode reads the payload in the form of version ver.
func (r *CreateRequest) Decode(v ttlv.Value, ver Version) error {
	*r = CreateRequest{}
	var ot uint32
	if !v.ReadEnum(ttlv.TagObjectType, &ot) {
		return Errorf(ResultReasonInvalidMessage, "Create request lacks Object Type")
	}
	r.ObjectType = ObjectType(ot)
	for !v.Empty() {
		it, _ := v.Next()
		switch {
		case it.Tag == ttlv.TagAttributes && it.Type == ttlv.TypeStructure:
			r.Attributes = NewAttrList(it.Children(), false)
		case it.Tag == ttlv.TagTemplateAttribute && it.Type == ttlv.TypeStructure && !ver.V2():
			r.Attributes = NewAttrList(it.Children(), true)
		case it.Tag == ttlv.TagProtectionStorageMasks && it.Type == ttlv.TypeStructure:
			r.ProtectionStorageMasks = it.Children()
		default:
			return Errorf(ResultReasonInvalidField, "unexpected %s in Create request", it.Tag)
		}
	}
	return nil
}

// KeyBlock holds what a Key Block carries for a key in Raw or Transparent
// Symmetric Key format, unwrapped (KMIP 2.0 §2.1.3).
type KeyBlock struct {
	FormatType             KeyFormatType
	Material               []byte
	CryptographicAlgorithm CryptographicAlgorithm
	CryptographicLength    int32
}

// ObjectTag returns the tag of the structure that carries an object of
// type t in Get, Register and Import (KMIP 2.0 §2.2), 0 for no such type.
func ObjectTag(t ObjectType) ttlv.Tag {
	switch t {
	case ObjectTypeCertificate:
		return ttlv.TagCertificate
	case ObjectTypeSymmetricKey:
		return ttlv.TagSymmetricKey
	case ObjectTypePublicKey:
		return ttlv.TagPublicKey
	case ObjectTypePrivateKey:
		return ttlv.TagPrivateKey
	case ObjectTypeSplitKey:
		return ttlv.TagSplitKey
	case ObjectTypeTemplate:
		return ttlv.TagTemplate
	case ObjectTypeSecretData:
		return ttlv.TagSecretData
	case ObjectTypeOpaqueObject:
		return ttlv.TagOpaqueObject
	case ObjectTypePGPKey:
		return ttlv.TagPGPKey
	case ObjectTypeCertificateRequest:
		return ttlv.TagCertificateRequest
	}
	return 0
}

// WriteSymmetricKey writes a Symmetric Key object (KMIP 2.0 §2.2.2).
func WriteSymmetricKey(b *ttlv.Builder, kb *KeyBlock) {
	b.Begin(ttlv.TagSymmetricKey)
	WriteKeyBlock(b, kb)
	b.End()
}

// WriteKeyBlock writes a Key Block with unwrapped material (KMIP 2.0 §2.1.3).
func WriteKeyBlock(b *ttlv.Builder, kb *KeyBlock) {
	b.Begin(ttlv.TagKeyBlock)
	b.AddEnum(ttlv.TagKeyFormatType, uint32(kb.FormatType))
	b.Begin(ttlv.TagKeyValue)
	if kb.FormatType == KeyFormatTypeTransparentSymmetricKey {
		b.Begin(ttlv.TagKeyMaterial)
		b.AddBytes(ttlv.TagKey, kb.Material)
		b.End()
	} else {
		b.AddBytes(ttlv.TagKeyMaterial, kb.Material)
	}
	b.End()
	if kb.CryptographicAlgorithm != 0 {
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kb.CryptographicAlgorithm))
	}
	if kb.CryptographicLength != 0 {
		b.AddInt32(ttlv.TagCryptographicLength, kb.CryptographicLength)
	}
	b.End()
}

// GetResponse is the Get response payload for a symmetric key.
type GetResponse struct {
	ObjectType ObjectType
	UniqueID   []byte
	Key        KeyBlock
}

// MarshalTTLV writes the payload's items.
func (r *GetResponse) MarshalTTLV(b *ttlv.Builder) {
	b.AddEnum(ttlv.TagObjectType, uint32(r.ObjectType))
	b.AddTextBytes(ttlv.TagUniqueIdentifier, r.UniqueID)
	WriteSymmetricKey(b, &r.Key)
}
