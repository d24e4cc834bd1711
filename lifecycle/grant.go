package lifecycle

import (
	"slices"

	"github.com/kmipd/kmipd/internal/access"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// Grant, Revoke Grant and List Grants are kmipd vendor operations (KMIP
// 2.0 §10.1.1.3 extension values) on one object's grants: the operations
// other identities of its tenant may apply to it (internal/access). Query
// does not list them (query.go).
//
//	Grant        request:  Unique Identifier, Grantee, Operation (one or
//	                       more), Follow Re-key (optional)
//	             response: Unique Identifier
//	Revoke Grant request:  Unique Identifier, Grantee, Operation (none:
//	                       all of the grantee's)
//	             response: Unique Identifier
//	List Grants  request:  Unique Identifier
//	             response: Unique Identifier, Grant Entry per grantee
//	                       {Grantee, Operation..., Follow Re-key}
//
// Grant adds to what the grantee already holds; Follow Re-key, when given,
// replaces the grant's setting. Only the owner, a tenant admin or a global
// admin may grant or revoke; the grantee must not be the owner, and an
// identity the configuration binds to another tenant is refused.
const (
	OperationGrant       = access.OperationGrant
	OperationRevokeGrant = access.OperationRevokeGrant
	OperationListGrants  = access.OperationListGrants
)

// Their payload items, extension tags (KMIP 2.0 §10.1.1).
const (
	TagGrantee     = access.TagGrantee
	TagFollowReKey = access.TagFollowReKey
	TagGrantEntry  = access.TagGrantEntry
)

const maxGrantsPerObj = 256

// grantRequest is the decoded payload of Grant or Revoke Grant.
type grantRequest struct {
	id        kmip.UniqueID
	grantee   string
	ops       access.OpSet
	follow    bool
	hasFollow bool
}

func decodeGrantRequest(v ttlv.Value, withOps bool) (*grantRequest, error) {
	r := &grantRequest{}
	bad := func(what string) error { return kmip.Errorf(kmip.ResultReasonInvalidField, "%s", what) }
	if it, ok := v.Peek(); ok && it.Tag == ttlv.TagUniqueIdentifier {
		v.Skip()
		switch it.Type {
		case ttlv.TypeTextString:
			r.id = kmip.UniqueID{Text: it.Data, Kind: kmip.UniqueIDText}
		case ttlv.TypeEnumeration:
			r.id = kmip.UniqueID{Enum: kmip.UniqueIdentifier(it.Uint32()), Kind: kmip.UniqueIDEnum}
		default:
			return nil, bad("invalid Unique Identifier")
		}
	}
	if !withOps {
		if !v.Empty() {
			return nil, bad("List Grants takes only a Unique Identifier")
		}
		return r, nil
	}
	var g []byte
	if !v.ReadText(TagGrantee, &g) || len(g) == 0 || len(g) > kmip.MaxIdentityLen {
		return nil, bad("a Grantee identity is required")
	}
	r.grantee = string(g)
	for v.PeekTag() == ttlv.TagOperation {
		var op uint32
		if !v.ReadEnum(ttlv.TagOperation, &op) {
			return nil, bad("invalid Operation")
		}
		if !access.Grantable.Has(kmip.Operation(op)) {
			return nil, bad(kmip.Operation(op).String() + " cannot be granted: a grant gives operations on one existing object")
		}
		r.ops.Add(kmip.Operation(op))
	}
	if v.PeekTag() == TagFollowReKey {
		if !v.ReadBool(TagFollowReKey, &r.follow) {
			return nil, bad("invalid Follow Re-key")
		}
		r.hasFollow = true
	}
	if !v.Empty() {
		return nil, bad("unexpected field " + v.PeekTag().String())
	}
	return r, nil
}

func (s *Service) grant(c *kmip.Call, w *ttlv.Builder) error {
	r, err := decodeGrantRequest(c.Item.Payload, true)
	if err != nil {
		return err
	}
	if r.ops.Empty() {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Grant needs at least one Operation")
	}
	return s.changeGrants(c, w, r, func(o *objects.Object) error {
		if r.grantee == o.Owner {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "the owner needs no grant")
		}
		if gs, ok := s.policy.Load().NamedSubject(r.grantee); ok && !gs.Global() && gs.StoredTenant() != o.Tenant {
			// Worded as for any identity that cannot hold the grant: the
			// answer must not tell which tenant another identity is in.
			return kmip.Errorf(kmip.ResultReasonInvalidField, "identity %q cannot be granted operations on this object", r.grantee)
		}
		i := slices.IndexFunc(o.Grants, func(g objects.Grant) bool { return g.Identity == r.grantee })
		if i < 0 {
			if len(o.Grants) >= maxGrantsPerObj {
				return kmip.Errorf(kmip.ResultReasonPermissionDenied, "an object holds at most %d grants", maxGrantsPerObj)
			}
			o.Grants = append(o.Grants, objects.Grant{Identity: r.grantee})
			i = len(o.Grants) - 1
		}
		g := &o.Grants[i]
		g.Ops = access.NewOpSet(g.Ops...).Union(r.ops).Ops()
		if r.hasFollow {
			g.FollowReKey = r.follow
		}
		return nil
	})
}

func (s *Service) revokeGrant(c *kmip.Call, w *ttlv.Builder) error {
	r, err := decodeGrantRequest(c.Item.Payload, true)
	if err != nil {
		return err
	}
	if r.hasFollow {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Revoke Grant takes no Follow Re-key")
	}
	return s.changeGrants(c, w, r, func(o *objects.Object) error {
		i := slices.IndexFunc(o.Grants, func(g objects.Grant) bool { return g.Identity == r.grantee })
		if i < 0 {
			return nil // nothing held: revoking is idempotent
		}
		var left []kmip.Operation
		if !r.ops.Empty() {
			for _, op := range o.Grants[i].Ops {
				if !r.ops.Has(op) {
					left = append(left, op)
				}
			}
		}
		if len(left) == 0 {
			o.Grants = slices.Delete(o.Grants, i, i+1)
			if len(o.Grants) == 0 {
				o.Grants = nil
			}
		} else {
			o.Grants[i].Ops = left
		}
		return nil
	})
}

// changeGrants loads the request's object for writing (the decision
// point's object-level pass checks the Grant or Revoke Grant operation),
// makes sure the caller is one who may grant, applies change and saves.
func (s *Service) changeGrants(c *kmip.Call, w *ttlv.Builder, r *grantRequest, change func(*objects.Object) error) error {
	id, err := resolveID(c, r.id)
	if err != nil {
		return err
	}
	err = s.update(c, func(tx *store.Tx) error {
		o, err := s.load(tx, c, id, true)
		if err != nil {
			return err
		}
		ao := access.Object{Owner: o.Owner, Tenant: o.Tenant, Type: o.Type, Grants: o.Grants}
		if !s.subject(c).MayGrant(c.Identity.Name, &ao) {
			return &kmip.Error{Reason: kmip.ResultReasonPermissionDenied,
				Message: "only the owner or an admin may change an object's grants", Err: &access.Denied{Rule: access.RuleNotOwner}}
		}
		if err := change(o); err != nil {
			return err
		}
		return s.save(tx, o)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = id
	w.AddText(ttlv.TagUniqueIdentifier, id)
	return nil
}

func (s *Service) listGrants(c *kmip.Call, w *ttlv.Builder) error {
	r, err := decodeGrantRequest(c.Item.Payload, false)
	if err != nil {
		return err
	}
	o, err := s.lookup(c, r.id)
	if err != nil {
		return err
	}
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	for _, g := range o.Grants {
		w.Begin(TagGrantEntry)
		w.AddText(TagGrantee, g.Identity)
		for _, op := range g.Ops {
			w.AddEnum(ttlv.TagOperation, uint32(op))
		}
		w.AddBool(TagFollowReKey, g.FollowReKey)
		w.End()
	}
	return nil
}

// followingGrants are the grants Re-key copies to the replacement: those
// made with Follow Re-key.
func followingGrants(gs []objects.Grant) []objects.Grant {
	var out []objects.Grant
	for _, g := range gs {
		if g.FollowReKey {
			g.Ops = slices.Clone(g.Ops)
			out = append(out, g)
		}
	}
	return out
}
