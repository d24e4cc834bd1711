package lifecycle

import (
	"strings"

	"github.com/kmipd/kmipd/internal/access"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
)

// SetPolicy replaces the access policy for the requests that start after
// it (a configuration reload); requests in flight keep the one they began
// with for their operation-level check.
func (s *Service) SetPolicy(p *access.Policy) { s.policy.Store(p) }

// Policy returns the access policy in force.
func (s *Service) Policy() *access.Policy { return s.policy.Load() }

// subject is the caller's decision structure under the policy in force.
func (s *Service) subject(c *kmip.Call) *access.Subject {
	return s.policy.Load().Subject(c.Identity)
}

// authorize is the operation-level pass through the decision point
// (access.Subject.Decide): every registered operation makes it before its
// handler runs, so before any object is read or written.
func (s *Service) authorize(c *kmip.Call, op kmip.Operation) error {
	d := s.subject(c).Decide(c.Identity.Name, op, nil)
	if d.Outcome == access.Allow {
		return nil
	}
	return &kmip.Error{Reason: kmip.ResultReasonPermissionDenied,
		Message: "your identity may not call " + op.String(), Err: &access.Denied{Rule: d.Rule}}
}

// mayUse is the object-level pass through the decision point: whether the
// caller may apply the request's operation to o. It returns nil, Object
// Not Found (where existence must not leak) or Permission Denied, and does
// not allocate when it allows.
func (s *Service) mayUse(c *kmip.Call, o *objects.Object) error {
	return s.mayApply(c, opOf(c), o)
}

// mayApply is mayUse for op rather than the request's operation (Locate's
// listing, which other operations also run).
func (s *Service) mayApply(c *kmip.Call, op kmip.Operation, o *objects.Object) error {
	subj := s.subject(c)
	ao := access.Object{Owner: o.Owner, Tenant: o.Tenant, Type: o.Type, Grants: o.Grants}
	if op == 0 {
		// A call built without an item (internal use): visibility only.
		if subj.Sees(c.Identity.Name, &ao) {
			return nil
		}
		return hidden(o.ID, access.RuleNotOwner)
	}
	d := subj.Decide(c.Identity.Name, op, &ao)
	switch d.Outcome {
	case access.Allow:
		return nil
	case access.Deny:
		return &kmip.Error{Reason: kmip.ResultReasonPermissionDenied,
			Message: "your identity may not " + op.String() + " object " + o.ID, Err: &access.Denied{Rule: d.Rule}}
	}
	return hidden(o.ID, d.Rule)
}

// otherTenant reports whether a stored record's owner key puts the object
// in a tenant the caller may not see: decided before the record is
// decoded, on the path a missing object takes.
func (s *Service) otherTenant(c *kmip.Call, key string) bool {
	subj := s.subject(c)
	_, tenant := splitOwnerKey(key)
	return !subj.Global() && tenant != subj.StoredTenant()
}

// hidden is Object Not Found, worded as for a missing object, with the rule
// for the audit trail.
func hidden(id, rule string) error {
	e := notFound(id).(*kmip.Error)
	e.Err = &access.Denied{Rule: rule}
	return e
}

func opOf(c *kmip.Call) kmip.Operation {
	if c.Item == nil {
		return 0
	}
	return c.Item.Operation
}

// newOwned returns a new object owned by the caller, in its tenant.
func (s *Service) newOwned(c *kmip.Call, id string, typ kmip.ObjectType) *objects.Object {
	o := objects.New(id, typ, c.Identity.Name)
	o.Tenant = s.subject(c).StoredTenant()
	return o
}

// ownerKey is the store record's Owner: the owner, and after a NUL the
// tenant unless it is the default one, so that the tenant is known before
// the object is decoded (and records from before tenants read as the
// default tenant).
func ownerKey(owner, tenant string) string {
	if tenant == "" {
		return owner
	}
	return owner + "\x00" + tenant
}

func splitOwnerKey(k string) (owner, tenant string) {
	if i := strings.IndexByte(k, 0); i >= 0 {
		return k[:i], k[i+1:]
	}
	return k, ""
}

// globalAdmin reports whether the identity name is a global admin (the
// configured admins) under the policy in force.
func (s *Service) globalAdmin(name string) bool {
	subj, ok := s.policy.Load().NamedSubject(name)
	return ok && subj.Global()
}
