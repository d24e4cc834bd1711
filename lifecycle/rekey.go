package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// notCopied lists the attributes Re-key does not copy from the existing
// key (KMIP 2.0 §6.1.42, table 278), or that the server sets afresh for
// the replacement: its dates of creation and change, its destruction,
// compromise and revocation (not set), its Digest, Links, Random Number
// Generator, State and the server-managed history and identity attributes
// that describe the new key material. Usage Limits are handled apart.
var notCopied = map[ttlv.Tag]bool{
	ttlv.TagInitialDate:              true,
	ttlv.TagLastChangeDate:           true,
	ttlv.TagDestroyDate:              true,
	ttlv.TagArchiveDate:              true,
	ttlv.TagCompromiseOccurrenceDate: true,
	ttlv.TagCompromiseDate:           true,
	ttlv.TagRevocationReason:         true,
	ttlv.TagDigest:                   true,
	ttlv.TagLink:                     true,
	ttlv.TagRandomNumberGenerator:    true,
	ttlv.TagState:                    true,
	ttlv.TagShortUniqueIdentifier:    true,
	ttlv.TagKeyValuePresent:          true,
	ttlv.TagKeyFormatType:            true,
	ttlv.TagFresh:                    true,
	ttlv.TagAlwaysSensitive:          true,
	ttlv.TagNeverExtractable:         true,
	ttlv.TagUsageLimits:              true,
}

// reKey implements Re-key (KMIP 2.0 §6.1.42; 1.4 §4.4; the guide's §3.5).
// The replacement symmetric key gets new material from the backend and
// the existing key's attributes, except those of table 278:
//
//   - Initial Date and Last Change Date are now; Destroy Date, Compromise
//     (Occurrence) Date and Revocation Reason are not set; the Digest is
//     that of the new material; the State follows from the dates;
//   - the Names move: the replacement takes them all, the existing key
//     keeps none;
//   - the replacement's only Link is a Replaced Object link to the
//     existing key, which gains a Replacement Object link to it;
//   - Usage Limits: the Total is copied (the replacement starts with the
//     whole Total to use), and the existing key's Count is set to its
//     Total, as the table says;
//   - with an Offset, Activation Date = Initial Date + Offset and the
//     Process Start, Protect Stop and Deactivation Dates keep their
//     distance to it (table 277); without one they are copied.
//
// Attributes in the request are then applied to the replacement: a
// multi-valued attribute is added to the copied instances (TC-REKEY-1-20
// adds a Name at each step of a chain), a single-valued one replaces the
// copied value; only attributes a client may set on creation are allowed.
// The new Unique Identifier goes into the ID Placeholder.
//
// Only symmetric keys are re-keyed (Invalid Object Type otherwise), and a
// destroyed key is refused with Object Destroyed, as Get refuses it.
func (s *Service) reKey(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.ReKeyRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	oldID, err := resolveID(c, req.UniqueID)
	if err != nil {
		return err
	}
	var newID string
	err = s.update(c, func(tx *store.Tx) error {
		old, err := s.load(tx, c, oldID, true)
		if err != nil {
			return err
		}
		if old.Type != kmip.ObjectTypeSymmetricKey {
			return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "Re-key replaces symmetric keys, not a %s", old.Type)
		}
		if destroyed(old.State()) {
			return kmip.Errorf(kmip.ResultReasonObjectDestroyed, "object is destroyed")
		}
		if newID, err = tx.NewID(); err != nil {
			return err
		}
		t := now(c)
		nk := objects.New(newID, old.Type, old.Owner)
		nk.Tenant, nk.Grants = old.Tenant, followingGrants(old.Grants)
		for _, a := range old.Attrs {
			if !notCopied[a.Tag] {
				nk.Add(a)
			}
		}
		if req.HasOffset {
			at2 := t + int64(req.Offset)
			if at1, ok := old.Date(ttlv.TagActivationDate); ok {
				for _, tag := range []ttlv.Tag{ttlv.TagProcessStartDate, ttlv.TagProtectStopDate, ttlv.TagDeactivationDate} {
					if d, ok := old.Date(tag); ok {
						nk.SetDate(tag, d+(at2-at1))
					}
				}
			}
			nk.SetDate(ttlv.TagActivationDate, at2)
		}
		if ul, ok := usageLimits(old); ok {
			nk.Set(usageLimitsAttr(ul.total, ul.total, ul.unit))
			old.Set(usageLimitsAttr(ul.total, ul.total, ul.unit))
		}
		if err := applyReKeyAttrs(nk, req.Attributes); err != nil {
			return err
		}
		alg, okA := nk.Enum(ttlv.TagCryptographicAlgorithm)
		bits, okL := nk.Int(ttlv.TagCryptographicLength)
		if !okA || !okL {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "the key to replace lacks Cryptographic Algorithm or Length")
		}
		n, ok := keyBytes(kmip.CryptographicAlgorithm(alg), bits)
		if !ok {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "cannot create a %d-bit %s key", bits, kmip.CryptographicAlgorithm(alg))
		}
		nk.Add(objects.LinkAttr(kmip.LinkTypeReplacedObjectLink, old.ID))
		blob, err := s.cfg.Backend.GenerateSymmetric(c.Context(), newID, n)
		if err != nil {
			return err
		}
		material, err := s.cfg.Backend.Open(c.Context(), newID, blob, make([]byte, 0, n))
		if err != nil {
			return err
		}
		nk.Blob, nk.KeyFormat = blob, kmip.KeyFormatTypeRaw
		initServerAttrs(c, nk, material, kmip.KeyFormatTypeRaw)
		clear(material)

		// The existing key gives up its names (saved first, so that the
		// store releases them) and points to its replacement.
		old.Remove(ttlv.TagName)
		old.Add(objects.LinkAttr(kmip.LinkTypeReplacementObjectLink, newID))
		old.SetDate(ttlv.TagLastChangeDate, t)
		if err := s.save(tx, old); err != nil {
			return err
		}
		return s.saveNew(tx, c, nk)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = newID
	w.AddText(ttlv.TagUniqueIdentifier, newID)
	return nil
}

// applyReKeyAttrs applies the request's attributes to the replacement key
// nk: multi-valued ones are added, single-valued ones replace the copied
// value. As on Create, only attributes a client may set initially are
// accepted (Attribute Read Only otherwise), and a Name the key already has
// is Non Unique Name Attribute.
func applyReKeyAttrs(nk *objects.Object, list kmip.AttrList) error {
	for {
		a, ok, err := list.Next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		oa, err := objects.FromAttr(a)
		if err != nil {
			return err
		}
		if oa.IsVendor() {
			if oa.VendorID == "y" {
				return kmip.Errorf(kmip.ResultReasonAttributeReadOnly, "attribute %s belongs to the server", attrName(oa))
			}
			nk.Add(oa)
			continue
		}
		info, known := kmip.AttrInfoOf(oa.Tag)
		switch {
		case !known:
			return kmip.Errorf(kmip.ResultReasonInvalidAttribute, "%s is not an attribute", oa.Tag)
		case oa.Tag == ttlv.TagObjectType:
			if v, _ := enumOf(oa); kmip.ObjectType(v) != nk.Type {
				return kmip.Errorf(kmip.ResultReasonInvalidField, "Object Type attribute contradicts the key")
			}
			continue
		case !info.ClientInit:
			return errReadOnly(oa)
		}
		if err := checkName(nk, oa, -1); err != nil {
			return err
		}
		if info.Multi {
			nk.Add(oa)
		} else {
			nk.Set(oa)
		}
	}
}

// usageLimitsValue is a Usage Limits attribute's content (KMIP 2.0 §4.60).
type usageLimitsValue struct {
	total int64
	unit  uint32
}

func usageLimits(o *objects.Object) (usageLimitsValue, bool) {
	all := o.All(ttlv.TagUsageLimits)
	if len(all) == 0 {
		return usageLimitsValue{}, false
	}
	it, ok := all[0].Item()
	if !ok {
		return usageLimitsValue{}, false
	}
	c := it.Children()
	var ul usageLimitsValue
	if !c.ReadLong(ttlv.TagUsageLimitsTotal, &ul.total) {
		return usageLimitsValue{}, false
	}
	if c.PeekTag() == ttlv.TagUsageLimitsCount {
		c.Skip()
	}
	if !c.ReadEnum(ttlv.TagUsageLimitsUnit, &ul.unit) {
		return usageLimitsValue{}, false
	}
	return ul, true
}

// usageLimitsAttr builds a Usage Limits attribute {Total, Count, Unit}.
func usageLimitsAttr(total, count int64, unit uint32) objects.Attribute {
	var b ttlv.Builder
	b.Begin(ttlv.TagUsageLimits)
	b.AddLong(ttlv.TagUsageLimitsTotal, total)
	b.AddLong(ttlv.TagUsageLimitsCount, count)
	b.AddEnum(ttlv.TagUsageLimitsUnit, unit)
	b.End()
	raw, _ := b.Bytes()
	return objects.Attribute{Tag: ttlv.TagUsageLimits, Raw: raw}
}
