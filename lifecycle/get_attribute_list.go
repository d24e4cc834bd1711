package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

func (s *Service) getAttributeList(c *kmip.Call, w *ttlv.Builder) error {
	var u kmip.UniqueID
	v := c.Item.Payload
	if err := kmip.ReadUniqueID(&v, &u); err != nil {
		return err
	}
	if !v.Empty() {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected items in Get Attribute List request")
	}
	o, err := s.lookup(c, u)
	if err != nil {
		return err
	}
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	objects.AppendAttributeNames(w, o, c.Version)
	return nil
}
