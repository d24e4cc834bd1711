package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// reKeyKeyPairRequest is the Re-key Key Pair request payload (KMIP 2.0
// §6.1.43: Private Key Unique Identifier?, Offset?, Common, Private Key and
// Public Key Attributes?, Common, Private and Public Protection Storage
// Masks?; KMIP 1.4 §4.5: Private Key Unique Identifier?, Offset?, Common,
// Private Key and Public Key Template-Attributes?).
type reKeyKeyPairRequest struct {
	privateID kmip.UniqueID
	offset    uint32 // seconds, valid when hasOffset
	hasOffset bool
	// The attributes the client wants on the replacement keys, in the
	// request's form.
	attrs createKeyPairRequest
}

func (r *reKeyKeyPairRequest) decode(v ttlv.Value, ver kmip.Version) error {
	*r = reKeyKeyPairRequest{}
	if it, ok := v.Peek(); ok && it.Tag == ttlv.TagPrivateKeyUniqueIdentifier {
		v.Skip()
		switch it.Type {
		case ttlv.TypeTextString:
			r.privateID = kmip.UniqueID{Text: it.Data, Kind: kmip.UniqueIDText}
		case ttlv.TypeEnumeration:
			r.privateID = kmip.UniqueID{Enum: kmip.UniqueIdentifier(it.Uint32()), Kind: kmip.UniqueIDEnum}
		default:
			return kmip.Errorf(kmip.ResultReasonInvalidField, "invalid Private Key Unique Identifier")
		}
	}
	if v.PeekTag() == ttlv.TagOffset {
		if !v.ReadInterval(ttlv.TagOffset, &r.offset) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Offset must be an Interval")
		}
		r.hasOffset = true
	}
	// The rest is what a Create Key Pair request holds.
	if err := r.attrs.decode(v, ver); err != nil {
		if ke, ok := err.(*kmip.Error); ok && ke.Reason == kmip.ResultReasonInvalidField {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected item in Re-key Key Pair request")
		}
		return err
	}
	return nil
}

// reKeyKeyPair implements Re-key Key Pair (KMIP 2.0 §6.1.43; 1.4 §4.5): a
// replacement pair for an existing private key and the public key its
// Public Key Link names. Each replacement key is made as Re-key makes a
// replacement symmetric key (rekey.go), from its own half of the existing
// pair:
//
//   - it has the attributes of the existing key but those of table 278
//     (notCopied); Initial Date and Last Change Date are now, the Digest
//     is that of the new material and the State follows from the dates;
//   - the Names move: the replacement takes them all, the existing key
//     keeps none;
//   - it has a Replaced Object link to the existing key, which gains a
//     Replacement Object link to it; the replacement private and public
//     keys are linked to each other (Public Key Link, Private Key Link);
//   - Usage Limits: the Total is copied and the existing key's Count is
//     set to its Total;
//   - with an Offset, Activation Date = Initial Date + Offset and the
//     other dates keep their distance to it; without one they are copied.
//
// The request's Common attributes and then the key's own (Private Key or
// Public Key Attributes, which take precedence, as on Create Key Pair)
// are applied to each replacement as Re-key applies its attributes. The
// new pair has the algorithm and length (or curve) of the existing one
// and is generated as Create Key Pair generates pairs: by the backend when
// it can, else by the standard library. The replacement private key's
// identifier goes into the ID Placeholder.
//
// The identifier must name a Private Key (Illegal Object Type, which 1.x
// clients see as Invalid Field) with a Public Key Link to a Public Key
// (Invalid Field); neither may be destroyed (Object Destroyed) or
// archived (Object Archived).
func (s *Service) reKeyKeyPair(c *kmip.Call, w *ttlv.Builder) error {
	var req reKeyKeyPairRequest
	if err := req.decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	oldID, err := resolveID(c, req.privateID)
	if err != nil {
		return err
	}
	// A pair the backend does not generate itself is generated before the
	// store transaction, as Create Key Pair does: large RSA keys take a
	// while. Its spec is checked again inside the transaction.
	var spec0 keyPairSpec
	err = s.read(c, func(tx *store.Tx) error {
		p, err := s.planReKeyPair(tx, c, &req, oldID, "", "", false)
		if err == nil {
			spec0 = p.spec
		}
		return err
	})
	if err != nil {
		return err
	}
	goPriv, goPub, err := s.pregenerate(spec0)
	if err != nil {
		return err
	}
	defer clear(goPriv)
	var privID, pubID string
	err = s.update(c, func(tx *store.Tx) error {
		var err error
		if privID, pubID, err = newPairIDs(tx); err != nil {
			return err
		}
		p, err := s.planReKeyPair(tx, c, &req, oldID, privID, pubID, true)
		if err != nil {
			return err
		}
		gp, gq := goPriv, goPub
		if p.spec != spec0 {
			gp, gq = nil, nil // the key changed meanwhile
		}
		// The existing keys give up their names (saved first, so that the
		// store releases them) and point to their replacements.
		t := now(c)
		for _, x := range []struct{ old, nk *objects.Object }{{p.oldPriv, p.newPriv}, {p.oldPub, p.newPub}} {
			x.old.Remove(ttlv.TagName)
			x.old.Add(objects.LinkAttr(kmip.LinkTypeReplacementObjectLink, x.nk.ID))
			x.old.SetDate(ttlv.TagLastChangeDate, t)
			if err := s.save(tx, x.old); err != nil {
				return err
			}
		}
		return s.storeKeyPair(c, tx, p.newPriv, p.newPub, p.spec, gp, gq)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = privID
	w.AddText(ttlv.TagPrivateKeyUniqueIdentifier, privID)
	w.AddText(ttlv.TagPublicKeyUniqueIdentifier, pubID)
	return nil
}

// reKeyPairPlan is an existing key pair and its replacement, not yet
// generated nor saved.
type reKeyPairPlan struct {
	oldPriv, oldPub *objects.Object
	newPriv, newPub *objects.Object
	spec            keyPairSpec
}

// planReKeyPair loads the existing pair of the private key oldID, checks
// it, and makes the replacement objects privID and pubID with their
// attributes (those copied, the dates, the Usage Limits, the request's,
// the pair's algorithm and length and the Replaced Object links). The
// existing keys get their new Usage Limits; nothing is saved.
func (s *Service) planReKeyPair(tx *store.Tx, c *kmip.Call, req *reKeyKeyPairRequest, oldID, privID, pubID string, writable bool) (*reKeyPairPlan, error) {
	var p reKeyPairPlan
	var err error
	if p.oldPriv, err = s.load(tx, c, oldID, writable); err != nil {
		return nil, err
	}
	if p.oldPriv.Type != kmip.ObjectTypePrivateKey {
		return nil, kmip.Errorf(kmip.ResultReasonIllegalObjectType, "Re-key Key Pair replaces a pair through its Private Key, not a %s", p.oldPriv.Type)
	}
	if err := pairUsable(p.oldPriv); err != nil {
		return nil, err
	}
	pid := linkedID(p.oldPriv, kmip.LinkTypePublicKeyLink)
	if pid == "" {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "private key %q has no Public Key Link", oldID)
	}
	if p.oldPub, err = s.load(tx, c, pid, writable); err != nil {
		return nil, err
	}
	if p.oldPub.Type != kmip.ObjectTypePublicKey {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "the Public Key Link of %q names a %s", oldID, p.oldPub.Type)
	}
	if err := pairUsable(p.oldPub); err != nil {
		return nil, err
	}
	t := now(c)
	for _, x := range []struct {
		old      *objects.Object
		nk       **objects.Object
		id       string
		specific kmip.AttrList
	}{
		{p.oldPriv, &p.newPriv, privID, req.attrs.private},
		{p.oldPub, &p.newPub, pubID, req.attrs.public},
	} {
		nk := objects.New(x.id, x.old.Type, x.old.Owner)
		nk.Tenant, nk.Grants = x.old.Tenant, followingGrants(x.old.Grants)
		for _, a := range x.old.Attrs {
			if !notCopied[a.Tag] {
				nk.Add(a)
			}
		}
		if req.hasOffset {
			shiftDates(x.old, nk, t+int64(req.offset))
		}
		if ul, ok := usageLimits(x.old); ok {
			nk.Set(usageLimitsAttr(ul.total, ul.total, ul.unit))
			x.old.Set(usageLimitsAttr(ul.total, ul.total, ul.unit))
		}
		if err := applyPairReKeyAttrs(nk, req.attrs.common, x.specific); err != nil {
			return nil, err
		}
		nk.Add(objects.LinkAttr(kmip.LinkTypeReplacedObjectLink, x.old.ID))
		*x.nk = nk
	}
	if p.spec, err = keyPairSpecOf(p.newPriv); err != nil {
		return nil, err
	}
	for _, o := range []*objects.Object{p.newPriv, p.newPub} {
		if err := pairAttrs(o, p.spec); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// pairUsable refuses a key of the existing pair that is destroyed or
// archived.
func pairUsable(o *objects.Object) error {
	if destroyed(o.State()) {
		return kmip.Errorf(kmip.ResultReasonObjectDestroyed, "%s %q is destroyed", o.Type, o.ID)
	}
	return errIfArchived(o)
}

// shiftDates sets the replacement nk's Activation Date to at2 and moves
// its Process Start, Protect Stop and Deactivation Dates to keep their
// distance to it from the existing key's Activation Date (KMIP 2.0 table
// 277 and §6.1.43).
func shiftDates(old, nk *objects.Object, at2 int64) {
	if at1, ok := old.Date(ttlv.TagActivationDate); ok {
		for _, tag := range []ttlv.Tag{ttlv.TagProcessStartDate, ttlv.TagProtectStopDate, ttlv.TagDeactivationDate} {
			if d, ok := old.Date(tag); ok {
				nk.SetDate(tag, d+(at2-at1))
			}
		}
	}
	nk.SetDate(ttlv.TagActivationDate, at2)
}

// applyPairReKeyAttrs applies the request's Common attributes and the
// key's own to the replacement nk as Re-key applies its attributes
// (applyReKeyAttrs); an attribute the key's own list gives replaces every
// instance the Common list gave, as on Create Key Pair.
func applyPairReKeyAttrs(nk *objects.Object, common, specific kmip.AttrList) error {
	spec := objects.New("", nk.Type, "")
	if err := applyReKeyAttrs(spec, specific); err != nil {
		return err
	}
	com := objects.New("", nk.Type, "")
	if err := applyReKeyAttrs(com, common); err != nil {
		return err
	}
	var list []objects.Attribute
	for _, a := range com.Attrs {
		overridden := false
		for _, b := range spec.Attrs {
			if a.SameAttribute(b) {
				overridden = true
				break
			}
		}
		if !overridden {
			list = append(list, a)
		}
	}
	for _, a := range append(list, spec.Attrs...) {
		if err := checkName(nk, a, -1); err != nil {
			return err
		}
		if info, known := kmip.AttrInfoOf(a.Tag); a.IsVendor() || known && info.Multi {
			nk.Add(a)
		} else {
			nk.Set(a)
		}
	}
	return nil
}
