package lifecycle_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Helpers for the attribute-operation tests. Expected values are written
// out from the KMIP specifications and the OASIS vectors the tests cite,
// not derived from the server's code.

var v2s = []kmip.Version{kmip.V2_0, kmip.V2_1}
var v1s = []kmip.Version{kmip.V1_2, kmip.V1_4}

// aoNew wraps an attribute in New Attribute (KMIP 2.0 §5.7).
func aoNew(f func(b *ttlv.Builder)) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagNewAttribute)
		f(b)
		b.End()
	}
}

// aoCur wraps an attribute in Current Attribute (KMIP 2.0 §5.6).
func aoCur(f func(b *ttlv.Builder)) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagCurrentAttribute)
		f(b)
		b.End()
	}
}

// aoName writes a 2.x Name attribute.
func aoName(v string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagName)
		b.AddText(ttlv.TagNameValue, v)
		b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
		b.End()
	}
}

// aoVendor writes a 2.x Vendor Attribute with a Text String value.
func aoVendor(vid, name, val string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttribute)
		b.AddText(ttlv.TagVendorIdentification, vid)
		b.AddText(ttlv.TagAttributeName, name)
		b.AddText(ttlv.TagAttributeValue, val)
		b.End()
	}
}

// aoVendorInt writes a 2.x Vendor Attribute with an Integer value.
func aoVendorInt(vid, name string, val int32) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttribute)
		b.AddText(ttlv.TagVendorIdentification, vid)
		b.AddText(ttlv.TagAttributeName, name)
		b.AddInt32(ttlv.TagAttributeValue, val)
		b.End()
	}
}

// aoPayload concatenates payload writers.
func aoPayload(fs ...func(b *ttlv.Builder)) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		for _, f := range fs {
			f(b)
		}
	}
}

// aoV1 writes a 1.x Attribute{Attribute Name, Attribute Index?, Attribute
// Value}; idx < 0 leaves the index out.
func aoV1(name string, idx int32, val func(b *ttlv.Builder)) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttribute)
		b.AddText(ttlv.TagAttributeName, name)
		if idx >= 0 {
			b.AddInt32(ttlv.TagAttributeIndex, idx)
		}
		if val != nil {
			val(b)
		}
		b.End()
	}
}

func aoText(tag ttlv.Tag, s string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) { b.AddText(tag, s) }
}

func aoV1NameValue(v string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributeValue)
		b.AddText(ttlv.TagNameValue, v)
		b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
		b.End()
	}
}

// aoCreate creates an AES-256 key (Encrypt|Decrypt) named name (if not
// empty) with extra attributes, in the form of c's version.
func aoCreate(t *testing.T, c *kmip.Client, name string, extra func(b *ttlv.Builder)) string {
	t.Helper()
	it, err := do(t, c, kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(c.Version, kmip.CryptographicAlgorithmAES, 256, name, extra)(b)
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	u, ok := it.Payload.Find(ttlv.TagUniqueIdentifier)
	if !ok {
		t.Fatal("create: no Unique Identifier")
	}
	return string(u.Data)
}

// aoOK runs op, which must succeed, and checks that a 2.x response payload
// is exactly the Unique Identifier id (KMIP 2.0 tables 153, 156, 188, 248
// and the Set Attribute response); it returns the payload after it.
func aoOK(t *testing.T, c *kmip.Client, op kmip.Operation, id string, payload func(b *ttlv.Builder)) ttlv.Value {
	t.Helper()
	it, err := do(t, c, op, payload)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	p := it.Payload
	var uid []byte
	if !p.ReadText(ttlv.TagUniqueIdentifier, &uid) || string(uid) != id {
		t.Fatalf("%s response: %s", op, ttlv.Format(it.Payload))
	}
	if c.Version.V2() && !p.Empty() {
		t.Fatalf("%s response has more than the Unique Identifier: %s", op, ttlv.Format(it.Payload))
	}
	return p
}

// aoFail runs op and checks it fails with reason r.
func aoFail(t *testing.T, c *kmip.Client, op kmip.Operation, payload func(b *ttlv.Builder), r kmip.ResultReason) {
	t.Helper()
	_, err := do(t, c, op, payload)
	wantReason(t, err, r)
}

// aoRef writes an Attribute Reference to a standard attribute.
func aoRef(tag ttlv.Tag) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) { b.AddEnum(ttlv.TagAttributeReference, uint32(tag)) }
}

// aoRefVendor writes an Attribute Reference to a vendor attribute.
func aoRefVendor(vid, name string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributeReference)
		b.AddText(ttlv.TagVendorIdentification, vid)
		b.AddText(ttlv.TagAttributeName, name)
		b.End()
	}
}

// aoGet2 returns the items of a 2.x Get Attributes response for refs, in
// order.
func aoGet2(t *testing.T, c *kmip.Client, id string, refs ...func(b *ttlv.Builder)) []ttlv.Item {
	t.Helper()
	it, err := do(t, c, kmip.OperationGetAttributes, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		for _, r := range refs {
			r(b)
		}
	})
	if err != nil {
		t.Fatalf("get attributes: %v", err)
	}
	p := it.Payload
	var uid []byte
	var as ttlv.Value
	if !p.ReadText(ttlv.TagUniqueIdentifier, &uid) || !p.ReadStructure(ttlv.TagAttributes, &as) {
		t.Fatalf("get attributes response: %s", ttlv.Format(it.Payload))
	}
	var out []ttlv.Item
	for !as.Empty() {
		a, _ := as.Next()
		out = append(out, a)
	}
	return out
}

// aoNames returns the Name Values of the Name items among items.
func aoNames(items []ttlv.Item) []string {
	var out []string
	for _, it := range items {
		if it.Tag != ttlv.TagName {
			continue
		}
		v, _ := it.Children().Find(ttlv.TagNameValue)
		out = append(out, string(v.Data))
	}
	return out
}

// aoVendorValues returns the Attribute Values of vendor attribute vid:name
// among items.
func aoVendorValues(items []ttlv.Item, vid, name string) []ttlv.Item {
	var out []ttlv.Item
	for _, it := range items {
		if it.Tag != ttlv.TagAttribute {
			continue
		}
		c := it.Children()
		var v, n []byte
		if c.ReadText(ttlv.TagVendorIdentification, &v) && c.ReadText(ttlv.TagAttributeName, &n) &&
			string(v) == vid && string(n) == name {
			val, _ := c.Next()
			out = append(out, val)
		}
	}
	return out
}

// aoFirst returns the first item tagged tag.
func aoFirst(items []ttlv.Item, tag ttlv.Tag) (ttlv.Item, bool) {
	for _, it := range items {
		if it.Tag == tag {
			return it, true
		}
	}
	return ttlv.Item{}, false
}

// aoStrings compares string slices.
func aoStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %q, want %q", what, got, want)
		}
	}
}

// aoV1Attr is one attribute of a 1.x response.
type aoV1Attr struct {
	Name  string
	Index int32 // -1 when absent
	Value ttlv.Item
}

func aoReadV1(t *testing.T, p *ttlv.Value) aoV1Attr {
	t.Helper()
	var a ttlv.Value
	if !p.ReadStructure(ttlv.TagAttribute, &a) {
		t.Fatalf("expected an Attribute, have %s", ttlv.Format(*p))
	}
	var out aoV1Attr
	var name []byte
	if !a.ReadText(ttlv.TagAttributeName, &name) {
		t.Fatal("Attribute without Attribute Name")
	}
	out.Name, out.Index = string(name), -1
	if a.PeekTag() == ttlv.TagAttributeIndex {
		a.ReadInt32(ttlv.TagAttributeIndex, &out.Index)
	}
	out.Value, _ = a.Next()
	return out
}

// aoGet1 returns the attributes of a 1.x Get Attributes response for the
// given names.
func aoGet1(t *testing.T, c *kmip.Client, id string, names ...string) []aoV1Attr {
	t.Helper()
	it, err := do(t, c, kmip.OperationGetAttributes, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		for _, n := range names {
			b.AddText(ttlv.TagAttributeName, n)
		}
	})
	if err != nil {
		t.Fatalf("get attributes: %v", err)
	}
	p := it.Payload
	p.Skip()
	var out []aoV1Attr
	for !p.Empty() {
		out = append(out, aoReadV1(t, &p))
	}
	return out
}

// aoV1Names returns the Name Values, with their indexes, of a 1.x list.
func aoV1Names(as []aoV1Attr) (names []string, idx []int32) {
	for _, a := range as {
		if a.Name != "Name" {
			continue
		}
		v, _ := a.Value.Children().Find(ttlv.TagNameValue)
		names = append(names, string(v.Data))
		idx = append(idx, a.Index)
	}
	return
}

func aoState(t *testing.T, c *kmip.Client, id string) kmip.State {
	t.Helper()
	return kmip.State(attrsOf(t, c, id)[ttlv.TagState].Uint32())
}

// aoBatch sends one request of several items and returns the response
// items.
func aoBatch(t *testing.T, c *kmip.Client, opts *kmip.RequestOptions, items ...aoItem) []kmip.ResponseItem {
	t.Helper()
	var w kmip.RequestWriter
	w.Begin(nil, c.Version, len(items), opts)
	for i, it := range items {
		w.Item(it.op, []byte{byte(i + 1)}, it.payload)
	}
	msg, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.RoundTrip(msg)
	if err != nil {
		t.Fatal(err)
	}
	var r kmip.Response
	if err := r.Parse(append([]byte(nil), out...), kmip.Limits{}); err != nil {
		t.Fatal(err)
	}
	if len(r.Items) != len(items) {
		t.Fatalf("%d response items for %d requests", len(r.Items), len(items))
	}
	return r.Items
}

type aoItem struct {
	op      kmip.Operation
	payload func(b *ttlv.Builder)
}

func TestAttrOps_AddAttribute(t *testing.T) {
	e := newEnv(t)
	for _, ver := range v2s {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			bob := e.srv.Dial(t, "bob", ver)
			id := aoCreate(t, c, "add-"+ver.String(), nil)
			aoCreate(t, c, "add-other-"+ver.String(), nil)
			uid := byID(id)

			// BL-M-5-21: a single-valued attribute is added once.
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoNew(aoText(ttlv.TagDescription, "This is opaque"))))
			aoFail(t, c, kmip.OperationAddAttribute, aoPayload(uid, aoNew(aoText(ttlv.TagDescription, "This is opaque duplicate"))),
				kmip.ResultReasonAttributeSingleValued)
			d, ok := aoFirst(aoGet2(t, c, id, aoRef(ttlv.TagDescription)), ttlv.TagDescription)
			if !ok || string(d.Data) != "This is opaque" {
				t.Fatalf("Description %q", d.Data)
			}

			// Name is multi-valued; instances keep their order.
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoNew(aoName("second-"+ver.String()))))
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoNew(aoName("third-"+ver.String()))))
			aoStrings(t, "names", aoNames(aoGet2(t, c, id, aoRef(ttlv.TagName))),
				[]string{"add-" + ver.String(), "second-" + ver.String(), "third-" + ver.String()})
			// BL-M-8-21: a name the object already has is refused.
			aoFail(t, c, kmip.OperationAddAttribute, aoPayload(uid, aoNew(aoName("add-"+ver.String()))),
				kmip.ResultReasonNonUniqueNameAttribute)
			// Under the default policy (NamesPerObject) another of the
			// owner's objects may have the same name (NamesPerOwner refusing
			// it is TestNames_PerOwner's).
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoNew(aoName("add-other-"+ver.String()))))
			aoStrings(t, "names", aoNames(aoGet2(t, c, id, aoRef(ttlv.TagName))),
				[]string{"add-" + ver.String(), "second-" + ver.String(), "third-" + ver.String(), "add-other-" + ver.String()})
			// Another owner may use a name too.
			bobs := aoCreate(t, bob, "", nil)
			aoOK(t, bob, kmip.OperationAddAttribute, bobs, aoPayload(byID(bobs), aoNew(aoName("second-"+ver.String()))))

			// Read-only attributes (BL-M-7/10-21 for Modify; KMIP 2.0
			// §6.1.2 "Read-Only attributes SHALL NOT be added").
			for _, ro := range []func(b *ttlv.Builder){
				func(b *ttlv.Builder) { b.AddEnum(ttlv.TagState, uint32(kmip.StateActive)) },
				func(b *ttlv.Builder) { b.AddInt32(ttlv.TagCertificateLength, 123) },
				func(b *ttlv.Builder) { b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData)) },
				func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, "other") },
				func(b *ttlv.Builder) { b.AddDateTime(ttlv.TagInitialDate, 1) },
				func(b *ttlv.Builder) { b.AddInt32(ttlv.TagCryptographicUsageMask, 4) },
				aoVendor("y", "server-owned", "v"),
			} {
				aoFail(t, c, kmip.OperationAddAttribute, aoPayload(uid, aoNew(ro)), kmip.ResultReasonAttributeReadOnly)
			}

			// Vendor attributes may repeat (TC-SETATTR-3-20 adds a second).
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoNew(aoVendor("tc", "Set", "one"))))
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoNew(aoVendor("tc", "Set", "two"))))
			vals := aoVendorValues(aoGet2(t, c, id, aoRefVendor("tc", "Set")), "tc", "Set")
			if len(vals) != 2 || string(vals[0].Data) != "one" || string(vals[1].Data) != "two" {
				t.Fatalf("tc:Set values %v", vals)
			}

			// Unknown object; malformed requests.
			aoFail(t, c, kmip.OperationAddAttribute, aoPayload(byID("AAABBBCCC"), aoNew(aoText(ttlv.TagDescription, "x"))),
				kmip.ResultReasonObjectNotFound)
			aoFail(t, c, kmip.OperationAddAttribute, uid, kmip.ResultReasonInvalidMessage)
			aoFail(t, c, kmip.OperationAddAttribute, aoPayload(uid, aoNew(func(b *ttlv.Builder) {
				b.AddInt32(ttlv.TagDescription, 1)
			})), kmip.ResultReasonInvalidField)

			// Adding an Activation Date at or before now activates a
			// Pre-Active key (KMIP 2.0 §4.57 transition 4).
			act := aoCreate(t, c, "", nil)
			aoOK(t, c, kmip.OperationAddAttribute, act, aoPayload(byID(act), aoNew(func(b *ttlv.Builder) {
				b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Minute).Unix())
			})))
			if st := aoState(t, c, act); st != kmip.StateActive {
				t.Fatalf("state after adding a past Activation Date: %s", st)
			}

			// ID Placeholder: Create, then Add Attribute without a Unique
			// Identifier.
			rs := aoBatch(t, c, nil,
				aoItem{kmip.OperationCreate, func(b *ttlv.Builder) {
					b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
					symAttrs(ver, kmip.CryptographicAlgorithmAES, 128, "", nil)(b)
				}},
				aoItem{kmip.OperationAddAttribute, aoNew(aoText(ttlv.TagContactInformation, "ops@example.com"))})
			for i, r := range rs {
				if r.Status != kmip.ResultStatusSuccess {
					t.Fatalf("batch item %d: %s %s", i, r.Reason, r.Message)
				}
			}
			created, _ := rs[0].Payload.Find(ttlv.TagUniqueIdentifier)
			added, _ := rs[1].Payload.Find(ttlv.TagUniqueIdentifier)
			if string(created.Data) != string(added.Data) {
				t.Fatalf("Add Attribute acted on %s, not the created %s", added.Data, created.Data)
			}
		})
	}
}

func TestAttrOps_LastChangeDate(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	id := aoCreate(t, c, "lcd", nil)
	before := attrsOf(t, c, id)[ttlv.TagLastChangeDate].Int64()
	time.Sleep(1100 * time.Millisecond) // Date-Time has one-second resolution
	aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(byID(id), aoNew(aoText(ttlv.TagComment, "c"))))
	after := attrsOf(t, c, id)[ttlv.TagLastChangeDate].Int64()
	if after <= before {
		t.Fatalf("Last Change Date %d not after %d", after, before)
	}
	if init := attrsOf(t, c, id)[ttlv.TagInitialDate].Int64(); init != before {
		t.Fatalf("Initial Date changed: %d, was %d", init, before)
	}
}

func TestAttrOps_AddAttributeV1(t *testing.T) {
	e := newEnv(t)
	for _, ver := range v1s {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			id := aoCreate(t, c, "add1-"+ver.String(), nil)
			uid := byID(id)
			// SASED-M-1-14: the response echoes the attribute.
			p := aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoV1("x-attribute1", -1, aoText(ttlv.TagAttributeValue, "Value1"))))
			a := aoReadV1(t, &p)
			// The Attribute Index is sent even when it is 0 (objects.appendV1).
			if a.Name != "x-attribute1" || a.Index != 0 || string(a.Value.Data) != "Value1" || !p.Empty() {
				t.Fatalf("echo %+v", a)
			}
			// A second Name is instance 1.
			p = aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoV1("Name", -1, aoV1NameValue("second-"+ver.String()))))
			a = aoReadV1(t, &p)
			if v, _ := a.Value.Children().Find(ttlv.TagNameValue); a.Name != "Name" || a.Index != 1 || string(v.Data) != "second-"+ver.String() {
				t.Fatalf("echo %+v", a)
			}
			names, idx := aoV1Names(aoGet1(t, c, id, "Name"))
			aoStrings(t, "names", names, []string{"add1-" + ver.String(), "second-" + ver.String()})
			if idx[0] != 0 || idx[1] != 1 {
				t.Fatalf("indexes %v", idx)
			}
			// 1.x has no Attribute Single Valued, Attribute Read Only or
			// Non Unique Name Attribute: Invalid Field, Permission Denied
			// and Invalid Field.
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoV1("Contact Information", -1, aoText(ttlv.TagAttributeValue, "a"))))
			aoFail(t, c, kmip.OperationAddAttribute, aoPayload(uid, aoV1("Contact Information", -1, aoText(ttlv.TagAttributeValue, "b"))),
				kmip.ResultReasonInvalidField)
			aoFail(t, c, kmip.OperationAddAttribute, aoPayload(uid, aoV1("State", -1, func(b *ttlv.Builder) {
				b.AddEnum(ttlv.TagAttributeValue, uint32(kmip.StateActive))
			})), kmip.ResultReasonPermissionDenied)
			aoFail(t, c, kmip.OperationAddAttribute, aoPayload(uid, aoV1("Name", -1, aoV1NameValue("second-"+ver.String()))),
				kmip.ResultReasonInvalidField)
			aoFail(t, c, kmip.OperationAddAttribute, aoPayload(uid, aoV1("x-attribute2", 1, aoText(ttlv.TagAttributeValue, "v"))),
				kmip.ResultReasonInvalidField)
			aoFail(t, c, kmip.OperationAddAttribute, aoPayload(byID("AAABBBCCC"), aoV1("x-a", -1, aoText(ttlv.TagAttributeValue, "v"))),
				kmip.ResultReasonItemNotFound)
			// AX-M-1-14: Link.
			other := aoCreate(t, c, "", nil)
			p = aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoV1("Link", -1, func(b *ttlv.Builder) {
				b.Begin(ttlv.TagAttributeValue)
				b.AddEnum(ttlv.TagLinkType, uint32(kmip.LinkTypeNextLink))
				b.AddText(ttlv.TagLinkedObjectIdentifier, other)
				b.End()
			})))
			if a = aoReadV1(t, &p); a.Name != "Link" || a.Index != 0 {
				t.Fatalf("echo %+v", a)
			}
		})
	}
}

func TestAttrOps_SetAttribute(t *testing.T) {
	// Names unique per owner, so that Set Attribute's name conflict with
	// another object, and the freeing of a name by renaming, are tested.
	e := newEnvWith(t, namesPerOwner)
	for _, ver := range v2s {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			// TC-SETATTR-1-20: Sensitive set to true.
			id := aoCreate(t, c, "", nil)
			uid := byID(id)
			aoOK(t, c, kmip.OperationSetAttribute, id, aoPayload(uid, aoNew(func(b *ttlv.Builder) { b.AddBool(ttlv.TagSensitive, true) })))
			if s, _ := aoFirst(aoGet2(t, c, id, aoRef(ttlv.TagSensitive)), ttlv.TagSensitive); !s.Bool() {
				t.Fatal("Sensitive not set")
			}
			_, err := do(t, c, kmip.OperationGet, uid)
			wantReason(t, err, kmip.ResultReasonSensitive)
			// Sensitive has now not always been true... it was false at
			// creation, so Always Sensitive stays false; set it back to
			// false and Always Sensitive remains false.
			a := attrsOf(t, c, id)
			if a[ttlv.TagAlwaysSensitive].Bool() {
				t.Fatal("Always Sensitive true for a key created non-sensitive")
			}

			// A key created sensitive loses Always Sensitive when Sensitive
			// goes false (KMIP 2.0 §4.3).
			sens := aoCreate(t, c, "", func(b *ttlv.Builder) { b.AddBool(ttlv.TagSensitive, true) })
			if !attrsOf(t, c, sens)[ttlv.TagAlwaysSensitive].Bool() {
				t.Fatal("Always Sensitive not set at creation")
			}
			aoOK(t, c, kmip.OperationSetAttribute, sens, aoPayload(byID(sens), aoNew(func(b *ttlv.Builder) { b.AddBool(ttlv.TagSensitive, false) })))
			if attrsOf(t, c, sens)[ttlv.TagAlwaysSensitive].Bool() {
				t.Fatal("Always Sensitive still true after Sensitive went false")
			}
			// Never Extractable goes false once Extractable is true (§4.33).
			nx := aoCreate(t, c, "", func(b *ttlv.Builder) { b.AddBool(ttlv.TagExtractable, false) })
			if !attrsOf(t, c, nx)[ttlv.TagNeverExtractable].Bool() {
				t.Fatal("Never Extractable not set at creation")
			}
			aoOK(t, c, kmip.OperationSetAttribute, nx, aoPayload(byID(nx), aoNew(func(b *ttlv.Builder) { b.AddBool(ttlv.TagExtractable, true) })))
			if attrsOf(t, c, nx)[ttlv.TagNeverExtractable].Bool() {
				t.Fatal("Never Extractable still true after Extractable went true")
			}

			// TC-SETATTR-2-20: the second Set replaces the value.
			aoOK(t, c, kmip.OperationSetAttribute, id, aoPayload(uid, aoNew(aoVendor("tc", "Set", "one"))))
			aoOK(t, c, kmip.OperationSetAttribute, id, aoPayload(uid, aoNew(aoVendor("tc", "Set", "two"))))
			vals := aoVendorValues(aoGet2(t, c, id, aoRefVendor("tc", "Set")), "tc", "Set")
			if len(vals) != 1 || string(vals[0].Data) != "two" {
				t.Fatalf("tc:Set after two Sets: %v", vals)
			}
			// TC-SETATTR-3-20: with two instances Set fails.
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoNew(aoVendor("tc", "Set", "three"))))
			aoFail(t, c, kmip.OperationSetAttribute, aoPayload(uid, aoNew(aoVendor("tc", "Set", "four"))), kmip.ResultReasonMultiValuedAttribute)

			// Read-only, lifecycle, names.
			aoFail(t, c, kmip.OperationSetAttribute, aoPayload(uid, aoNew(func(b *ttlv.Builder) {
				b.AddEnum(ttlv.TagState, uint32(kmip.StateCompromised))
			})), kmip.ResultReasonAttributeReadOnly)
			named := aoCreate(t, c, "set-name-"+ver.String(), nil)
			aoFail(t, c, kmip.OperationSetAttribute, aoPayload(uid, aoNew(aoName("set-name-"+ver.String()))), kmip.ResultReasonNonUniqueNameAttribute)
			// One Name: Set renames.
			aoOK(t, c, kmip.OperationSetAttribute, named, aoPayload(byID(named), aoNew(aoName("renamed-"+ver.String()))))
			aoStrings(t, "names", aoNames(aoGet2(t, c, named, aoRef(ttlv.TagName))), []string{"renamed-" + ver.String()})
			// The old name is free again.
			aoCreate(t, c, "set-name-"+ver.String(), nil)

			// An Activation Date at or before now on a Pre-Active key makes
			// it Active; on an Active key it cannot change (2.1: Wrong Key
			// Lifecycle State).
			aoOK(t, c, kmip.OperationSetAttribute, id, aoPayload(uid, aoNew(func(b *ttlv.Builder) {
				b.AddDateTime(ttlv.TagActivationDate, time.Now().Unix())
			})))
			if st := aoState(t, c, id); st != kmip.StateActive {
				t.Fatalf("state %s", st)
			}
			aoFail(t, c, kmip.OperationSetAttribute, aoPayload(uid, aoNew(func(b *ttlv.Builder) {
				b.AddDateTime(ttlv.TagActivationDate, time.Now().Unix()+100)
			})), kmip.ResultReasonWrongKeyLifecycleState)
		})
	}
	// Set Attribute does not exist before KMIP 2.0.
	c := e.srv.Dial(t, "alice", kmip.V1_4)
	id := aoCreate(t, c, "", nil)
	aoFail(t, c, kmip.OperationSetAttribute, byID(id), kmip.ResultReasonOperationNotSupported)
	aoFail(t, c, kmip.OperationAdjustAttribute, byID(id), kmip.ResultReasonOperationNotSupported)
}

func TestAttrOps_ModifyAttribute(t *testing.T) {
	e := newEnv(t)
	for _, ver := range v2s {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			id := aoCreate(t, c, "mod-"+ver.String(), nil)
			uid := byID(id)

			// BL-M-7-21: State is read-only.
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(uid, aoNew(func(b *ttlv.Builder) {
				b.AddEnum(ttlv.TagState, uint32(kmip.StateCompromised))
			})), kmip.ResultReasonAttributeReadOnly)
			// Nothing to modify.
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(uid, aoNew(aoText(ttlv.TagDescription, "d"))),
				kmip.ResultReasonAttributeNotFound)

			// Activation Date while Pre-Active: allowed; at or before now
			// it activates the key.
			future := time.Now().Add(time.Hour).Unix()
			pre := aoCreate(t, c, "", func(b *ttlv.Builder) { b.AddDateTime(ttlv.TagActivationDate, future) })
			past := time.Now().Add(-10 * time.Second).Unix()
			aoOK(t, c, kmip.OperationModifyAttribute, pre, aoPayload(byID(pre), aoNew(func(b *ttlv.Builder) {
				b.AddDateTime(ttlv.TagActivationDate, past)
			})))
			a := attrsOf(t, c, pre)
			if kmip.State(a[ttlv.TagState].Uint32()) != kmip.StateActive || a[ttlv.TagActivationDate].Int64() != past {
				t.Fatalf("after modifying Activation Date: state %d date %d", a[ttlv.TagState].Uint32(), a[ttlv.TagActivationDate].Int64())
			}
			// SKLC-M-3-21: not once Active.
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(byID(pre), aoNew(func(b *ttlv.Builder) {
				b.AddDateTime(ttlv.TagActivationDate, time.Now().Unix())
			})), kmip.ResultReasonWrongKeyLifecycleState)
			// A Deactivation Date at or before now deactivates the Active
			// key (transition 6); then it cannot change.
			aoOK(t, c, kmip.OperationAddAttribute, pre, aoPayload(byID(pre), aoNew(func(b *ttlv.Builder) {
				b.AddDateTime(ttlv.TagDeactivationDate, future)
			})))
			aoOK(t, c, kmip.OperationModifyAttribute, pre, aoPayload(byID(pre), aoNew(func(b *ttlv.Builder) {
				b.AddDateTime(ttlv.TagDeactivationDate, time.Now().Unix())
			})))
			if st := aoState(t, c, pre); st != kmip.StateDeactivated {
				t.Fatalf("state after a past Deactivation Date: %s", st)
			}
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(byID(pre), aoNew(func(b *ttlv.Builder) {
				b.AddDateTime(ttlv.TagDeactivationDate, future)
			})), kmip.ResultReasonWrongKeyLifecycleState)
			// Process Start Date is immutable once reached.
			ps := aoCreate(t, c, "", func(b *ttlv.Builder) {
				b.AddDateTime(ttlv.TagActivationDate, time.Now().Unix()-200)
				b.AddDateTime(ttlv.TagProcessStartDate, time.Now().Unix()-100)
			})
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(byID(ps), aoNew(func(b *ttlv.Builder) {
				b.AddDateTime(ttlv.TagProcessStartDate, future)
			})), kmip.ResultReasonWrongKeyLifecycleState)

			// Several Names: the Current Attribute picks one.
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoNew(aoName("two-"+ver.String()))))
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(uid, aoNew(aoName("x"))), kmip.ResultReasonMultiValuedAttribute)
			aoOK(t, c, kmip.OperationModifyAttribute, id, aoPayload(uid, aoCur(aoName("two-"+ver.String())), aoNew(aoName("deux-"+ver.String()))))
			aoStrings(t, "names", aoNames(aoGet2(t, c, id, aoRef(ttlv.TagName))), []string{"mod-" + ver.String(), "deux-" + ver.String()})
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(uid, aoCur(aoName("nope")), aoNew(aoName("y"))),
				kmip.ResultReasonAttributeInstanceNotFound)
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(uid, aoCur(aoName("deux-"+ver.String())), aoNew(aoName("mod-"+ver.String()))),
				kmip.ResultReasonNonUniqueNameAttribute)
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(uid, aoCur(aoName("deux-"+ver.String())), aoNew(aoText(ttlv.TagComment, "c"))),
				kmip.ResultReasonInvalidField)
			// Renaming to the same value is fine.
			aoOK(t, c, kmip.OperationModifyAttribute, id, aoPayload(uid, aoCur(aoName("deux-"+ver.String())), aoNew(aoName("deux-"+ver.String()))))

			// A vendor attribute (TL-M-3-21 modifies x- attributes).
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoNew(aoVendor("x", "attribute1", "Value1"))))
			aoOK(t, c, kmip.OperationModifyAttribute, id, aoPayload(uid, aoNew(aoVendor("x", "attribute1", "ModifiedValue1"))))
			vals := aoVendorValues(aoGet2(t, c, id, aoRefVendor("x", "attribute1")), "x", "attribute1")
			if len(vals) != 1 || string(vals[0].Data) != "ModifiedValue1" {
				t.Fatalf("x:attribute1 %v", vals)
			}
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(byID("AAABBBCCC"), aoNew(aoText(ttlv.TagComment, "c"))),
				kmip.ResultReasonObjectNotFound)
		})
	}
}

func TestAttrOps_ModifyAttributeV1(t *testing.T) {
	e := newEnv(t)
	for _, ver := range v1s {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			id := aoCreate(t, c, "m1-"+ver.String(), nil)
			uid := byID(id)
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoV1("x-attribute1", -1, aoText(ttlv.TagAttributeValue, "Value1"))))
			// SASED-M-1-14: the response echoes the new value.
			p := aoOK(t, c, kmip.OperationModifyAttribute, id, aoPayload(uid, aoV1("x-attribute1", -1, aoText(ttlv.TagAttributeValue, "ModifiedValue1"))))
			if a := aoReadV1(t, &p); a.Name != "x-attribute1" || a.Index != 0 || string(a.Value.Data) != "ModifiedValue1" {
				t.Fatalf("echo %+v", a)
			}
			// The Attribute Index picks the instance.
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoV1("Name", -1, aoV1NameValue("b-"+ver.String()))))
			p = aoOK(t, c, kmip.OperationModifyAttribute, id, aoPayload(uid, aoV1("Name", 1, aoV1NameValue("c-"+ver.String()))))
			if a := aoReadV1(t, &p); a.Name != "Name" || a.Index != 1 {
				t.Fatalf("echo %+v", a)
			}
			names, _ := aoV1Names(aoGet1(t, c, id, "Name"))
			aoStrings(t, "names", names, []string{"m1-" + ver.String(), "c-" + ver.String()})
			// Without an index, instance 0 (KMIP 1.4 §4.15).
			aoOK(t, c, kmip.OperationModifyAttribute, id, aoPayload(uid, aoV1("Name", -1, aoV1NameValue("a-"+ver.String()))))
			names, _ = aoV1Names(aoGet1(t, c, id, "Name"))
			aoStrings(t, "names", names, []string{"a-" + ver.String(), "c-" + ver.String()})

			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(uid, aoV1("Name", 5, aoV1NameValue("z"))), kmip.ResultReasonItemNotFound)
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(uid, aoV1("Contact Information", -1, aoText(ttlv.TagAttributeValue, "z"))),
				kmip.ResultReasonItemNotFound)
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(uid, aoV1("State", -1, func(b *ttlv.Builder) {
				b.AddEnum(ttlv.TagAttributeValue, uint32(kmip.StateCompromised))
			})), kmip.ResultReasonPermissionDenied)
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(uid, aoV1("Name", 0, aoV1NameValue("c-"+ver.String()))),
				kmip.ResultReasonInvalidField)
			// SKLC-M-3-14: Activation Date of an Active key → Permission
			// Denied.
			if _, err := do(t, c, kmip.OperationActivate, uid); err != nil {
				t.Fatal(err)
			}
			aoFail(t, c, kmip.OperationModifyAttribute, aoPayload(uid, aoV1("Activation Date", -1, func(b *ttlv.Builder) {
				b.AddDateTime(ttlv.TagAttributeValue, time.Now().Unix())
			})), kmip.ResultReasonPermissionDenied)
		})
	}
}

func TestAttrOps_DeleteAttribute(t *testing.T) {
	// Names unique per owner, so that "the deleted name is free" means
	// something.
	e := newEnvWith(t, namesPerOwner)
	for _, ver := range v2s {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			id := aoCreate(t, c, "n1-"+ver.String(), func(b *ttlv.Builder) {
				aoName("n2-" + ver.String())(b)
				aoName("n3-" + ver.String())(b)
				b.AddText(ttlv.TagDescription, "desc")
				aoVendor("tc", "v", "a")(b)
				aoVendor("tc", "v", "b")(b)
			})
			uid := byID(id)
			// One instance by its value.
			aoOK(t, c, kmip.OperationDeleteAttribute, id, aoPayload(uid, aoCur(aoName("n2-"+ver.String()))))
			aoStrings(t, "names", aoNames(aoGet2(t, c, id, aoRef(ttlv.TagName))), []string{"n1-" + ver.String(), "n3-" + ver.String()})
			aoFail(t, c, kmip.OperationDeleteAttribute, aoPayload(uid, aoCur(aoName("n2-"+ver.String()))), kmip.ResultReasonAttributeInstanceNotFound)
			// The deleted name is free.
			aoCreate(t, c, "n2-"+ver.String(), nil)
			// All instances by reference.
			aoOK(t, c, kmip.OperationDeleteAttribute, id, aoPayload(uid, aoRef(ttlv.TagName)))
			if n := aoNames(aoGet2(t, c, id, aoRef(ttlv.TagName))); len(n) != 0 {
				t.Fatalf("names left: %q", n)
			}
			aoOK(t, c, kmip.OperationDeleteAttribute, id, aoPayload(uid, aoRef(ttlv.TagDescription)))
			if _, ok := aoFirst(aoGet2(t, c, id, aoRef(ttlv.TagDescription)), ttlv.TagDescription); ok {
				t.Fatal("Description still there")
			}
			aoFail(t, c, kmip.OperationDeleteAttribute, aoPayload(uid, aoRef(ttlv.TagDescription)), kmip.ResultReasonAttributeNotFound)
			aoOK(t, c, kmip.OperationDeleteAttribute, id, aoPayload(uid, aoRefVendor("tc", "v")))
			if v := aoVendorValues(aoGet2(t, c, id), "tc", "v"); len(v) != 0 {
				t.Fatalf("tc:v left: %v", v)
			}
			// Attributes that always have a value, or that clients may not
			// delete.
			for _, ref := range []ttlv.Tag{ttlv.TagState, ttlv.TagCryptographicAlgorithm, ttlv.TagUniqueIdentifier,
				ttlv.TagInitialDate, ttlv.TagActivationDate, ttlv.TagCryptographicUsageMask} {
				aoFail(t, c, kmip.OperationDeleteAttribute, aoPayload(uid, aoRef(ref)), kmip.ResultReasonAttributeReadOnly)
			}
			aoFail(t, c, kmip.OperationDeleteAttribute, aoPayload(uid, aoRefVendor("y", "v")), kmip.ResultReasonAttributeReadOnly)
			aoFail(t, c, kmip.OperationDeleteAttribute, uid, kmip.ResultReasonInvalidMessage)
			aoFail(t, c, kmip.OperationDeleteAttribute, aoPayload(byID("AAABBBCCC"), aoRef(ttlv.TagName)), kmip.ResultReasonObjectNotFound)
		})
	}
}

func TestAttrOps_DeleteAttributeV1(t *testing.T) {
	e := newEnv(t)
	for _, ver := range v1s {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			id := aoCreate(t, c, "d1-"+ver.String(), nil)
			uid := byID(id)
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoV1("Name", -1, aoV1NameValue("d2-"+ver.String()))))
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoV1("Name", -1, aoV1NameValue("d3-"+ver.String()))))
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoV1("x-attribute1", -1, aoText(ttlv.TagAttributeValue, "Value1"))))
			// SASED-M-1-14: the response carries the deleted attribute.
			p := aoOK(t, c, kmip.OperationDeleteAttribute, id, aoPayload(uid, aoText(ttlv.TagAttributeName, "x-attribute1")))
			if a := aoReadV1(t, &p); a.Name != "x-attribute1" || a.Index != 0 || string(a.Value.Data) != "Value1" {
				t.Fatalf("echo %+v", a)
			}
			p = aoOK(t, c, kmip.OperationDeleteAttribute, id, aoPayload(uid, aoText(ttlv.TagAttributeName, "Name"), func(b *ttlv.Builder) {
				b.AddInt32(ttlv.TagAttributeIndex, 1)
			}))
			a := aoReadV1(t, &p)
			if v, _ := a.Value.Children().Find(ttlv.TagNameValue); a.Name != "Name" || a.Index != 1 || string(v.Data) != "d2-"+ver.String() {
				t.Fatalf("echo %+v", a)
			}
			names, idx := aoV1Names(aoGet1(t, c, id, "Name"))
			aoStrings(t, "names", names, []string{"d1-" + ver.String(), "d3-" + ver.String()})
			if idx[1] != 1 {
				t.Fatalf("indexes %v", idx)
			}
			aoFail(t, c, kmip.OperationDeleteAttribute, aoPayload(uid, aoText(ttlv.TagAttributeName, "Name"), func(b *ttlv.Builder) {
				b.AddInt32(ttlv.TagAttributeIndex, 2)
			}), kmip.ResultReasonItemNotFound)
			aoFail(t, c, kmip.OperationDeleteAttribute, aoPayload(uid, aoText(ttlv.TagAttributeName, "x-attribute1")), kmip.ResultReasonItemNotFound)
			aoFail(t, c, kmip.OperationDeleteAttribute, aoPayload(uid, aoText(ttlv.TagAttributeName, "Bogus Attribute")), kmip.ResultReasonItemNotFound)
			aoFail(t, c, kmip.OperationDeleteAttribute, aoPayload(uid, aoText(ttlv.TagAttributeName, "State")), kmip.ResultReasonPermissionDenied)
			aoFail(t, c, kmip.OperationDeleteAttribute, aoPayload(byID("AAABBBCCC"), aoText(ttlv.TagAttributeName, "Name")), kmip.ResultReasonItemNotFound)
			// Without an index, instance 0.
			aoOK(t, c, kmip.OperationDeleteAttribute, id, aoPayload(uid, aoText(ttlv.TagAttributeName, "Name")))
			names, _ = aoV1Names(aoGet1(t, c, id, "Name"))
			aoStrings(t, "names", names, []string{"d3-" + ver.String()})
		})
	}
}

func TestAttrOps_AdjustAttribute(t *testing.T) {
	e := newEnv(t)
	for _, ver := range v2s {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			id := aoCreate(t, c, "adj-"+ver.String(), func(b *ttlv.Builder) { aoVendorInt("tc", "counter", 5)(b) })
			uid := byID(id)
			adj := func(ref func(b *ttlv.Builder), typ kmip.AdjustmentType, val func(b *ttlv.Builder)) func(b *ttlv.Builder) {
				return func(b *ttlv.Builder) {
					uid(b)
					ref(b)
					b.AddEnum(ttlv.TagAdjustmentType, uint32(typ))
					if val != nil {
						val(b)
					}
				}
			}
			intVal := func(v int32) func(b *ttlv.Builder) {
				return func(b *ttlv.Builder) { b.AddInt32(ttlv.TagAdjustmentValue, v) }
			}
			counter := func() int32 {
				t.Helper()
				v := aoVendorValues(aoGet2(t, c, id, aoRefVendor("tc", "counter")), "tc", "counter")
				if len(v) != 1 || v[0].Type != ttlv.TypeInteger {
					t.Fatalf("tc:counter %v", v)
				}
				return v[0].Int32()
			}
			ref := aoRefVendor("tc", "counter")
			aoOK(t, c, kmip.OperationAdjustAttribute, id, adj(ref, kmip.AdjustmentTypeIncrement, intVal(3)))
			if v := counter(); v != 8 {
				t.Fatalf("5+3 = %d", v)
			}
			aoOK(t, c, kmip.OperationAdjustAttribute, id, adj(ref, kmip.AdjustmentTypeDecrement, intVal(10)))
			if v := counter(); v != -2 {
				t.Fatalf("8-10 = %d", v)
			}
			aoOK(t, c, kmip.OperationAdjustAttribute, id, adj(ref, kmip.AdjustmentTypeNegate, nil))
			if v := counter(); v != 2 {
				t.Fatalf("-(-2) = %d", v)
			}
			aoOK(t, c, kmip.OperationAdjustAttribute, id, adj(ref, kmip.AdjustmentTypeIncrement, nil))
			if v := counter(); v != 3 {
				t.Fatalf("2+default = %d, want 3", v)
			}
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(ref, kmip.AdjustmentTypeIncrement, intVal(math.MaxInt32)), kmip.ResultReasonNumericRange)
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(ref, kmip.AdjustmentTypeNegate, intVal(1)), kmip.ResultReasonInvalidField)
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(ref, kmip.AdjustmentTypeIncrement, func(b *ttlv.Builder) {
				b.AddText(ttlv.TagAdjustmentValue, "1")
			}), kmip.ResultReasonInvalidDataType)
			// A missing value counts as 0 (KMIP 2.0 §6.1.3): a vendor
			// attribute takes the Adjustment Value's type.
			aoOK(t, c, kmip.OperationAdjustAttribute, id, adj(aoRefVendor("tc", "long"), kmip.AdjustmentTypeIncrement, func(b *ttlv.Builder) {
				b.AddLong(ttlv.TagAdjustmentValue, 7)
			}))
			if v := aoVendorValues(aoGet2(t, c, id, aoRefVendor("tc", "long")), "tc", "long"); len(v) != 1 || v[0].Type != ttlv.TypeLongInteger || v[0].Int64() != 7 {
				t.Fatalf("tc:long %v", v)
			}
			// Protection Period is an Interval: from 0, and not below 0.
			pp := aoRef(ttlv.TagProtectionPeriod)
			aoOK(t, c, kmip.OperationAdjustAttribute, id, adj(pp, kmip.AdjustmentTypeIncrement, func(b *ttlv.Builder) {
				b.AddInterval(ttlv.TagAdjustmentValue, 3600)
			}))
			if p, ok := aoFirst(aoGet2(t, c, id, pp), ttlv.TagProtectionPeriod); !ok || p.Type != ttlv.TypeInterval || p.Uint32() != 3600 {
				t.Fatalf("Protection Period %v", p)
			}
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(pp, kmip.AdjustmentTypeDecrement, intVal(7200)), kmip.ResultReasonNumericRange)
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(pp, kmip.AdjustmentTypeNegate, nil), kmip.ResultReasonInvalidDataType)
			// Booleans negate.
			sr := aoRef(ttlv.TagSensitive)
			aoOK(t, c, kmip.OperationAdjustAttribute, id, adj(sr, kmip.AdjustmentTypeNegate, nil))
			if s, _ := aoFirst(aoGet2(t, c, id, sr), ttlv.TagSensitive); !s.Bool() {
				t.Fatal("Sensitive not negated to true")
			}
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(sr, kmip.AdjustmentTypeIncrement, intVal(1)), kmip.ResultReasonInvalidDataType)
			// Read-only, multi-valued, non-numeric.
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(aoRef(ttlv.TagState), kmip.AdjustmentTypeIncrement, intVal(1)), kmip.ResultReasonAttributeReadOnly)
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(aoRef(ttlv.TagCryptographicLength), kmip.AdjustmentTypeIncrement, intVal(1)), kmip.ResultReasonAttributeReadOnly)
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(aoRef(ttlv.TagName), kmip.AdjustmentTypeIncrement, intVal(1)), kmip.ResultReasonInvalidDataType)
			aoOK(t, c, kmip.OperationAddAttribute, id, aoPayload(uid, aoNew(aoName("adj2-"+ver.String()))))
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(aoRef(ttlv.TagName), kmip.AdjustmentTypeIncrement, intVal(1)), kmip.ResultReasonMultiValuedAttribute)
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(aoRefVendor("y", "counter"), kmip.AdjustmentTypeIncrement, intVal(1)), kmip.ResultReasonAttributeReadOnly)
			aoFail(t, c, kmip.OperationAdjustAttribute, adj(aoRef(ttlv.TagDeactivationDate), kmip.AdjustmentTypeIncrement, intVal(1)), kmip.ResultReasonAttributeNotFound)

			// Dates: moving the Activation Date of a Pre-Active key back to
			// the past activates it.
			future := time.Now().Add(time.Hour).Unix()
			pre := aoCreate(t, c, "", func(b *ttlv.Builder) { b.AddDateTime(ttlv.TagActivationDate, future) })
			aoOK(t, c, kmip.OperationAdjustAttribute, pre, func(b *ttlv.Builder) {
				b.AddText(ttlv.TagUniqueIdentifier, pre)
				aoRef(ttlv.TagActivationDate)(b)
				b.AddEnum(ttlv.TagAdjustmentType, uint32(kmip.AdjustmentTypeDecrement))
				b.AddInterval(ttlv.TagAdjustmentValue, 7200)
			})
			a := attrsOf(t, c, pre)
			if a[ttlv.TagActivationDate].Int64() != future-7200 || kmip.State(a[ttlv.TagState].Uint32()) != kmip.StateActive {
				t.Fatalf("Activation Date %d (want %d), state %d", a[ttlv.TagActivationDate].Int64(), future-7200, a[ttlv.TagState].Uint32())
			}
			aoFail(t, c, kmip.OperationAdjustAttribute, func(b *ttlv.Builder) {
				b.AddText(ttlv.TagUniqueIdentifier, pre)
				aoRef(ttlv.TagActivationDate)(b)
				b.AddEnum(ttlv.TagAdjustmentType, uint32(kmip.AdjustmentTypeIncrement))
				b.AddInterval(ttlv.TagAdjustmentValue, 1)
			}, kmip.ResultReasonWrongKeyLifecycleState)
			aoFail(t, c, kmip.OperationAdjustAttribute, uid, kmip.ResultReasonInvalidMessage)
		})
	}
}

func TestCheck(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_2, kmip.V1_4, kmip.V2_0, kmip.V2_1} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			// aoCreate's keys allow Encrypt and Decrypt only.
			id := aoCreate(t, c, "", nil)
			mask := func(m kmip.CryptographicUsageMask) func(b *ttlv.Builder) {
				return func(b *ttlv.Builder) { b.AddInt32(ttlv.TagCryptographicUsageMask, int32(m)) }
			}
			incompatible := kmip.ResultReasonIncompatibleCryptographicUsageMask
			wrongState := kmip.ResultReasonWrongKeyLifecycleState
			destroyedR := kmip.ResultReasonObjectDestroyed
			notFoundR := kmip.ResultReasonObjectNotFound
			limitR := kmip.ResultReasonUsageLimitExceeded
			if !ver.V2() {
				// 1.x: a destroyed object is Item Not Found (kmip.ReasonFor).
				incompatible, wrongState, destroyedR, notFoundR, limitR = kmip.ResultReasonInvalidField,
					kmip.ResultReasonPermissionDenied, kmip.ResultReasonItemNotFound, kmip.ResultReasonItemNotFound,
					kmip.ResultReasonPermissionDenied
			}
			// A Pre-Active key passes (Check is meant to precede a Get).
			aoOK(t, c, kmip.OperationCheck, id, aoPayload(byID(id), mask(kmip.CryptographicUsageMaskEncrypt)))
			if _, err := do(t, c, kmip.OperationActivate, byID(id)); err != nil {
				t.Fatal(err)
			}
			aoOK(t, c, kmip.OperationCheck, id, aoPayload(byID(id), mask(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt)))
			aoOK(t, c, kmip.OperationCheck, id, byID(id))
			aoFail(t, c, kmip.OperationCheck, aoPayload(byID(id), mask(kmip.CryptographicUsageMaskSign)), incompatible)
			aoFail(t, c, kmip.OperationCheck, aoPayload(byID(id), mask(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskWrapKey)), incompatible)
			aoFail(t, c, kmip.OperationCheck, aoPayload(byID("AAABBBCCC"), mask(kmip.CryptographicUsageMaskEncrypt)), notFoundR)

			// Usage Limits: the Total when no count has been used.
			limited := aoCreate(t, c, "", func(b *ttlv.Builder) {
				ul := func(b *ttlv.Builder) {
					b.AddLong(ttlv.TagUsageLimitsTotal, 100)
					b.AddEnum(ttlv.TagUsageLimitsUnit, uint32(kmip.UsageLimitsUnitObject))
				}
				if ver.V2() {
					b.Begin(ttlv.TagUsageLimits)
					ul(b)
					b.End()
				} else {
					attr1(b, "Usage Limits", func() {
						b.Begin(ttlv.TagAttributeValue)
						ul(b)
						b.End()
					})
				}
			})
			count := func(n int64) func(b *ttlv.Builder) {
				return func(b *ttlv.Builder) { b.AddLong(ttlv.TagUsageLimitsCount, n) }
			}
			aoOK(t, c, kmip.OperationCheck, limited, aoPayload(byID(limited), count(100)))
			aoFail(t, c, kmip.OperationCheck, aoPayload(byID(limited), count(101)), limitR)

			// Revoked (Deactivated), then destroyed.
			if _, err := do(t, c, kmip.OperationRevoke, func(b *ttlv.Builder) {
				b.AddText(ttlv.TagUniqueIdentifier, id)
				b.Begin(ttlv.TagRevocationReason)
				b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeCessationOfOperation))
				b.End()
			}); err != nil {
				t.Fatal(err)
			}
			aoFail(t, c, kmip.OperationCheck, aoPayload(byID(id), mask(kmip.CryptographicUsageMaskDecrypt)), wrongState)
			if _, err := do(t, c, kmip.OperationDestroy, byID(id)); err != nil {
				t.Fatal(err)
			}
			aoFail(t, c, kmip.OperationCheck, aoPayload(byID(id), mask(kmip.CryptographicUsageMaskDecrypt)), destroyedR)
		})
	}
}

// TestCheck_BatchUndo replays BL-M-2-21: Activate and two Checks in an Undo
// batch; the failing Check undoes the Activate.
func TestCheck_BatchUndo(t *testing.T) {
	e := newEnv(t)
	for _, ver := range v2s {
		c := e.srv.Dial(t, "alice", ver)
		id, err := registerKey(t, c, kmip.KeyFormatTypeRaw, bytes.Repeat([]byte{0x01}, 16), func(b *ttlv.Builder) {
			b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt))
		})
		if err != nil {
			t.Fatal(err)
		}
		check := func(m kmip.CryptographicUsageMask) func(b *ttlv.Builder) {
			return func(b *ttlv.Builder) {
				b.AddText(ttlv.TagUniqueIdentifier, id)
				b.AddInt32(ttlv.TagCryptographicUsageMask, int32(m))
			}
		}
		rs := aoBatch(t, c, &kmip.RequestOptions{BatchErrorContinuation: kmip.BatchErrorContinuationOptionUndo},
			aoItem{kmip.OperationActivate, byID(id)},
			aoItem{kmip.OperationCheck, check(kmip.CryptographicUsageMaskEncrypt)},
			aoItem{kmip.OperationCheck, check(kmip.CryptographicUsageMaskDecrypt)})
		if rs[0].Status != kmip.ResultStatusOperationUndone || rs[1].Status != kmip.ResultStatusOperationUndone ||
			rs[2].Status != kmip.ResultStatusOperationFailed || rs[2].Reason != kmip.ResultReasonIncompatibleCryptographicUsageMask {
			t.Fatalf("%s: %s, %s, %s/%s", ver, rs[0].Status, rs[1].Status, rs[2].Status, rs[2].Reason)
		}
		if u, ok := rs[1].Payload.Find(ttlv.TagUniqueIdentifier); !ok || string(u.Data) != id {
			t.Fatalf("%s: undone Check payload %s", ver, ttlv.Format(rs[1].Payload))
		}
		if st := aoState(t, c, id); st != kmip.StatePreActive {
			t.Fatalf("%s: Activate not undone: %s", ver, st)
		}
	}
}

// TestCheck_EmptiesPlaceholder: a failed Check empties the ID Placeholder
// (KMIP 2.0 §6.1.7), so a following Get without an identifier fails.
func TestCheck_EmptiesPlaceholder(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	create := aoItem{kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_1, kmip.CryptographicAlgorithmAES, 128, "", nil)(b)
	}}
	mask := func(m kmip.CryptographicUsageMask) aoItem {
		return aoItem{kmip.OperationCheck, func(b *ttlv.Builder) { b.AddInt32(ttlv.TagCryptographicUsageMask, int32(m)) }}
	}
	cont := &kmip.RequestOptions{BatchErrorContinuation: kmip.BatchErrorContinuationOptionContinue}
	rs := aoBatch(t, c, cont, create, mask(kmip.CryptographicUsageMaskEncrypt), aoItem{kmip.OperationGetAttributes, nil})
	for i, r := range rs {
		if r.Status != kmip.ResultStatusSuccess {
			t.Fatalf("passing Check, item %d: %s %s", i, r.Reason, r.Message)
		}
	}
	rs = aoBatch(t, c, cont, create, mask(kmip.CryptographicUsageMaskSign), aoItem{kmip.OperationGetAttributes, nil})
	if rs[0].Status != kmip.ResultStatusSuccess || rs[1].Reason != kmip.ResultReasonIncompatibleCryptographicUsageMask ||
		rs[2].Status != kmip.ResultStatusOperationFailed {
		t.Fatalf("failing Check: %s, %s, %s", rs[0].Status, rs[1].Reason, rs[2].Status)
	}
}
