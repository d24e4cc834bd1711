package kmip

import "github.com/kmipd/kmipd/ttlv"

// ReProvisionRequest is the Re-Provision request payload (KMIP 2.0 and
// 2.1, operation 0x35): the client asks for a new certificate in place of
// the one it holds, as Re-certify does for a certificate object. kmipd
// reads it in Re-certify's shape: the certificate's Unique Identifier
// (the ID Placeholder when absent), then optionally the new certificate's
// Attributes and Protection Storage Masks.
type ReProvisionRequest struct {
	UniqueID UniqueID
	// Attributes are the raw items of Attributes, if given.
	Attributes ttlv.Value
	// ProtectionStorageMasks is the raw Protection Storage Masks
	// structure, if given.
	ProtectionStorageMasks ttlv.Value
}

// Decode reads the payload.
func (r *ReProvisionRequest) Decode(v ttlv.Value) error {
	*r = ReProvisionRequest{}
	if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
		return err
	}
	v.ReadStructure(ttlv.TagAttributes, &r.Attributes)
	v.ReadStructure(ttlv.TagProtectionStorageMasks, &r.ProtectionStorageMasks)
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected items in Re-Provision request")
	}
	return nil
}
