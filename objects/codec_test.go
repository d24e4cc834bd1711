package objects_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// fullObject sets every field and several kinds of attribute.
func fullObject() *objects.Object {
	o := objects.New("6a3c-uid", kmip.ObjectTypeSymmetricKey, "CN=alice")
	o.Blob = []byte{0xa1, 1, 0, 0, 0, 1, 2, 3}
	o.KeyFormat = kmip.KeyFormatTypeRaw
	o.DataType = 0x80000001
	o.Extra = []byte{ // Key Compression Type = 1
		0x42, 0x00, 0x41, 0x05, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0,
	}
	o.SetState(kmip.StateActive)
	o.SetEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
	o.SetInt(ttlv.TagCryptographicLength, 128)
	o.Add(objects.NameAttr("first", kmip.NameTypeUninterpretedTextString))
	o.Add(objects.NameAttr("second", kmip.NameTypeUninterpretedTextString))
	o.SetDate(ttlv.TagInitialDate, 1600000000)
	o.SetBool(ttlv.TagFresh, true)
	o.Add(objects.VendorAttr("x", "ID", func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributeValue)
		b.AddText(ttlv.TagNameValue, "nested")
		b.End()
	}))
	o.Add(objects.Digest([]byte("key"), kmip.KeyFormatTypeRaw))
	return o
}

// Ensure that an object survives MarshalBinary and UnmarshalBinary
// unchanged, including nil versus empty Blob and Extra.
func TestObject_MarshalBinary_RoundTrip(t *testing.T) {
	minimal := objects.New("m", kmip.ObjectTypeOpaqueObject, "")
	emptyBlob := objects.New("e", kmip.ObjectTypeSecretData, "")
	emptyBlob.Blob = []byte{}
	emptyBlob.Extra = []byte{}
	for _, o := range []*objects.Object{fullObject(), minimal, emptyBlob} {
		data, err := o.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary: %v", err)
		}
		if err := ttlv.Check(data, 0); err != nil {
			t.Fatalf("stored bytes do not Check: %v", err)
		}
		var got objects.Object
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatalf("UnmarshalBinary: %v", err)
		}
		if !reflect.DeepEqual(normalize(&got), normalize(o)) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, *o)
		}
		if (got.Blob == nil) != (o.Blob == nil) || (got.Extra == nil) != (o.Extra == nil) {
			t.Errorf("nil-ness of Blob/Extra not kept")
		}
		// The decoded object does not alias the input.
		for i := range data {
			data[i] = 0xff
		}
		if got.ID != o.ID || (len(got.Attrs) > 0 && !bytes.Equal(got.Attrs[0].Raw, o.Attrs[0].Raw)) {
			t.Error("UnmarshalBinary aliases its input")
		}
	}
}

// normalize makes nil and empty attribute lists compare equal.
func normalize(o *objects.Object) objects.Object {
	c := *o
	if len(c.Attrs) == 0 {
		c.Attrs = nil
	}
	return c
}

// Ensure that the stored layout is the documented one.
func TestObject_MarshalBinary_Layout(t *testing.T) {
	o := objects.New("u", kmip.ObjectTypeSymmetricKey, "me")
	o.SetState(kmip.StatePreActive)
	data, err := o.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `
		540001 01 00000058
		  540002 02 00000004 00000001 00000000
		  420094 07 00000001 75 00000000000000
		  420057 05 00000004 00000002 00000000
		  540003 07 00000002 6d65 000000000000
		  420125 01 00000010
		    42008d 05 00000004 00000001 00000000`)
	if !bytes.Equal(data, want) {
		t.Errorf("stored bytes\n got %x\nwant %x", data, want)
	}
}

// Ensure that objects that cannot be stored are refused.
func TestObject_MarshalBinary_Invalid(t *testing.T) {
	cases := map[string]*objects.Object{
		"no id": {Type: kmip.ObjectTypeSymmetricKey},
		"truncated raw": {ID: "a", Attrs: []objects.Attribute{
			{Tag: ttlv.TagState, Raw: []byte{0x42, 0x00, 0x8d, 0x05, 0, 0, 0, 4}}}},
		"tag mismatch": {ID: "a", Attrs: []objects.Attribute{objects.EnumAttr(ttlv.TagState, 1)}},
		"two items": {ID: "a", Attrs: []objects.Attribute{{Tag: ttlv.TagState,
			Raw: append(objects.EnumAttr(ttlv.TagState, 1).Raw, objects.EnumAttr(ttlv.TagState, 1).Raw...)}}},
		"vendor without name": {ID: "a", Attrs: []objects.Attribute{objects.VendorAttr("x", "", func(b *ttlv.Builder) {
			b.AddInt32(ttlv.TagAttributeValue, 1)
		})}},
		"vendor value tag": {ID: "a", Attrs: []objects.Attribute{objects.VendorAttr("x", "n", func(b *ttlv.Builder) {
			b.AddInt32(ttlv.TagCryptographicLength, 1)
		})}},
		"identity attribute": {ID: "a", Attrs: []objects.Attribute{objects.TextAttr(ttlv.TagUniqueIdentifier, "b")}},
		"bad utf-8":          {ID: "a", Attrs: []objects.Attribute{objects.TextAttr(ttlv.TagObjectGroup, "\xff")}},
		"bad extra":          {ID: "a", Extra: []byte{1, 2, 3}},
	}
	cases["tag mismatch"].Attrs[0].Tag = ttlv.TagCryptographicAlgorithm
	for name, o := range cases {
		if _, err := o.MarshalBinary(); !errors.Is(err, objects.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

// Ensure that corrupt or foreign bytes are refused with the right error
// and leave the object unchanged.
func TestObject_UnmarshalBinary_Corrupt(t *testing.T) {
	good, err := fullObject().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	stored := func(f func(b *ttlv.Builder)) []byte {
		return build(t, func(b *ttlv.Builder) {
			b.Begin(0x540001)
			f(b)
			b.End()
		})
	}
	header := func(b *ttlv.Builder) {
		b.AddInt32(0x540002, 1)
		b.AddText(ttlv.TagUniqueIdentifier, "u")
		b.AddEnum(ttlv.TagObjectType, 2)
	}
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, objects.ErrCorrupt},
		{"truncated", good[:len(good)-8], objects.ErrCorrupt},
		{"trailing", append(append([]byte(nil), good...), good[:16]...), objects.ErrCorrupt},
		{"not a stored object", build(t, func(b *ttlv.Builder) { b.Begin(ttlv.TagAttributes); b.End() }), objects.ErrCorrupt},
		{"version 2", stored(func(b *ttlv.Builder) { b.AddInt32(0x540002, 2) }), objects.ErrFormatVersion},
		{"no version", stored(func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "u") }), objects.ErrCorrupt},
		{"no id", stored(func(b *ttlv.Builder) { b.AddInt32(0x540002, 1); b.AddEnum(ttlv.TagObjectType, 2) }), objects.ErrCorrupt},
		{"empty id", stored(func(b *ttlv.Builder) {
			b.AddInt32(0x540002, 1)
			b.AddText(ttlv.TagUniqueIdentifier, "")
			b.AddEnum(ttlv.TagObjectType, 2)
			b.Begin(ttlv.TagAttributes)
			b.End()
		}), objects.ErrCorrupt},
		{"no attributes", stored(header), objects.ErrCorrupt},
		{"unknown field", stored(func(b *ttlv.Builder) {
			header(b)
			b.Begin(ttlv.TagAttributes)
			b.End()
			b.AddInt32(0x540099, 1)
		}), objects.ErrCorrupt},
		{"owner out of order", stored(func(b *ttlv.Builder) {
			header(b)
			b.AddBytes(0x540004, []byte{1})
			b.AddText(0x540003, "late")
			b.Begin(ttlv.TagAttributes)
			b.End()
		}), objects.ErrCorrupt},
		{"blob wrong type", stored(func(b *ttlv.Builder) {
			header(b)
			b.AddText(0x540004, "blob")
			b.Begin(ttlv.TagAttributes)
			b.End()
		}), objects.ErrCorrupt},
		{"identity among attributes", stored(func(b *ttlv.Builder) {
			header(b)
			b.Begin(ttlv.TagAttributes)
			b.AddEnum(ttlv.TagObjectType, 3)
			b.End()
		}), objects.ErrCorrupt},
		{"malformed vendor attribute", stored(func(b *ttlv.Builder) {
			header(b)
			b.Begin(ttlv.TagAttributes)
			b.Begin(ttlv.TagAttribute)
			b.AddText(ttlv.TagVendorIdentification, "x")
			b.AddText(ttlv.TagAttributeValue, "no name")
			b.End()
			b.End()
		}), objects.ErrCorrupt},
	}
	for _, c := range cases {
		o := objects.New("keep", kmip.ObjectTypeCertificate, "")
		err := o.UnmarshalBinary(c.data)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if o.ID != "keep" || o.Type != kmip.ObjectTypeCertificate {
			t.Errorf("%s: object changed on error", c.name)
		}
	}
}

// Ensure that no truncation or single-byte change of a stored object makes
// UnmarshalBinary panic, and that whatever it accepts stores again.
func TestObject_UnmarshalBinary_Mutations(t *testing.T) {
	good, err := fullObject().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(good) {
		var o objects.Object
		if o.UnmarshalBinary(good[:n]) == nil {
			t.Fatalf("truncation to %d bytes accepted", n)
		}
	}
	buf := make([]byte, len(good))
	for i := range good {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			copy(buf, good)
			buf[i] ^= x
			checkUnmarshal(t, buf)
		}
	}
}

// checkUnmarshal asserts the fuzz property: no panic, and an accepted
// input marshals again to bytes that decode to the same object.
func checkUnmarshal(t testing.TB, data []byte) {
	var o objects.Object
	if err := o.UnmarshalBinary(data); err != nil {
		if !errors.Is(err, objects.ErrCorrupt) && !errors.Is(err, objects.ErrFormatVersion) {
			t.Fatalf("unexpected error type: %v", err)
		}
		return
	}
	again, err := o.MarshalBinary()
	if err != nil {
		t.Fatalf("accepted object does not marshal: %v (input %x)", err, data)
	}
	var o2 objects.Object
	if err := o2.UnmarshalBinary(again); err != nil {
		t.Fatalf("re-marshaled object does not unmarshal: %v", err)
	}
	if !reflect.DeepEqual(normalize(&o), normalize(&o2)) {
		t.Fatalf("round trip changed the object:\n%+v\n%+v", o, o2)
	}
}

func FuzzUnmarshal(f *testing.F) {
	good, err := fullObject().MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	minimal, _ := objects.New("m", kmip.ObjectTypeOpaqueObject, "").MarshalBinary()
	f.Add(minimal)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	f.Add([]byte{0x54, 0x00, 0x01, 0x01, 0xff, 0xff, 0xff, 0xf8})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkUnmarshal(t, data)
	})
}
