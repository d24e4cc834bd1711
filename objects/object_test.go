package objects_test

import (
	"bytes"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// Ensure that each typed accessor reads back what its mutator wrote, and
// refuses an attribute of another type.
func TestObject_TypedAccessors(t *testing.T) {
	o := objects.New("id-1", kmip.ObjectTypeSymmetricKey, "alice")
	o.SetEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
	o.SetInt(ttlv.TagCryptographicLength, 256)
	o.SetLong(ttlv.TagUsageLimitsTotal, 1<<40) // not an attribute, but any tag works
	o.SetBool(ttlv.TagSensitive, true)
	o.SetDate(ttlv.TagActivationDate, 1700000000)
	o.SetText(ttlv.TagObjectGroup, "group")
	o.SetInterval(ttlv.TagLeaseTime, 3600)
	o.SetBytes(ttlv.TagShortUniqueIdentifier, []byte{1, 2, 3})

	if v, ok := o.Enum(ttlv.TagCryptographicAlgorithm); !ok || v != 3 {
		t.Errorf("Enum = %d, %v; want 3, true", v, ok)
	}
	if v, ok := o.Int(ttlv.TagCryptographicLength); !ok || v != 256 {
		t.Errorf("Int = %d, %v", v, ok)
	}
	if v, ok := o.Long(ttlv.TagUsageLimitsTotal); !ok || v != 1<<40 {
		t.Errorf("Long = %d, %v", v, ok)
	}
	if v, ok := o.Bool(ttlv.TagSensitive); !ok || !v {
		t.Errorf("Bool = %v, %v", v, ok)
	}
	if v, ok := o.Date(ttlv.TagActivationDate); !ok || v != 1700000000 {
		t.Errorf("Date = %d, %v", v, ok)
	}
	if v, ok := o.Text(ttlv.TagObjectGroup); !ok || v != "group" {
		t.Errorf("Text = %q, %v", v, ok)
	}
	if v, ok := o.Interval(ttlv.TagLeaseTime); !ok || v != 3600 {
		t.Errorf("Interval = %d, %v", v, ok)
	}
	if v, ok := o.Bytes(ttlv.TagShortUniqueIdentifier); !ok || !bytes.Equal(v, []byte{1, 2, 3}) {
		t.Errorf("Bytes = %x, %v", v, ok)
	}

	// Wrong type or absent: false.
	if _, ok := o.Int(ttlv.TagCryptographicAlgorithm); ok {
		t.Error("Int of an Enumeration attribute succeeded")
	}
	if _, ok := o.Text(ttlv.TagCryptographicLength); ok {
		t.Error("Text of an Integer attribute succeeded")
	}
	if _, ok := o.Date(ttlv.TagSensitive); ok {
		t.Error("Date of a Boolean attribute succeeded")
	}
	if _, ok := o.Bool(ttlv.TagExtractable); ok {
		t.Error("Bool of an absent attribute succeeded")
	}
	if _, ok := o.Enum(0); ok {
		t.Error("Enum(0) succeeded")
	}
}

// Ensure that Date reads a Date-Time Extended as whole seconds.
func TestObject_Date_Extended(t *testing.T) {
	o := objects.New("id", kmip.ObjectTypeSecretData, "")
	for _, c := range []struct{ us, want int64 }{{1_500_000, 1}, {-1, -1}, {-1_000_000, -1}, {0, 0}} {
		raw := build(t, func(b *ttlv.Builder) { b.AddDateTimeExtended(ttlv.TagActivationDate, c.us) })
		o.Set(objects.Attribute{Tag: ttlv.TagActivationDate, Raw: raw})
		if got, ok := o.Date(ttlv.TagActivationDate); !ok || got != c.want {
			t.Errorf("Date(%d µs) = %d, %v; want %d", c.us, got, ok, c.want)
		}
	}
}

// Ensure that multi-valued attributes keep insertion order and that Set,
// Remove and RemoveIndex act on the right instances.
func TestObject_MultiValued(t *testing.T) {
	o := objects.New("id", kmip.ObjectTypeSymmetricKey, "")
	o.Add(objects.NameAttr("a", kmip.NameTypeUninterpretedTextString))
	o.SetEnum(ttlv.TagState, uint32(kmip.StatePreActive))
	o.Add(objects.NameAttr("b", kmip.NameTypeUninterpretedTextString))
	o.Add(objects.NameAttr("c", kmip.NameTypeURI))

	if n := o.Count(ttlv.TagName); n != 3 {
		t.Fatalf("Count(Name) = %d", n)
	}
	names := func() string {
		var s string
		for _, a := range o.All(ttlv.TagName) {
			s += render(t, a.Raw) + ";"
		}
		return s
	}
	want := `Name{NameValue="a" NameType=e:1};Name{NameValue="b" NameType=e:1};Name{NameValue="c" NameType=e:2};`
	if got := names(); got != want {
		t.Errorf("All(Name) = %s\nwant        %s", got, want)
	}

	if !o.RemoveIndex(ttlv.TagName, 1) {
		t.Fatal("RemoveIndex(Name, 1) = false")
	}
	want = `Name{NameValue="a" NameType=e:1};Name{NameValue="c" NameType=e:2};`
	if got := names(); got != want {
		t.Errorf("after RemoveIndex: %s", got)
	}
	if o.RemoveIndex(ttlv.TagName, 2) || o.RemoveIndex(ttlv.TagName, -1) {
		t.Error("RemoveIndex out of range succeeded")
	}

	// Set replaces all instances with one, at the first one's position.
	o.Set(objects.NameAttr("z", kmip.NameTypeUninterpretedTextString))
	if len(o.Attrs) != 2 || o.Attrs[0].Tag != ttlv.TagName || o.Attrs[1].Tag != ttlv.TagState {
		t.Fatalf("after Set: %v", o.Attrs)
	}
	if got := render(t, o.Attrs[0].Raw); got != `Name{NameValue="z" NameType=e:1}` {
		t.Errorf("after Set: %s", got)
	}

	if n := o.Remove(ttlv.TagName); n != 1 || o.Count(ttlv.TagName) != 0 {
		t.Errorf("Remove(Name) = %d, Count = %d", n, o.Count(ttlv.TagName))
	}
	if n := o.Remove(ttlv.TagName); n != 0 {
		t.Errorf("second Remove(Name) = %d", n)
	}
	if o.State() != kmip.StatePreActive {
		t.Errorf("State() = %v", o.State())
	}
	o.SetState(kmip.StateActive)
	if o.State() != kmip.StateActive || o.Count(ttlv.TagState) != 1 {
		t.Errorf("after SetState: %v, count %d", o.State(), o.Count(ttlv.TagState))
	}
}

// Ensure that Unique Identifier and Object Type are presented as
// attributes but live in the ID and Type fields.
func TestObject_IdentityAttributes(t *testing.T) {
	o := objects.New("uid-7", kmip.ObjectTypePrivateKey, "bob")
	if v, ok := o.Text(ttlv.TagUniqueIdentifier); !ok || v != "uid-7" {
		t.Errorf("Text(UniqueIdentifier) = %q, %v", v, ok)
	}
	if v, ok := o.Enum(ttlv.TagObjectType); !ok || v != 4 {
		t.Errorf("Enum(ObjectType) = %d, %v", v, ok)
	}
	if o.Count(ttlv.TagUniqueIdentifier) != 1 || o.Count(ttlv.TagObjectType) != 1 {
		t.Error("identity attributes not counted")
	}
	all := o.All(ttlv.TagUniqueIdentifier)
	if len(all) != 1 || render(t, all[0].Raw) != `UniqueIdentifier="uid-7"` {
		t.Errorf("All(UniqueIdentifier) = %v", all)
	}
	o.SetText(ttlv.TagUniqueIdentifier, "uid-8")
	o.Add(objects.EnumAttr(ttlv.TagObjectType, uint32(kmip.ObjectTypePublicKey)))
	if o.ID != "uid-8" || o.Type != kmip.ObjectTypePublicKey || len(o.Attrs) != 0 {
		t.Errorf("after Set/Add: ID %q Type %v Attrs %v", o.ID, o.Type, o.Attrs)
	}
	if o.Remove(ttlv.TagUniqueIdentifier) != 0 || o.RemoveIndex(ttlv.TagObjectType, 0) || o.ID == "" {
		t.Error("identity attributes were removable")
	}
	empty := &objects.Object{}
	if empty.Count(ttlv.TagUniqueIdentifier) != 0 || len(empty.All(ttlv.TagObjectType)) != 0 {
		t.Error("unset identity attributes reported")
	}
}

// Ensure that vendor attributes are kept apart by vendor and name.
func TestObject_Vendor(t *testing.T) {
	o := objects.New("id", kmip.ObjectTypeSecretData, "")
	text := func(s string) func(b *ttlv.Builder) {
		return func(b *ttlv.Builder) { b.AddText(ttlv.TagAttributeValue, s) }
	}
	o.Add(objects.VendorAttr("x", "ID", text("one")))
	o.Add(objects.VendorAttr("y", "ID", text("server")))
	o.Add(objects.VendorAttr("x", "ID", text("two")))
	o.Add(objects.VendorAttr("x", "Other", text("o")))

	got := o.Vendor("x", "ID")
	if len(got) != 2 || render(t, got[0].Raw) != `AttributeValue="one"` || render(t, got[1].Raw) != `AttributeValue="two"` {
		t.Errorf("Vendor(x, ID) = %v", got)
	}
	if len(o.All(0)) != 0 || o.Count(0) != 0 || o.Remove(0) != 0 {
		t.Error("tag 0 selected vendor attributes")
	}
	if !o.RemoveVendorIndex("x", "ID", 0) || len(o.Vendor("x", "ID")) != 1 {
		t.Error("RemoveVendorIndex failed")
	}
	if n := o.RemoveVendor("x", "ID"); n != 1 || len(o.Attrs) != 2 {
		t.Errorf("RemoveVendor = %d, left %d", n, len(o.Attrs))
	}
	o.Set(objects.VendorAttr("y", "ID", text("replaced")))
	if got := o.Vendor("y", "ID"); len(got) != 1 || render(t, got[0].Raw) != `AttributeValue="replaced"` {
		t.Errorf("Set vendor: %v", got)
	}
}

// Ensure that a Clone can be changed without affecting the original.
func TestObject_Clone(t *testing.T) {
	o := objects.New("id", kmip.ObjectTypeSymmetricKey, "o")
	o.Blob = []byte{1, 2}
	o.SetState(kmip.StateActive)
	c := o.Clone()
	c.SetState(kmip.StateDeactivated)
	c.Add(objects.NameAttr("n", kmip.NameTypeUninterpretedTextString))
	c.Blob[0] = 9
	if o.State() != kmip.StateActive || len(o.Attrs) != 1 || o.Blob[0] != 1 {
		t.Errorf("original changed: %v %v %v", o.State(), o.Attrs, o.Blob)
	}
}
