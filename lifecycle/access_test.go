package lifecycle_test

import (
	"sync"
	"testing"

	"github.com/kmipd/kmipd/internal/access"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/ttlv"
)

// acReason is the Result Reason of err (0 for success).
func acReason(err error) kmip.ResultReason {
	if err == nil {
		return 0
	}
	r, _ := kmip.ResultOf(err)
	return r
}

func (e *mxEnv) encrypt(t *testing.T, who, id string) error {
	t.Helper()
	_, err := do(t, e.c[who], kmip.OperationEncrypt, mxPayload(kmip.OperationEncrypt, id))
	return err
}

func (e *mxEnv) ungrant(t *testing.T, id, from string, ops ...kmip.Operation) {
	t.Helper()
	must(t, e.c[mxOwner], lifecycle.OperationRevokeGrant, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.AddText(lifecycle.TagGrantee, from)
		for _, op := range ops {
			b.AddEnum(ttlv.TagOperation, uint32(op))
		}
	})
}

// listGrants returns grantee → operations of the object.
func (e *mxEnv) listGrants(t *testing.T, who, id string) map[string][]kmip.Operation {
	t.Helper()
	it := must(t, e.c[who], lifecycle.OperationListGrants, fText(ttlv.TagUniqueIdentifier, id))
	out := map[string][]kmip.Operation{}
	p := it.Payload
	for !p.Empty() {
		x, _ := p.Next()
		if x.Tag != lifecycle.TagGrantEntry {
			continue
		}
		c := x.Children()
		var name string
		var ops []kmip.Operation
		for !c.Empty() {
			f, _ := c.Next()
			switch f.Tag {
			case lifecycle.TagGrantee:
				name = string(f.Data)
			case ttlv.TagOperation:
				ops = append(ops, kmip.Operation(f.Uint32()))
			}
		}
		out[name] = ops
	}
	return out
}

// Ensure that a grant lets the grantee Encrypt and Decrypt but not Get,
// Export, Destroy or Revoke, that the owner sees it, and that ungrant takes
// it back.
func TestAccess_GrantUngrant(t *testing.T) {
	e := newMxEnv(t)
	id := e.mxKey(t)
	if err := e.encrypt(t, mxOwner, id); err != nil {
		t.Fatalf("owner's Encrypt: %v", err)
	}
	e.grant(t, id, mxUser, kmip.OperationEncrypt, kmip.OperationDecrypt)
	if err := e.encrypt(t, mxUser, id); err != nil {
		t.Fatalf("granted Encrypt: %v", err)
	}
	for _, op := range []kmip.Operation{kmip.OperationGet, kmip.OperationExport, kmip.OperationDestroy, kmip.OperationRevoke} {
		if _, err := do(t, e.c[mxUser], op, mxPayload(op, id)); acReason(err) != kmip.ResultReasonPermissionDenied {
			t.Errorf("%s by the grantee: %v, want Permission Denied", op, err)
		}
	}
	g := e.listGrants(t, mxOwner, id)
	if len(g) != 1 || len(g[mxUser]) != 2 {
		t.Fatalf("grants: %v", g)
	}
	// The grantee may not re-grant.
	_, err := do(t, e.c[mxUser], lifecycle.OperationGrant, mxPayload(lifecycle.OperationGrant, id))
	if acReason(err) != kmip.ResultReasonPermissionDenied {
		t.Errorf("grant by the grantee: %v", err)
	}
	e.ungrant(t, id, mxUser, kmip.OperationDecrypt)
	if g := e.listGrants(t, mxOwner, id); len(g[mxUser]) != 1 || g[mxUser][0] != kmip.OperationEncrypt {
		t.Fatalf("after ungrant of decrypt: %v", g)
	}
	e.ungrant(t, id, mxUser)
	if err := e.encrypt(t, mxUser, id); acReason(err) != kmip.ResultReasonObjectNotFound {
		t.Fatalf("Encrypt after ungrant: %v, want Object Not Found", err)
	}
	// Another tenant cannot be granted to.
	_, err = do(t, e.c[mxOwner], lifecycle.OperationGrant, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.AddText(lifecycle.TagGrantee, mxOther)
		b.AddEnum(ttlv.TagOperation, uint32(kmip.OperationEncrypt))
	})
	if acReason(err) != kmip.ResultReasonInvalidField {
		t.Errorf("grant to another tenant: %v", err)
	}
}

// Ensure that grants follow Re-key only when made with Follow Re-key.
func TestAccess_GrantFollowsReKey(t *testing.T) {
	e := newMxEnv(t)
	id := e.mxKey(t)
	e.grant(t, id, mxUser, kmip.OperationEncrypt)
	must(t, e.c[mxOwner], lifecycle.OperationGrant, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.AddText(lifecycle.TagGrantee, mxCrypto)
		b.AddEnum(ttlv.TagOperation, uint32(kmip.OperationEncrypt))
		b.AddBool(lifecycle.TagFollowReKey, true)
	})
	it := must(t, e.c[mxOwner], kmip.OperationReKey, fText(ttlv.TagUniqueIdentifier, id))
	var nid []byte
	p := it.Payload
	p.ReadText(ttlv.TagUniqueIdentifier, &nid)
	g := e.listGrants(t, mxOwner, string(nid))
	if len(g) != 1 || g[mxCrypto] == nil {
		t.Fatalf("grants of the replacement: %v, want carol's only", g)
	}
	if len(e.listGrants(t, mxOwner, id)) != 2 {
		t.Fatal("the old key lost its grants")
	}
}

// Ensure that grant and ungrant racing with the grantee's use give only
// success or refusal, and that the last change wins.
func TestAccess_GrantRace(t *testing.T) {
	e := newMxEnv(t)
	id := e.mxKey(t)
	const rounds = 40
	var wg sync.WaitGroup
	wg.Add(2)
	errs := make(chan error, 4*rounds)
	go func() {
		defer wg.Done()
		for i := 0; i < rounds; i++ {
			// Not e.grant: only the test's goroutine may stop the test.
			for _, op := range []kmip.Operation{lifecycle.OperationGrant, lifecycle.OperationRevokeGrant} {
				_, _, err := e.c[mxOwner].Do(op, func(b *ttlv.Builder) {
					b.AddText(ttlv.TagUniqueIdentifier, id)
					b.AddText(lifecycle.TagGrantee, mxUser)
					b.AddEnum(ttlv.TagOperation, uint32(kmip.OperationEncrypt))
				})
				if err != nil {
					errs <- err
				}
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 2*rounds; i++ {
			_, _, err := e.c[mxUser].Do(kmip.OperationEncrypt, mxPayload(kmip.OperationEncrypt, id))
			if r := acReason(err); r != 0 && r != kmip.ResultReasonObjectNotFound {
				errs <- err
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("during grant changes: %v", err)
	}
	if err := e.encrypt(t, mxUser, id); acReason(err) != kmip.ResultReasonObjectNotFound {
		t.Errorf("after the last ungrant: %v", err)
	}
	e.grant(t, id, mxUser, kmip.OperationEncrypt)
	if err := e.encrypt(t, mxUser, id); err != nil {
		t.Errorf("after the last grant: %v", err)
	}
}

// Ensure that a new policy applies to the next request: bob moved to
// another tenant no longer sees acme's objects, and back again does.
func TestAccess_Reload(t *testing.T) {
	e := newMxEnv(t)
	id := e.mxKey(t)
	e.grant(t, id, mxUser, kmip.OperationEncrypt)
	if err := e.encrypt(t, mxUser, id); err != nil {
		t.Fatal(err)
	}
	moved, err := access.New(access.Config{GlobalAdmins: []string{mxGAdmin}, Identities: map[string]access.Binding{
		mxOwner: {Tenant: "acme", Roles: []string{"user"}}, mxUser: {Tenant: "globex", Roles: []string{"user"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	old := e.le.Service.Policy()
	e.le.Service.SetPolicy(moved)
	if err := e.encrypt(t, mxUser, id); acReason(err) != kmip.ResultReasonObjectNotFound {
		t.Errorf("after moving bob to globex: %v", err)
	}
	e.le.Service.SetPolicy(old)
	if err := e.encrypt(t, mxUser, id); err != nil {
		t.Errorf("after moving bob back: %v", err)
	}
}

// Ensure that with names unique per tenant two tenants may use one name
// without learning of each other, while a second object of that name in
// one tenant is refused, and Locate by Name stays within the tenant.
func TestAccess_NamesPerTenant(t *testing.T) {
	env := newMxEnvNames(t)
	mk := func(who string) error {
		_, err := do(t, env.c[who], kmip.OperationCreate, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 128, "shared", nil)(b)
		})
		return err
	}
	if err := mk(mxOwner); err != nil {
		t.Fatal(err)
	}
	if err := mk(mxOther); err != nil {
		t.Fatalf("the same name in another tenant: %v", err)
	}
	if err := mk(mxUser); acReason(err) != kmip.ResultReasonNonUniqueNameAttribute {
		t.Fatalf("the same name in the same tenant: %v", err)
	}
	it := must(t, env.c[mxOther], kmip.OperationLocate, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		aoName("shared")(b)
		b.End()
	})
	n := 0
	p := it.Payload
	for !p.Empty() {
		if x, _ := p.Next(); x.Tag == ttlv.TagUniqueIdentifier {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("eve locates %d objects named shared, want her own only", n)
	}
}

// Ensure that Interop stays with global admins.
func TestAccess_Interop(t *testing.T) {
	for _, who := range []string{"alice", "tina"} {
		s := access.Compat([]string{"admin"}).Subject(&kmip.Identity{Name: who})
		if d := s.Decide(who, kmip.OperationInterop, nil); d.Outcome != access.Deny {
			t.Errorf("%s: Interop %v", who, d)
		}
	}
	s := access.Compat([]string{"admin"}).Subject(&kmip.Identity{Name: "admin"})
	if d := s.Decide("admin", kmip.OperationInterop, nil); d.Outcome != access.Allow {
		t.Errorf("admin: Interop %v", d)
	}
}
