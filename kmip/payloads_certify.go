package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// CertifyRequest is the Certify (KMIP 2.0 §6.1.4; 1.4 §4.7) or Re-certify
// (KMIP 2.0 §6.1.44; 1.4 §4.8) request payload. The fields are read in any
// order: the 1.x and 2.x tables order them differently.
type CertifyRequest struct {
	// UniqueID names the Public Key to certify (Certify) or the
	// Certificate to renew (Re-certify).
	UniqueID UniqueID
	// RequestType and RequestValue are the certificate request, if any:
	// Certificate Request Type and Certificate Request Value (2.x) or
	// Certificate Request (1.x).
	RequestType  CertificateRequestType
	RequestValue []byte
	// Offset (Re-certify): seconds from now to the new certificate's
	// Activation Date, valid when HasOffset.
	Offset    uint32
	HasOffset bool
	// Attributes are the children of Attributes (2.x) or of the
	// Template-Attribute (1.x, then V1 is set), nil when absent.
	Attributes ttlv.Value
	V1         bool
}

// Decode reads the payload of op (Certify or Re-certify) in the form of
// version ver.
func (r *CertifyRequest) Decode(v ttlv.Value, ver Version, op Operation) error {
	*r = CertifyRequest{}
	seenAttrs := false
	for !v.Empty() {
		if v.PeekTag() == ttlv.TagUniqueIdentifier && r.UniqueID.Kind == UniqueIDAbsent {
			if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
				return err
			}
			continue
		}
		it, ok := v.Next()
		if !ok {
			return ErrInvalidMessage
		}
		switch {
		case it.Tag == ttlv.TagCertificateRequestType && it.Type == ttlv.TypeEnumeration && r.RequestType == 0:
			r.RequestType = CertificateRequestType(it.Uint32())
		case (it.Tag == ttlv.TagCertificateRequestValue || it.Tag == ttlv.TagCertificateRequest && !ver.V2()) &&
			it.Type == ttlv.TypeByteString && r.RequestValue == nil:
			r.RequestValue = append([]byte{}, it.Data...)
		case it.Tag == ttlv.TagOffset && it.Type == ttlv.TypeInterval && op == OperationReCertify && !r.HasOffset:
			r.Offset, r.HasOffset = it.Uint32(), true
		case it.Tag == ttlv.TagAttributes && it.Type == ttlv.TypeStructure && ver.V2() && !seenAttrs:
			r.Attributes, seenAttrs = it.Children(), true
		case it.Tag == ttlv.TagTemplateAttribute && it.Type == ttlv.TypeStructure && !ver.V2() && !seenAttrs:
			r.Attributes, r.V1, seenAttrs = it.Children(), true, true
		case it.Tag == ttlv.TagProtectionStorageMasks && it.Type == ttlv.TypeStructure && ver.V2():
		default:
			return Errorf(ResultReasonInvalidField, "unexpected %s in %s request", it.Tag, SpecName(op.String()))
		}
	}
	if r.RequestValue != nil && r.RequestType == 0 {
		return Errorf(ResultReasonInvalidField, "a certificate request needs its Certificate Request Type")
	}
	return nil
}

// ValidateRequest is the Validate request payload (KMIP 2.0 §6.1.53; 1.4
// §4.24): the certificate chain, given by value and/or by identifier, and
// the date the chain must be valid at.
type ValidateRequest struct {
	// Certificates are the Certificate Type and Certificate Value of each
	// Certificate given by value, in order.
	Certificates []ValidateCertificate
	// UniqueIDs name managed certificates, in order.
	UniqueIDs []UniqueID
	// ValidityDate is when the chain must be valid (Unix seconds), valid
	// when HasDate; the server's time otherwise.
	ValidityDate int64
	HasDate      bool
}

// ValidateCertificate is one Certificate object of a Validate request.
type ValidateCertificate struct {
	Type  CertificateType
	Value []byte
}

// Decode reads the payload.
func (r *ValidateRequest) Decode(v ttlv.Value) error {
	*r = ValidateRequest{}
	for !v.Empty() {
		if v.PeekTag() == ttlv.TagUniqueIdentifier {
			var u UniqueID
			if err := ReadUniqueID(&v, &u); err != nil {
				return err
			}
			r.UniqueIDs = append(r.UniqueIDs, u)
			continue
		}
		it, ok := v.Next()
		if !ok {
			return ErrInvalidMessage
		}
		switch {
		case it.Tag == ttlv.TagCertificate && it.Type == ttlv.TypeStructure:
			c := it.Children()
			var typ uint32
			var val []byte
			if !c.ReadEnum(ttlv.TagCertificateType, &typ) || !c.ReadBytes(ttlv.TagCertificateValue, &val) || !c.Empty() {
				return Errorf(ResultReasonInvalidField, "Certificate needs Certificate Type and Certificate Value")
			}
			r.Certificates = append(r.Certificates, ValidateCertificate{Type: CertificateType(typ), Value: append([]byte{}, val...)})
		case it.Tag == ttlv.TagValidityDate && it.Type == ttlv.TypeDateTime && !r.HasDate:
			r.ValidityDate, r.HasDate = it.Int64(), true
		default:
			return Errorf(ResultReasonInvalidField, "unexpected %s in Validate request", it.Tag)
		}
	}
	return nil
}
