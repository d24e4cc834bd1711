package access

import (
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip"
)

// Ensure that every operation name OpName writes is read back by ParseOp,
// and that the spellings operators use are accepted.
func TestOpNames(t *testing.T) {
	for _, op := range allOps.Ops() {
		got, err := ParseOp(OpName(op))
		if err != nil || got != op {
			t.Errorf("%s: OpName %q reads back as %v, %v", op, OpName(op), got, err)
		}
	}
	for s, want := range map[string]kmip.Operation{
		"encrypt": kmip.OperationEncrypt, "Signature Verify": kmip.OperationSignatureVerify,
		"mac-verify": kmip.OperationMACVerify, "re-key": kmip.OperationReKey, "GET_ATTRIBUTES": kmip.OperationGetAttributes,
		"list-grants": OperationListGrants, "whoami": OperationWhoAmI,
	} {
		if got, err := ParseOp(s); err != nil || got != want {
			t.Errorf("ParseOp(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	if OpName(kmip.OperationMACVerify) != "mac-verify" || OpName(kmip.OperationSignatureVerify) != "signature-verify" {
		t.Errorf("OpName: %q %q", OpName(kmip.OperationMACVerify), OpName(kmip.OperationSignatureVerify))
	}
	if _, err := ParseOp("frobnicate"); err == nil {
		t.Error("ParseOp accepted frobnicate")
	}
}

// Ensure that configuration mistakes are refused with the culprit named.
func TestNew_Errors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Identities: map[string]Binding{"bob": {Roles: []string{"nope"}}}}, `unknown role "nope"`},
		{Config{Roles: map[string]RoleSpec{"user": {Ops: []string{"get"}}}}, "built-in"},
		{Config{Roles: map[string]RoleSpec{"r": {Ops: []string{"fly"}}}}, `unknown operation "fly"`},
		{Config{Roles: map[string]RoleSpec{"r": {}}}, "no operations"},
		{Config{Roles: map[string]RoleSpec{"r": {Ops: []string{"get"}, Types: []string{"banana"}}}}, "unknown object type"},
		{Config{Roles: map[string]RoleSpec{"r": {Ops: []string{"get"}, Scope: "world"}}}, "scope"},
		{Config{OUs: map[string]Binding{"x": {Tenant: "a\x00b"}}}, "invalid tenant"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

// Ensure the decisions the model promises: bindings by name, then OU, then
// the default; custom roles limited to object types; Decide does not
// allocate.
func TestDecide(t *testing.T) {
	p, err := New(Config{
		DefaultTenant: "acme",
		Roles: map[string]RoleSpec{
			"sym-reader": {Ops: []string{"get", "locate"}, Types: []string{"symmetric-key"}, Scope: "tenant"},
		},
		Identities:   map[string]Binding{"rd": {Tenant: "acme", Roles: []string{"sym-reader"}}},
		OUs:          map[string]Binding{"globex-apps": {Tenant: "globex", Roles: []string{"crypto"}}},
		GlobalAdmins: []string{"root"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Subject(&kmip.Identity{Name: "x", OUs: []string{"other", "globex-apps"}}); s.Tenant() != "globex" || s.Roles()[0] != "crypto" {
		t.Errorf("OU binding: %s %v", s.Tenant(), s.Roles())
	}
	if s := p.Subject(&kmip.Identity{Name: "nobody"}); s.Tenant() != "acme" || s.Roles()[0] != "user" {
		t.Errorf("default: %s %v", s.Tenant(), s.Roles())
	}
	key := &Object{Owner: "alice", Tenant: "acme", Type: kmip.ObjectTypeSymmetricKey}
	cert := &Object{Owner: "alice", Tenant: "acme", Type: kmip.ObjectTypeCertificate}
	rd := p.Subject(&kmip.Identity{Name: "rd"})
	if d := rd.Decide("rd", kmip.OperationGet, key); d.Outcome != Allow {
		t.Errorf("sym-reader Get of a key: %+v", d)
	}
	if d := rd.Decide("rd", kmip.OperationGet, cert); d.Outcome != Deny || d.Rule != RuleNoGrant {
		t.Errorf("sym-reader Get of a certificate: %+v", d)
	}
	if d := rd.Decide("rd", kmip.OperationDestroy, nil); d.Outcome != Deny || d.Rule != RuleRole {
		t.Errorf("sym-reader Destroy: %+v", d)
	}
	root := p.Subject(&kmip.Identity{Name: "root"})
	other := &Object{Owner: "zed", Tenant: "globex", Type: kmip.ObjectTypeSymmetricKey}
	if !root.Global() || root.Decide("root", kmip.OperationDestroy, other).Outcome != Allow {
		t.Error("global admin cannot Destroy in another tenant")
	}
	user := p.Subject(&kmip.Identity{Name: "bob"})
	granted := &Object{Owner: "alice", Tenant: "acme", Type: kmip.ObjectTypeSymmetricKey,
		Grants: []Grant{{Identity: "bob", Ops: []kmip.Operation{kmip.OperationEncrypt}}}}
	id := &kmip.Identity{Name: "bob"}
	if n := testing.AllocsPerRun(100, func() {
		s := p.Subject(id)
		if s.Decide("bob", kmip.OperationEncrypt, granted).Outcome != Allow {
			t.Fatal("granted Encrypt refused")
		}
	}); n != 0 {
		t.Errorf("Subject+Decide: %v allocations", n)
	}
	if d := user.Decide("bob", kmip.OperationGet, granted); d.Outcome != Deny || d.Rule != RuleNoGrant {
		t.Errorf("granted Encrypt, Get: %+v", d)
	}
	if d := user.Decide("bob", kmip.OperationGet, key); d.Outcome != Hide || d.Rule != RuleNotOwner {
		t.Errorf("no grant: %+v", d)
	}
}
