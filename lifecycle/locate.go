package lifecycle

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// filter is the attribute part of a Locate request, grouped by attribute.
type filter struct {
	groups [][]objects.Attribute // instances of one attribute each
}

func newFilter(list kmip.AttrList) (*filter, error) {
	f := &filter{}
	for {
		a, ok, err := list.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return f, nil
		}
		oa, err := objects.FromAttr(a)
		if err != nil {
			return nil, err
		}
		placed := false
		for i, g := range f.groups {
			if g[0].SameAttribute(oa) {
				f.groups[i] = append(g, oa)
				placed = true
				break
			}
		}
		if !placed {
			f.groups = append(f.groups, []objects.Attribute{oa})
		}
	}
}

// first returns the first filter value of tag, for choosing an index.
func (f *filter) first(tag ttlv.Tag) (ttlv.Item, bool) {
	for _, g := range f.groups {
		if g[0].Tag == tag {
			return g[0].Item()
		}
	}
	return ttlv.Item{}, false
}

// match reports whether o satisfies every attribute of the filter
// (KMIP 2.0 §6.1.27): a date attribute given twice is a range; a usage mask
// matches objects allowing at least those usages; anything else must be
// present with an equal value.
func (f *filter) match(o *objects.Object) bool {
	for _, g := range f.groups {
		have := objectInstances(o, g[0])
		if len(have) == 0 {
			if defaultPolicy(g) {
				continue
			}
			return false
		}
		it0, _ := g[0].Item()
		switch {
		case it0.Type == ttlv.TypeDateTime && len(g) == 2:
			it1, _ := g[1].Item()
			lo, hi := it0.Int64(), it1.Int64()
			if !anyItem(have, func(it ttlv.Item) bool { return it.Int64() >= lo && it.Int64() <= hi }) {
				return false
			}
		case g[0].Tag != 0 && ttlv.IsMask(g[0].Tag):
			want := it0.Uint32()
			if !anyItem(have, func(it ttlv.Item) bool { return it.Uint32()&want == want }) {
				return false
			}
		default:
			for _, w := range g {
				found := false
				for _, h := range have {
					if sameValue(h, w) || w.Tag == ttlv.TagX_509CertificateIdentifier && sameCertID(h, w) {
						found = true
						break
					}
				}
				if !found {
					return false
				}
			}
		}
	}
	return true
}

// defaultPolicy reports whether g asks for Operation Policy Name
// "default": the policy KMIP 1.x names for objects created without one
// (KMIP 1.4 §3.18.2.1), which is how kmipd governs every object (its owner
// and the admins may do everything). So an object without the attribute
// matches it, as in PyKMIP's server, which gives every object that name.
func defaultPolicy(g []objects.Attribute) bool {
	if g[0].Tag != ttlv.TagOperationPolicyName || len(g) != 1 {
		return false
	}
	it, ok := g[0].Item()
	return ok && string(it.Data) == "default"
}

// sameCertID compares two X.509 Certificate Identifiers with their serial
// numbers reduced to the INTEGER's content octets: the test cases give the
// serial number both as a whole DER INTEGER and as its content
// (TC-PKCS12-2 step 6 locates by 0209…, the certificate shows 00…).
func sameCertID(a, b objects.Attribute) bool {
	x, y := contentSerialID(a), contentSerialID(b)
	return bytes.Equal(x.Raw, y.Raw)
}

func objectInstances(o *objects.Object, like objects.Attribute) []objects.Attribute {
	if like.Tag != 0 {
		return o.All(like.Tag)
	}
	return o.Vendor(like.VendorID, like.Name)
}

func anyItem(as []objects.Attribute, pred func(ttlv.Item) bool) bool {
	for _, a := range as {
		if it, ok := a.Item(); ok && pred(it) {
			return true
		}
	}
	return false
}

func (s *Service) locate(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.LocateRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	mask := kmip.StorageStatusMask(req.StorageStatusMask)
	if mask == 0 {
		mask = kmip.StorageStatusMaskOnLineStorage
	}
	ids, total, err := s.locateIDs(c, &req, mask, int(req.OffsetItems), int(req.MaximumItems))
	if err != nil {
		return err
	}
	writeLocated(c, w, ids, total)
	return nil
}

// locateIDs returns, newest first, the objects the client may see that
// match the request's attributes and are in the storage classes of mask
// (on line, destroyed), after skipping offset and at most maximum (0: no
// limit), and how many matched in all.
func (s *Service) locateIDs(c *kmip.Call, req *kmip.LocateRequest, mask kmip.StorageStatusMask, offset, maximum int) ([]string, int, error) {
	f, err := newFilter(req.Attributes)
	if err != nil {
		return nil, 0, err
	}
	var ids []string
	total := 0
	ctx := c.Context()
	err = s.read(c, func(tx *store.Tx) error {
		visit := func(id string, _ uint64) bool {
			if ctx.Err() != nil {
				return false // canceled (Cancel, or the server gave up): stop scanning
			}
			rec, err := tx.Get(id)
			if err != nil || s.otherTenant(c, rec.Owner) {
				return true
			}
			o := new(objects.Object)
			if o.UnmarshalBinary(rec.Data) != nil {
				return true
			}
			o.Owner, o.Tenant = splitOwnerKey(rec.Owner)
			if s.mayApply(c, kmip.OperationLocate, o) != nil {
				return true
			}
			Effective(o, c.Now)
			destroyed := o.State() == kmip.StateDestroyed || o.State() == kmip.StateDestroyedCompromised
			if destroyed && mask&kmip.StorageStatusMaskDestroyedStorage == 0 ||
				!destroyed && mask&kmip.StorageStatusMaskOnLineStorage == 0 {
				return true
			}
			if !f.match(o) {
				return true
			}
			total++
			if total > offset && (maximum == 0 || len(ids) < maximum) {
				ids = append(ids, id)
			}
			return true
		}
		// Newest first (KMIP 2.0 §6.1.27), from the most selective index.
		if it, ok := f.first(ttlv.TagName); ok {
			if v, ok := it.Children().Find(ttlv.TagNameValue); ok {
				return tx.Lookup(idxName, v.Data, visit)
			}
		}
		if it, ok := f.first(ttlv.TagObjectGroup); ok {
			return tx.Lookup(idxGroup, it.Data, visit)
		}
		for _, g := range f.groups {
			if g[0].Tag != 0 {
				continue
			}
			if kind, ok := vendorKind(g[0].VendorID, g[0].Name); ok {
				if it, ok := g[0].Item(); ok {
					return tx.Lookup(kind, it.Data, visit)
				}
			}
		}
		if it, ok := f.first(ttlv.TagState); ok {
			return lookupState(tx, kmip.State(it.Uint32()), visit)
		}
		if it, ok := f.first(ttlv.TagObjectType); ok {
			return tx.Lookup(idxType, u32(it.Uint32()), visit)
		}
		return tx.ScanIDs(visit)
	})
	return ids, total, err
}

// writeLocated writes a Locate response: Located Items (KMIP 1.3 on) and
// the identifiers. The ID Placeholder is set only by a Locate returning
// exactly one object, and emptied otherwise (KMIP 2.0 §6.1).
func writeLocated(c *kmip.Call, w *ttlv.Builder, ids []string, total int) {
	if len(ids) == 1 {
		c.Batch.IDPlaceholder = ids[0]
	} else {
		c.Batch.IDPlaceholder = ""
	}
	if c.Version.AtLeast(kmip.V1_3) {
		w.AddInt32(ttlv.TagLocatedItems, int32(total))
	}
	for _, id := range ids {
		w.AddText(ttlv.TagUniqueIdentifier, id)
	}
}

// lookupState visits, newest first, the objects that may be in state st.
// The index holds the state last written; dates may have moved an object on
// since (Pre-Active → Active → Deactivated), so the states it could have
// come from are visited too, and the caller checks the effective state.
func lookupState(tx *store.Tx, st kmip.State, visit func(id string, seq uint64) bool) error {
	from := []kmip.State{st}
	switch st {
	case kmip.StateActive:
		from = []kmip.State{kmip.StatePreActive, kmip.StateActive}
	case kmip.StateDeactivated:
		from = []kmip.State{kmip.StatePreActive, kmip.StateActive, kmip.StateDeactivated}
	}
	type cand struct {
		id  string
		seq uint64
	}
	var cands []cand
	for _, s := range from {
		err := tx.Lookup(idxState, u32(uint32(s)), func(id string, seq uint64) bool {
			cands = append(cands, cand{id, seq})
			return true
		})
		if err != nil {
			return err
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Compare(b.seq, a.seq) })
	for _, c := range cands {
		if !visit(c.id, c.seq) {
			break
		}
	}
	return nil
}

// locateStored is Locate with the archival storage class (KMIP 2.0
// §6.1.27 Storage Status Mask): Service.locate above knows on-line and
// destroyed objects, and would count an archived one as on line. While no
// object is archived it is called as it is (an Archival-only mask then
// matches nothing). Otherwise it is asked for every match in the on-line
// and destroyed classes the request wants, and in both when the request
// wants archived objects (an archived object is normally on line, but
// Import may bring in one whose State says destroyed); the matches are then
// sorted into their classes (an object with an Archive Date is in archival
// storage whatever its State), newest first still, and Offset Items,
// Maximum Items, Located Items and the ID Placeholder are applied to those
// kept.
func (s *Service) locateStored(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.LocateRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	const (
		online    = kmip.StorageStatusMaskOnLineStorage
		archival  = kmip.StorageStatusMaskArchivalStorage
		destroyed = kmip.StorageStatusMaskDestroyedStorage
	)
	mask := kmip.StorageStatusMask(req.StorageStatusMask)
	if mask == 0 {
		mask = online
	}
	some, err := s.anyArchived(c)
	if err != nil {
		return err
	}
	if !some && mask&(online|destroyed) != 0 {
		return s.locate(c, w)
	}
	var ids []string
	if inner := mask&(online|destroyed) | boolMask(mask&archival != 0, online|destroyed); some && inner != 0 {
		all, _, err := s.locateIDs(c, &req, inner, 0, 0)
		if err != nil {
			return err
		}
		err = s.read(c, func(tx *store.Tx) error {
			for _, id := range all {
				o, err := s.load(tx, c, id, false)
				if err != nil {
					continue
				}
				var class kmip.StorageStatusMask
				switch {
				case isArchived(o):
					class = archival
				case destroyedState(o.State()):
					class = destroyed
				default:
					class = online
				}
				if mask&class != 0 {
					ids = append(ids, id)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	total := len(ids)
	ids = ids[min(int(req.OffsetItems), len(ids)):]
	if req.MaximumItems > 0 && len(ids) > int(req.MaximumItems) {
		ids = ids[:req.MaximumItems]
	}
	writeLocated(c, w, ids, total)
	return nil
}

func boolMask(b bool, m kmip.StorageStatusMask) kmip.StorageStatusMask {
	if b {
		return m
	}
	return 0
}

// destroyedState is state.go's destroyed, named apart from the Storage
// Status Mask bit in locateStored.
func destroyedState(s kmip.State) bool { return destroyed(s) }

// sameValue compares two attribute values item by item.
func sameValue(a, b objects.Attribute) bool { return bytes.Equal(a.Raw, b.Raw) }
