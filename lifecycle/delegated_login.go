package lifecycle

import (
	"github.com/kmipd/kmipd/internal/authn"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// maxRights bounds the Rights of one Delegated Login and the operations
// and objects of each, so a ticket's check stays cheap.
const maxRights = 64

// Delegated Login (KMIP 2.0 §6.1.29) gives a ticket like Login's that
// carries only the Rights the request lists: each Right names operations
// (none: any) and objects (none: any, else every object a request names
// must be listed). The server checks them before each batch item reaches a
// handler (authn.Rights, kmip.Rights): anything else fails with Not
// Authorized. The identity's own rights still apply on top.
func (s *Service) delegatedLogin(c *kmip.Call, w *ttlv.Builder) error {
	p := c.Item.Payload
	g, err := s.ticketGrant(c, &p)
	if err != nil {
		return err
	}
	var rights ttlv.Value
	if !p.ReadStructure(ttlv.TagRights, &rights) || !p.Empty() {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Delegated Login takes Rights after its optional fields")
	}
	r := &authn.Rights{}
	for !rights.Empty() {
		var rv ttlv.Value
		if !rights.ReadStructure(ttlv.TagRight, &rv) || len(r.Rights) == maxRights {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "invalid Rights")
		}
		right, err := readRight(rv)
		if err != nil {
			return err
		}
		r.Rights = append(r.Rights, right)
	}
	if len(r.Rights) == 0 {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Rights must hold a Right")
	}
	g.Rights = r
	return s.issueTicket(c, w, g)
}

func readRight(v ttlv.Value) (authn.Right, error) {
	var r authn.Right
	bad := kmip.Errorf(kmip.ResultReasonInvalidField, "invalid Right")
	if v.PeekTag() == ttlv.TagUsageLimits {
		return r, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "a Right with Usage Limits is not supported")
	}
	if v.PeekTag() == ttlv.TagOperations {
		var ops ttlv.Value
		v.ReadStructure(ttlv.TagOperations, &ops)
		for !ops.Empty() {
			var op uint32
			if !ops.ReadEnum(ttlv.TagOperation, &op) || len(r.Operations) == maxRights {
				return r, bad
			}
			r.Operations = append(r.Operations, kmip.Operation(op))
		}
	}
	if v.PeekTag() == ttlv.TagObjects {
		var objs ttlv.Value
		v.ReadStructure(ttlv.TagObjects, &objs)
		for !objs.Empty() {
			var id []byte
			if !objs.ReadText(ttlv.TagUniqueIdentifier, &id) || len(r.Objects) == maxRights {
				return r, bad
			}
			r.Objects = append(r.Objects, string(id))
		}
	}
	if !v.Empty() {
		return r, bad
	}
	if len(r.Operations) == 0 && len(r.Objects) == 0 {
		// It would allow everything: that is Login's ticket.
		return r, kmip.Errorf(kmip.ResultReasonInvalidField, "a Right must name operations or objects")
	}
	return r, nil
}
