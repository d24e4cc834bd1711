package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// Request payloads of Export and Import (KMIP 2.0 §6.1.18, §6.1.24; KMIP
// 1.4 §4.41, §4.40), Archive and Recover (2.0 §6.1.4, §6.1.39), Log
// (§6.1.28), Set Endpoint Role (§6.1.46), Obtain Lease (§6.1.36) and Get
// Usage Allocation (§6.1.23).

// ExportRequest is the Export request payload. Its fields are those of Get
// and have the same semantics (KMIP 2.0 §6.1.18).
type ExportRequest GetRequest

// Decode reads the payload. Unknown fields are refused.
func (r *ExportRequest) Decode(v ttlv.Value) error { return (*GetRequest)(r).decode(v, "Export") }

// ImportRequest is the Import request payload (KMIP 2.0 §6.1.24: Unique
// Identifier, Object Type, Replace Existing?, Key Wrap Type?, Attributes,
// the object; KMIP 1.4 §4.40 lists the attributes as Attribute items
// instead of an Attributes structure).
type ImportRequest struct {
	UniqueID        []byte // a Text String: Import names the object itself
	ObjectType      ObjectType
	ReplaceExisting bool
	KeyWrapType     KeyWrapType // 0 when absent
	Attributes      AttrList
	Object          ttlv.Item // the object structure, e.g. Symmetric Key
}

// importObjectTags are the tags of the objects an Import may carry.
var importObjectTags = map[ttlv.Tag]bool{
	ttlv.TagCertificate: true, ttlv.TagCertificateRequest: true, ttlv.TagSymmetricKey: true,
	ttlv.TagPublicKey: true, ttlv.TagPrivateKey: true, ttlv.TagSplitKey: true, ttlv.TagTemplate: true,
	ttlv.TagSecretData: true, ttlv.TagOpaqueObject: true, ttlv.TagPGPKey: true,
}

// Decode reads the payload in the form of version ver. The object must
// come last; the other fields may come in any order.
func (r *ImportRequest) Decode(v ttlv.Value, ver Version) error {
	*r = ImportRequest{}
	v1 := !ver.V2()
	var attrs ttlv.Value
	hasUID, hasType := false, false
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return Errorf(ResultReasonInvalidMessage, "malformed Import request")
		}
		if r.Object.Raw != nil {
			return Errorf(ResultReasonInvalidField, "unexpected %s after the object in Import request", it.Tag)
		}
		switch {
		case it.Tag == ttlv.TagUniqueIdentifier:
			ok = it.Type == ttlv.TypeTextString && len(it.Data) > 0 && !hasUID
			r.UniqueID, hasUID = it.Data, true
		case it.Tag == ttlv.TagObjectType:
			ok = it.Type == ttlv.TypeEnumeration && !hasType
			r.ObjectType, hasType = ObjectType(it.Uint32()), true
		case it.Tag == ttlv.TagReplaceExisting:
			ok = it.Type == ttlv.TypeBoolean
			r.ReplaceExisting = it.Bool()
		case it.Tag == ttlv.TagKeyWrapType:
			ok = it.Type == ttlv.TypeEnumeration
			r.KeyWrapType = KeyWrapType(it.Uint32())
		case it.Tag == ttlv.TagAttributes:
			ok = it.Type == ttlv.TypeStructure && !v1
			attrs = it.Children()
		case it.Tag == ttlv.TagAttribute && v1:
			// 1.x: the attributes follow as a sequence.
			if attrs == nil {
				attrs = ttlv.Value(it.Raw[:0:0])
			}
			attrs = ttlv.Value(append([]byte(attrs), it.Raw...))
		case importObjectTags[it.Tag] && it.Type == ttlv.TypeStructure:
			r.Object = it
		default:
			ok = false
		}
		if !ok {
			return Errorf(ResultReasonInvalidField, "unexpected %s in Import request", it.Tag)
		}
	}
	switch {
	case !hasUID:
		return Errorf(ResultReasonInvalidMessage, "Import request lacks a Unique Identifier text")
	case !hasType:
		return Errorf(ResultReasonInvalidMessage, "Import request lacks Object Type")
	case r.Object.Raw == nil:
		return Errorf(ResultReasonInvalidMessage, "Import request lacks the object")
	}
	r.Attributes = NewAttrList(attrs, v1)
	return nil
}

// LogRequest is the Log request payload (KMIP 2.0 §6.1.28).
type LogRequest struct {
	Message []byte
}

// Decode reads the payload.
func (r *LogRequest) Decode(v ttlv.Value) error {
	*r = LogRequest{}
	if !v.ReadText(ttlv.TagLogMessage, &r.Message) {
		return Errorf(ResultReasonInvalidMessage, "Log request lacks a Log Message text")
	}
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected items in Log request")
	}
	return nil
}

// SetEndpointRoleRequest is the Set Endpoint Role request payload (KMIP
// 2.0 §6.1.46).
type SetEndpointRoleRequest struct {
	Role EndpointRole
}

// Decode reads the payload.
func (r *SetEndpointRoleRequest) Decode(v ttlv.Value) error {
	*r = SetEndpointRoleRequest{}
	var role uint32
	if !v.ReadEnum(ttlv.TagEndpointRole, &role) {
		return Errorf(ResultReasonInvalidMessage, "Set Endpoint Role request lacks Endpoint Role")
	}
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected items in Set Endpoint Role request")
	}
	r.Role = EndpointRole(role)
	return nil
}

// GetUsageAllocationRequest is the Get Usage Allocation request payload
// (KMIP 2.0 §6.1.23, 1.4 §4.17).
type GetUsageAllocationRequest struct {
	UniqueID         UniqueID
	UsageLimitsCount int64
}

// Decode reads the payload.
func (r *GetUsageAllocationRequest) Decode(v ttlv.Value) error {
	*r = GetUsageAllocationRequest{}
	if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
		return err
	}
	if !v.ReadLong(ttlv.TagUsageLimitsCount, &r.UsageLimitsCount) {
		return Errorf(ResultReasonInvalidMessage, "Get Usage Allocation request lacks Usage Limits Count")
	}
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected items in Get Usage Allocation request")
	}
	return nil
}

// ReadOnlyUniqueID decodes a payload that holds at most a Unique
// Identifier: Archive, Recover, Obtain Lease.
func ReadOnlyUniqueID(v ttlv.Value, op Operation, out *UniqueID) error {
	if err := ReadUniqueID(&v, out); err != nil {
		return err
	}
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected items in %s request", op)
	}
	return nil
}
