package kmip_test

import (
	"errors"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Ensure that the attribute table is consistent with the tag tables.
func TestAttrInfo_Table(t *testing.T) {
	seen := map[ttlv.Tag]bool{}
	for _, i := range kmip.AttrInfos() {
		if seen[i.Tag] {
			t.Errorf("%s listed twice", i.Tag)
		}
		seen[i.Tag] = true
		if _, ok := ttlv.TagSpecName(i.Tag); !ok {
			t.Errorf("%#x has no specification name", uint32(i.Tag))
		}
		if !i.Type.Valid() {
			t.Errorf("%s: bad type", i.Tag)
		}
		vs := ttlv.TagVersions(i.Tag)
		if i.V2 && vs&(ttlv.V2_0|ttlv.V2_1) == 0 {
			t.Errorf("%s: 2.x attribute without a 2.x tag", i.Tag)
		}
		if i.Since1 >= 0 && vs&ttlv.V1_4 == 0 {
			t.Errorf("%s: 1.x attribute without a 1.x tag", i.Tag)
		}
		if !i.V2 && i.Since1 < 0 {
			t.Errorf("%s: in no version", i.Tag)
		}
		if p, ok := kmip.AttrInfoOf(i.Tag); !ok || p.Tag != i.Tag {
			t.Errorf("AttrInfoOf(%s) not found", i.Tag)
		}
	}
	if _, ok := kmip.AttrInfoOf(ttlv.TagBatchCount); ok {
		t.Error("Batch Count is an attribute")
	}
}

// Ensure that the properties the server relies on are as the
// specification states them.
func TestAttrInfo_Properties(t *testing.T) {
	type props struct {
		multi, always, init, modify, del bool
	}
	cases := []struct {
		tag  ttlv.Tag
		want props
	}{
		{ttlv.TagUniqueIdentifier, props{always: true}},
		{ttlv.TagObjectType, props{always: true}},
		{ttlv.TagState, props{always: true}},
		{ttlv.TagInitialDate, props{always: true}},
		{ttlv.TagLastChangeDate, props{always: true}},
		{ttlv.TagName, props{multi: true, init: true, modify: true, del: true}},
		{ttlv.TagObjectGroup, props{multi: true, init: true, modify: true, del: true}},
		{ttlv.TagLink, props{multi: true, init: true, modify: true, del: true}},
		{ttlv.TagApplicationSpecificInformation, props{multi: true, init: true, modify: true, del: true}},
		{ttlv.TagAlternativeName, props{multi: true, init: true, modify: true, del: true}},
		{ttlv.TagKeyValueLocation, props{multi: true, init: true}},
		{ttlv.TagDigest, props{multi: true, always: true}},
		{ttlv.TagCryptographicAlgorithm, props{always: true, init: true}},
		{ttlv.TagCryptographicLength, props{always: true, init: true}},
		{ttlv.TagCryptographicUsageMask, props{always: true, init: true}},
		{ttlv.TagActivationDate, props{init: true, modify: true}},
		{ttlv.TagDeactivationDate, props{init: true, modify: true}},
		{ttlv.TagFresh, props{init: true}},
		{ttlv.TagSensitive, props{init: true, modify: true}},
		{ttlv.TagExtractable, props{init: true, modify: true}},
		{ttlv.TagAlwaysSensitive, props{}},
		{ttlv.TagNeverExtractable, props{}},
		{ttlv.TagKeyValuePresent, props{}},
		{ttlv.TagShortUniqueIdentifier, props{always: true}},
		{ttlv.TagCompromiseDate, props{}},
		{ttlv.TagDestroyDate, props{}},
		{ttlv.TagRevocationReason, props{}},
		{ttlv.TagLeaseTime, props{}},
		{ttlv.TagRandomNumberGenerator, props{init: true}},
		{ttlv.TagOriginalCreationDate, props{init: true}},
		{ttlv.TagContactInformation, props{init: true, modify: true, del: true}},
	}
	for _, c := range cases {
		i, ok := kmip.AttrInfoOf(c.tag)
		if !ok {
			t.Errorf("AttrInfoOf(%s) missing", c.tag)
			continue
		}
		got := props{i.Multi, i.Always, i.ClientInit, i.ClientModify, i.ClientDelete}
		if got != c.want {
			t.Errorf("%s: %+v, want %+v", c.tag, got, c.want)
		}
		if i.ReadOnly() == c.want.modify {
			t.Errorf("%s: ReadOnly() = %v", c.tag, i.ReadOnly())
		}
	}
}

// Ensure that InVersion knows which versions define an attribute.
func TestAttrInfo_InVersion(t *testing.T) {
	cases := []struct {
		tag                          ttlv.Tag
		v10, v11, v12, v13, v14, v20 bool
		v21                          bool
	}{
		{ttlv.TagName, true, true, true, true, true, true, true},
		{ttlv.TagFresh, false, true, true, true, true, true, true},
		{ttlv.TagAlternativeName, false, false, true, true, true, true, true},
		{ttlv.TagRandomNumberGenerator, false, false, false, true, true, true, true},
		{ttlv.TagSensitive, false, false, false, false, true, true, true},
		{ttlv.TagOperationPolicyName, true, true, true, true, true, false, false},
		{ttlv.TagCertificateIdentifier, true, true, true, true, true, false, false},
		{ttlv.TagKeyFormatType, false, false, false, false, false, true, true},
		{ttlv.TagShortUniqueIdentifier, false, false, false, false, false, true, true},
		{ttlv.TagRotateLatest, false, false, false, false, false, false, true},
	}
	for _, c := range cases {
		i, _ := kmip.AttrInfoOf(c.tag)
		got := [7]bool{}
		for k, v := range []kmip.Version{kmip.V1_0, kmip.V1_1, kmip.V1_2, kmip.V1_3, kmip.V1_4, kmip.V2_0, kmip.V2_1} {
			got[k] = i.InVersion(v)
		}
		want := [7]bool{c.v10, c.v11, c.v12, c.v13, c.v14, c.v20, c.v21}
		if got != want {
			t.Errorf("%s: %v, want %v", c.tag, got, want)
		}
	}
}

// Ensure that CheckValue checks the type and the fields of a value.
func TestAttrInfo_CheckValue(t *testing.T) {
	name := func(fill func(b *ttlv.Builder)) ttlv.Item {
		var b ttlv.Builder
		b.Begin(ttlv.TagName)
		fill(&b)
		b.End()
		data, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		it, ok := ttlv.Value(data).Peek()
		if !ok {
			t.Fatal("no item")
		}
		return it
	}
	info, _ := kmip.AttrInfoOf(ttlv.TagName)
	value := func(b *ttlv.Builder) { b.AddText(ttlv.TagNameValue, "n") }
	nameType := func(b *ttlv.Builder) { b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString)) }
	if err := info.CheckValue(name(func(b *ttlv.Builder) { value(b); nameType(b) })); err != nil {
		t.Errorf("valid Name: %v", err)
	}
	cases := map[string]func(b *ttlv.Builder){
		"lacks Name Type":    value,
		"Name Value as enum": func(b *ttlv.Builder) { b.AddEnum(ttlv.TagNameValue, 1); nameType(b) },
		"Name Value twice":   func(b *ttlv.Builder) { value(b); value(b); nameType(b) },
		"foreign field":      func(b *ttlv.Builder) { value(b); nameType(b); b.AddText(ttlv.TagComment, "c") },
	}
	for what, fill := range cases {
		var ke *kmip.Error
		if err := info.CheckValue(name(fill)); !errors.As(err, &ke) || ke.Reason != kmip.ResultReasonInvalidField {
			t.Errorf("%s: error = %v, want Invalid Field", what, err)
		}
	}
	var b ttlv.Builder
	b.AddText(ttlv.TagName, "not a structure")
	data, _ := b.Bytes()
	it, _ := ttlv.Value(data).Peek()
	if err := info.CheckValue(it); err == nil {
		t.Error("a Text String Name passed")
	}
}
