package lifecycle_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

func registerKey(t *testing.T, c *kmip.Client, format kmip.KeyFormatType, key []byte, attrs func(b *ttlv.Builder)) (string, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
		b.AddInt32(ttlv.TagCryptographicLength, int32(8*len(key)))
		if attrs != nil {
			attrs(b)
		}
		b.End()
		kmip.WriteSymmetricKey(b, &kmip.KeyBlock{FormatType: format, Material: key,
			CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: int32(8 * len(key))})
	})
	if err != nil {
		return "", err
	}
	var id []byte
	p := it.Payload
	if !p.ReadText(ttlv.TagUniqueIdentifier, &id) {
		t.Fatal("register: no identifier")
	}
	return string(id), nil
}

func TestService_RegisterAndFormats(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	key := bytes.Repeat([]byte{0x5a}, 16)
	id, err := registerKey(t, c, kmip.KeyFormatTypeRaw, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := getKey(t, c, id); !bytes.Equal(got, key) {
		t.Fatalf("Get returned %x, want %x", got, key)
	}
	// A key registered in Transparent Symmetric Key format comes back in
	// it when no format is asked for (BL-M-3-21).
	tid, err := registerKey(t, c, kmip.KeyFormatTypeTransparentSymmetricKey, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	it, err := do(t, c, kmip.OperationGet, byID(tid))
	if err != nil {
		t.Fatal(err)
	}
	if kf, ok := findPath(it.Payload, ttlv.TagSymmetricKey, ttlv.TagKeyBlock, ttlv.TagKeyFormatType); !ok ||
		kmip.KeyFormatType(kf.Uint32()) != kmip.KeyFormatTypeTransparentSymmetricKey {
		t.Fatalf("default Get format: %s", ttlv.Format(it.Payload))
	}
	it, err = do(t, c, kmip.OperationGet, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeTransparentSymmetricKey))
	})
	if err != nil {
		t.Fatal(err)
	}
	km, ok := findPath(it.Payload, ttlv.TagSymmetricKey, ttlv.TagKeyBlock, ttlv.TagKeyValue, ttlv.TagKeyMaterial, ttlv.TagKey)
	if !ok || !bytes.Equal(km.Data, key) {
		t.Fatalf("transparent Get: %s", ttlv.Format(it.Payload))
	}
	_, err = do(t, c, kmip.OperationGet, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypePKCS_8))
	})
	wantReason(t, err, kmip.ResultReasonKeyFormatTypeNotSupported)
	// Opaque objects keep their bytes and type.
	it, err = do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeOpaqueObject))
		b.Begin(ttlv.TagAttributes)
		b.End()
		b.Begin(ttlv.TagOpaqueObject)
		b.AddEnum(ttlv.TagOpaqueDataType, 0x80000001)
		b.AddBytes(ttlv.TagOpaqueDataValue, []byte("opaque blob"))
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	var oid []byte
	p := it.Payload
	p.ReadText(ttlv.TagUniqueIdentifier, &oid)
	it, err = do(t, c, kmip.OperationGet, byID(string(oid)))
	if err != nil {
		t.Fatal(err)
	}
	v, ok := findPath(it.Payload, ttlv.TagOpaqueObject, ttlv.TagOpaqueDataValue)
	if !ok || string(v.Data) != "opaque blob" {
		t.Fatalf("opaque Get: %s", ttlv.Format(it.Payload))
	}
}

// findPath follows a chain of tags from a payload.
func findPath(v ttlv.Value, tags ...ttlv.Tag) (ttlv.Item, bool) {
	var it ttlv.Item
	for i, tag := range tags {
		var ok bool
		if it, ok = v.Find(tag); !ok {
			return it, false
		}
		if i < len(tags)-1 {
			v = it.Children()
		}
	}
	return it, true
}

func TestService_SensitiveAndExtractable(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		c := e.srv.Dial(t, "alice", ver)
		mk := func(tag ttlv.Tag, v bool) string {
			t.Helper()
			_, it, err := c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
				b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
				symAttrs(ver, kmip.CryptographicAlgorithmAES, 128, "", func(b *ttlv.Builder) {
					if ver.V2() {
						b.AddBool(tag, v)
						return
					}
					name, _ := ttlv.TagSpecName(tag)
					attr1(b, name, func() { b.AddBool(ttlv.TagAttributeValue, v) })
				})(b)
			})
			if err != nil {
				t.Fatal(err)
			}
			p := it.Payload
			p.Skip()
			var id []byte
			p.ReadText(ttlv.TagUniqueIdentifier, &id)
			return string(id)
		}
		sens := mk(ttlv.TagSensitive, true)
		_, err := do(t, c, kmip.OperationGet, byID(sens))
		wantReason(t, err, kmip.ResultReasonSensitive)
		if !attrsOf(t, c, sens)[ttlv.TagAlwaysSensitive].Bool() {
			t.Errorf("%s: Always Sensitive not set", ver)
		}
		noex := mk(ttlv.TagExtractable, false)
		_, err = do(t, c, kmip.OperationGet, byID(noex))
		wantReason(t, err, kmip.ResultReasonNotExtractable)
		a := attrsOf(t, c, noex)
		if !a[ttlv.TagNeverExtractable].Bool() || a[ttlv.TagExtractable].Bool() {
			t.Errorf("%s: Never Extractable/Extractable wrong", ver)
		}
	}
}

func TestService_RevokeCompromiseAndDestroyedLocate(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	id := create(t, c, "compromised")
	if _, err := do(t, c, kmip.OperationActivate, byID(id)); err != nil {
		t.Fatal(err)
	}
	if _, err := do(t, c, kmip.OperationRevoke, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.Begin(ttlv.TagRevocationReason)
		b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeKeyCompromise))
		b.AddText(ttlv.TagRevocationMessage, "laptop stolen")
		b.End()
		b.AddDateTime(ttlv.TagCompromiseOccurrenceDate, 1_700_000_000)
	}); err != nil {
		t.Fatal(err)
	}
	a := attrsOf(t, c, id)
	if kmip.State(a[ttlv.TagState].Uint32()) != kmip.StateCompromised {
		t.Fatalf("state %d", a[ttlv.TagState].Uint32())
	}
	if a[ttlv.TagCompromiseOccurrenceDate].Int64() != 1_700_000_000 {
		t.Error("compromise occurrence date not kept")
	}
	if _, ok := a[ttlv.TagCompromiseDate]; !ok {
		t.Error("no compromise date")
	}
	if _, err := do(t, c, kmip.OperationDestroy, byID(id)); err != nil {
		t.Fatal(err)
	}
	if st := kmip.State(attrsOf(t, c, id)[ttlv.TagState].Uint32()); st != kmip.StateDestroyedCompromised {
		t.Fatalf("after destroy: %s", st)
	}
	count := func(mask uint32) int {
		it, err := do(t, c, kmip.OperationLocate, func(b *ttlv.Builder) {
			if mask != 0 {
				b.AddInt32(ttlv.TagStorageStatusMask, int32(mask))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		p := it.Payload
		for !p.Empty() {
			x, _ := p.Next()
			if x.Tag == ttlv.TagUniqueIdentifier {
				n++
			}
		}
		return n
	}
	if n := count(0); n != 0 {
		t.Errorf("destroyed object located without the Destroyed storage bit: %d", n)
	}
	if n := count(uint32(kmip.StorageStatusMaskDestroyedStorage)); n != 1 {
		t.Errorf("Destroyed storage bit located %d", n)
	}
}

func TestService_LocateByGroupVendorAndDates(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	mk := func(group, tenant string) string {
		_, it, err := c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 256, "", func(b *ttlv.Builder) {
				b.AddText(ttlv.TagObjectGroup, group)
				b.Begin(ttlv.TagAttribute)
				b.AddText(ttlv.TagVendorIdentification, "x")
				b.AddText(ttlv.TagAttributeName, "tenant")
				b.AddText(ttlv.TagAttributeValue, tenant)
				b.End()
			})(b)
		})
		if err != nil {
			t.Fatal(err)
		}
		p := it.Payload
		p.Skip()
		var id []byte
		p.ReadText(ttlv.TagUniqueIdentifier, &id)
		return string(id)
	}
	a := mk("db", "acme")
	b1 := mk("db", "globex")
	mk("web", "acme")
	located := func(attrs func(b *ttlv.Builder)) []string {
		t.Helper()
		it, err := do(t, c, kmip.OperationLocate, func(b *ttlv.Builder) {
			b.Begin(ttlv.TagAttributes)
			attrs(b)
			b.End()
		})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		p := it.Payload
		for !p.Empty() {
			x, _ := p.Next()
			if x.Tag == ttlv.TagUniqueIdentifier {
				out = append(out, string(x.Data))
			}
		}
		return out
	}
	vendor := func(b *ttlv.Builder, tenant string) {
		b.Begin(ttlv.TagAttribute)
		b.AddText(ttlv.TagVendorIdentification, "x")
		b.AddText(ttlv.TagAttributeName, "tenant")
		b.AddText(ttlv.TagAttributeValue, tenant)
		b.End()
	}
	if got := located(func(b *ttlv.Builder) { b.AddText(ttlv.TagObjectGroup, "db"); vendor(b, "acme") }); len(got) != 1 || got[0] != a {
		t.Errorf("group db + tenant acme: %v, want [%s]", got, a)
	}
	if got := located(func(b *ttlv.Builder) { vendor(b, "globex") }); len(got) != 1 || got[0] != b1 {
		t.Errorf("tenant globex: %v", got)
	}
	if got := located(func(b *ttlv.Builder) { b.AddText(ttlv.TagObjectGroup, "db") }); len(got) != 2 {
		t.Errorf("group db: %v", got)
	}
	now := time.Now().Unix()
	if got := located(func(b *ttlv.Builder) {
		b.AddDateTime(ttlv.TagInitialDate, now-60)
		b.AddDateTime(ttlv.TagInitialDate, now+60)
	}); len(got) != 3 {
		t.Errorf("initial date range around now: %v", got)
	}
	if got := located(func(b *ttlv.Builder) {
		b.AddDateTime(ttlv.TagInitialDate, now-7200)
		b.AddDateTime(ttlv.TagInitialDate, now-3600)
	}); len(got) != 0 {
		t.Errorf("initial date range in the past: %v", got)
	}
	if got := located(func(b *ttlv.Builder) { b.AddInt32(ttlv.TagCryptographicLength, 128) }); len(got) != 0 {
		t.Errorf("length 128: %v", got)
	}
}

func TestService_QueryAndDiscoverVersions(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_2, kmip.V2_0} {
		c := e.srv.Dial(t, "alice", ver)
		it, err := do(t, c, kmip.OperationQuery, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryOperations))
			b.AddEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryObjects))
			b.AddEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryServerInformation))
		})
		if err != nil {
			t.Fatal(err)
		}
		ops := map[kmip.Operation]bool{}
		objs := 0
		p := it.Payload
		for !p.Empty() {
			x, _ := p.Next()
			switch x.Tag {
			case ttlv.TagOperation:
				ops[kmip.Operation(x.Uint32())] = true
			case ttlv.TagObjectType:
				objs++
			}
		}
		for _, op := range []kmip.Operation{kmip.OperationCreate, kmip.OperationGet, kmip.OperationLocate, kmip.OperationDestroy} {
			if !ops[op] {
				t.Errorf("%s: Query lacks %s", ver, op)
			}
		}
		if ops[kmip.OperationInterop] != ver.V2() {
			t.Errorf("%s: Interop listed=%v", ver, ops[kmip.OperationInterop])
		}
		// Symmetric Key, Secret Data, Opaque Object, Certificate, Public
		// Key, Private Key, Split Key, PGP Key.
		if objs != 8 {
			t.Errorf("%s: %d object types, want 8", ver, objs)
		}
		if _, ok := it.Payload.Find(ttlv.TagVendorIdentification); !ok {
			t.Errorf("%s: no Vendor Identification", ver)
		}
	}
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	dv := func(asked ...kmip.Version) []kmip.Version {
		it, err := do(t, c, kmip.OperationDiscoverVersions, func(b *ttlv.Builder) {
			for _, v := range asked {
				b.Begin(ttlv.TagProtocolVersion)
				b.AddInt32(ttlv.TagProtocolVersionMajor, v.Major)
				b.AddInt32(ttlv.TagProtocolVersionMinor, v.Minor)
				b.End()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		var out []kmip.Version
		p := it.Payload
		for !p.Empty() {
			var pv ttlv.Value
			var v kmip.Version
			p.ReadStructure(ttlv.TagProtocolVersion, &pv)
			pv.ReadInt32(ttlv.TagProtocolVersionMajor, &v.Major)
			pv.ReadInt32(ttlv.TagProtocolVersionMinor, &v.Minor)
			out = append(out, v)
		}
		return out
	}
	if got := dv(); len(got) != 7 || got[0] != kmip.V2_1 || got[6] != kmip.V1_0 {
		t.Errorf("all versions: %v", got)
	}
	if got := dv(kmip.Version{Major: 3}, kmip.V2_0, kmip.V1_2); len(got) != 2 || got[0] != kmip.V2_0 || got[1] != kmip.V1_2 {
		t.Errorf("intersection: %v", got)
	}
	if got := dv(kmip.Version{Major: 3}); len(got) != 0 {
		t.Errorf("no intersection: %v", got)
	}
}

func TestService_CreateErrorsAndPlaceholder(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	_, _, err := c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 100, "", nil)(b)
	})
	wantReason(t, err, kmip.ResultReasonInvalidField)
	_, _, err = c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 128, "", func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagState, uint32(kmip.StateActive))
		})(b)
	})
	wantReason(t, err, kmip.ResultReasonAttributeReadOnly)
	_, _, err = c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypePrivateKey))
		b.Begin(ttlv.TagAttributes)
		b.End()
	})
	wantReason(t, err, kmip.ResultReasonInvalidObjectType)
	qs := func(bits int32) error {
		_, _, err := c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, bits, "", func(b *ttlv.Builder) {
				b.AddBool(ttlv.TagQuantumSafe, true)
			})(b)
		})
		return err
	}
	wantReason(t, qs(128), kmip.ResultReasonGeneralFailure) // QS-M-2-21
	if err := qs(256); err != nil {
		t.Fatalf("quantum-safe AES-256: %v", err)
	}
	_, err = do(t, c, kmip.OperationGet, byID("does-not-exist"))
	wantReason(t, err, kmip.ResultReasonObjectNotFound)
	c12 := e.srv.Dial(t, "alice", kmip.V1_2)
	_, err = do(t, c12, kmip.OperationGet, byID("does-not-exist"))
	wantReason(t, err, kmip.ResultReasonItemNotFound)

	// Create, Activate and Get in one batch, linked by the ID Placeholder.
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 3, nil)
	w.Item(kmip.OperationCreate, []byte{1}, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 128, "", nil)(b)
	})
	w.Item(kmip.OperationActivate, []byte{2}, nil)
	w.Item(kmip.OperationGet, []byte{3}, nil)
	msg, _ := w.Finish()
	out, err := c.RoundTrip(msg)
	if err != nil {
		t.Fatal(err)
	}
	var r kmip.Response
	if err := r.Parse(out, kmip.Limits{}); err != nil {
		t.Fatal(err)
	}
	for i, it := range r.Items {
		if it.Status != kmip.ResultStatusSuccess {
			t.Fatalf("item %d: %s %s", i, it.Reason, it.Message)
		}
	}
}

func TestService_InteropReset(t *testing.T) {
	e := newEnv(t)
	alice := e.srv.Dial(t, "alice", kmip.V2_0)
	admin := e.srv.Dial(t, "admin", kmip.V2_0)
	id := create(t, alice, "to-be-reset")
	if _, err := do(t, alice, kmip.OperationGet, byID(id)); err != nil { // now cached
		t.Fatal(err)
	}
	reset := func(b *ttlv.Builder) { b.AddEnum(ttlv.TagInteropFunction, uint32(kmip.InteropFunctionReset)) }
	_, err := do(t, alice, kmip.OperationInterop, reset)
	wantReason(t, err, kmip.ResultReasonPermissionDenied)
	if _, err := do(t, admin, kmip.OperationInterop, reset); err != nil {
		t.Fatal(err)
	}
	_, err = do(t, alice, kmip.OperationGet, byID(id))
	wantReason(t, err, kmip.ResultReasonObjectNotFound)
}

// A key registered without its Key Value (kept elsewhere, named by Key
// Value Location) is metadata only: Get returns the bare Key Block and Key
// Value Present is false (TC-MDO-1-20).
func TestService_RegisterMetadataOnly(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		b.Begin(ttlv.TagKeyValueLocation)
		b.AddText(ttlv.TagKeyValueLocationValue, "HSM-13345")
		b.AddEnum(ttlv.TagKeyValueLocationType, uint32(kmip.KeyValueLocationTypeUninterpretedTextString))
		b.End()
		b.End()
		b.Begin(ttlv.TagSymmetricKey)
		b.Begin(ttlv.TagKeyBlock)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeRaw))
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
		b.AddInt32(ttlv.TagCryptographicLength, 128)
		b.End()
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	var id []byte
	p := it.Payload
	p.ReadText(ttlv.TagUniqueIdentifier, &id)
	it, err = do(t, c, kmip.OperationGet, byID(string(id)))
	if err != nil {
		t.Fatal(err)
	}
	kb, ok := findPath(it.Payload, ttlv.TagSymmetricKey, ttlv.TagKeyBlock)
	if !ok {
		t.Fatalf("Get: %s", ttlv.Format(it.Payload))
	}
	if _, has := kb.Children().Find(ttlv.TagKeyValue); has {
		t.Fatal("a metadata-only key came back with a Key Value")
	}
	if l, ok := kb.Children().Find(ttlv.TagCryptographicLength); !ok || l.Int32() != 128 {
		t.Fatalf("Key Block: %s", ttlv.Format(it.Payload))
	}
	if kvp, ok := attrsOf(t, c, string(id))[ttlv.TagKeyValuePresent]; !ok || kvp.Bool() {
		t.Fatal("Key Value Present is not false")
	}
}
