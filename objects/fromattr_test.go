package objects_test

import (
	"bytes"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// convertAll runs FromAttr over every attribute of an AttrList built from
// children.
func convertAll(t *testing.T, children []byte, v1 bool) []objects.Attribute {
	t.Helper()
	l := kmip.NewAttrList(ttlv.Value(children), v1)
	var out []objects.Attribute
	for {
		a, ok, err := l.Next()
		if err != nil {
			t.Fatalf("AttrList: %v", err)
		}
		if !ok {
			return out
		}
		oa, err := objects.FromAttr(a)
		if err != nil {
			t.Fatalf("FromAttr(%v): %v", a.Tag, err)
		}
		out = append(out, oa)
	}
}

func v1Attr(b *ttlv.Builder, name string, value func(b *ttlv.Builder)) {
	b.Begin(ttlv.TagAttribute)
	b.AddText(ttlv.TagAttributeName, name)
	value(b)
	b.End()
}

// Ensure that 1.x Template-Attribute attributes become the 2.x form.
func TestFromAttr_V1(t *testing.T) {
	in := build(t, func(b *ttlv.Builder) {
		v1Attr(b, "Cryptographic Algorithm", func(b *ttlv.Builder) { b.AddEnum(ttlv.TagAttributeValue, 3) })
		v1Attr(b, "Cryptographic Length", func(b *ttlv.Builder) { b.AddInt32(ttlv.TagAttributeValue, 256) })
		v1Attr(b, "Name", func(b *ttlv.Builder) {
			b.Begin(ttlv.TagAttributeValue)
			b.AddText(ttlv.TagNameValue, "key-1")
			b.AddEnum(ttlv.TagNameType, 1)
			b.End()
		})
		b.Begin(ttlv.TagName) // a Name directly in the Template-Attribute
		b.AddText(ttlv.TagNameValue, "key-2")
		b.AddEnum(ttlv.TagNameType, 2)
		b.End()
		b.Begin(ttlv.TagAttribute) // an Attribute Index is accepted and ignored
		b.AddText(ttlv.TagAttributeName, "Object Group")
		b.AddInt32(ttlv.TagAttributeIndex, 1)
		b.AddText(ttlv.TagAttributeValue, "g")
		b.End()
		v1Attr(b, "Activation Date", func(b *ttlv.Builder) { b.AddDateTime(ttlv.TagAttributeValue, 1234) })
		v1Attr(b, "x-ID", func(b *ttlv.Builder) { b.AddText(ttlv.TagAttributeValue, "TC-1") })
		v1Attr(b, "y-count", func(b *ttlv.Builder) { b.AddInt32(ttlv.TagAttributeValue, 7) })
		v1Attr(b, "Operation Policy Name", func(b *ttlv.Builder) { b.AddText(ttlv.TagAttributeValue, "default") })
		v1Attr(b, "Usage Limits", func(b *ttlv.Builder) {
			b.Begin(ttlv.TagAttributeValue)
			b.AddLong(ttlv.TagUsageLimitsTotal, 500)
			b.AddEnum(ttlv.TagUsageLimitsUnit, 2)
			b.End()
		})
	})
	got := convertAll(t, in, true)
	want := []struct {
		tag       ttlv.Tag
		vid, name string
		value     string
	}{
		{ttlv.TagCryptographicAlgorithm, "", "", `CryptographicAlgorithm=e:3`},
		{ttlv.TagCryptographicLength, "", "", `CryptographicLength=i:256`},
		{ttlv.TagName, "", "", `Name{NameValue="key-1" NameType=e:1}`},
		{ttlv.TagName, "", "", `Name{NameValue="key-2" NameType=e:2}`},
		{ttlv.TagObjectGroup, "", "", `ObjectGroup="g"`},
		{ttlv.TagActivationDate, "", "", `ActivationDate=t:1234`},
		{0, "x", "ID", `AttributeValue="TC-1"`},
		{0, "y", "count", `AttributeValue=i:7`},
		{ttlv.TagOperationPolicyName, "", "", `OperationPolicyName="default"`},
		{ttlv.TagUsageLimits, "", "", `UsageLimits{UsageLimitsTotal=l:500 UsageLimitsUnit=e:2}`},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d attributes, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Tag != w.tag || g.VendorID != w.vid || g.Name != w.name || render(t, g.Raw) != w.value {
			t.Errorf("#%d: got {%s %q %q %s}, want {%s %q %q %s}", i,
				g.Tag, g.VendorID, g.Name, render(t, g.Raw), w.tag, w.vid, w.name, w.value)
		}
	}
	// Exact bytes of one re-tagged value, written by hand.
	wantRaw := unhex(t, "420028 05 00000004 00000003 00000000")
	if !bytes.Equal(got[0].Raw, wantRaw) {
		t.Errorf("raw = %x, want %x", got[0].Raw, wantRaw)
	}
}

// Ensure that 2.x Attributes children are copied, vendor attributes
// included, and that the result does not alias the request.
func TestFromAttr_V2(t *testing.T) {
	in := build(t, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagCryptographicAlgorithm, 3)
		b.Begin(ttlv.TagName)
		b.AddText(ttlv.TagNameValue, "n")
		b.AddEnum(ttlv.TagNameType, 1)
		b.End()
		b.Begin(ttlv.TagLink) // an ID Placeholder as Linked Object Identifier
		b.AddEnum(ttlv.TagLinkType, 0x103)
		b.AddEnum(ttlv.TagLinkedObjectIdentifier, 1)
		b.End()
		b.Begin(ttlv.TagAttribute)
		b.AddText(ttlv.TagVendorIdentification, "acme")
		b.AddText(ttlv.TagAttributeName, "color")
		b.Begin(ttlv.TagAttributeValue)
		b.AddText(ttlv.TagNameValue, "blue")
		b.End()
		b.End()
		b.AddBytes(ttlv.TagShortUniqueIdentifier, []byte{0xab})
		b.AddInt32(ttlv.TagProtectionStorageMask, 1)
	})
	got := convertAll(t, in, false)
	want := []string{
		`CryptographicAlgorithm=e:3`,
		`Name{NameValue="n" NameType=e:1}`,
		`Link{LinkType=e:259 LinkedObjectIdentifier=e:1}`,
		`AttributeValue{NameValue="blue"}`,
		`ShortUniqueIdentifier=x:ab`,
		`ProtectionStorageMask=i:1`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d attributes", len(got))
	}
	for i := range want {
		if s := render(t, got[i].Raw); s != want[i] {
			t.Errorf("#%d: %s, want %s", i, s, want[i])
		}
	}
	if got[3].Tag != 0 || got[3].VendorID != "acme" || got[3].Name != "color" {
		t.Errorf("vendor attribute: %+v", got[3])
	}
	for i := range in {
		in[i] = 0
	}
	if render(t, got[0].Raw) != want[0] {
		t.Error("FromAttr aliases the request")
	}
}

// Ensure that values of the wrong type or shape, non-attributes and
// attributes the request's form lacks are Invalid Field.
func TestFromAttr_Invalid(t *testing.T) {
	cases := []struct {
		name string
		v1   bool
		in   func(b *ttlv.Builder)
	}{
		{"v1 length as text", true, func(b *ttlv.Builder) {
			v1Attr(b, "Cryptographic Length", func(b *ttlv.Builder) { b.AddText(ttlv.TagAttributeValue, "256") })
		}},
		{"v2 length as long", false, func(b *ttlv.Builder) { b.AddLong(ttlv.TagCryptographicLength, 256) }},
		{"v2 activation date as integer", false, func(b *ttlv.Builder) { b.AddInt32(ttlv.TagActivationDate, 5) }},
		{"v1 activation date as text", true, func(b *ttlv.Builder) {
			v1Attr(b, "Activation Date", func(b *ttlv.Builder) { b.AddText(ttlv.TagAttributeValue, "today") })
		}},
		{"v2 name as text", false, func(b *ttlv.Builder) { b.AddText(ttlv.TagName, "n") }},
		{"v2 name without type", false, func(b *ttlv.Builder) {
			b.Begin(ttlv.TagName)
			b.AddText(ttlv.TagNameValue, "n")
			b.End()
		}},
		{"v1 name value integer", true, func(b *ttlv.Builder) {
			v1Attr(b, "Name", func(b *ttlv.Builder) {
				b.Begin(ttlv.TagAttributeValue)
				b.AddInt32(ttlv.TagNameValue, 1)
				b.AddEnum(ttlv.TagNameType, 1)
				b.End()
			})
		}},
		{"v2 name with stray field", false, func(b *ttlv.Builder) {
			b.Begin(ttlv.TagName)
			b.AddText(ttlv.TagNameValue, "n")
			b.AddEnum(ttlv.TagNameType, 1)
			b.AddInt32(ttlv.TagCryptographicLength, 1)
			b.End()
		}},
		{"v2 name value twice", false, func(b *ttlv.Builder) {
			b.Begin(ttlv.TagName)
			b.AddText(ttlv.TagNameValue, "n")
			b.AddText(ttlv.TagNameValue, "m")
			b.AddEnum(ttlv.TagNameType, 1)
			b.End()
		}},
		{"v2 link without identifier", false, func(b *ttlv.Builder) {
			b.Begin(ttlv.TagLink)
			b.AddEnum(ttlv.TagLinkType, 0x103)
			b.End()
		}},
		{"v2 not an attribute", false, func(b *ttlv.Builder) { b.AddInt32(ttlv.TagBatchCount, 1) }},
		{"v1 not an attribute", true, func(b *ttlv.Builder) {
			v1Attr(b, "Batch Count", func(b *ttlv.Builder) { b.AddInt32(ttlv.TagAttributeValue, 1) })
		}},
		{"v1 2.x-only attribute", true, func(b *ttlv.Builder) {
			v1Attr(b, "Key Format Type", func(b *ttlv.Builder) { b.AddEnum(ttlv.TagAttributeValue, 1) })
		}},
		{"v2 1.x-only attribute", false, func(b *ttlv.Builder) { b.AddText(ttlv.TagOperationPolicyName, "p") }},
		{"v1 missing value", true, func(b *ttlv.Builder) {
			b.Begin(ttlv.TagAttribute)
			b.AddText(ttlv.TagAttributeName, "Object Group")
			b.End()
		}},
		{"v2 vendor without name", false, func(b *ttlv.Builder) {
			b.Begin(ttlv.TagAttribute)
			b.AddText(ttlv.TagVendorIdentification, "x")
			b.AddText(ttlv.TagAttributeName, "")
			b.AddText(ttlv.TagAttributeValue, "v")
			b.End()
		}},
		{"v2 vendor without vendor", false, func(b *ttlv.Builder) {
			b.Begin(ttlv.TagAttribute)
			b.AddText(ttlv.TagVendorIdentification, "")
			b.AddText(ttlv.TagAttributeName, "x-foo")
			b.AddText(ttlv.TagAttributeValue, "v")
			b.End()
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := kmip.NewAttrList(ttlv.Value(build(t, c.in)), c.v1)
			a, ok, err := l.Next()
			if err != nil || !ok {
				t.Fatalf("AttrList.Next: %v %v", ok, err)
			}
			_, err = objects.FromAttr(a)
			if err == nil {
				t.Fatal("FromAttr succeeded")
			}
			if r := reasonOf(t, err); r != kmip.ResultReasonInvalidField {
				t.Errorf("reason %v, want InvalidField", r)
			}
		})
	}
}
