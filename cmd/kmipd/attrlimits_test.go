package main

import (
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// TestServe_MegabyteNameRefused: the real kmipd on its defaults stored a
// 1,000,000-byte Name (within max_message_size). Register and Add
// Attribute now refuse it, at 1.4 and 2.0, naming the attribute and the
// limit; the lifecycle tests cover every other entry point.
func TestServe_MegabyteNameRefused(t *testing.T) {
	dir := initDir(t)
	p := startServer(t, dir, nil)
	big := strings.Repeat("n", 1_000_000)
	name := func(v1 bool) func(b *ttlv.Builder) {
		return func(b *ttlv.Builder) {
			tag := ttlv.TagName
			if v1 {
				b.Begin(ttlv.TagAttribute)
				b.AddText(ttlv.TagAttributeName, "Name")
				tag = ttlv.TagAttributeValue
			}
			b.Begin(tag)
			b.AddText(ttlv.TagNameValue, big)
			b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
			b.End()
			if v1 {
				b.End()
			}
		}
	}
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		c := dialKMIP(t, dir, p.addr)
		c.Version = ver
		v1 := !ver.V2()
		want := kmip.ResultReasonServerLimitExceeded
		if v1 {
			want = kmip.ResultReasonInvalidField
		}
		refused := func(what string, err error) {
			t.Helper()
			ke, ok := err.(*kmip.Error)
			if !ok || ke.Reason != want || !strings.Contains(ke.Message, "Name") || !strings.Contains(ke.Message, "65536") {
				t.Fatalf("%s %s with a 1,000,000-byte Name: %v, want %s naming Name and 65536", ver, what, err, want)
			}
		}
		_, _, err := c.Do(kmip.OperationRegister, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData))
			if v1 {
				b.Begin(ttlv.TagTemplateAttribute)
			} else {
				b.Begin(ttlv.TagAttributes)
			}
			name(v1)(b)
			b.End()
			b.Begin(ttlv.TagSecretData)
			b.AddEnum(ttlv.TagSecretDataType, uint32(kmip.SecretDataTypePassword))
			b.Begin(ttlv.TagKeyBlock)
			b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeOpaque))
			b.Begin(ttlv.TagKeyValue)
			b.AddBytes(ttlv.TagKeyMaterial, []byte("password"))
			b.End()
			b.End()
			b.End()
		})
		refused("Register", err)
		id, err := createKey(dialKMIP(t, dir, p.addr), "small-"+ver.String())
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.Do(kmip.OperationAddAttribute, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, id)
			if !v1 {
				b.Begin(ttlv.TagNewAttribute)
				name(v1)(b)
				b.End()
				return
			}
			name(v1)(b)
		})
		refused("Add Attribute", err)
	}
	p.stop(t)
}
