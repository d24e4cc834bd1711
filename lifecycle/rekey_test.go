package lifecycle_test

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// rkLink is one Link attribute.
type rkLink struct {
	typ kmip.LinkType
	id  string
}

// rkLinks returns the Link attributes of an object, in order (2.x).
func rkLinks(t *testing.T, c *kmip.Client, id string) []rkLink {
	t.Helper()
	var out []rkLink
	for _, it := range aoGet2(t, c, id, aoRef(ttlv.TagLink)) {
		ch := it.Children()
		var typ uint32
		var lid []byte
		if !ch.ReadEnum(ttlv.TagLinkType, &typ) || !ch.ReadText(ttlv.TagLinkedObjectIdentifier, &lid) {
			t.Fatalf("malformed Link %s", ttlv.Format(it.Raw))
		}
		out = append(out, rkLink{kmip.LinkType(typ), string(lid)})
	}
	return out
}

func rkWantLinks(t *testing.T, c *kmip.Client, id string, want ...rkLink) {
	t.Helper()
	got := rkLinks(t, c, id)
	if len(got) != len(want) {
		t.Fatalf("links of %s: %v, want %v", id, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("links of %s: %v, want %v", id, got, want)
		}
	}
}

// rkNameAttrs writes the request Attributes (2.x) or Template-Attribute
// (1.x) holding one Name.
func rkNameAttrs(ver kmip.Version, name string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		if ver.V2() {
			b.Begin(ttlv.TagAttributes)
			aoName(name)(b)
			b.End()
			return
		}
		b.Begin(ttlv.TagTemplateAttribute)
		aoV1("Name", -1, aoV1NameValue(name))(b)
		b.End()
	}
}

// rkReKey re-keys id and returns the replacement's identifier.
func rkReKey(t *testing.T, c *kmip.Client, id string, extra ...func(b *ttlv.Builder)) string {
	t.Helper()
	it, err := do(t, c, kmip.OperationReKey, aoPayload(append([]func(b *ttlv.Builder){byID(id)}, extra...)...))
	if err != nil {
		t.Fatalf("re-key: %v", err)
	}
	p := it.Payload
	var nid []byte
	if !p.ReadText(ttlv.TagUniqueIdentifier, &nid) || !p.Empty() {
		t.Fatalf("re-key response: %s", ttlv.Format(it.Payload))
	}
	if string(nid) == id || len(nid) == 0 {
		t.Fatalf("re-key returned %q for %q", nid, id)
	}
	return string(nid)
}

// TestReKey_Chain replays TC-REKEY-1-20 (and TC-REKEY-1-14): a key created
// active is re-keyed four times in one batch, each Re-key acting through
// the ID Placeholder on the previous replacement and adding a Name; each
// replacement carries all the Names so far and is Active.
func TestReKey_Chain(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0, kmip.V2_1} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			prefix := "TC-REKEY-1-" + ver.String()
			uid0 := aoCreate(t, c, prefix+"-original", func(b *ttlv.Builder) {
				if ver.V2() {
					b.AddDateTime(ttlv.TagActivationDate, time.Now().Unix()-3600)
				} else {
					attr1(b, "Activation Date", func() { b.AddDateTime(ttlv.TagAttributeValue, time.Now().Unix()-3600) })
				}
			})
			if st := aoState(t, c, uid0); st != kmip.StateActive {
				t.Fatalf("state %s", st)
			}
			steps := []string{"first-rekey", "second-rekey", "third-rekey", "fourth-rekey"}
			getNamesState := func(b *ttlv.Builder) {
				if ver.V2() {
					aoRef(ttlv.TagName)(b)
					aoRef(ttlv.TagState)(b)
				} else {
					b.AddText(ttlv.TagAttributeName, "Name")
					b.AddText(ttlv.TagAttributeName, "State")
				}
			}
			var items []aoItem
			for i, s := range steps {
				var payload []func(b *ttlv.Builder)
				if i == 0 {
					payload = append(payload, byID(uid0))
				}
				payload = append(payload, rkNameAttrs(ver, prefix+"-"+s))
				items = append(items, aoItem{kmip.OperationReKey, aoPayload(payload...)},
					aoItem{kmip.OperationGetAttributes, getNamesState})
			}
			order := true
			rs := aoBatch(t, c, &kmip.RequestOptions{BatchOrderOption: &order}, items...)
			ids := []string{uid0}
			want := []string{prefix + "-original"}
			for i, s := range steps {
				rk, ga := rs[2*i], rs[2*i+1]
				if rk.Status != kmip.ResultStatusSuccess || ga.Status != kmip.ResultStatusSuccess {
					t.Fatalf("step %d: %s/%s %s, %s/%s %s", i, rk.Status, rk.Reason, rk.Message, ga.Status, ga.Reason, ga.Message)
				}
				u, _ := rk.Payload.Find(ttlv.TagUniqueIdentifier)
				nid := string(u.Data)
				for _, old := range ids {
					if nid == old {
						t.Fatalf("step %d reused identifier %s", i, nid)
					}
				}
				ids = append(ids, nid)
				want = append(want, prefix+"-"+s)
				p := ga.Payload
				var gid []byte
				if !p.ReadText(ttlv.TagUniqueIdentifier, &gid) || string(gid) != nid {
					t.Fatalf("step %d: Get Attributes of %s, want the replacement %s", i, gid, nid)
				}
				var names []string
				var state kmip.State
				if ver.V2() {
					var as ttlv.Value
					p.ReadStructure(ttlv.TagAttributes, &as)
					var items []ttlv.Item
					for !as.Empty() {
						it, _ := as.Next()
						items = append(items, it)
					}
					names = aoNames(items)
					st, _ := aoFirst(items, ttlv.TagState)
					state = kmip.State(st.Uint32())
				} else {
					var as []aoV1Attr
					for !p.Empty() {
						as = append(as, aoReadV1(t, &p))
					}
					var idx []int32
					names, idx = aoV1Names(as)
					// Every instance carries its Attribute Index, 0 too.
					for j, x := range idx {
						if x != int32(j) {
							t.Fatalf("step %d: Attribute Index %v", i, idx)
						}
					}
					state = kmip.State(as[len(as)-1].Value.Uint32())
				}
				aoStrings(t, "names", names, want)
				if state != kmip.StateActive {
					t.Fatalf("step %d: state %s", i, state)
				}
			}
			if ver.V2() {
				// The existing keys gave up their names and point to their
				// replacements; each replacement points back.
				for i, id := range ids {
					if i < len(ids)-1 {
						if n := aoNames(aoGet2(t, c, id, aoRef(ttlv.TagName))); len(n) != 0 {
							t.Fatalf("%s kept names %q", id, n)
						}
					}
					var links []rkLink
					if i > 0 {
						links = append(links, rkLink{kmip.LinkTypeReplacedObjectLink, ids[i-1]})
					}
					if i < len(ids)-1 {
						links = append(links, rkLink{kmip.LinkTypeReplacementObjectLink, ids[i+1]})
					}
					rkWantLinks(t, c, id, links...)
				}
			}
			// Clean-up as in the vector: every key is Active and can be
			// revoked and destroyed.
			for _, id := range ids {
				if _, err := do(t, c, kmip.OperationRevoke, func(b *ttlv.Builder) {
					b.AddText(ttlv.TagUniqueIdentifier, id)
					b.Begin(ttlv.TagRevocationReason)
					b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeCessationOfOperation))
					b.End()
				}); err != nil {
					t.Fatalf("revoke %s: %v", id, err)
				}
				if _, err := do(t, c, kmip.OperationDestroy, byID(id)); err != nil {
					t.Fatalf("destroy %s: %v", id, err)
				}
			}
		})
	}
}

// TestReKey_CopiedAttributes checks KMIP 2.0 table 278 on a compromised
// key: what is copied, what is new, what is not set.
func TestReKey_CopiedAttributes(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	start := time.Now().Unix()
	act := start - 3600
	old := aoCreate(t, c, "rk-attrs", func(b *ttlv.Builder) {
		b.AddDateTime(ttlv.TagActivationDate, act)
		b.AddText(ttlv.TagDescription, "described")
		b.AddText(ttlv.TagObjectGroup, "group-a")
		b.AddText(ttlv.TagContactInformation, "ops")
		aoVendor("x", "ID", "id-1")(b)
		b.Begin(ttlv.TagUsageLimits)
		b.AddLong(ttlv.TagUsageLimitsTotal, 500)
		b.AddEnum(ttlv.TagUsageLimitsUnit, uint32(kmip.UsageLimitsUnitObject))
		b.End()
	})
	oldKey := getKey(t, c, old) // Fresh becomes false on the existing key
	if _, err := do(t, c, kmip.OperationRevoke, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, old)
		b.Begin(ttlv.TagRevocationReason)
		b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeKeyCompromise))
		b.End()
		b.AddDateTime(ttlv.TagCompromiseOccurrenceDate, 6)
	}); err != nil {
		t.Fatal(err)
	}
	nk := rkReKey(t, c, old)
	a := attrsOf(t, c, nk)
	all := aoGet2(t, c, nk)

	// Copied.
	if kmip.CryptographicAlgorithm(a[ttlv.TagCryptographicAlgorithm].Uint32()) != kmip.CryptographicAlgorithmAES ||
		a[ttlv.TagCryptographicLength].Int32() != 256 ||
		a[ttlv.TagCryptographicUsageMask].Int32() != int32(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt) {
		t.Fatal("cryptographic attributes not copied")
	}
	if string(a[ttlv.TagDescription].Data) != "described" || string(a[ttlv.TagObjectGroup].Data) != "group-a" ||
		string(a[ttlv.TagContactInformation].Data) != "ops" || a[ttlv.TagActivationDate].Int64() != act {
		t.Fatal("client attributes not copied")
	}
	if v := aoVendorValues(all, "x", "ID"); len(v) != 1 || string(v[0].Data) != "id-1" {
		t.Fatalf("x:ID %v", v)
	}
	aoStrings(t, "names", aoNames(all), []string{"rk-attrs"})
	if n := aoNames(aoGet2(t, c, old, aoRef(ttlv.TagName))); len(n) != 0 {
		t.Fatalf("existing key kept %q", n)
	}

	// New or recomputed.
	if init := a[ttlv.TagInitialDate].Int64(); init < start {
		t.Fatalf("Initial Date %d before the test started (%d)", init, start)
	}
	if a[ttlv.TagLastChangeDate].Int64() < start {
		t.Fatal("Last Change Date not set")
	}
	if !a[ttlv.TagFresh].Bool() {
		t.Fatal("replacement not Fresh")
	}
	suid := sha256.Sum256([]byte(nk))
	if !bytes.Equal(a[ttlv.TagShortUniqueIdentifier].Data, suid[:]) {
		t.Fatal("Short Unique Identifier not the replacement's")
	}
	newKey := getKey(t, c, nk)
	if len(newKey) != 32 || bytes.Equal(newKey, oldKey) {
		t.Fatal("replacement has no new 256-bit key material")
	}
	dv, _ := a[ttlv.TagDigest].Children().Find(ttlv.TagDigestValue)
	sum := sha256.Sum256(newKey)
	if !bytes.Equal(dv.Data, sum[:]) {
		t.Fatal("Digest not recomputed from the new material")
	}
	// State from the dates: the copied Activation Date has passed.
	if st := kmip.State(a[ttlv.TagState].Uint32()); st != kmip.StateActive {
		t.Fatalf("replacement state %s", st)
	}
	// Not set.
	for _, tag := range []ttlv.Tag{ttlv.TagCompromiseDate, ttlv.TagCompromiseOccurrenceDate, ttlv.TagRevocationReason, ttlv.TagDestroyDate} {
		if _, ok := a[tag]; ok {
			t.Errorf("%s copied to the replacement", tag)
		}
	}
	// Usage Limits: Total copied; Count = Total (the replacement starts
	// full; the existing key's Count is set to its Total).
	for _, id := range []string{nk, old} {
		ul := attrsOf(t, c, id)[ttlv.TagUsageLimits].Children()
		var total, count int64
		var unit uint32
		if !ul.ReadLong(ttlv.TagUsageLimitsTotal, &total) || !ul.ReadLong(ttlv.TagUsageLimitsCount, &count) ||
			!ul.ReadEnum(ttlv.TagUsageLimitsUnit, &unit) || total != 500 || count != 500 || kmip.UsageLimitsUnit(unit) != kmip.UsageLimitsUnitObject {
			t.Fatalf("Usage Limits of %s: %d/%d/%d", id, total, count, unit)
		}
	}
	// The existing key stays Compromised.
	if st := aoState(t, c, old); st != kmip.StateCompromised {
		t.Fatalf("existing key state %s", st)
	}
	rkWantLinks(t, c, nk, rkLink{kmip.LinkTypeReplacedObjectLink, old})
	rkWantLinks(t, c, old, rkLink{kmip.LinkTypeReplacementObjectLink, nk})
}

// TestReKey_Offset checks KMIP 2.0 table 277.
func TestReKey_Offset(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0, kmip.V2_1} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			at1 := time.Now().Unix() + 1000
			dates := map[ttlv.Tag]int64{
				ttlv.TagActivationDate:   at1,
				ttlv.TagProcessStartDate: at1 + 100,
				ttlv.TagProtectStopDate:  at1 + 5000,
				ttlv.TagDeactivationDate: at1 + 10000,
			}
			mk := func() string {
				return aoCreate(t, c, "", func(b *ttlv.Builder) {
					for _, tag := range []ttlv.Tag{ttlv.TagActivationDate, ttlv.TagProcessStartDate, ttlv.TagProtectStopDate, ttlv.TagDeactivationDate} {
						if ver.V2() {
							b.AddDateTime(tag, dates[tag])
						} else {
							name, _ := ttlv.TagSpecName(tag)
							attr1(b, name, func() { b.AddDateTime(ttlv.TagAttributeValue, dates[tag]) })
						}
					}
				})
			}
			offset := func(s uint32) func(b *ttlv.Builder) {
				return func(b *ttlv.Builder) { b.AddInterval(ttlv.TagOffset, s) }
			}
			// Without an Offset the dates are copied.
			a := attrsOf(t, c, rkReKey(t, c, mk()))
			for tag, want := range dates {
				if got := a[tag].Int64(); got != want {
					t.Errorf("no Offset: %s = %d, want %d", tag, got, want)
				}
			}
			if st := kmip.State(a[ttlv.TagState].Uint32()); st != kmip.StatePreActive {
				t.Errorf("no Offset: state %s", st)
			}
			// With one: AT2 = IT2 + Offset, the others keep their distance
			// to the Activation Date.
			a = attrsOf(t, c, rkReKey(t, c, mk(), offset(3600)))
			it2 := a[ttlv.TagInitialDate].Int64()
			at2 := it2 + 3600
			want := map[ttlv.Tag]int64{
				ttlv.TagActivationDate:   at2,
				ttlv.TagProcessStartDate: at2 + 100,
				ttlv.TagProtectStopDate:  at2 + 5000,
				ttlv.TagDeactivationDate: at2 + 10000,
			}
			for tag, w := range want {
				if got := a[tag].Int64(); got != w {
					t.Errorf("Offset 3600: %s = %d, want %d", tag, got, w)
				}
			}
			if st := kmip.State(a[ttlv.TagState].Uint32()); st != kmip.StatePreActive {
				t.Errorf("Offset 3600: state %s", st)
			}
			// Offset 0: active at once.
			a = attrsOf(t, c, rkReKey(t, c, mk(), offset(0)))
			if a[ttlv.TagActivationDate].Int64() != a[ttlv.TagInitialDate].Int64() ||
				kmip.State(a[ttlv.TagState].Uint32()) != kmip.StateActive {
				t.Errorf("Offset 0: activation %d initial %d state %d", a[ttlv.TagActivationDate].Int64(),
					a[ttlv.TagInitialDate].Int64(), a[ttlv.TagState].Uint32())
			}
		})
	}
}

// TestReKey_RequestAttributes: attributes in the request go onto the
// replacement.
func TestReKey_RequestAttributes(t *testing.T) {
	// Names unique per owner, so that another live key's name is refused.
	e := newEnvWith(t, namesPerOwner)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	attrs := func(f func(b *ttlv.Builder)) func(b *ttlv.Builder) {
		return func(b *ttlv.Builder) {
			b.Begin(ttlv.TagAttributes)
			f(b)
			b.End()
		}
	}
	old := aoCreate(t, c, "rk-req", nil)
	aoCreate(t, c, "rk-taken", nil)
	// A single-valued attribute replaces the copied value.
	nk := rkReKey(t, c, old, attrs(func(b *ttlv.Builder) {
		b.AddInt32(ttlv.TagCryptographicLength, 128)
		b.AddText(ttlv.TagComment, "rotated")
	}))
	a := attrsOf(t, c, nk)
	if a[ttlv.TagCryptographicLength].Int32() != 128 || string(a[ttlv.TagComment].Data) != "rotated" {
		t.Fatal("request attributes not applied")
	}
	if k := getKey(t, c, nk); len(k) != 16 {
		t.Fatalf("%d-byte key for Cryptographic Length 128", len(k))
	}
	// Refusals leave both keys as they were.
	for _, f := range []struct {
		attrs func(b *ttlv.Builder)
		r     kmip.ResultReason
	}{
		{func(b *ttlv.Builder) { b.AddEnum(ttlv.TagState, uint32(kmip.StateActive)) }, kmip.ResultReasonAttributeReadOnly},
		{aoName("rk-req"), kmip.ResultReasonNonUniqueNameAttribute},   // the name moves to the replacement anyway
		{aoName("rk-taken"), kmip.ResultReasonNonUniqueNameAttribute}, // another key's
		{func(b *ttlv.Builder) { b.AddInt32(ttlv.TagCryptographicLength, 100) }, kmip.ResultReasonInvalidField},
	} {
		aoFail(t, c, kmip.OperationReKey, aoPayload(byID(nk), attrs(f.attrs)), f.r)
	}
	aoStrings(t, "names", aoNames(aoGet2(t, c, nk, aoRef(ttlv.TagName))), []string{"rk-req"})
	rkWantLinks(t, c, nk, rkLink{kmip.LinkTypeReplacedObjectLink, old})
}

func TestReKey_Errors(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_2, kmip.V1_4, kmip.V2_0, kmip.V2_1} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			notFoundR, destroyedR := kmip.ResultReasonObjectNotFound, kmip.ResultReasonObjectDestroyed
			if !ver.V2() {
				// 1.x: a destroyed object is Item Not Found (kmip.ReasonFor).
				notFoundR, destroyedR = kmip.ResultReasonItemNotFound, kmip.ResultReasonItemNotFound
			}
			aoFail(t, c, kmip.OperationReKey, byID("AAABBBCCC"), notFoundR)
			id := aoCreate(t, c, "", nil)
			if _, err := do(t, c, kmip.OperationDestroy, byID(id)); err != nil {
				t.Fatal(err)
			}
			aoFail(t, c, kmip.OperationReKey, byID(id), destroyedR)
			// No identifier and no ID Placeholder.
			aoFail(t, c, kmip.OperationReKey, nil, kmip.ResultReasonInvalidField)
		})
	}
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeOpaqueObject))
		b.Begin(ttlv.TagAttributes)
		b.End()
		b.Begin(ttlv.TagOpaqueObject)
		b.AddEnum(ttlv.TagOpaqueDataType, 0x80000001)
		b.AddBytes(ttlv.TagOpaqueDataValue, []byte("opaque"))
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := it.Payload.Find(ttlv.TagUniqueIdentifier)
	aoFail(t, c, kmip.OperationReKey, byID(string(u.Data)), kmip.ResultReasonInvalidObjectType)
}
