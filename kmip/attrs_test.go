package kmip_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// wantAttr is what AttrList.Next should return for one attribute.
type wantAttr struct {
	tag      ttlv.Tag
	vendorID string
	name     string // "" : nil
	index    int32
	typ      ttlv.Type // of the value item
	valueTag ttlv.Tag  // of the value item
	data     []byte    // the value item's Data
}

// collectAttrs drains l; it stops at the first error.
func collectAttrs(l kmip.AttrList) ([]kmip.Attr, error) {
	var out []kmip.Attr
	for {
		a, ok, err := l.Next()
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, a)
	}
}

func checkAttrs(t *testing.T, got []kmip.Attr, want []wantAttr) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d attributes, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		a := got[i]
		if a.Tag != w.tag {
			t.Errorf("attr %d: Tag %v, want %v", i, a.Tag, w.tag)
		}
		if string(a.VendorID) != w.vendorID || string(a.Name) != w.name || (w.name == "") != (a.Name == nil) {
			t.Errorf("attr %d: VendorID %q Name %q, want %q %q", i, a.VendorID, a.Name, w.vendorID, w.name)
		}
		if a.Index != w.index {
			t.Errorf("attr %d: Index %d, want %d", i, a.Index, w.index)
		}
		if a.Value.Type != w.typ || a.Value.Tag != w.valueTag || !bytes.Equal(a.Value.Data, w.data) {
			t.Errorf("attr %d: value %v %v %x, want %v %v %x", i, a.Value.Tag, a.Value.Type, a.Value.Data, w.valueTag, w.typ, w.data)
		}
	}
}

var (
	nameValue = ttlv.TagNameValue
	attrValue = ttlv.TagAttributeValue
	aesEnum   = ttEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
	nameChild = ttCat(ttText(nameValue, "key-1"), ttEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString)))
)

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func TestAttrList_V2(t *testing.T) {
	attrs := ttCat(
		aesEnum,
		ttInt(ttlv.TagCryptographicLength, 256),
		ttInt(ttlv.TagCryptographicUsageMask, 0x0C),
		ttStruct(ttlv.TagName, nameChild),
		// Vendor Attribute (KMIP 2.0 §4.53).
		ttStruct(ttlv.TagAttribute,
			ttText(ttlv.TagVendorIdentification, "acme"),
			ttText(ttlv.TagAttributeName, "colour"),
			ttText(attrValue, "blue")),
		ttStruct(ttlv.TagAttribute,
			ttText(ttlv.TagVendorIdentification, "acme"),
			ttText(ttlv.TagAttributeName, "shape"),
			ttStruct(attrValue, ttInt(ttlv.TagCryptographicLength, 1))),
	)
	l := kmip.NewAttrList(ttlv.Value(attrs), false)
	if l.Empty() {
		t.Fatal("Empty on a list with attributes")
	}
	got, err := collectAttrs(l)
	if err != nil {
		t.Fatal(err)
	}
	checkAttrs(t, got, []wantAttr{
		{tag: ttlv.TagCryptographicAlgorithm, typ: ttlv.TypeEnumeration, valueTag: ttlv.TagCryptographicAlgorithm, data: be32(3)},
		{tag: ttlv.TagCryptographicLength, typ: ttlv.TypeInteger, valueTag: ttlv.TagCryptographicLength, data: be32(256)},
		{tag: ttlv.TagCryptographicUsageMask, typ: ttlv.TypeInteger, valueTag: ttlv.TagCryptographicUsageMask, data: be32(12)},
		{tag: ttlv.TagName, typ: ttlv.TypeStructure, valueTag: ttlv.TagName, data: nameChild},
		{vendorID: "acme", name: "colour", typ: ttlv.TypeTextString, valueTag: attrValue, data: []byte("blue")},
		{vendorID: "acme", name: "shape", typ: ttlv.TypeStructure, valueTag: attrValue, data: ttInt(ttlv.TagCryptographicLength, 1)},
	})
	if !kmip.NewAttrList(nil, false).Empty() {
		t.Error("Empty on an empty list")
	}
}

func TestAttrList_V2Malformed(t *testing.T) {
	for _, c := range []struct {
		name string
		attr []byte
	}{
		{"vendor attribute without Vendor Identification", ttStruct(ttlv.TagAttribute, ttText(ttlv.TagAttributeName, "a"), ttText(attrValue, "v"))},
		{"vendor attribute without Attribute Name", ttStruct(ttlv.TagAttribute, ttText(ttlv.TagVendorIdentification, "acme"), ttText(attrValue, "v"))},
		{"vendor attribute without value", ttStruct(ttlv.TagAttribute, ttText(ttlv.TagVendorIdentification, "acme"), ttText(ttlv.TagAttributeName, "a"))},
		{"vendor attribute with a stray item", ttStruct(ttlv.TagAttribute, ttText(ttlv.TagVendorIdentification, "acme"), ttText(ttlv.TagAttributeName, "a"), ttText(attrValue, "v"), ttText(attrValue, "w"))},
		{"vendor attribute with Vendor Identification a Byte String", ttStruct(ttlv.TagAttribute, ttBytes(ttlv.TagVendorIdentification, []byte("acme")), ttText(ttlv.TagAttributeName, "a"), ttText(attrValue, "v"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := collectAttrs(kmip.NewAttrList(ttlv.Value(ttCat(aesEnum, c.attr)), false))
			if len(got) != 1 || !errors.Is(err, kmip.ErrInvalidField) {
				t.Errorf("got %d attributes and %v, want 1 and Invalid Field", len(got), err)
			}
		})
	}
	t.Run("garbage", func(t *testing.T) {
		_, err := collectAttrs(kmip.NewAttrList(ttlv.Value{0x42, 0, 1}, false))
		if !errors.Is(err, kmip.ErrInvalidMessage) {
			t.Errorf("err = %v, want Invalid Message", err)
		}
	})
}

func v1Attr(name string, rest ...[]byte) []byte {
	return ttStruct(ttlv.TagAttribute, append([][]byte{ttText(ttlv.TagAttributeName, name)}, rest...)...)
}

func TestAttrList_V1TemplateAttribute(t *testing.T) {
	attrs := ttCat(
		ttStruct(ttlv.TagName, nameChild),
		v1Attr("Cryptographic Algorithm", ttEnum(attrValue, uint32(kmip.CryptographicAlgorithmAES))),
		v1Attr("Name", ttInt(ttlv.TagAttributeIndex, 1), ttStruct(attrValue, nameChild)),
		v1Attr("x-foo", ttText(attrValue, "bar")),
		v1Attr("y-count", ttInt(ttlv.TagAttributeIndex, 2), ttInt(attrValue, 7)),
		v1Attr("Cryptographic Usage Mask", ttInt(attrValue, 0x0C)),
		v1Attr("State"), // no value: allowed where a request only names an attribute
	)
	got, err := collectAttrs(kmip.NewAttrList(ttlv.Value(attrs), true))
	if err != nil {
		t.Fatal(err)
	}
	checkAttrs(t, got, []wantAttr{
		{tag: ttlv.TagName, typ: ttlv.TypeStructure, valueTag: ttlv.TagName, data: nameChild},
		{tag: ttlv.TagCryptographicAlgorithm, typ: ttlv.TypeEnumeration, valueTag: attrValue, data: be32(3)},
		{tag: ttlv.TagName, index: 1, typ: ttlv.TypeStructure, valueTag: attrValue, data: nameChild},
		{name: "x-foo", typ: ttlv.TypeTextString, valueTag: attrValue, data: []byte("bar")},
		{name: "y-count", index: 2, typ: ttlv.TypeInteger, valueTag: attrValue, data: be32(7)},
		{tag: ttlv.TagCryptographicUsageMask, typ: ttlv.TypeInteger, valueTag: attrValue, data: be32(12)},
		{tag: ttlv.TagState},
	})
}

func TestAttrList_V1Malformed(t *testing.T) {
	for _, c := range []struct {
		name string
		attr []byte
	}{
		{"unknown attribute name", v1Attr("Cryptographic Colour", ttInt(attrValue, 1))},
		{"tag name instead of spec name", v1Attr("CryptographicAlgorithm", ttEnum(attrValue, 3))},
		{"custom prefix alone", v1Attr("x-", ttInt(attrValue, 1))},
		{"Attribute without Attribute Name", ttStruct(ttlv.TagAttribute, ttEnum(attrValue, 3))},
		{"Attribute Name a Byte String", ttStruct(ttlv.TagAttribute, ttBytes(ttlv.TagAttributeName, []byte("Name")), ttEnum(attrValue, 3))},
		{"Attribute Index an Enumeration", v1Attr("Name", ttEnum(ttlv.TagAttributeIndex, 0), ttStruct(attrValue, nameChild))},
		{"value under another tag", v1Attr("Cryptographic Algorithm", aesEnum)},
		{"two values", v1Attr("Cryptographic Length", ttInt(attrValue, 1), ttInt(attrValue, 2))},
		{"a 2.x attribute in a Template-Attribute", aesEnum},
	} {
		t.Run(c.name, func(t *testing.T) {
			good := v1Attr("Cryptographic Length", ttInt(attrValue, 128))
			got, err := collectAttrs(kmip.NewAttrList(ttlv.Value(ttCat(good, c.attr)), true))
			if len(got) != 1 || !errors.Is(err, kmip.ErrInvalidField) {
				t.Errorf("got %d attributes and %v, want 1 and Invalid Field", len(got), err)
			}
		})
	}
}

func TestCreateRequest_Decode(t *testing.T) {
	sym := ttEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
	v2 := ttStruct(ttlv.TagAttributes, aesEnum, ttInt(ttlv.TagCryptographicLength, 128))
	v1 := ttStruct(ttlv.TagTemplateAttribute,
		v1Attr("Cryptographic Algorithm", ttEnum(attrValue, uint32(kmip.CryptographicAlgorithmAES))),
		v1Attr("Cryptographic Length", ttInt(attrValue, 128)))
	masks := ttStruct(ttlv.TagProtectionStorageMasks, ttInt(ttlv.TagProtectionStorageMask, 1))

	for _, c := range []struct {
		name  string
		ver   kmip.Version
		in    []byte
		masks bool
	}{
		{"2.0 Attributes", kmip.V2_0, ttCat(sym, v2), false},
		{"2.1 Attributes and Protection Storage Masks", kmip.V2_1, ttCat(sym, v2, masks), true},
		{"1.4 Template-Attribute", kmip.V1_4, ttCat(sym, v1), false},
		{"1.0 Template-Attribute", kmip.V1_0, ttCat(sym, v1), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r kmip.CreateRequest
			if err := r.Decode(ttlv.Value(c.in), c.ver); err != nil {
				t.Fatal(err)
			}
			if r.ObjectType != kmip.ObjectTypeSymmetricKey {
				t.Errorf("Object Type %v", r.ObjectType)
			}
			got, err := collectAttrs(r.Attributes)
			if err != nil || len(got) != 2 || got[0].Tag != ttlv.TagCryptographicAlgorithm || got[0].Value.Uint32() != 3 ||
				got[1].Tag != ttlv.TagCryptographicLength || got[1].Value.Int32() != 128 {
				t.Errorf("attributes %+v, %v", got, err)
			}
			if (r.ProtectionStorageMasks != nil) != c.masks {
				t.Errorf("Protection Storage Masks %x", []byte(r.ProtectionStorageMasks))
			}
		})
	}

	for _, c := range []struct {
		name string
		ver  kmip.Version
		in   []byte
		want *kmip.Error
	}{
		{"missing Object Type", kmip.V2_0, v2, kmip.ErrInvalidMessage},
		{"Object Type an Integer", kmip.V2_0, ttCat(ttInt(ttlv.TagObjectType, 2), v2), kmip.ErrInvalidMessage},
		{"Template-Attribute at 2.0", kmip.V2_0, ttCat(sym, v1), kmip.ErrInvalidField},
		{"stray field", kmip.V2_0, ttCat(sym, v2, ttUID("k")), kmip.ErrInvalidField},
		{"Attributes a Text String", kmip.V2_0, ttCat(sym, ttText(ttlv.TagAttributes, "AES")), kmip.ErrInvalidField},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r kmip.CreateRequest
			if err := r.Decode(ttlv.Value(c.in), c.ver); !errors.Is(err, c.want) {
				t.Errorf("Decode = %v, want %v", err, c.want)
			}
		})
	}
}

func TestGetRequest_Decode(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want kmip.GetRequest
	}{
		{"text", ttUID("k-1"), kmip.GetRequest{UniqueID: kmip.UniqueID{Text: []byte("k-1"), Kind: kmip.UniqueIDText}}},
		{"ID placeholder enumeration", ttEnum(ttlv.TagUniqueIdentifier, uint32(kmip.UniqueIdentifierIDPlaceholder)),
			kmip.GetRequest{UniqueID: kmip.UniqueID{Enum: kmip.UniqueIdentifierIDPlaceholder, Kind: kmip.UniqueIDEnum}}},
		{"index", ttInt(ttlv.TagUniqueIdentifier, 2), kmip.GetRequest{UniqueID: kmip.UniqueID{Index: 2, Kind: kmip.UniqueIDIndex}}},
		{"absent", nil, kmip.GetRequest{}},
		{"all fields", ttCat(ttUID("k"),
			ttEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeRaw)),
			ttEnum(ttlv.TagKeyWrapType, uint32(kmip.KeyWrapTypeAsRegistered)),
			ttEnum(ttlv.TagKeyCompressionType, uint32(kmip.KeyCompressionTypeECPublicKeyTypeUncompressed)),
			ttStruct(ttlv.TagKeyWrappingSpecification, ttEnum(ttlv.TagWrappingMethod, 1))),
			kmip.GetRequest{
				UniqueID:                 kmip.UniqueID{Text: []byte("k"), Kind: kmip.UniqueIDText},
				KeyFormatType:            kmip.KeyFormatTypeRaw,
				KeyWrapType:              kmip.KeyWrapTypeAsRegistered,
				KeyCompressionType:       kmip.KeyCompressionTypeECPublicKeyTypeUncompressed,
				KeyWrappingSpecification: ttlv.Value(ttEnum(ttlv.TagWrappingMethod, 1)),
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var g kmip.GetRequest
			g.KeyFormatType = kmip.KeyFormatTypeOpaque // Decode must reset it
			if err := g.Decode(ttlv.Value(c.in)); err != nil {
				t.Fatal(err)
			}
			w := c.want
			if g.UniqueID.Kind != w.UniqueID.Kind || !bytes.Equal(g.UniqueID.Text, w.UniqueID.Text) ||
				g.UniqueID.Enum != w.UniqueID.Enum || g.UniqueID.Index != w.UniqueID.Index ||
				g.KeyFormatType != w.KeyFormatType || g.KeyWrapType != w.KeyWrapType ||
				g.KeyCompressionType != w.KeyCompressionType ||
				!bytes.Equal(g.KeyWrappingSpecification, w.KeyWrappingSpecification) {
				t.Errorf("decoded %+v, want %+v", g, w)
			}
		})
	}
	for _, c := range []struct {
		name string
		in   []byte
	}{
		{"Unique Identifier a Byte String", ttBytes(ttlv.TagUniqueIdentifier, []byte("k"))},
		{"Key Format Type an Integer", ttCat(ttUID("k"), ttInt(ttlv.TagKeyFormatType, 1))},
		{"Key Wrapping Specification a Text String", ttCat(ttUID("k"), ttText(ttlv.TagKeyWrappingSpecification, "x"))},
		{"stray field", ttCat(ttUID("k"), aesEnum)},
		{"two Unique Identifiers", ttCat(ttUID("k"), ttUID("l"))},
	} {
		t.Run(c.name, func(t *testing.T) {
			var g kmip.GetRequest
			if err := g.Decode(ttlv.Value(c.in)); !errors.Is(err, kmip.ErrInvalidField) {
				t.Errorf("Decode = %v, want Invalid Field", err)
			}
		})
	}
}
