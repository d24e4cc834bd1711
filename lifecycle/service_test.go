package lifecycle_test

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// env is a real kmipd service: bbolt file, software backend, mTLS server.
type env struct {
	srv *kmiptest.Server
	db  *store.DB
	dir string
	be  *soft.Backend
}

func newEnv(t *testing.T, clients ...string) *env {
	t.Helper()
	return newEnvWith(t, nil, clients...)
}

// newEnvWith is newEnv with lifecycletest options (nil: the defaults).
func newEnvWith(t *testing.T, o *lifecycletest.Options, clients ...string) *env {
	t.Helper()
	le := lifecycletest.New(t, o)
	if len(clients) == 0 {
		clients = []string{"admin", "alice", "bob"}
	}
	p := kmiptest.MustPKI(t, clients...)
	return &env{srv: kmiptest.Start(t, p, le.Service), db: le.Store, dir: le.Dir, be: le.Backend}
}

// softBackend opens a software key backend on a new master key file in
// dir; it is closed when the test ends.
func softBackend(t *testing.T, dir string) *soft.Backend {
	t.Helper()
	mk := filepath.Join(dir, "master.key")
	if err := soft.CreateMasterKey(mk); err != nil {
		t.Fatal(err)
	}
	be, err := soft.Open(mk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return be
}

// namesPerOwner configures the Names policy that keeps a name to one live
// object of its owner (lifecycle.NamesPerOwner).
var namesPerOwner = &lifecycletest.Options{Configure: func(c *lifecycle.Config) { c.Names = lifecycle.NamesPerOwner }}

// symAttrs writes the attributes of a symmetric key in the form of ver.
func symAttrs(ver kmip.Version, alg kmip.CryptographicAlgorithm, bits int32, name string, extra func(b *ttlv.Builder)) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		if ver.V2() {
			b.Begin(ttlv.TagAttributes)
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(alg))
			b.AddInt32(ttlv.TagCryptographicLength, bits)
			b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt))
			if name != "" {
				b.Begin(ttlv.TagName)
				b.AddText(ttlv.TagNameValue, name)
				b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
				b.End()
			}
			if extra != nil {
				extra(b)
			}
			b.End()
			return
		}
		b.Begin(ttlv.TagTemplateAttribute)
		attr1(b, "Cryptographic Algorithm", func() { b.AddEnum(ttlv.TagAttributeValue, uint32(alg)) })
		attr1(b, "Cryptographic Length", func() { b.AddInt32(ttlv.TagAttributeValue, bits) })
		attr1(b, "Cryptographic Usage Mask", func() {
			b.AddInt32(ttlv.TagAttributeValue, int32(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt))
		})
		if name != "" {
			attr1(b, "Name", func() {
				b.Begin(ttlv.TagAttributeValue)
				b.AddText(ttlv.TagNameValue, name)
				b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
				b.End()
			})
		}
		if extra != nil {
			extra(b)
		}
		b.End()
	}
}

func attr1(b *ttlv.Builder, name string, value func()) {
	b.Begin(ttlv.TagAttribute)
	b.AddText(ttlv.TagAttributeName, name)
	value()
	b.End()
}

func create(t *testing.T, c *kmip.Client, name string) string {
	t.Helper()
	_, it, err := c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(c.Version, kmip.CryptographicAlgorithmAES, 256, name, nil)(b)
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	var ot uint32
	var id []byte
	p := it.Payload
	if !p.ReadEnum(ttlv.TagObjectType, &ot) || !p.ReadText(ttlv.TagUniqueIdentifier, &id) {
		t.Fatalf("create response %x", it.Payload)
	}
	return string(id)
}

func byID(id string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, id) }
}

func do(t *testing.T, c *kmip.Client, op kmip.Operation, payload func(b *ttlv.Builder)) (*kmip.ResponseItem, error) {
	t.Helper()
	_, it, err := c.Do(op, payload)
	if it == nil && err != nil {
		var ke *kmip.Error
		if !asKMIP(err, &ke) {
			t.Fatalf("%s: transport error %v", op, err)
		}
	}
	return it, err
}

func asKMIP(err error, out **kmip.Error) bool {
	ke, ok := err.(*kmip.Error)
	if ok {
		*out = ke
	}
	return ok
}

func wantReason(t *testing.T, err error, r kmip.ResultReason) {
	t.Helper()
	ke, ok := err.(*kmip.Error)
	if !ok || ke.Reason != r {
		t.Fatalf("got %v, want %s", err, r)
	}
}

func getKey(t *testing.T, c *kmip.Client, id string) []byte {
	t.Helper()
	it, err := do(t, c, kmip.OperationGet, byID(id))
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	p := it.Payload
	var ot uint32
	var uid []byte
	var sk, kb, kv ttlv.Value
	var fmtType uint32
	var key []byte
	if !p.ReadEnum(ttlv.TagObjectType, &ot) || !p.ReadText(ttlv.TagUniqueIdentifier, &uid) ||
		!p.ReadStructure(ttlv.TagSymmetricKey, &sk) || !sk.ReadStructure(ttlv.TagKeyBlock, &kb) ||
		!kb.ReadEnum(ttlv.TagKeyFormatType, &fmtType) || !kb.ReadStructure(ttlv.TagKeyValue, &kv) ||
		!kv.ReadBytes(ttlv.TagKeyMaterial, &key) {
		t.Fatalf("get response: %s", ttlv.Format(it.Payload))
	}
	if string(uid) != id || kmip.KeyFormatType(fmtType) != kmip.KeyFormatTypeRaw {
		t.Fatalf("get returned %s format %d", uid, fmtType)
	}
	return append([]byte(nil), key...)
}

// attrsOf returns the attributes of a Get Attributes response as a map from
// tag to the first instance's item.
func attrsOf(t *testing.T, c *kmip.Client, id string) map[ttlv.Tag]ttlv.Item {
	t.Helper()
	it, err := do(t, c, kmip.OperationGetAttributes, byID(id))
	if err != nil {
		t.Fatalf("get attributes: %v", err)
	}
	m := map[ttlv.Tag]ttlv.Item{}
	p := it.Payload
	var uid []byte
	if !p.ReadText(ttlv.TagUniqueIdentifier, &uid) {
		t.Fatal("no unique identifier")
	}
	if c.Version.V2() {
		var as ttlv.Value
		if !p.ReadStructure(ttlv.TagAttributes, &as) {
			t.Fatalf("no Attributes: %s", ttlv.Format(it.Payload))
		}
		for !as.Empty() {
			a, _ := as.Next()
			if _, dup := m[a.Tag]; !dup {
				m[a.Tag] = a
			}
		}
		return m
	}
	for !p.Empty() {
		var a ttlv.Value
		if !p.ReadStructure(ttlv.TagAttribute, &a) {
			t.Fatalf("1.x Get Attributes: %s", ttlv.Format(it.Payload))
		}
		var name []byte
		a.ReadText(ttlv.TagAttributeName, &name)
		if a.PeekTag() == ttlv.TagAttributeIndex {
			a.Skip()
		}
		v, _ := a.Next()
		tag, ok := ttlv.TagBySpecName(string(name))
		if !ok {
			continue
		}
		if _, dup := m[tag]; !dup {
			m[tag] = v
		}
	}
	return m
}

func TestService_KeyLifecycleAtEveryVersion(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_0, kmip.V1_2, kmip.V1_4, kmip.V2_0, kmip.V2_1} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			id := create(t, c, "lifecycle-"+ver.String())
			a := attrsOf(t, c, id)
			if st := kmip.State(a[ttlv.TagState].Uint32()); st != kmip.StatePreActive {
				t.Fatalf("new key state %s", st)
			}
			// Fresh exists from KMIP 1.1 on.
			if _, has := a[ttlv.TagFresh]; has != ver.AtLeast(kmip.V1_1) || has && !a[ttlv.TagFresh].Bool() {
				t.Errorf("Fresh present=%v value=%v at %s", has, a[ttlv.TagFresh].Bool(), ver)
			}
			if alg := a[ttlv.TagCryptographicAlgorithm].Uint32(); kmip.CryptographicAlgorithm(alg) != kmip.CryptographicAlgorithmAES {
				t.Errorf("algorithm %d", alg)
			}
			if lt, ok := a[ttlv.TagLeaseTime]; !ok || lt.Uint32() != 3600 {
				t.Errorf("Lease Time %v (present %v), want 3600", lt.Uint32(), ok)
			}
			_, hasRNG := a[ttlv.TagRandomNumberGenerator]
			if hasRNG != ver.AtLeast(kmip.V1_3) {
				t.Errorf("Random Number Generator present=%v at %s", hasRNG, ver)
			}
			_, hasSUID := a[ttlv.TagShortUniqueIdentifier]
			if hasSUID != ver.V2() {
				t.Errorf("Short Unique Identifier present=%v at %s", hasSUID, ver)
			}
			key := getKey(t, c, id)
			if len(key) != 32 {
				t.Fatalf("key of %d bytes", len(key))
			}
			if k2 := getKey(t, c, id); !bytes.Equal(key, k2) {
				t.Fatal("key changed between Gets")
			}
			if attrsOf(t, c, id)[ttlv.TagFresh].Bool() {
				t.Error("Fresh still true after Get")
			}
			// Destroying an Active key is refused; 1.x has no Wrong Key
			// Lifecycle State and gets Permission Denied.
			if _, err := do(t, c, kmip.OperationActivate, byID(id)); err != nil {
				t.Fatalf("activate: %v", err)
			}
			if _, err := do(t, c, kmip.OperationActivate, byID(id)); err == nil {
				t.Fatal("activated twice")
			}
			_, err := do(t, c, kmip.OperationDestroy, byID(id))
			if ver.V2() {
				wantReason(t, err, kmip.ResultReasonWrongKeyLifecycleState)
			} else {
				wantReason(t, err, kmip.ResultReasonPermissionDenied)
			}
			if _, err := do(t, c, kmip.OperationRevoke, func(b *ttlv.Builder) {
				b.AddText(ttlv.TagUniqueIdentifier, id)
				b.Begin(ttlv.TagRevocationReason)
				b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeCessationOfOperation))
				b.End()
			}); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			if st := kmip.State(attrsOf(t, c, id)[ttlv.TagState].Uint32()); st != kmip.StateDeactivated {
				t.Fatalf("after revoke: %s", st)
			}
			if _, err := do(t, c, kmip.OperationDestroy, byID(id)); err != nil {
				t.Fatalf("destroy: %v", err)
			}
			// Get of a destroyed key: Object Destroyed, which 1.x lacks and
			// answers with Item Not Found (kmip.ReasonFor).
			_, err = do(t, c, kmip.OperationGet, byID(id))
			if ver.V2() {
				wantReason(t, err, kmip.ResultReasonObjectDestroyed)
			} else {
				wantReason(t, err, kmip.ResultReasonItemNotFound)
			}
			a = attrsOf(t, c, id)
			if st := kmip.State(a[ttlv.TagState].Uint32()); st != kmip.StateDestroyed {
				t.Fatalf("after destroy: %s", st)
			}
		})
	}
}

func TestService_OwnershipIsolation(t *testing.T) {
	e := newEnv(t)
	alice := e.srv.Dial(t, "alice", kmip.V2_0)
	bob := e.srv.Dial(t, "bob", kmip.V2_0)
	admin := e.srv.Dial(t, "admin", kmip.V2_0)
	id := create(t, alice, "alice-key")
	for _, op := range []kmip.Operation{kmip.OperationGet, kmip.OperationGetAttributes, kmip.OperationActivate, kmip.OperationDestroy} {
		_, err := do(t, bob, op, byID(id))
		wantReason(t, err, kmip.ResultReasonObjectNotFound)
	}
	// Bob may use the same name: names are unique per owner.
	create(t, bob, "alice-key")
	locate := func(c *kmip.Client) int {
		it, err := do(t, c, kmip.OperationLocate, nil)
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
	if n := locate(alice); n != 1 {
		t.Errorf("alice locates %d objects, want 1", n)
	}
	if n := locate(admin); n != 2 {
		t.Errorf("admin locates %d objects, want 2", n)
	}
	getKey(t, admin, id)
	// Under the default policy a second object of Alice's may have the
	// same name (NamesPerOwner refusing it is TestNames_PerOwner's).
	if _, _, err := alice.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(alice.Version, kmip.CryptographicAlgorithmAES, 128, "alice-key", nil)(b)
	}); err != nil {
		t.Fatalf("second alice-key: %v", err)
	}
	if n := locate(alice); n != 2 {
		t.Errorf("alice locates %d objects, want 2", n)
	}
	if n := locate(bob); n != 1 {
		t.Errorf("bob locates %d objects, want 1", n)
	}
}

func TestService_LocateFilters(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	var ids []string
	for _, n := range []string{"a", "b", "c"} {
		ids = append(ids, create(t, c, n))
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := do(t, c, kmip.OperationActivate, byID(ids[1])); err != nil {
		t.Fatal(err)
	}
	locate := func(payload func(b *ttlv.Builder)) []string {
		t.Helper()
		it, err := do(t, c, kmip.OperationLocate, payload)
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
	eq := func(got, want []string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
	}
	eq(locate(nil), []string{ids[2], ids[1], ids[0]}) // newest first
	eq(locate(func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		b.Begin(ttlv.TagName)
		b.AddText(ttlv.TagNameValue, "b")
		b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
		b.End()
		b.End()
	}), []string{ids[1]})
	eq(locate(func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		b.AddEnum(ttlv.TagState, uint32(kmip.StateActive))
		b.End()
	}), []string{ids[1]})
	eq(locate(func(b *ttlv.Builder) {
		b.AddInt32(ttlv.TagMaximumItems, 1)
		b.AddInt32(ttlv.TagOffsetItems, 1)
	}), []string{ids[1]})
	eq(locate(func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmDES3))
		b.End()
	}), nil)
}

func TestService_UndoRollsBack(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	id := create(t, c, "undo")
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_1, 2, &kmip.RequestOptions{BatchErrorContinuation: kmip.BatchErrorContinuationOptionUndo})
	w.Item(kmip.OperationActivate, []byte{1}, byID(id))
	w.Item(kmip.OperationGet, []byte{2}, byID("no-such-object"))
	msg, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.RoundTrip(msg)
	if err != nil {
		t.Fatal(err)
	}
	var r kmip.Response
	if err := r.Parse(out, kmip.Limits{}); err != nil {
		t.Fatal(err)
	}
	if r.Items[0].Status != kmip.ResultStatusOperationUndone || r.Items[1].Reason != kmip.ResultReasonObjectNotFound {
		t.Fatalf("statuses %s, %s/%s", r.Items[0].Status, r.Items[1].Status, r.Items[1].Reason)
	}
	if st := kmip.State(attrsOf(t, c, id)[ttlv.TagState].Uint32()); st != kmip.StatePreActive {
		t.Fatalf("activation not rolled back: %s", st)
	}
}

func TestService_DatesDriveState(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	soon := time.Now().Add(2 * time.Second).Unix()
	_, it, err := c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(c.Version, kmip.CryptographicAlgorithmAES, 128, "", func(b *ttlv.Builder) {
			b.AddDateTime(ttlv.TagActivationDate, soon)
		})(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	p := it.Payload
	p.Skip()
	var id []byte
	p.ReadText(ttlv.TagUniqueIdentifier, &id)
	if st := kmip.State(attrsOf(t, c, string(id))[ttlv.TagState].Uint32()); st != kmip.StatePreActive {
		t.Fatalf("before activation date: %s", st)
	}
	time.Sleep(time.Until(time.Unix(soon+1, 0)))
	// The stored state (and its index) still says Pre-Active; Locate by
	// state must find the key by its effective state.
	it, err = do(t, c, kmip.OperationLocate, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		b.AddEnum(ttlv.TagState, uint32(kmip.StateActive))
		b.End()
	})
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := it.Payload.Find(ttlv.TagUniqueIdentifier); !ok || string(u.Data) != string(id) {
		t.Fatalf("Locate State=Active after the activation date: %s", ttlv.Format(it.Payload))
	}
	if st := kmip.State(attrsOf(t, c, string(id))[ttlv.TagState].Uint32()); st != kmip.StateActive {
		t.Fatalf("after activation date: %s", st)
	}
	// Past activation date on create: Active at once.
	_, it, err = c.Do(kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(c.Version, kmip.CryptographicAlgorithmAES, 128, "", func(b *ttlv.Builder) {
			b.AddDateTime(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())
		})(b)
	})
	if err != nil {
		t.Fatal(err)
	}
	p = it.Payload
	p.Skip()
	p.ReadText(ttlv.TagUniqueIdentifier, &id)
	if st := kmip.State(attrsOf(t, c, string(id))[ttlv.TagState].Uint32()); st != kmip.StateActive {
		t.Fatalf("created with past activation date: %s", st)
	}
}
