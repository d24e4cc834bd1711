package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

func (s *Service) setAttribute(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.AddAttributeRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	na, err := objects.FromAttr(req.Attribute)
	if err != nil {
		return err
	}
	if err := s.checkAttrSize(c, na); err != nil {
		return err
	}
	return s.changeAttr(c, w, req.UniqueID, na.Tag, func(o *objects.Object) (objects.Attribute, int, error) {
		if err := checkChange(o, na, c.Version, now(c), false); err != nil {
			return na, 0, err
		}
		// KMIP 2.0 §6.1.47: none → add, one → modify, more → error.
		switch pos := positions(o, na); len(pos) {
		case 0:
			if err := checkName(o, na, -1); err != nil {
				return na, 0, err
			}
			if err := s.checkAttrCount(c, o, 1); err != nil {
				return na, 0, err
			}
			o.Add(na)
		case 1:
			if err := checkName(o, na, pos[0]); err != nil {
				return na, 0, err
			}
			o.Attrs[pos[0]] = na
		default:
			return na, 0, kmip.Errorf(kmip.ResultReasonMultiValuedAttribute, "%s has %d instances", attrName(na), len(pos))
		}
		return na, 0, nil
	})
}
