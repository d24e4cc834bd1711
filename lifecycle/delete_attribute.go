package lifecycle

import (
	"bytes"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

func (s *Service) deleteAttribute(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.DeleteAttributeRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	var (
		proto objects.Attribute // names the attribute
		cur   objects.Attribute // the instance's value, with HasCurrent
		err   error
	)
	if req.HasCurrent {
		if cur, err = objects.FromAttr(req.Current); err != nil {
			return err
		}
		proto = cur
		if req.HasRef && !refAttr(req.Ref).SameAttribute(cur) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Attribute Reference and Current Attribute name different attributes")
		}
	} else {
		proto = refAttr(req.Ref)
	}
	if proto.Tag == 0 && (proto.VendorID == "" || proto.Name == "") {
		// A 1.x Attribute Name that names no attribute.
		return kmip.Errorf(kmip.ResultReasonAttributeNotFound, "no attribute %q", proto.Name)
	}
	return s.changeAttr(c, w, req.UniqueID, proto.Tag, func(o *objects.Object) (objects.Attribute, int, error) {
		if err := checkChange(o, proto, c.Version, now(c), true); err != nil {
			return objects.Attribute{}, 0, err
		}
		pos := positions(o, proto)
		if len(pos) == 0 {
			return objects.Attribute{}, 0, kmip.Errorf(kmip.ResultReasonAttributeNotFound, "object has no %s", attrName(proto))
		}
		k := -1
		switch {
		case !c.Version.V2():
			// KMIP 1.4 §4.16: the Attribute Index, 0 when absent.
			if k = int(req.Index); k >= len(pos) {
				return objects.Attribute{}, 0, kmip.Errorf(kmip.ResultReasonAttributeInstanceNotFound, "%s has no instance %d", attrName(proto), k)
			}
		case req.HasCurrent:
			for i, j := range pos {
				if bytes.Equal(o.Attrs[j].Raw, cur.Raw) {
					k = i
					break
				}
			}
			if k < 0 {
				return objects.Attribute{}, 0, kmip.Errorf(kmip.ResultReasonAttributeInstanceNotFound, "no %s has the Current Attribute's value", attrName(proto))
			}
		default:
			// An Attribute Reference alone deletes every instance.
			for i := len(pos) - 1; i >= 0; i-- {
				o.Attrs = append(o.Attrs[:pos[i]], o.Attrs[pos[i]+1:]...)
			}
			return objects.Attribute{}, 0, nil
		}
		gone := o.Attrs[pos[k]]
		o.Attrs = append(o.Attrs[:pos[k]], o.Attrs[pos[k]+1:]...)
		return gone, k, nil
	})
}
