package lifecycle_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/kmipd/kmipd/internal/access"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// notifyEnv serves with server-to-client operations on, with a push queue
// of queue messages per connection.
// endpointPolicy lets every identity hand its connection over: Set
// Endpoint Role acts on the server, so it takes a role that has it.
func endpointPolicy(t *testing.T) *access.Policy { return usersWith(t, "set-endpoint-role") }

// usersWith is a policy where every identity is a user that may also call
// the given server operations (admin is a global admin).
func usersWith(t *testing.T, ops ...string) *access.Policy {
	t.Helper()
	p, err := access.New(access.Config{GlobalAdmins: []string{"admin"}, DefaultRoles: []string{"user", "extra"},
		Roles: map[string]access.RoleSpec{"extra": {Ops: ops}}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func notifyEnv(t *testing.T, queue int) *kmiptest.Server {
	le := lifecycletest.New(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) {
		c.ServerToClient, c.Access = true, endpointPolicy(t)
	}})
	srv := kmiptest.Start(t, kmiptest.MustPKI(t, "alice", "bob"), le.Service, func(s *kmip.Server) { s.PushQueue = queue })
	le.Service.SetPusher(srv.Server)
	return srv
}

// handOver dials id and hands the connection over with Set Endpoint Role
// Server.
func handOver(t *testing.T, srv *kmiptest.Server, id string, ver kmip.Version) *kmip.Client {
	t.Helper()
	c := srv.Dial(t, id, ver)
	if _, err := do(t, c, kmip.OperationSetEndpointRole, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagEndpointRole, uint32(kmip.EndpointRoleServer))
	}); err != nil {
		t.Fatal(err)
	}
	for srv.PushStats().Endpoints == 0 {
		time.Sleep(time.Millisecond)
	}
	return c
}

// A client that handed its connection over (KMIP 2.x) is sent a Notify for each change to an object it owns, not for
// another identity's; the server counts what the client answered.
func TestNotify_AttributeChanges(t *testing.T) {
	srv := notifyEnv(t, 0)
	for _, ver := range []kmip.Version{kmip.V2_0, kmip.V2_1} {
		before := srv.PushStats()
		ep := handOver(t, srv, "alice", ver)
		bobEP := handOver(t, srv, "bob", ver)
		alice := srv.Dial(t, "alice", ver)
		id := create(t, alice, "")
		must(t, alice, kmip.OperationActivate, fUID(id))
		var states []kmip.State
		var algs []bool // whether each Notify names Cryptographic Algorithm
		for range 2 {
			err := ep.ServeOne(5*time.Second, func(it *kmip.BatchItem) error {
				if it.Operation != kmip.OperationNotify {
					t.Errorf("%s: pushed %s", ver, it.Operation)
				}
				p := it.Payload
				var got []byte
				if !p.ReadText(ttlv.TagUniqueIdentifier, &got) || string(got) != id {
					t.Errorf("%s: Notify payload %s", ver, ttlv.Format(it.Payload))
				}
				attrs, _ := p.Find(ttlv.TagAttributes)
				st, ok := attrs.Children().Find(ttlv.TagState)
				if !ok {
					t.Errorf("%s: Notify payload %s", ver, ttlv.Format(it.Payload))
				}
				states = append(states, kmip.State(st.Uint32()))
				_, alg := attrs.Children().Find(ttlv.TagCryptographicAlgorithm)
				algs = append(algs, alg)
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", ver, err)
			}
		}
		if len(states) != 2 || states[0] != kmip.StatePreActive || states[1] != kmip.StateActive {
			t.Errorf("%s: states notified %v, want PreActive then Active", ver, states)
		}
		// The new object's Notify has every attribute, Activate's only
		// what changed.
		if len(algs) != 2 || !algs[0] || algs[1] {
			t.Errorf("%s: Cryptographic Algorithm in the Notify operations: %v, want in the first only", ver, algs)
		}
		if err := bobEP.ServeOne(100*time.Millisecond, func(*kmip.BatchItem) error { return nil }); err == nil {
			t.Errorf("%s: bob was notified of alice's object", ver)
		}
		waitStats(t, srv, func(s kmip.PushStats) bool { return s.Sent == before.Sent+2 })
		ep.Close()
		bobEP.Close()
		waitStats(t, srv, func(s kmip.PushStats) bool { return s.Endpoints == 0 })
	}
}

// A client that does not take its Notify operations loses the newest ones
// once its queue is full, and they are counted; a failed answer counts as
// failed. Without Config.ServerToClient nothing is handed over.
func TestNotify_BackPressure(t *testing.T) {
	srv := notifyEnv(t, 1)
	ep := handOver(t, srv, "alice", kmip.V2_1)
	alice := srv.Dial(t, "alice", kmip.V2_1)
	for range 4 {
		create(t, alice, "")
	}
	// One is in flight (written, awaiting the answer), one queued: the
	// other two are dropped.
	waitStats(t, srv, func(s kmip.PushStats) bool { return s.Dropped == 2 })
	for range 2 {
		if err := ep.ServeOne(5*time.Second, func(*kmip.BatchItem) error { return kmip.ErrPermissionDenied }); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, srv, func(s kmip.PushStats) bool { return s.Failed == 2 && s.Sent == 0 })

	e := newEnvWith(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) { c.Access = endpointPolicy(t) }}, "alice")
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	if _, err := do(t, c, kmip.OperationSetEndpointRole, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagEndpointRole, uint32(kmip.EndpointRoleServer))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := do(t, c, kmip.OperationQuery, nil); err != nil || e.srv.PushStats().Endpoints != 0 {
		t.Errorf("without ServerToClient the connection was handed over: %v", err)
	}
}

func waitStats(t *testing.T, srv *kmiptest.Server, ok func(kmip.PushStats) bool) {
	t.Helper()
	for range 500 {
		if ok(srv.PushStats()) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("push stats %+v", srv.PushStats())
}

// TC-NP-2-14's flow in KMIP 2.x: adding a vendor attribute to an object is
// notified with that attribute and not with those that stayed.
func TestNotify_VendorAttribute(t *testing.T) {
	srv := notifyEnv(t, 0)
	ep := handOver(t, srv, "alice", kmip.V2_1)
	alice := srv.Dial(t, "alice", kmip.V2_1)
	id := create(t, alice, "")
	take := func() ttlv.Value {
		var attrs ttlv.Value
		if err := ep.ServeOne(5*time.Second, func(it *kmip.BatchItem) error {
			a, _ := it.Payload.Find(ttlv.TagAttributes)
			attrs = bytes.Clone(a.Children())
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return attrs
	}
	take() // the new object's
	aoOK(t, alice, kmip.OperationAddAttribute, id, aoPayload(fUID(id), aoNew(aoVendor("x", "provider", "unknown"))))
	attrs := take()
	v, ok := attrs.Find(ttlv.TagAttribute)
	if !ok {
		t.Fatalf("Notify of Add Attribute: %s", ttlv.Format(attrs))
	}
	var vid, name, val []byte
	c := v.Children()
	if !c.ReadText(ttlv.TagVendorIdentification, &vid) || !c.ReadText(ttlv.TagAttributeName, &name) ||
		!c.ReadText(ttlv.TagAttributeValue, &val) || string(name) != "provider" || string(val) != "unknown" {
		t.Errorf("notified vendor attribute %s", ttlv.Format(v.Children()))
	}
	if _, ok := attrs.Find(ttlv.TagCryptographicAlgorithm); ok {
		t.Errorf("Notify of Add Attribute names an unchanged attribute: %s", ttlv.Format(attrs))
	}
}

// With Config.ServerToClientPut, TC-NP-1-14's flow in KMIP 2.x: a new key
// is sent as a Put carrying the key as its owner's Get returns it, and its
// attributes; a later change is a Notify.
func TestNotify_Put(t *testing.T) {
	le := lifecycletest.New(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) {
		c.ServerToClient, c.ServerToClientPut, c.Access = true, true, endpointPolicy(t)
	}})
	srv := kmiptest.Start(t, kmiptest.MustPKI(t, "alice"), le.Service)
	le.Service.SetPusher(srv.Server)
	ep := handOver(t, srv, "alice", kmip.V2_1)
	alice := srv.Dial(t, "alice", kmip.V2_1)
	id := create(t, alice, "")
	got := must(t, alice, kmip.OperationGet, fUID(id))
	want, _ := got.Payload.Find(ttlv.TagSymmetricKey)
	err := ep.ServeOne(5*time.Second, func(it *kmip.BatchItem) error {
		p := it.Payload
		var uid []byte
		var fn uint32
		var key ttlv.Value
		var attrs ttlv.Value
		if it.Operation != kmip.OperationPut || !p.ReadText(ttlv.TagUniqueIdentifier, &uid) || string(uid) != id ||
			!p.ReadEnum(ttlv.TagPutFunction, &fn) || kmip.PutFunction(fn) != kmip.PutFunctionNew ||
			!p.ReadStructure(ttlv.TagSymmetricKey, &key) || !p.ReadStructure(ttlv.TagAttributes, &attrs) || !p.Empty() {
			t.Errorf("Put %s", ttlv.Format(it.Payload))
			return nil
		}
		if !bytes.Equal(key, want.Children()) {
			t.Errorf("Put key %s, Get's %s", ttlv.Format(key), ttlv.Format(want.Children()))
		}
		if _, ok := attrs.Find(ttlv.TagCryptographicAlgorithm); !ok {
			t.Errorf("Put attributes %s", ttlv.Format(attrs))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Then Notify operations only (the Gets cleared Fresh, a change),
	// the last for Activate.
	must(t, alice, kmip.OperationActivate, fUID(id))
	active := false
	for range 4 {
		if active {
			break
		}
		err := ep.ServeOne(2*time.Second, func(it *kmip.BatchItem) error {
			if it.Operation != kmip.OperationNotify {
				t.Errorf("pushed %s after the Put, want Notify", it.Operation)
			}
			attrs, _ := it.Payload.Find(ttlv.TagAttributes)
			st, ok := attrs.Children().Find(ttlv.TagState)
			active = ok && kmip.State(st.Uint32()) == kmip.StateActive
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !active {
		t.Error("no Notify of the Activate")
	}
}

// An owner bound to a tenant is notified of its objects (pushes are keyed
// by owner and tenant, as the objects' records are).
func TestNotify_TenantOwner(t *testing.T) {
	p, err := access.New(access.Config{GlobalAdmins: []string{"admin"},
		Identities: map[string]access.Binding{"alice": {Tenant: "acme", Roles: []string{"user", "endpoint"}}},
		Roles:      map[string]access.RoleSpec{"endpoint": {Ops: []string{"set-endpoint-role"}}}})
	if err != nil {
		t.Fatal(err)
	}
	le := lifecycletest.New(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) {
		c.ServerToClient, c.Access = true, p
	}})
	srv := kmiptest.Start(t, kmiptest.MustPKI(t, "alice"), le.Service)
	le.Service.SetPusher(srv.Server)
	ep := handOver(t, srv, "alice", kmip.V2_1)
	id := create(t, srv.Dial(t, "alice", kmip.V2_1), "")
	err = ep.ServeOne(5*time.Second, func(it *kmip.BatchItem) error {
		var got []byte
		if p := it.Payload; it.Operation != kmip.OperationNotify || !p.ReadText(ttlv.TagUniqueIdentifier, &got) || string(got) != id {
			t.Errorf("pushed %s %s", it.Operation, ttlv.Format(it.Payload))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("tenant owner not notified: %v", err)
	}
}
