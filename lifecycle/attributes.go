package lifecycle

import (
	"bytes"

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
	var want func(objects.Attribute) bool
	if len(req.Refs) > 0 {
		want = func(a objects.Attribute) bool {
			for _, r := range req.Refs {
				if a.Tag != 0 && a.Tag == r.Tag {
					return true
				}
				if a.Tag == 0 && r.Tag == 0 && a.VendorID == string(r.VendorID) && a.Name == string(r.Name) {
					return true
				}
			}
			return false
		}
	}
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	objects.AppendAttributes(w, o, c.Version, want)
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

// sameValue compares two attribute values item by item.
func sameValue(a, b objects.Attribute) bool { return bytes.Equal(a.Raw, b.Raw) }
