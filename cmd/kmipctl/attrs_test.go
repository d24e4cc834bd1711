package main

import (
	"fmt"
	"testing"

	"github.com/kmipd/kmipd/ttlv"
)

// Ensure that attribute names and values parse in their command-line
// forms and print back as attrs get shows them.
func TestParseAttr(t *testing.T) {
	for _, tc := range []struct {
		arg, label, typ, text string
	}{
		{"alg=aes", "CryptographicAlgorithm", "Enumeration", "AES"},
		{"Cryptographic Algorithm=HMAC-SHA256", "CryptographicAlgorithm", "Enumeration", "HMAC_SHA256"},
		{"cryptographic-length=0x100", "CryptographicLength", "Integer", "256"},
		{"usage=encrypt, decrypt|MAC-generate", "CryptographicUsageMask", "Integer", "Encrypt|Decrypt|MACGenerate"},
		{"usage=12", "CryptographicUsageMask", "Integer", "Encrypt|Decrypt"},
		{"State=pre-active", "State", "Enumeration", "PreActive"},
		{"type=private", "ObjectType", "Enumeration", "PrivateKey"},
		{"Name=a=b", "Name", "Structure", "NameValue=a=b, NameType=UninterpretedTextString"},
		{"Link=parent:1234", "Link", "Structure", "LinkType=ParentLink, LinkedObjectIdentifier=1234"},
		{"curve=p-384", "CryptographicDomainParameters", "Structure", "RecommendedCurve=P_384"},
		{"ApplicationSpecificInformation=ssl:example.com", "ApplicationSpecificInformation", "Structure",
			"ApplicationNamespace=ssl, ApplicationData=example.com"},
		{"ActivationDate=2030-01-02T03:04:05+01:00", "ActivationDate", "DateTime", "2030-01-02T02:04:05Z"},
		{"ActivationDate=1000000000", "ActivationDate", "DateTime", "2001-09-09T01:46:40Z"},
		{"LeaseTime=1h", "LeaseTime", "Interval", "3600"},
		{"Sensitive=true", "Sensitive", "Boolean", "true"},
		{"group=a b", "ObjectGroup", "TextString", "a b"},
		{`CryptographicParameters={"tag":"CryptographicParameters","value":[{"tag":"BlockCipherMode","type":"Enumeration","value":"GCM"}]}`,
			"CryptographicParameters", "Structure", "BlockCipherMode=GCM"},
		{"x-note=hello", "x-note", "TextString", "hello"},
		{"x-count=int:7", "x-count", "Integer", "7"},
		{"x-blob=hex:00ff", "x-blob", "ByteString", "00ff"},
		{"x-flag=bool:false", "x-flag", "Boolean", "false"},
		{"x-url=http://a", "x-url", "TextString", "http://a"},
		{"acme:color=blue", "acme:color", "TextString", "blue"},
	} {
		a, err := parseAttrArg(tc.arg)
		if err != nil {
			t.Errorf("%s: %v", tc.arg, err)
			continue
		}
		if a.label() != tc.label || a.Type.String() != tc.typ || itemText(a.item()) != tc.text {
			t.Errorf("%s: %s %s %q, want %s %s %q", tc.arg, a.label(), a.Type, itemText(a.item()), tc.label, tc.typ, tc.text)
		}
	}
	for _, bad := range []string{
		"alg", "alg=rot13", "length=long", "usage=fly", "Link=1234", "Link=nolink:1",
		"ActivationDate=tomorrow", "LeaseTime=-1h", "Sensitive=maybe", "x-blob=hex:xyz",
		"UsageLimits=5", "NoSuchThing=1", `CryptographicLength={"tag":"X","type":"TextString","value":"a"}`,
	} {
		if _, err := parseAttrArg(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// Ensure that attributes are written in both versions' forms.
func TestAttrForms(t *testing.T) {
	a, _ := parseAttrArg("x-team=ops")
	n, _ := parseAttrArg("Name=k")
	b := ttlv.NewBuilder(nil)
	if err := writeAttrs(b, false, ttlv.TagAttributes, ttlv.TagTemplateAttribute, []attribute{n, a}); err != nil {
		t.Fatal(err)
	}
	raw, _ := b.Bytes()
	want := `TemplateAttribute
  Attribute
    AttributeName (TextString) "Name"
    AttributeValue
      NameValue (TextString) "k"
      NameType (Enumeration) UninterpretedTextString
  Attribute
    AttributeName (TextString) "x-team"
    AttributeValue (TextString) "ops"
`
	if got := ttlv.Format(raw); got != want {
		t.Errorf("1.x form:\n%s", got)
	}
	b = ttlv.NewBuilder(nil)
	writeAttrs(b, true, ttlv.TagAttributes, ttlv.TagTemplateAttribute, []attribute{n, a})
	raw, _ = b.Bytes()
	got, _ := ttlv.Value(raw).Peek()
	attrs, err := readAttrs2(got.Children())
	if err != nil || len(attrs) != 2 || attrs[0].label() != "Name" || attrs[1].label() != "x-team" {
		t.Errorf("2.x form read back: %v %+v", err, attrs)
	}
	// KMIP 1.x cannot name another vendor's attribute.
	v, _ := parseAttrArg("acme:color=blue")
	if err := v.write1(ttlv.NewBuilder(nil), 0); err == nil || exitCode(err) != 2 {
		t.Errorf("vendor attribute in 1.x: %v", err)
	}
	if s := fmt.Sprint(v.json().Value); s != "blue" {
		t.Errorf("json value %s", s)
	}
}
