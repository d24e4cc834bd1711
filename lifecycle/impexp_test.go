package lifecycle_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Export and Import (KMIP 2.0 §6.1.18, §6.1.24). Expected values are taken
// from the OASIS vectors TC-IMPEXP-1..5-20 and the specification text, not
// from the server's code.

func ieHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ieExported is a parsed Export response.
type ieExported struct {
	typ      kmip.ObjectType
	uid      string
	attrsRaw []byte      // the Attributes item (2.x) or the Attribute items (1.x)
	attrs    []ttlv.Item // 2.x: the children of Attributes
	obj      ttlv.Item
}

// ieFirst returns the first item tagged tag among e's attributes.
func (e *ieExported) first(tag ttlv.Tag) (ttlv.Item, bool) { return aoFirst(e.attrs, tag) }

func ieExport(t *testing.T, c *kmip.Client, payload func(b *ttlv.Builder)) (*ieExported, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationExport, payload)
	if err != nil {
		return nil, err
	}
	p := it.Payload
	var ot uint32
	var uid []byte
	if !p.ReadEnum(ttlv.TagObjectType, &ot) || !p.ReadText(ttlv.TagUniqueIdentifier, &uid) {
		t.Fatalf("export response: %s", ttlv.Format(it.Payload))
	}
	e := &ieExported{typ: kmip.ObjectType(ot), uid: string(uid)}
	if c.Version.V2() {
		a, ok := p.Next()
		if !ok || a.Tag != ttlv.TagAttributes {
			t.Fatalf("export response lacks Attributes after the Unique Identifier: %s", ttlv.Format(it.Payload))
		}
		e.attrsRaw = append([]byte(nil), a.Raw...)
		as := a.Children()
		for !as.Empty() {
			x, _ := as.Next()
			e.attrs = append(e.attrs, x)
		}
	} else {
		for p.PeekTag() == ttlv.TagAttribute {
			a, _ := p.Next()
			e.attrsRaw = append(e.attrsRaw, a.Raw...)
		}
	}
	obj, ok := p.Next()
	if !ok || !p.Empty() {
		t.Fatalf("export response: want exactly one object after the attributes: %s", ttlv.Format(it.Payload))
	}
	e.obj = obj
	return e, nil
}

// ieRegisterAES registers an AES key in Raw format as TC-IMPEXP-1-20 does,
// with Cryptographic Usage Mask mask (Encrypt when 0) and extra
// attributes.
func ieRegisterAES(t *testing.T, c *kmip.Client, key []byte, mask kmip.CryptographicUsageMask, extra func(b *ttlv.Builder)) string {
	t.Helper()
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		if mask == 0 {
			mask = kmip.CryptographicUsageMaskEncrypt
		}
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(mask))
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
		b.AddInt32(ttlv.TagCryptographicLength, int32(8*len(key)))
		if extra != nil {
			extra(b)
		}
		b.End()
		kmip.WriteSymmetricKey(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: key,
			CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: int32(8 * len(key))})
	})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	u, ok := it.Payload.Find(ttlv.TagUniqueIdentifier)
	if !ok {
		t.Fatal("register: no Unique Identifier")
	}
	return string(u.Data)
}

// ieImport sends an Import request: uid, Object Type, Replace Existing
// (when replace is not nil), Key Wrap Type (when not 0), then attrs and obj
// as raw items.
func ieImport(t *testing.T, c *kmip.Client, uid string, typ kmip.ObjectType, replace *bool, kwt kmip.KeyWrapType, attrs, obj []byte) (*kmip.ResponseItem, error) {
	t.Helper()
	return do(t, c, kmip.OperationImport, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, uid)
		b.AddEnum(ttlv.TagObjectType, uint32(typ))
		if replace != nil {
			b.AddBool(ttlv.TagReplaceExisting, *replace)
		}
		if kwt != 0 {
			b.AddEnum(ttlv.TagKeyWrapType, uint32(kwt))
		}
		b.AddRaw(attrs)
		b.AddRaw(obj)
	})
}

var ieTrue, ieFalse = true, false

// ieKeyOf returns the Key Material bytes of a Symmetric Key or Secret Data
// object item.
func ieKeyOf(t *testing.T, obj ttlv.Item) []byte {
	t.Helper()
	km, ok := findPath(obj.Children(), ttlv.TagKeyBlock, ttlv.TagKeyValue, ttlv.TagKeyMaterial)
	if !ok {
		t.Fatalf("no Key Material in %s", ttlv.Format(ttlv.Value(obj.Raw)))
	}
	return km.Data
}

// ieGetObject runs Get and returns the object item.
func ieGetObject(t *testing.T, c *kmip.Client, payload func(b *ttlv.Builder)) (ttlv.Item, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationGet, payload)
	if err != nil {
		return ttlv.Item{}, err
	}
	p := it.Payload
	p.Skip()
	p.Skip()
	obj, _ := p.Next()
	return obj, nil
}

// TestExport_SymmetricKey follows TC-IMPEXP-1-20: the response is Object
// Type, Unique Identifier, Attributes (with every attribute the vector
// lists) and the key as Get returns it.
func TestExport_SymmetricKey(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	key := ieHex(t, "0123456789abcdef0123456789abcdef")
	id := ieRegisterAES(t, c, key, 0, nil)
	x, err := ieExport(t, c, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	if x.typ != kmip.ObjectTypeSymmetricKey || x.uid != id {
		t.Fatalf("export of %s: %s %s", id, x.typ, x.uid)
	}
	suid := sha256.Sum256([]byte(id))
	wantDigest := ieHex(t, "223e0a160af9da0a03e6dd2c4719c56f5d66a633cbe84e78aaa9f3735865522a")
	checks := []struct {
		tag ttlv.Tag
		ok  func(it ttlv.Item) bool
	}{
		{ttlv.TagUniqueIdentifier, func(it ttlv.Item) bool { return string(it.Data) == id }},
		{ttlv.TagShortUniqueIdentifier, func(it ttlv.Item) bool { return bytes.Equal(it.Data, suid[:]) }},
		{ttlv.TagObjectType, func(it ttlv.Item) bool { return it.Uint32() == uint32(kmip.ObjectTypeSymmetricKey) }},
		{ttlv.TagCryptographicAlgorithm, func(it ttlv.Item) bool { return it.Uint32() == uint32(kmip.CryptographicAlgorithmAES) }},
		{ttlv.TagCryptographicLength, func(it ttlv.Item) bool { return it.Int32() == 128 }},
		{ttlv.TagDigest, func(it ttlv.Item) bool {
			v, _ := it.Children().Find(ttlv.TagDigestValue)
			h, _ := it.Children().Find(ttlv.TagHashingAlgorithm)
			f, _ := it.Children().Find(ttlv.TagKeyFormatType)
			return bytes.Equal(v.Data, wantDigest) && h.Uint32() == uint32(kmip.HashingAlgorithmSHA_256) && f.Uint32() == uint32(kmip.KeyFormatTypeRaw)
		}},
		{ttlv.TagCryptographicUsageMask, func(it ttlv.Item) bool { return it.Int32() == int32(kmip.CryptographicUsageMaskEncrypt) }},
		{ttlv.TagLeaseTime, func(it ttlv.Item) bool { return it.Uint32() == 3600 }},
		{ttlv.TagInitialDate, func(it ttlv.Item) bool { return time.Since(time.Unix(it.Int64(), 0)) < time.Minute }},
		{ttlv.TagState, func(it ttlv.Item) bool { return it.Uint32() == uint32(kmip.StatePreActive) }},
		{ttlv.TagLastChangeDate, func(it ttlv.Item) bool { return time.Since(time.Unix(it.Int64(), 0)) < time.Minute }},
		{ttlv.TagFresh, func(it ttlv.Item) bool { return it.Bool() }},
		{ttlv.TagSensitive, func(it ttlv.Item) bool { return !it.Bool() }},
		{ttlv.TagAlwaysSensitive, func(it ttlv.Item) bool { return !it.Bool() }},
		{ttlv.TagExtractable, func(it ttlv.Item) bool { return it.Bool() }},
		{ttlv.TagNeverExtractable, func(it ttlv.Item) bool { return !it.Bool() }},
		{ttlv.TagKeyFormatType, func(it ttlv.Item) bool { return it.Uint32() == uint32(kmip.KeyFormatTypeRaw) }},
		{ttlv.TagProtectionStorageMask, func(it ttlv.Item) bool {
			return it.Int32() == int32(kmip.ProtectionStorageMaskSoftware)
		}},
	}
	for _, ch := range checks {
		it, ok := x.first(ch.tag)
		if !ok || !ch.ok(it) {
			t.Errorf("Export attribute %s: present %v, %s", ch.tag, ok, ttlv.Format(ttlv.Value(it.Raw)))
		}
	}
	if x.obj.Tag != ttlv.TagSymmetricKey || !bytes.Equal(ieKeyOf(t, x.obj), key) {
		t.Fatalf("exported object: %s", ttlv.Format(ttlv.Value(x.obj.Raw)))
	}
	// The object is what Get returns.
	got, err := ieGetObject(t, c, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Raw, x.obj.Raw) {
		t.Fatalf("Export object %s differs from Get's %s", ttlv.Format(ttlv.Value(x.obj.Raw)), ttlv.Format(ttlv.Value(got.Raw)))
	}
}

// TestExport_FreshAndPlaceholder: Export does not clear Fresh (only Get
// does, KMIP 2.0 §4.24), and sets the ID Placeholder (§6.1).
func TestExport_FreshAndPlaceholder(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	id := ieRegisterAES(t, c, bytes.Repeat([]byte{7}, 16), 0, nil)
	if _, err := ieExport(t, c, byID(id)); err != nil {
		t.Fatal(err)
	}
	if !attrsOf(t, c, id)[ttlv.TagFresh].Bool() {
		t.Fatal("Export cleared Fresh")
	}
	items := aoBatch(t, c, nil,
		aoItem{kmip.OperationExport, byID(id)},
		aoItem{kmip.OperationActivate, nil})
	for i, it := range items {
		if it.Status != kmip.ResultStatusSuccess {
			t.Fatalf("item %d: %s %s", i, it.Reason, it.Message)
		}
	}
	if u, _ := items[1].Payload.Find(ttlv.TagUniqueIdentifier); string(u.Data) != id {
		t.Fatalf("Activate after Export acted on %q, want %q", u.Data, id)
	}
	if st := aoState(t, c, id); st != kmip.StateActive {
		t.Fatalf("state %s after Activate by placeholder", st)
	}
}

// TestExport_SensitiveAndExtractable: Export enforces what Get enforces
// (KMIP 2.0 §4.48, §4.23; guide §3.4).
func TestExport_SensitiveAndExtractable(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	sens := ieRegisterAES(t, c, bytes.Repeat([]byte{1}, 16), 0, func(b *ttlv.Builder) { b.AddBool(ttlv.TagSensitive, true) })
	_, err := ieExport(t, c, byID(sens))
	wantReason(t, err, kmip.ResultReasonSensitive)
	nx := ieRegisterAES(t, c, bytes.Repeat([]byte{2}, 16), 0, func(b *ttlv.Builder) { b.AddBool(ttlv.TagExtractable, false) })
	_, err = ieExport(t, c, byID(nx))
	wantReason(t, err, kmip.ResultReasonNotExtractable)
	// Unknown object, unsupported format, compression.
	_, err = ieExport(t, c, byID("no-such-object"))
	wantReason(t, err, kmip.ResultReasonObjectNotFound)
	ok := ieRegisterAES(t, c, bytes.Repeat([]byte{3}, 16), 0, nil)
	_, err = ieExport(t, c, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, ok)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypePKCS_8))
	})
	wantReason(t, err, kmip.ResultReasonKeyFormatTypeNotSupported)
	// Transparent Symmetric Key, as Get converts.
	x, err := ieExport(t, c, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, ok)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeTransparentSymmetricKey))
	})
	if err != nil {
		t.Fatal(err)
	}
	k, found := findPath(x.obj.Children(), ttlv.TagKeyBlock, ttlv.TagKeyValue, ttlv.TagKeyMaterial, ttlv.TagKey)
	if !found || !bytes.Equal(k.Data, bytes.Repeat([]byte{3}, 16)) {
		t.Fatalf("transparent export: %s", ttlv.Format(ttlv.Value(x.obj.Raw)))
	}
}

// TestExport_Destroyed: KMIP 2.0 §6.1.18 — the key material of a destroyed
// object SHALL NOT be returned; its metadata is, and the object comes
// without Key Value (the metadata-only form of TC-MDO-1-20).
func TestExport_Destroyed(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	id := ieRegisterAES(t, c, bytes.Repeat([]byte{9}, 32), 0, nil)
	if _, err := do(t, c, kmip.OperationDestroy, byID(id)); err != nil {
		t.Fatal(err)
	}
	x, err := ieExport(t, c, byID(id))
	if err != nil {
		t.Fatalf("export of a destroyed key: %v", err)
	}
	if st, _ := x.first(ttlv.TagState); st.Uint32() != uint32(kmip.StateDestroyed) {
		t.Fatalf("exported state %d", st.Uint32())
	}
	if _, ok := x.first(ttlv.TagDestroyDate); !ok {
		t.Error("no Destroy Date among the exported attributes")
	}
	if _, ok := findPath(x.obj.Children(), ttlv.TagKeyBlock, ttlv.TagKeyValue); ok {
		t.Fatalf("destroyed key exported with a Key Value: %s", ttlv.Format(ttlv.Value(x.obj.Raw)))
	}
	f, ok1 := findPath(x.obj.Children(), ttlv.TagKeyBlock, ttlv.TagKeyFormatType)
	l, ok2 := findPath(x.obj.Children(), ttlv.TagKeyBlock, ttlv.TagCryptographicLength)
	if !ok1 || !ok2 || f.Uint32() != uint32(kmip.KeyFormatTypeRaw) || l.Int32() != 256 {
		t.Fatalf("destroyed key block: %s", ttlv.Format(ttlv.Value(x.obj.Raw)))
	}
	// Imported elsewhere it stays a destroyed, material-less object.
	if _, err := ieImport(t, c, uuidFor("restored-"+id), kmip.ObjectTypeSymmetricKey, nil, 0, ieRenameUID(t, x.attrsRaw, id, uuidFor("restored-"+id)), x.obj.Raw); err != nil {
		t.Fatalf("import of a destroyed key: %v", err)
	}
	a := attrsOf(t, c, uuidFor("restored-"+id))
	if kmip.State(a[ttlv.TagState].Uint32()) != kmip.StateDestroyed || a[ttlv.TagKeyValuePresent].Bool() {
		t.Fatalf("imported destroyed key: state %d, key value present %v", a[ttlv.TagState].Uint32(), a[ttlv.TagKeyValuePresent].Bool())
	}
	_, err = ieGetObject(t, c, byID(uuidFor("restored-"+id)))
	wantReason(t, err, kmip.ResultReasonObjectDestroyed)
}

// ieRenameUID rewrites the Unique Identifier (and drops the Short Unique
// Identifier) of an exported 2.x Attributes item, for importing it under
// another identifier.
func ieRenameUID(t *testing.T, attrs []byte, from, to string) []byte {
	t.Helper()
	v := ttlv.Value(attrs)
	a, _ := v.Next()
	var b ttlv.Builder
	b.Begin(ttlv.TagAttributes)
	ch := a.Children()
	for !ch.Empty() {
		x, _ := ch.Next()
		switch {
		case x.Tag == ttlv.TagUniqueIdentifier && string(x.Data) == from:
			b.AddText(ttlv.TagUniqueIdentifier, to)
		case x.Tag == ttlv.TagShortUniqueIdentifier:
		default:
			b.AddRaw(x.Raw)
		}
	}
	b.End()
	out, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImport_AlreadyExists follows TC-IMPEXP-3-20: Secret Data exported and
// imported again under its own identifier without Replace Existing fails
// with Object Already Exists and changes nothing.
func TestImport_AlreadyExists(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	protectStop := time.Date(2000, 2, 1, 0, 0, 0, 0, time.FixedZone("", 10*3600)).Unix()
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData))
		b.Begin(ttlv.TagAttributes)
		b.AddDateTime(ttlv.TagProtectStopDate, protectStop)
		b.End()
		b.Begin(ttlv.TagSecretData)
		b.AddEnum(ttlv.TagSecretDataType, uint32(kmip.SecretDataTypePassword))
		kmip.WriteKeyBlock(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: []byte("password")})
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := it.Payload.Find(ttlv.TagUniqueIdentifier)
	id := string(u.Data)
	x, err := ieExport(t, c, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	d, _ := x.first(ttlv.TagDigest)
	dv, _ := d.Children().Find(ttlv.TagDigestValue)
	if !bytes.Equal(dv.Data, ieHex(t, "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8")) {
		t.Errorf("Secret Data digest %x", dv.Data)
	}
	if ps, _ := x.first(ttlv.TagProtectStopDate); ps.Int64() != protectStop {
		t.Errorf("exported Protect Stop Date %d, want %d", ps.Int64(), protectStop)
	}
	if x.obj.Tag != ttlv.TagSecretData || string(ieKeyOf(t, x.obj)) != "password" {
		t.Fatalf("exported object %s", ttlv.Format(ttlv.Value(x.obj.Raw)))
	}
	before := aoGet2(t, c, id)
	_, err = ieImport(t, c, id, kmip.ObjectTypeSecretData, &ieFalse, 0, x.attrsRaw, x.obj.Raw)
	wantReason(t, err, kmip.ResultReasonObjectAlreadyExists)
	// Without Replace Existing at all, the same (it defaults to false).
	_, err = ieImport(t, c, id, kmip.ObjectTypeSecretData, nil, 0, x.attrsRaw, x.obj.Raw)
	wantReason(t, err, kmip.ResultReasonObjectAlreadyExists)
	after := aoGet2(t, c, id)
	if len(before) != len(after) {
		t.Fatalf("attributes changed: %d → %d", len(before), len(after))
	}
	for i := range before {
		if !bytes.Equal(before[i].Raw, after[i].Raw) {
			t.Fatalf("attribute %s changed", before[i].Tag)
		}
	}
}

// TestImport_ReplaceDestroyed follows TC-IMPEXP-4-20: a key is exported,
// destroyed, then imported again with Replace Existing: it is back as it
// was exported (Pre-Active, its material restored).
func TestImport_ReplaceDestroyed(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	key := bytes.Repeat([]byte{0x42}, 16)
	id := ieRegisterAES(t, c, key, kmip.CryptographicUsageMaskDecrypt, nil)
	x, err := ieExport(t, c, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := do(t, c, kmip.OperationDestroy, byID(id)); err != nil {
		t.Fatal(err)
	}
	it, err := ieImport(t, c, id, kmip.ObjectTypeSymmetricKey, &ieTrue, 0, x.attrsRaw, x.obj.Raw)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if u, _ := it.Payload.Find(ttlv.TagUniqueIdentifier); string(u.Data) != id {
		t.Fatalf("import answered %q", u.Data)
	}
	got := aoGet2(t, c, id)
	if len(got) != len(x.attrs) {
		t.Errorf("%d attributes after import, %d exported", len(got), len(x.attrs))
	}
	for _, want := range x.attrs {
		found := false
		for _, g := range got {
			if bytes.Equal(g.Raw, want.Raw) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("exported attribute %s not stored as given", ttlv.Format(ttlv.Value(want.Raw)))
		}
	}
	if st, _ := aoFirst(got, ttlv.TagState); st.Uint32() != uint32(kmip.StatePreActive) {
		t.Fatalf("state %d after import, want Pre-Active", st.Uint32())
	}
	if !bytes.Equal(getKey(t, c, id), key) {
		t.Fatal("material not restored")
	}
}

// TestImport_NewIdentifier follows TC-IMPEXP-5-20: the export imported
// under a fresh identifier makes a second object; both Get.
func TestImport_NewIdentifier(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	key := bytes.Repeat([]byte{0x24}, 32)
	id := ieRegisterAES(t, c, key, 0, nil)
	x, err := ieExport(t, c, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	newID := uuidFor("imported-" + id)
	if _, err := ieImport(t, c, newID, kmip.ObjectTypeSymmetricKey, &ieFalse, 0, ieRenameUID(t, x.attrsRaw, id, newID), x.obj.Raw); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(getKey(t, c, id), key) || !bytes.Equal(getKey(t, c, newID), key) {
		t.Fatal("keys differ")
	}
	// A missing Short Unique Identifier is the SHA-256 of the identifier
	// (KMIP 2.0 §4.49).
	suid := sha256.Sum256([]byte(newID))
	if s, ok := attrsOf(t, c, newID)[ttlv.TagShortUniqueIdentifier]; !ok || !bytes.Equal(s.Data, suid[:]) {
		t.Fatalf("Short Unique Identifier %x", s.Data)
	}
	// The Unique Identifier attribute must agree with the request, and so
	// must the Object Type.
	_, err = ieImport(t, c, uuidFor("other"), kmip.ObjectTypeSymmetricKey, nil, 0, x.attrsRaw, x.obj.Raw)
	wantReason(t, err, kmip.ResultReasonInvalidField)
	_, err = ieImport(t, c, uuidFor(newID+"-2"), kmip.ObjectTypeSecretData, nil, 0, ieRenameUID(t, x.attrsRaw, id, uuidFor(newID+"-2")), x.obj.Raw)
	wantReason(t, err, kmip.ResultReasonInvalidField)
}

// TestImport_AttributesAsGiven: KMIP 2.0 §6.1.24 — attributes are stored as
// given, server-managed ones included, and the ID Placeholder is set.
func TestImport_AttributesAsGiven(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	initial := time.Date(2018, 12, 19, 9, 24, 26, 0, time.UTC).Unix()
	activation := time.Date(2000, 2, 2, 0, 0, 0, 0, time.UTC).Unix()
	attrs := func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		b.AddText(ttlv.TagUniqueIdentifier, uuidFor("as-given"))
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
		b.AddInt32(ttlv.TagCryptographicLength, 128)
		b.AddDateTime(ttlv.TagInitialDate, initial)
		b.AddDateTime(ttlv.TagLastChangeDate, initial)
		b.AddDateTime(ttlv.TagActivationDate, activation)
		b.AddEnum(ttlv.TagState, uint32(kmip.StateActive))
		b.AddBool(ttlv.TagFresh, false)
		b.AddBool(ttlv.TagAlwaysSensitive, true)
		aoName("imported-key")(b)
		aoVendor("x", "origin", "backup-7")(b)
		b.End()
	}
	key := bytes.Repeat([]byte{0x77}, 16)
	var ab ttlv.Builder
	attrs(&ab)
	araw, _ := ab.Bytes()
	var ob ttlv.Builder
	kmip.WriteSymmetricKey(&ob, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: key,
		CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: 128})
	oraw, _ := ob.Bytes()
	items := aoBatch(t, c, nil,
		aoItem{kmip.OperationImport, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, uuidFor("as-given"))
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			b.AddRaw(araw)
			b.AddRaw(oraw)
		}},
		aoItem{kmip.OperationGetAttributes, nil})
	for i, it := range items {
		if it.Status != kmip.ResultStatusSuccess {
			t.Fatalf("item %d: %s %s", i, it.Reason, it.Message)
		}
	}
	if u, _ := items[1].Payload.Find(ttlv.TagUniqueIdentifier); string(u.Data) != uuidFor("as-given") {
		t.Fatalf("Get Attributes by placeholder answered for %q", u.Data)
	}
	got := aoGet2(t, c, uuidFor("as-given"))
	want := map[ttlv.Tag]func(ttlv.Item) bool{
		ttlv.TagInitialDate:     func(it ttlv.Item) bool { return it.Int64() == initial },
		ttlv.TagLastChangeDate:  func(it ttlv.Item) bool { return it.Int64() == initial },
		ttlv.TagActivationDate:  func(it ttlv.Item) bool { return it.Int64() == activation },
		ttlv.TagState:           func(it ttlv.Item) bool { return it.Uint32() == uint32(kmip.StateActive) },
		ttlv.TagFresh:           func(it ttlv.Item) bool { return !it.Bool() },
		ttlv.TagAlwaysSensitive: func(it ttlv.Item) bool { return it.Bool() },
		ttlv.TagSensitive:       func(it ttlv.Item) bool { return !it.Bool() }, // default
		ttlv.TagExtractable:     func(it ttlv.Item) bool { return it.Bool() },  // default
		ttlv.TagKeyValuePresent: func(it ttlv.Item) bool { return it.Bool() },  // has material
		ttlv.TagKeyFormatType:   func(it ttlv.Item) bool { return it.Uint32() == uint32(kmip.KeyFormatTypeRaw) },
		ttlv.TagLeaseTime:       func(it ttlv.Item) bool { return it.Uint32() == 3600 },
		ttlv.TagDigest: func(it ttlv.Item) bool {
			v, _ := it.Children().Find(ttlv.TagDigestValue)
			s := sha256.Sum256(key)
			return bytes.Equal(v.Data, s[:])
		},
		ttlv.TagCryptographicLength: func(it ttlv.Item) bool { return it.Int32() == 128 },
	}
	for tag, ok := range want {
		it, found := aoFirst(got, tag)
		if !found || !ok(it) {
			t.Errorf("%s: present %v, %s", tag, found, ttlv.Format(ttlv.Value(it.Raw)))
		}
	}
	if v := aoVendorValues(got, "x", "origin"); len(v) != 1 || string(v[0].Data) != "backup-7" {
		t.Errorf("vendor attribute %v", v)
	}
	// The name is indexed: Locate finds the imported key.
	it, err := do(t, c, kmip.OperationLocate, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		aoName("imported-key")(b)
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := it.Payload.Find(ttlv.TagUniqueIdentifier); string(u.Data) != uuidFor("as-given") {
		t.Fatalf("Locate by the imported name: %s", ttlv.Format(it.Payload))
	}
	// Fresh was given false, so the key reads as it did before the Get.
	if !bytes.Equal(getKey(t, c, uuidFor("as-given")), key) {
		t.Fatal("material")
	}
	// Two instances of a single-valued attribute are refused.
	_, err = do(t, c, kmip.OperationImport, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, uuidFor("twice"))
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		b.AddInt32(ttlv.TagCryptographicLength, 128)
		b.AddInt32(ttlv.TagCryptographicLength, 256)
		b.End()
		b.AddRaw(oraw)
	})
	wantReason(t, err, kmip.ResultReasonAttributeSingleValued)
	// Under the default policy a name the owner already uses elsewhere is
	// accepted, and Locate by it finds both objects.
	importSameName := func(c *kmip.Client) error {
		_, err := do(t, c, kmip.OperationImport, func(b *ttlv.Builder) {
			b.AddText(ttlv.TagUniqueIdentifier, uuidFor("same-name"))
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			b.Begin(ttlv.TagAttributes)
			aoName("imported-key")(b)
			b.End()
			b.AddRaw(oraw)
		})
		return err
	}
	if err := importSameName(c); err != nil {
		t.Fatalf("import of a second imported-key: %v", err)
	}
	byName := func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		aoName("imported-key")(b)
		b.End()
	}
	ids, _ := arLocate(t, c, byName)
	slices.Sort(ids)
	wantIDs := []string{uuidFor("as-given"), uuidFor("same-name")}
	slices.Sort(wantIDs)
	aoStrings(t, "located by name", ids, wantIDs)
	// With names unique per owner it is refused.
	eo := newEnvWith(t, namesPerOwner)
	co := eo.srv.Dial(t, "alice", kmip.V2_0)
	if err := importSameName(co); err != nil {
		t.Fatal(err)
	}
	_, err = do(t, co, kmip.OperationImport, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, uuidFor("other-id"))
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		aoName("imported-key")(b)
		b.End()
		b.AddRaw(oraw)
	})
	wantReason(t, err, kmip.ResultReasonNonUniqueNameAttribute)
}

// TestImport_Ownership: an identifier held by another client's object is
// refused (Permission Denied, as any identifier the caller may not use),
// even with Replace Existing; an admin's replacement keeps the object's
// owner.
func TestImport_Ownership(t *testing.T) {
	e := newEnv(t)
	alice := e.srv.Dial(t, "alice", kmip.V2_0)
	bob := e.srv.Dial(t, "bob", kmip.V2_0)
	admin := e.srv.Dial(t, "admin", kmip.V2_0)
	id := ieRegisterAES(t, alice, bytes.Repeat([]byte{5}, 16), 0, nil)
	x, err := ieExport(t, alice, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ieImport(t, bob, id, kmip.ObjectTypeSymmetricKey, &ieTrue, 0, x.attrsRaw, x.obj.Raw)
	wantReason(t, err, kmip.ResultReasonPermissionDenied)
	// An admin may replace it; Alice still owns it.
	if _, err := ieImport(t, admin, id, kmip.ObjectTypeSymmetricKey, &ieTrue, 0, x.attrsRaw, x.obj.Raw); err != nil {
		t.Fatal(err)
	}
	getKey(t, alice, id)
	_, err = do(t, bob, kmip.OperationGet, byID(id))
	wantReason(t, err, kmip.ResultReasonObjectNotFound)
}

// ieWrapped is the Symmetric Key of TC-WRAP-1-20: key 00112233...ff wrapped
// with NIST Key Wrap under 000102...0f (RFC 3394 §4.1).
func ieWrapped(kek string, mode kmip.BlockCipherMode, value []byte) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagSymmetricKey)
		b.Begin(ttlv.TagKeyBlock)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeRaw))
		b.AddBytes(ttlv.TagKeyValue, value)
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
		b.AddInt32(ttlv.TagCryptographicLength, 128)
		b.Begin(ttlv.TagKeyWrappingData)
		b.AddEnum(ttlv.TagWrappingMethod, uint32(kmip.WrappingMethodEncrypt))
		b.Begin(ttlv.TagEncryptionKeyInformation)
		b.AddText(ttlv.TagUniqueIdentifier, kek)
		if mode != 0 {
			b.Begin(ttlv.TagCryptographicParameters)
			b.AddEnum(ttlv.TagBlockCipherMode, uint32(mode))
			b.End()
		}
		b.End()
		b.AddEnum(ttlv.TagEncodingOption, uint32(kmip.EncodingOptionNoEncoding))
		b.End()
		b.End()
		b.End()
	}
}

// TestImport_Wrapped: material wrapped by a managed AES key is unwrapped
// before it is stored; Key Wrap Type Not Wrapped stores only the plain
// key, otherwise the wrapped form is kept for Get As Registered.
func TestImport_Wrapped(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	kek := ieRegisterAES(t, c, ieHex(t, "000102030405060708090a0b0c0d0e0f"), kmip.CryptographicUsageMaskWrapKey|kmip.CryptographicUsageMaskUnwrapKey, func(b *ttlv.Builder) {
		b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
	})
	wrapped := ieHex(t, "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5")
	plain := ieHex(t, "00112233445566778899aabbccddeeff")
	attrs := func(id string) []byte {
		var b ttlv.Builder
		b.Begin(ttlv.TagAttributes)
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.End()
		raw, _ := b.Bytes()
		return raw
	}
	obj := func(kekID string, mode kmip.BlockCipherMode, v []byte) []byte {
		var b ttlv.Builder
		ieWrapped(kekID, mode, v)(&b)
		raw, _ := b.Bytes()
		return raw
	}
	if _, err := ieImport(t, c, uuidFor("w-plain"), kmip.ObjectTypeSymmetricKey, nil, kmip.KeyWrapTypeNotWrapped, attrs(uuidFor("w-plain")),
		obj(kek, kmip.BlockCipherModeNISTKeyWrap, wrapped)); err != nil {
		t.Fatalf("import wrapped, Not Wrapped: %v", err)
	}
	if !bytes.Equal(getKey(t, c, uuidFor("w-plain")), plain) {
		t.Fatal("unwrapped key differs from RFC 3394 §4.1")
	}
	asRegistered := func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagKeyWrapType, uint32(kmip.KeyWrapTypeAsRegistered))
	}
	_, err := ieGetObject(t, c, aoPayload(byID(uuidFor("w-plain")), asRegistered))
	wantReason(t, err, kmip.ResultReasonKeyWrapTypeNotSupported)
	// Without Key Wrap Type (the mode from the key's defaults: NIST Key
	// Wrap), the wrapped form is kept, and Export returns it as registered
	// too.
	if _, err := ieImport(t, c, uuidFor("w-kept"), kmip.ObjectTypeSymmetricKey, nil, 0, attrs(uuidFor("w-kept")), obj(kek, 0, wrapped)); err != nil {
		t.Fatalf("import wrapped: %v", err)
	}
	if !bytes.Equal(getKey(t, c, uuidFor("w-kept")), plain) {
		t.Fatal("unwrapped key differs")
	}
	x, err := ieExport(t, c, aoPayload(byID(uuidFor("w-kept")), asRegistered))
	if err != nil {
		t.Fatal(err)
	}
	if kv, ok := findPath(x.obj.Children(), ttlv.TagKeyBlock, ttlv.TagKeyValue); !ok || !bytes.Equal(kv.Data, wrapped) {
		t.Fatalf("export as registered: %s", ttlv.Format(ttlv.Value(x.obj.Raw)))
	}
	// Padding mode (RFC 5649 §6: 20-byte key under a 192-bit KEK).
	kek2 := ieRegisterAES(t, c, ieHex(t, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"), kmip.CryptographicUsageMaskUnwrapKey, func(b *ttlv.Builder) {
		b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
	})
	var sd ttlv.Builder
	sd.Begin(ttlv.TagSecretData)
	sd.AddEnum(ttlv.TagSecretDataType, uint32(kmip.SecretDataTypeSeed))
	sd.Begin(ttlv.TagKeyBlock)
	sd.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeRaw))
	sd.AddBytes(ttlv.TagKeyValue, ieHex(t, "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"))
	sd.Begin(ttlv.TagKeyWrappingData)
	sd.AddEnum(ttlv.TagWrappingMethod, uint32(kmip.WrappingMethodEncrypt))
	sd.Begin(ttlv.TagEncryptionKeyInformation)
	sd.AddText(ttlv.TagUniqueIdentifier, kek2)
	sd.Begin(ttlv.TagCryptographicParameters)
	sd.AddEnum(ttlv.TagBlockCipherMode, uint32(kmip.BlockCipherModeAESKeyWrapPadding))
	sd.End()
	sd.End()
	sd.AddEnum(ttlv.TagEncodingOption, uint32(kmip.EncodingOptionNoEncoding))
	sd.End()
	sd.End()
	sd.End()
	sdRaw, _ := sd.Bytes()
	if _, err := ieImport(t, c, uuidFor("w-pad"), kmip.ObjectTypeSecretData, nil, kmip.KeyWrapTypeNotWrapped, attrs(uuidFor("w-pad")), sdRaw); err != nil {
		t.Fatalf("import KWP: %v", err)
	}
	so, err := ieGetObject(t, c, byID(uuidFor("w-pad")))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ieKeyOf(t, so), ieHex(t, "c37b7e6492584340bed12207808941155068f738")) {
		t.Fatalf("RFC 5649 unwrap: %x", ieKeyOf(t, so))
	}
	// Failures: unknown wrapping key; wrong wrapping key (integrity); a
	// wrapping key that is not AES.
	_, err = ieImport(t, c, uuidFor("w-x"), kmip.ObjectTypeSymmetricKey, nil, 0, attrs(uuidFor("w-x")), obj("no-such-kek", 0, wrapped))
	wantReason(t, err, kmip.ResultReasonWrappingObjectNotFound)
	other := ieRegisterAES(t, c, bytes.Repeat([]byte{0xee}, 16), kmip.CryptographicUsageMaskUnwrapKey, func(b *ttlv.Builder) {
		b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
	})
	_, err = ieImport(t, c, uuidFor("w-y"), kmip.ObjectTypeSymmetricKey, nil, 0, attrs(uuidFor("w-y")), obj(other, 0, wrapped))
	wantReason(t, err, kmip.ResultReasonCryptographicFailure)
	_, err = ieImport(t, c, uuidFor("w-z"), kmip.ObjectTypeSymmetricKey, nil, 0, attrs(uuidFor("w-z")), obj(kek, kmip.BlockCipherModeCBC, wrapped))
	wantReason(t, err, kmip.ResultReasonKeyWrapTypeNotSupported)
	for _, id := range []string{uuidFor("w-x"), uuidFor("w-y"), uuidFor("w-z")} {
		_, err := do(t, c, kmip.OperationGetAttributes, byID(id))
		wantReason(t, err, kmip.ResultReasonObjectNotFound)
	}
}

// TestImportExport_V1: KMIP 1.4 §4.40/§4.41 carry the attributes as
// Attribute items; a 1.4 export imports back at 1.4.
func TestImportExport_V1(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V1_4)
	id := create(t, c, "v1-export")
	x, err := ieExport(t, c, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	v := ttlv.Value(x.attrsRaw)
	for !v.Empty() {
		a, _ := v.Next()
		n, _ := a.Children().Find(ttlv.TagAttributeName)
		names[string(n.Data)] = true
	}
	for _, n := range []string{"Unique Identifier", "Object Type", "Cryptographic Algorithm", "Name", "State", "Initial Date"} {
		if !names[n] {
			t.Errorf("1.4 Export lacks attribute %q (has %v)", n, names)
		}
	}
	if names["Short Unique Identifier"] {
		t.Error("1.4 Export carries the 2.x Short Unique Identifier")
	}
	key := getKey(t, c, id)
	if _, err := do(t, c, kmip.OperationDestroy, byID(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := ieImport(t, c, id, kmip.ObjectTypeSymmetricKey, &ieTrue, 0, x.attrsRaw, x.obj.Raw); err != nil {
		t.Fatalf("1.4 import: %v", err)
	}
	if !bytes.Equal(getKey(t, c, id), key) {
		t.Fatal("1.4 round trip changed the key")
	}
}

// TestExport_AsymmetricRoundTrip follows TC-IMPEXP-2-20: an RSA public key
// registered in PKCS#1 exports and imports back with its format.
func TestExport_AsymmetricRoundTrip(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	pkcs1 := ieHex(t, "3082010a0282010100ab7f161c0042496ccd6c6d4dadb919973435357776003acf54b7af1e440afb80b64a8755f8002cfeba6b184540a2d66086d74648346d75b8d71812b205387c0f6583bc4d7dc7ec114f3b176b7957c422e7d03fc6267fa2a6f89b9bee9e60a1d7c2d833e5a5f4bb0b1434f4e795a41100f8aa214900df8b65089f98135b1c67b701675abdbc7d5721aac9d14a7f081fcec80b64e8a0ecc8295353c795328abf70e1b42e7bb8b7f4e8ac8c810cdb66e3d21126eba8da7d0ca34142cb76f91f013da809e9c1b7ae64c54130fbc21d80e9c2cb06c5c8d7cce8946a9ac99b1c2815c3612a29a82d73a1f99374fe30e54951662a6eda29c6fc411335d5dc7426b0f6050203010001")
	activation := time.Date(2000, 2, 2, 0, 0, 0, 0, time.FixedZone("", 10*3600)).Unix()
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypePublicKey))
		b.Begin(ttlv.TagAttributes)
		b.AddDateTime(ttlv.TagActivationDate, activation)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt))
		b.End()
		b.Begin(ttlv.TagPublicKey)
		b.Begin(ttlv.TagKeyBlock)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypePKCS_1))
		b.Begin(ttlv.TagKeyValue)
		b.AddBytes(ttlv.TagKeyMaterial, pkcs1)
		b.End()
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmRSA))
		b.AddInt32(ttlv.TagCryptographicLength, 2048)
		b.End()
		b.End()
	})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	u, _ := it.Payload.Find(ttlv.TagUniqueIdentifier)
	id := string(u.Data)
	x, err := ieExport(t, c, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := x.first(ttlv.TagState); st.Uint32() != uint32(kmip.StateActive) {
		t.Errorf("exported state %d, want Active", st.Uint32())
	}
	d, _ := x.first(ttlv.TagDigest)
	dv, _ := d.Children().Find(ttlv.TagDigestValue)
	if !bytes.Equal(dv.Data, ieHex(t, "1e7fd4346ef2b9bd7c951322e200286d2b0b6a03ad87b6a61c93c538f23879d9")) {
		t.Errorf("digest %x", dv.Data)
	}
	if f, _ := findPath(x.obj.Children(), ttlv.TagKeyBlock, ttlv.TagKeyFormatType); f.Uint32() != uint32(kmip.KeyFormatTypePKCS_1) {
		t.Fatalf("exported public key: %s", ttlv.Format(ttlv.Value(x.obj.Raw)))
	}
	if _, err := ieImport(t, c, id, kmip.ObjectTypePublicKey, &ieTrue, 0, x.attrsRaw, x.obj.Raw); err != nil {
		t.Fatalf("import: %v", err)
	}
	got, err := ieGetObject(t, c, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	if km, ok := findPath(got.Children(), ttlv.TagKeyBlock, ttlv.TagKeyValue, ttlv.TagKeyMaterial); !ok || !bytes.Equal(km.Data, pkcs1) {
		t.Fatalf("Get after import: %s", ttlv.Format(ttlv.Value(got.Raw)))
	}
}
