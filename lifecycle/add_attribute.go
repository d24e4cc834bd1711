package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

func (s *Service) addAttribute(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.AddAttributeRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	if req.Attribute.Index != 0 {
		// KMIP 1.4 §4.14: the server assigns the index.
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Add Attribute takes no Attribute Index")
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
		n := len(positions(o, na))
		if n > 0 && !multiValued(na) {
			return na, 0, kmip.Errorf(kmip.ResultReasonAttributeSingleValued, "%s already has a value", attrName(na))
		}
		if err := checkName(o, na, -1); err != nil {
			return na, 0, err
		}
		if err := s.checkAttrCount(c, o, 1); err != nil {
			return na, 0, err
		}
		o.Add(na)
		return na, n, nil
	})
}
