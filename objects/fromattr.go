package objects

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// FromAttr converts one request attribute, in either version's form, into
// the KMIP 2.x form kept in an Object. The result owns its bytes: it does
// not alias the request.
//
//   - A KMIP 1.x attribute (Attribute{Attribute Name, Attribute Index?,
//     Attribute Value}) becomes its Attribute Value re-tagged with the
//     attribute's tag, with the same type and children. A Name given
//     directly in a Template-Attribute is taken as it is.
//   - A KMIP 1.x custom attribute "x-foo" or "y-foo" becomes a vendor
//     attribute with VendorID "x" or "y" and Name "foo" (KMIP 2.0 §4.53
//     maps them so).
//   - A KMIP 2.x attribute item, or Vendor Attribute, is copied.
//
// The value is checked against the attribute's expected type and, for
// structures, their fields (e.g. Cryptographic Length must be an Integer,
// Activation Date a Date-Time, Name a Structure {Name Value text, Name Type
// enumeration}). A value of the wrong type, a tag that is no attribute in
// the request's form (e.g. Key Format Type, a 2.x-only attribute, sent as a
// 1.x Attribute Name), or a missing value fails with Invalid Field.
//
// FromAttr does not decide whether the client may set the attribute: see
// [kmip.AttrInfoOf] for that.
func FromAttr(a kmip.Attr) (Attribute, error) {
	if a.Value.Raw == nil {
		return Attribute{}, kmip.Errorf(kmip.ResultReasonInvalidField, "attribute %s has no value", attrLabel(a))
	}
	v1 := a.Value.Tag == ttlv.TagAttributeValue
	if a.Tag == 0 {
		return fromVendor(a)
	}
	info, ok := kmip.AttrInfoOf(a.Tag)
	if !ok {
		return Attribute{}, kmip.Errorf(kmip.ResultReasonInvalidField, "%s is not an attribute", a.Tag)
	}
	switch {
	case v1 && info.Since1 < 0:
		return Attribute{}, kmip.Errorf(kmip.ResultReasonInvalidField, "%s is not a KMIP 1.x attribute", info.SpecName())
	case !v1 && a.Value.Tag != a.Tag:
		return Attribute{}, kmip.Errorf(kmip.ResultReasonInvalidField, "malformed %s attribute", info.SpecName())
	case !v1 && !info.V2:
		return Attribute{}, kmip.Errorf(kmip.ResultReasonInvalidField, "%s is not a KMIP 2.x attribute", info.SpecName())
	}
	if err := info.CheckValue(a.Value); err != nil {
		return Attribute{}, err
	}
	if !v1 {
		return Attribute{Tag: a.Tag, Raw: cloneBytes(a.Value.Raw)}, nil
	}
	b := ttlv.NewBuilder(make([]byte, 0, len(a.Value.Raw)))
	b.AddItem(a.Tag, a.Value.Type, a.Value.Data)
	raw, err := b.Bytes()
	if err != nil {
		return Attribute{}, kmip.Errorf(kmip.ResultReasonInvalidField, "malformed %s attribute", info.SpecName())
	}
	return Attribute{Tag: a.Tag, Raw: raw}, nil
}

func fromVendor(a kmip.Attr) (Attribute, error) {
	if a.Value.Tag != ttlv.TagAttributeValue {
		return Attribute{}, kmip.Errorf(kmip.ResultReasonInvalidField, "malformed attribute %s", attrLabel(a))
	}
	var out Attribute
	switch {
	case a.VendorID != nil:
		// A 2.x Vendor Attribute: AttrList always sets VendorID (possibly
		// empty) for those, never for 1.x custom attributes.
		if len(a.VendorID) == 0 || len(a.Name) == 0 {
			return Attribute{}, kmip.Errorf(kmip.ResultReasonInvalidField,
				"vendor attribute %q of vendor %q lacks a name or vendor", a.Name, a.VendorID)
		}
		out.VendorID, out.Name = string(a.VendorID), string(a.Name)
	case isCustomName(a.Name):
		out.VendorID, out.Name = string(a.Name[:1]), string(a.Name[2:])
	default:
		return Attribute{}, kmip.Errorf(kmip.ResultReasonInvalidField, "attribute %q has no vendor identification", a.Name)
	}
	out.Raw = cloneBytes(a.Value.Raw)
	return out, nil
}

// isCustomName reports whether a 1.x Attribute Name names a custom
// attribute: "x-" or "y-" and at least one more character (KMIP 1.4 §3.39).
func isCustomName(n []byte) bool {
	return len(n) > 2 && (n[0] == 'x' || n[0] == 'y') && n[1] == '-'
}

// attrLabel names a request attribute for error messages.
func attrLabel(a kmip.Attr) string {
	switch {
	case a.Tag != 0:
		if s, ok := ttlv.TagSpecName(a.Tag); ok {
			return s
		}
		return a.Tag.String()
	case len(a.VendorID) > 0:
		return string(a.VendorID) + ":" + string(a.Name)
	}
	return string(a.Name)
}
