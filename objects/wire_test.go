package objects_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// wireObject holds attributes of every vintage: 1.0, 1.1, 1.2, 1.3, 1.4,
// 1.x-only, 2.0-only, 2.1-only, an enumeration value only 2.x has, and
// vendor attributes that 1.x can and cannot name.
func wireObject() *objects.Object {
	o := objects.New("k1", kmip.ObjectTypeSymmetricKey, "owner")
	o.SetState(kmip.StateActive)                                                                 // 1.0
	o.SetEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))            // 1.0
	o.Add(objects.NameAttr("alpha", kmip.NameTypeUninterpretedTextString))                       // 1.0, multi
	o.SetBool(ttlv.TagFresh, true)                                                               // 1.1
	o.Add(objects.NameAttr("beta", kmip.NameTypeUninterpretedTextString))                        // second Name
	o.SetText(ttlv.TagOperationPolicyName, "default")                                            // 1.x only
	o.Add(objects.LinkAttr(kmip.LinkTypeWrappingKeyLink, "w1"))                                  // enum value 2.x only
	o.Add(objects.LinkAttr(kmip.LinkTypeParentLink, "p1"))                                       // 1.0
	o.Add(objects.Attribute{Tag: ttlv.TagAlternativeName, Raw: mustBuild(func(b *ttlv.Builder) { // 1.2
		b.Begin(ttlv.TagAlternativeName)
		b.AddText(ttlv.TagAlternativeNameValue, "alt")
		b.AddEnum(ttlv.TagAlternativeNameType, 1)
		b.End()
	})})
	o.Add(objects.Attribute{Tag: ttlv.TagRandomNumberGenerator, Raw: mustBuild(func(b *ttlv.Builder) { // 1.3
		b.Begin(ttlv.TagRandomNumberGenerator)
		b.AddEnum(ttlv.TagRNGAlgorithm, 1)
		b.End()
	})})
	o.SetBool(ttlv.TagSensitive, false)                     // 1.4
	o.SetBytes(ttlv.TagShortUniqueIdentifier, []byte{0xaa}) // 2.0
	o.SetBool(ttlv.TagRotateLatest, true)                   // 2.1
	o.Add(objects.VendorAttr("x", "ID", func(b *ttlv.Builder) { b.AddText(ttlv.TagAttributeValue, "T1") }))
	o.Add(objects.VendorAttr("acme", "color", func(b *ttlv.Builder) { b.AddText(ttlv.TagAttributeValue, "red") }))
	o.Add(objects.VendorAttr("y", "nested", func(b *ttlv.Builder) { // value uses a 2.x-only tag
		b.Begin(ttlv.TagAttributeValue)
		b.AddBytes(ttlv.TagShortUniqueIdentifier, []byte{1})
		b.End()
	}))
	o.Add(objects.VendorAttr("x", "ID", func(b *ttlv.Builder) { b.AddInt32(ttlv.TagAttributeValue, 2) }))
	return o
}

func mustBuild(f func(b *ttlv.Builder)) []byte {
	b := ttlv.NewBuilder(nil)
	f(b)
	out, err := b.Bytes()
	if err != nil {
		panic(err)
	}
	return out
}

func appendAttrs(t *testing.T, o *objects.Object, ver kmip.Version, want func(objects.Attribute) bool) string {
	t.Helper()
	return render(t, build(t, func(b *ttlv.Builder) { objects.AppendAttributes(b, o, ver, want) }))
}

// joinV1 writes the expected 1.x Attribute items, each given as
// "name|index|value" (index "" for none), in the render notation.
func joinV1(items ...string) string {
	var out []string
	for _, it := range items {
		p := strings.SplitN(it, "|", 3)
		s := fmt.Sprintf("Attribute{AttributeName=%q ", p[0])
		if p[1] != "" {
			s += "AttributeIndex=i:" + p[1] + " "
		}
		out = append(out, s+"AttributeValue"+p[2]+"}")
	}
	return strings.Join(out, " ")
}

// Ensure that AppendAttributes writes exactly the attributes each version
// defines, in the version's form.
func TestAppendAttributes_Versions(t *testing.T) {
	o := wireObject()
	v10 := joinV1(
		`Unique Identifier|0|="k1"`,
		`Object Type|0|=e:2`,
		`State|0|=e:2`,
		`Cryptographic Algorithm|0|=e:3`,
		`Name|0|{NameValue="alpha" NameType=e:1}`,
		`Name|1|{NameValue="beta" NameType=e:1}`,
		`Operation Policy Name|0|="default"`,
		`Link|1|{LinkType=e:264 LinkedObjectIdentifier="p1"}`,
		`x-ID|0|="T1"`,
		`x-ID|1|=i:2`,
	)
	v12 := joinV1(
		`Unique Identifier|0|="k1"`,
		`Object Type|0|=e:2`,
		`State|0|=e:2`,
		`Cryptographic Algorithm|0|=e:3`,
		`Name|0|{NameValue="alpha" NameType=e:1}`,
		`Fresh|0|=b:true`,
		`Name|1|{NameValue="beta" NameType=e:1}`,
		`Operation Policy Name|0|="default"`,
		`Link|1|{LinkType=e:264 LinkedObjectIdentifier="p1"}`,
		`Alternative Name|0|{AlternativeNameValue="alt" AlternativeNameType=e:1}`,
		`x-ID|0|="T1"`,
		`x-ID|1|=i:2`,
	)
	v14 := joinV1(
		`Unique Identifier|0|="k1"`,
		`Object Type|0|=e:2`,
		`State|0|=e:2`,
		`Cryptographic Algorithm|0|=e:3`,
		`Name|0|{NameValue="alpha" NameType=e:1}`,
		`Fresh|0|=b:true`,
		`Name|1|{NameValue="beta" NameType=e:1}`,
		`Operation Policy Name|0|="default"`,
		`Link|1|{LinkType=e:264 LinkedObjectIdentifier="p1"}`,
		`Alternative Name|0|{AlternativeNameValue="alt" AlternativeNameType=e:1}`,
		`Random Number Generator|0|{RNGAlgorithm=e:1}`,
		`Sensitive|0|=b:false`,
		`x-ID|0|="T1"`,
		`x-ID|1|=i:2`,
	)
	v20 := `Attributes{` +
		`UniqueIdentifier="k1" ObjectType=e:2 State=e:2 CryptographicAlgorithm=e:3 ` +
		`Name{NameValue="alpha" NameType=e:1} Fresh=b:true Name{NameValue="beta" NameType=e:1} ` +
		`Link{LinkType=e:270 LinkedObjectIdentifier="w1"} Link{LinkType=e:264 LinkedObjectIdentifier="p1"} ` +
		`AlternativeName{AlternativeNameValue="alt" AlternativeNameType=e:1} ` +
		`RandomNumberGenerator{RNGAlgorithm=e:1} Sensitive=b:false ShortUniqueIdentifier=x:aa ` +
		`Attribute{VendorIdentification="x" AttributeName="ID" AttributeValue="T1"} ` +
		`Attribute{VendorIdentification="acme" AttributeName="color" AttributeValue="red"} ` +
		`Attribute{VendorIdentification="y" AttributeName="nested" AttributeValue{ShortUniqueIdentifier=x:01}} ` +
		`Attribute{VendorIdentification="x" AttributeName="ID" AttributeValue=i:2}}`
	v21 := strings.Replace(v20, `ShortUniqueIdentifier=x:aa `, `ShortUniqueIdentifier=x:aa RotateLatest=b:true `, 1)

	for _, c := range []struct {
		ver  kmip.Version
		want string
	}{
		{kmip.V1_0, v10}, {kmip.V1_2, v12}, {kmip.V1_3, strings.Replace(v14, ` Attribute{AttributeName="Sensitive" AttributeIndex=i:0 AttributeValue=b:false}`, "", 1)},
		{kmip.V1_4, v14}, {kmip.V2_0, v20}, {kmip.V2_1, v21},
	} {
		if got := appendAttrs(t, o, c.ver, nil); got != c.want {
			t.Errorf("version %v:\n got %s\nwant %s", c.ver, got, c.want)
		}
	}
}

// Ensure the exact bytes of a small 1.4 and 2.0 answer, written by hand.
func TestAppendAttributes_Bytes(t *testing.T) {
	o := &objects.Object{}
	o.SetState(kmip.StatePreActive)
	got := build(t, func(b *ttlv.Builder) { objects.AppendAttributes(b, o, kmip.V1_4, nil) })
	want := unhex(t, `
		420008 01 00000030
		  42000a 07 00000005 5374617465 000000
		  420009 02 00000004 00000000 00000000
		  42000b 05 00000004 00000001 00000000`)
	if !bytes.Equal(got, want) {
		t.Errorf("1.4:\n got %x\nwant %x", got, want)
	}
	got = build(t, func(b *ttlv.Builder) { objects.AppendAttributes(b, o, kmip.V2_0, nil) })
	want = unhex(t, `
		420125 01 00000010
		  42008d 05 00000004 00000001 00000000`)
	if !bytes.Equal(got, want) {
		t.Errorf("2.0:\n got %x\nwant %x", got, want)
	}
	// 2.x writes an empty Attributes structure; 1.x writes nothing.
	empty := &objects.Object{}
	if got := build(t, func(b *ttlv.Builder) { objects.AppendAttributes(b, empty, kmip.V2_1, nil) }); !bytes.Equal(got, unhex(t, "420125 01 00000000")) {
		t.Errorf("empty 2.1: %x", got)
	}
	if got := build(t, func(b *ttlv.Builder) { objects.AppendAttributes(b, empty, kmip.V1_1, nil) }); len(got) != 0 {
		t.Errorf("empty 1.1: %x", got)
	}
}

// Ensure that the want filter selects instances and that 1.x Attribute
// Index keeps naming the instance within the whole object.
func TestAppendAttributes_Want(t *testing.T) {
	o := wireObject()
	beta := func(a objects.Attribute) bool { return bytes.Contains(a.Raw, []byte("beta")) }
	if got, want := appendAttrs(t, o, kmip.V1_4, beta), joinV1(`Name|1|{NameValue="beta" NameType=e:1}`); got != want {
		t.Errorf("1.4:\n got %s\nwant %s", got, want)
	}
	if got, want := appendAttrs(t, o, kmip.V2_0, beta), `Attributes{Name{NameValue="beta" NameType=e:1}}`; got != want {
		t.Errorf("2.0:\n got %s\nwant %s", got, want)
	}
	state := func(a objects.Attribute) bool {
		return a.Tag == ttlv.TagState || a.Tag == ttlv.TagShortUniqueIdentifier
	}
	if got, want := appendAttrs(t, o, kmip.V1_4, state), joinV1(`State|0|=e:2`); got != want {
		t.Errorf("1.4 state:\n got %s\nwant %s", got, want)
	}
}

// Ensure the specific gating cases: Short Unique Identifier is absent at
// 1.4, a 2.x-only enumeration value is absent at 1.x, a 2.x-only tag
// inside a structure hides the attribute, and a 1.x-only attribute never
// reaches 2.x.
func TestAppendAttributes_Gating(t *testing.T) {
	o := wireObject()
	for _, c := range []struct {
		ver    kmip.Version
		substr string
		want   bool
	}{
		{kmip.V1_4, "ShortUniqueIdentifier", false},
		{kmip.V2_0, "ShortUniqueIdentifier=x:aa", true},
		{kmip.V1_4, `"w1"`, false},
		{kmip.V2_0, `LinkType=e:270`, true},
		{kmip.V1_4, `nested`, false},
		{kmip.V1_4, `acme`, false},
		{kmip.V2_0, `Operation`, false},
		{kmip.V2_0, `RotateLatest`, false},
		{kmip.V1_0, `Fresh`, false},
		{kmip.V1_1, `Fresh`, true},
	} {
		got := appendAttrs(t, o, c.ver, nil)
		if strings.Contains(got, c.substr) != c.want {
			t.Errorf("version %v: contains %q = %v, want %v", c.ver, c.substr, !c.want, c.want)
		}
	}
	// Malformed or mismatched Raw is never written.
	bad := &objects.Object{Attrs: []objects.Attribute{
		{Tag: ttlv.TagState, Raw: []byte{1, 2, 3}},
		{Tag: ttlv.TagCryptographicLength, Raw: objects.EnumAttr(ttlv.TagState, 1).Raw},
		{Tag: 0x540010, Raw: objects.IntAttr(0x540010, 1).Raw}, // unknown extension attribute
	}}
	if got := appendAttrs(t, bad, kmip.V1_4, nil); got != "" {
		t.Errorf("1.4 wrote %s", got)
	}
	if got := appendAttrs(t, bad, kmip.V2_0, nil); got != "Attributes{0x540010=i:1}" {
		t.Errorf("2.0 wrote %s", got)
	}
	if objects.Emittable(bad.Attrs[0], kmip.V2_0) || !objects.Emittable(bad.Attrs[2], kmip.V2_1) {
		t.Error("Emittable disagrees")
	}
}

// Ensure that Get Attribute List names each attribute once, in the
// version's form.
func TestAppendAttributeNames(t *testing.T) {
	o := wireObject()
	got := render(t, build(t, func(b *ttlv.Builder) { objects.AppendAttributeNames(b, o, kmip.V1_4) }))
	want := `AttributeName="Unique Identifier" AttributeName="Object Type" AttributeName="State" ` +
		`AttributeName="Cryptographic Algorithm" AttributeName="Name" AttributeName="Fresh" ` +
		`AttributeName="Operation Policy Name" AttributeName="Link" AttributeName="Alternative Name" ` +
		`AttributeName="Random Number Generator" AttributeName="Sensitive" AttributeName="x-ID"`
	if got != want {
		t.Errorf("1.4:\n got %s\nwant %s", got, want)
	}
	got = render(t, build(t, func(b *ttlv.Builder) { objects.AppendAttributeNames(b, o, kmip.V2_0) }))
	// Attribute Reference values are tags, rendered as numbers.
	want = fmt.Sprintf(`AttributeReference=e:%d AttributeReference=e:%d AttributeReference=e:%d `+
		`AttributeReference=e:%d AttributeReference=e:%d AttributeReference=e:%d AttributeReference=e:%d `+
		`AttributeReference=e:%d AttributeReference=e:%d AttributeReference=e:%d AttributeReference=e:%d `+
		`AttributeReference{VendorIdentification="x" AttributeName="ID"} `+
		`AttributeReference{VendorIdentification="acme" AttributeName="color"} `+
		`AttributeReference{VendorIdentification="y" AttributeName="nested"}`,
		0x420094, 0x420057, 0x42008D, 0x420028, 0x420053, 0x4200A8, 0x42004A, 0x4200BF, 0x4200DE, 0x420120, 0x420136)
	if got != want {
		t.Errorf("2.0:\n got %s\nwant %s", got, want)
	}
}

// Ensure that the Digest helper follows KMIP 2.0 §4.17 with SHA-256.
func TestDigest(t *testing.T) {
	a := objects.Digest([]byte("abc"), kmip.KeyFormatTypeRaw)
	want := `Digest{HashingAlgorithm=e:6 ` +
		`DigestValue=x:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad KeyFormatType=e:1}`
	if a.Tag != ttlv.TagDigest || render(t, a.Raw) != want {
		t.Errorf("Digest = %s", render(t, a.Raw))
	}
	a = objects.Digest([]byte("abc"), 0)
	if strings.Contains(render(t, a.Raw), "KeyFormatType") {
		t.Error("Key Format Type written for kft 0")
	}
	s := objects.ShortUniqueIdentifier("uid")
	sum := sha256.Sum256([]byte("uid"))
	if render(t, s.Raw) != fmt.Sprintf("ShortUniqueIdentifier=x:%x", sum) {
		t.Errorf("ShortUniqueIdentifier = %s", render(t, s.Raw))
	}
}
