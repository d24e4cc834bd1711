package lifecycle

import (
	"bytes"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

func (s *Service) modifyAttribute(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.ModifyAttributeRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	na, err := objects.FromAttr(req.New)
	if err != nil {
		return err
	}
	if err := s.checkAttrSize(c, na); err != nil {
		return err
	}
	var cur objects.Attribute
	if req.HasCurrent {
		if cur, err = objects.FromAttr(req.Current); err != nil {
			return err
		}
		if !cur.SameAttribute(na) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Current Attribute and New Attribute name different attributes")
		}
	}
	return s.changeAttr(c, w, req.UniqueID, na.Tag, func(o *objects.Object) (objects.Attribute, int, error) {
		if err := checkChange(o, na, c.Version, now(c), false); err != nil {
			return na, 0, err
		}
		pos := positions(o, na)
		if len(pos) == 0 {
			return na, 0, kmip.Errorf(kmip.ResultReasonAttributeNotFound, "object has no %s", attrName(na))
		}
		k := 0
		switch {
		case !c.Version.V2():
			// KMIP 1.4 §4.15: the Attribute Index, 0 when absent.
			k = int(req.New.Index)
			if k >= len(pos) {
				return na, 0, kmip.Errorf(kmip.ResultReasonAttributeInstanceNotFound, "%s has no instance %d", attrName(na), k)
			}
		case req.HasCurrent:
			k = -1
			for i, j := range pos {
				if bytes.Equal(o.Attrs[j].Raw, cur.Raw) {
					k = i
					break
				}
			}
			if k < 0 {
				return na, 0, kmip.Errorf(kmip.ResultReasonAttributeInstanceNotFound, "no %s has the Current Attribute's value", attrName(na))
			}
		case len(pos) > 1:
			// KMIP 2.0 §6.1.33: without a Current Attribute the instance
			// must be unambiguous.
			return na, 0, kmip.Errorf(kmip.ResultReasonMultiValuedAttribute, "%s has %d instances: give the Current Attribute", attrName(na), len(pos))
		}
		if err := checkName(o, na, pos[k]); err != nil {
			return na, 0, err
		}
		o.Attrs[pos[k]] = na
		return na, k, nil
	})
}
