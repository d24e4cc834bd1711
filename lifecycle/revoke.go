package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

func (s *Service) revoke(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.RevokeRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	compromise := req.Code == kmip.RevocationReasonCodeKeyCompromise || req.Code == kmip.RevocationReasonCodeCACompromise
	if !compromise && req.CompromiseOccurrenceDate != 0 {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Compromise Occurrence Date given with a non-compromise reason")
	}
	id, err := s.updateObject(c, w, req.UniqueID, func(_ *store.Tx, o *objects.Object) (bool, error) {
		ev := EventRevokeOther
		if compromise {
			ev = EventRevokeCompromise
		}
		st, err := Transition(o.State(), ev)
		if err != nil {
			return false, err
		}
		o.SetState(st)
		if compromise {
			o.SetDate(ttlv.TagCompromiseDate, now(c))
			occ := req.CompromiseOccurrenceDate
			if occ == 0 {
				occ, _ = o.Date(ttlv.TagInitialDate)
			}
			o.SetDate(ttlv.TagCompromiseOccurrenceDate, occ)
		} else {
			o.SetDate(ttlv.TagDeactivationDate, now(c))
		}
		o.Set(revocationReasonAttr(req.Code, req.Message))
		return true, nil
	})
	if err == nil {
		s.forgetKey(id)
	}
	return err
}

// revocationReasonAttr builds the Revocation Reason attribute.
func revocationReasonAttr(code kmip.RevocationReasonCode, msg []byte) objects.Attribute {
	var b ttlv.Builder
	b.Begin(ttlv.TagRevocationReason)
	b.AddEnum(ttlv.TagRevocationReasonCode, uint32(code))
	if msg != nil {
		b.AddTextBytes(ttlv.TagRevocationMessage, msg)
	}
	b.End()
	raw, _ := b.Bytes()
	return objects.Attribute{Tag: ttlv.TagRevocationReason, Raw: raw}
}
