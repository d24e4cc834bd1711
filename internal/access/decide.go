package access

import (
	"github.com/kmipd/kmipd/kmip"
)

// Outcome is what the decision point says of a request.
type Outcome uint8

const (
	// Allow: go on.
	Allow Outcome = iota
	// Deny: Permission Denied. The caller may know the object exists (it
	// owns it, holds a grant on it, or may see its whole tenant).
	Deny
	// Hide: Object Not Found, exactly as for an object that does not
	// exist, so that existence does not leak.
	Hide
)

// Rules: why a decision denied or hid. They name the check, for the audit
// trail; they are never sent to the client.
const (
	RuleRole        = "role"         // none of the identity's roles has the operation (for this object type)
	RuleTenant      = "tenant"       // the object belongs to another tenant
	RuleNotOwner    = "not-owner"    // not the owner, no grant, no tenant-wide role
	RuleNoGrant     = "no-grant"     // visible, but neither a grant nor a role gives this operation
	RuleGrantRole   = "grant-role"   // granted, but the identity's roles lack the operation
	RuleGlobalAdmin = "global-admin" // Interop: global admins only
)

// Decision is an Outcome and, unless Allow, the rule that decided it.
type Decision struct {
	Outcome Outcome
	Rule    string
}

// Object is what the decision needs of an object.
type Object struct {
	Owner  string
	Tenant string // as stored: "" for DefaultTenant
	Type   kmip.ObjectType
	Grants []Grant
}

// Decide is kmipd's one authorization function. With o nil it decides
// whether identity name may call op at all (before any object is read);
// with o, whether it may apply op to that object. It does not allocate.
//
// An object of another tenant is hidden. The owner and a global admin get
// what any of their roles has; otherwise a tenant-scope role (admin,
// auditor) gives its operations on every object of the tenant, and a grant
// gives its operations when one of the identity's roles has them too (a
// crypto identity granted Get still cannot Get). Whoever holds a grant or
// a tenant-scope role is told Permission Denied, anyone else Object Not
// Found.
func (s *Subject) Decide(name string, op kmip.Operation, o *Object) Decision {
	if o == nil {
		if op == kmip.OperationInterop && !s.global {
			return Decision{Deny, RuleGlobalAdmin}
		}
		if !s.ops.Has(op) {
			return Decision{Deny, RuleRole}
		}
		return Decision{}
	}
	if !s.global && o.Tenant != s.tenant {
		return Decision{Hide, RuleTenant}
	}
	if s.global || o.Owner == name {
		if s.anyRole(op, o.Type, false) {
			return Decision{}
		}
		return Decision{Deny, RuleRole}
	}
	if s.anyRole(op, o.Type, true) {
		return Decision{}
	}
	g := findGrant(o.Grants, name)
	if g != nil && g.Has(op) {
		if s.anyRole(op, o.Type, false) {
			return Decision{}
		}
		return Decision{Deny, RuleGrantRole}
	}
	if g != nil || s.seesTn {
		return Decision{Deny, RuleNoGrant}
	}
	return Decision{Hide, RuleNotOwner}
}

// anyRole reports whether one of the roles (only the tenant-scope ones
// with tenantOnly) permits op on an object of type typ.
func (s *Subject) anyRole(op kmip.Operation, typ kmip.ObjectType, tenantOnly bool) bool {
	for _, r := range s.roles {
		if (!tenantOnly || r.Scope == ScopeTenant) && r.allows(op, typ) {
			return true
		}
	}
	return false
}

func findGrant(gs []Grant, name string) *Grant {
	for i := range gs {
		if gs[i].Identity == name {
			return &gs[i]
		}
	}
	return nil
}

// Sees reports whether the subject may learn that o exists at all: what
// decides Deny against Hide for a non-allowed operation.
func (s *Subject) Sees(name string, o *Object) bool {
	if s.global {
		return true
	}
	if o.Tenant != s.tenant {
		return false
	}
	return o.Owner == name || s.seesTn || findGrant(o.Grants, name) != nil
}

// MayGrant reports whether the subject may grant operations on o to others
// of its tenant: the owner and tenant-scope roles that have Grant (a tenant
// admin), or a global admin.
func (s *Subject) MayGrant(name string, o *Object) bool {
	return s.Decide(name, OperationGrant, o).Outcome == Allow && (s.global || o.Owner == name || s.anyRole(OperationGrant, o.Type, true))
}

// Denied is the error cause of a denial: the rule, for the audit trail
// (kmip.Error.Err is never sent to the client).
type Denied struct {
	Rule string
}

func (d *Denied) Error() string { return "access denied by rule " + d.Rule }

// DeniedBy returns the rule (the audit middleware asks for it).
func (d *Denied) DeniedBy() string { return d.Rule }

// Grantable are the operations a grant may give: those that act on one
// existing object. Creating objects, the server operations and granting
// itself are not.
var Grantable = NewOpSet(kmip.OperationLocate, kmip.OperationCheck, kmip.OperationGet,
	kmip.OperationGetAttributes, kmip.OperationGetAttributeList, kmip.OperationAddAttribute,
	kmip.OperationModifyAttribute, kmip.OperationDeleteAttribute, kmip.OperationSetAttribute,
	kmip.OperationAdjustAttribute, kmip.OperationObtainLease, kmip.OperationGetUsageAllocation,
	kmip.OperationActivate, kmip.OperationRevoke, kmip.OperationDestroy, kmip.OperationArchive,
	kmip.OperationRecover, kmip.OperationReKey, kmip.OperationReKeyKeyPair, kmip.OperationDeriveKey,
	kmip.OperationEncrypt, kmip.OperationDecrypt, kmip.OperationSign, kmip.OperationSignatureVerify,
	kmip.OperationMAC, kmip.OperationMACVerify, kmip.OperationExport, kmip.OperationCreateSplitKey,
	kmip.OperationJoinSplitKey, OperationListGrants)
