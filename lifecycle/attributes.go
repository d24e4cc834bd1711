package lifecycle

import (
	"bytes"
	"slices"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// read runs fn in the batch's transaction if there is one, else in a
// read-only one.
func (s *Service) read(c *kmip.Call, fn func(tx *store.Tx) error) error {
	if tx, ok := c.Batch.Tx.(*store.Tx); ok {
		return fn(tx)
	}
	return s.cfg.Store.View(fn)
}

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

func sameRef(a, b kmip.AttrRef) bool {
	return a.Tag == b.Tag && bytes.Equal(a.VendorID, b.VendorID) && bytes.Equal(a.Name, b.Name)
}

// sameValue compares two attribute values item by item.
func sameValue(a, b objects.Attribute) bool { return bytes.Equal(a.Raw, b.Raw) }
