package lifecycle

import (
	"bytes"
	"slices"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

func (s *Service) getAttributes(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.GetAttributesRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	o, err := s.lookup(c, req.UniqueID)
	if err != nil {
		return err
	}
	// One selector per named attribute, in the client's order; a name
	// given twice is answered once.
	sel := []func(objects.Attribute) bool{nil}
	if len(req.Refs) > 0 {
		sel = sel[:0]
		for i, r := range req.Refs {
			if slices.ContainsFunc(req.Refs[:i], func(p kmip.AttrRef) bool { return sameRef(p, r) }) {
				continue
			}
			sel = append(sel, func(a objects.Attribute) bool {
				if a.Tag != 0 {
					return a.Tag == r.Tag
				}
				return r.Tag == 0 && a.VendorID == string(r.VendorID) && a.Name == string(r.Name)
			})
		}
	}
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	objects.AppendAttributesIn(w, o, c.Version, sel...)
	return nil
}

func sameRef(a, b kmip.AttrRef) bool {
	return a.Tag == b.Tag && bytes.Equal(a.VendorID, b.VendorID) && bytes.Equal(a.Name, b.Name)
}
