package lifecycle

import (
	"bytes"
	"math"
	"math/big"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// The attribute operations: Add Attribute (KMIP 2.0 §6.1.2, 1.4 §4.14),
// Set Attribute (2.0 §6.1.47), Modify Attribute (2.0 §6.1.33, 1.4 §4.15),
// Delete Attribute (2.0 §6.1.13, 1.4 §4.16) and Adjust Attribute (2.0
// §6.1.3).
//
// Reasons are the KMIP 2.x ones; kmip.ReasonFor maps them for 1.x clients
// (Attribute Read Only and Wrong Key Lifecycle State become Permission
// Denied, Attribute Not Found and Attribute Instance Not Found Item Not
// Found, Attribute Single Valued, Multi Valued Attribute and Non Unique Name
// Attribute Invalid Field).
//
// What a client may change comes from the attribute tables (objects.Info):
// an attribute that is not "modifiable by client" is read-only for Add,
// Set, Modify and Adjust; Delete also needs "deletable by client", and
// never removes an attribute that SHALL always have a value. Vendor
// attributes are the client's except those of vendor "y", which KMIP 2.0
// §4.53 reserves to the server. The date attributes further follow the
// lifecycle (AllowedChange; Process Start and Protect Stop Date are
// immutable once reached). Every change updates Last Change Date, applies
// the dates to the state (an Activation Date at or before now activates a
// Pre-Active object, a Deactivation Date at or before now deactivates an
// Active one) and keeps Always Sensitive and Never Extractable true to
// their history.

// errReadOnly is the refusal of a change to an attribute clients may not
// change.
func errReadOnly(a objects.Attribute) error {
	return kmip.Errorf(kmip.ResultReasonAttributeReadOnly, "%s is read-only", attrName(a))
}

// attrName names an attribute for messages.
func attrName(a objects.Attribute) string {
	if a.Tag != 0 {
		if s, ok := ttlv.TagSpecName(a.Tag); ok {
			return s
		}
		return a.Tag.String()
	}
	return a.VendorID + ":" + a.Name
}

// multiValued reports whether a's attribute may have several instances;
// vendor attributes may (TC-SETATTR-3-20 adds a second one).
func multiValued(a objects.Attribute) bool {
	if a.IsVendor() {
		return true
	}
	info, ok := objects.Info(a.Tag)
	return ok && info.Multi
}

// checkChange reports whether the client may give a's attribute a new
// value (Add, Set, Modify, Adjust), or with del remove it (Delete), on o in
// version ver.
func checkChange(o *objects.Object, a objects.Attribute, ver kmip.Version, now int64, del bool) error {
	if a.IsVendor() {
		if a.VendorID == "y" {
			return kmip.Errorf(kmip.ResultReasonAttributeReadOnly, "attribute %s belongs to the server", attrName(a))
		}
		return nil
	}
	info, ok := objects.Info(a.Tag)
	if !ok || !info.InVersion(ver) {
		return kmip.Errorf(kmip.ResultReasonInvalidAttribute, "%s is not an attribute in KMIP %s", attrName(a), ver)
	}
	if !info.ClientModify || del && (!info.ClientDelete || info.Always) {
		return errReadOnly(a)
	}
	return checkDate(o, a.Tag, now)
}

// checkDate applies the lifecycle rules on changing a date attribute (KMIP
// 2.0 §4.1, §4.18, §4.40, §4.41): Activation Date only while Pre-Active;
// Deactivation, Process Start and Protect Stop Date only while Pre-Active
// or Active; Process Start and Protect Stop Date not once reached.
func checkDate(o *objects.Object, tag ttlv.Tag, now int64) error {
	if err := AllowedChange(tag, o.State()); err != nil {
		return err
	}
	switch tag {
	case ttlv.TagProcessStartDate, ttlv.TagProtectStopDate:
		if d, ok := o.Date(tag); ok && d <= now {
			name, _ := ttlv.TagSpecName(tag)
			return kmip.Errorf(kmip.ResultReasonWrongKeyLifecycleState, "%s has been reached and can no longer change", name)
		}
	}
	return nil
}

// positions returns the indexes in o.Attrs of the instances of a's
// attribute, in order.
func positions(o *objects.Object, a objects.Attribute) []int {
	var pos []int
	for j := range o.Attrs {
		if o.Attrs[j].SameAttribute(a) {
			pos = append(pos, j)
		}
	}
	return pos
}

// checkName refuses a Name whose value o already has in another instance
// than o.Attrs[skip] (Non Unique Name Attribute, BL-M-8-21); names held by
// the owner's other objects are refused by the store's unique index
// (nameConflict).
func checkName(o *objects.Object, a objects.Attribute, skip int) error {
	if a.Tag != ttlv.TagName {
		return nil
	}
	v, _ := nameValue(a)
	for j, x := range o.Attrs {
		if j == skip || x.Tag != ttlv.TagName {
			continue
		}
		if w, _ := nameValue(x); w == v {
			return kmip.Errorf(kmip.ResultReasonNonUniqueNameAttribute, "name %q already in use", v)
		}
	}
	return nil
}

// commitChange finishes a change of attribute tag on o and saves it: the
// Sensitive and Extractable histories (KMIP 2.0 §4.3, §4.33), the state the
// dates imply, Last Change Date.
func (s *Service) commitChange(tx *store.Tx, c *kmip.Call, o *objects.Object, tag ttlv.Tag) error {
	switch tag {
	case ttlv.TagSensitive:
		if v, ok := o.Bool(ttlv.TagSensitive); ok && !v {
			o.SetBool(ttlv.TagAlwaysSensitive, false)
		}
	case ttlv.TagExtractable:
		if v, ok := o.Bool(ttlv.TagExtractable); ok && v {
			o.SetBool(ttlv.TagNeverExtractable, false)
		}
	}
	Effective(o, c.Now)
	o.SetDate(ttlv.TagLastChangeDate, now(c))
	return nameConflict(s.save(tx, o))
}

// changeAttr loads the object the request names, lets fn change it and
// commits the change of attribute tag, answering with the Unique
// Identifier and, for 1.x, with the attribute fn reports (unless its Raw
// is nil).
func (s *Service) changeAttr(c *kmip.Call, w *ttlv.Builder, u kmip.UniqueID, tag ttlv.Tag,
	fn func(o *objects.Object) (objects.Attribute, int, error)) error {
	id, err := resolveID(c, u)
	if err != nil {
		return err
	}
	var (
		echo objects.Attribute
		idx  int
	)
	err = s.update(c, func(tx *store.Tx) error {
		o, err := s.load(tx, c, id, true)
		if err != nil {
			return err
		}
		if echo, idx, err = fn(o); err != nil {
			return err
		}
		return s.commitChange(tx, c, o, tag)
	})
	if err != nil {
		return err
	}
	w.AddText(ttlv.TagUniqueIdentifier, id)
	if !c.Version.V2() && echo.Raw != nil {
		objects.AppendV1Attribute(w, echo, idx)
	}
	return nil
}

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

func (s *Service) setAttribute(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.AddAttributeRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
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
		// KMIP 2.0 §6.1.47: none → add, one → modify, more → error.
		switch pos := positions(o, na); len(pos) {
		case 0:
			if err := checkName(o, na, -1); err != nil {
				return na, 0, err
			}
			if err := s.checkAttrCount(c, o, 1); err != nil {
				return na, 0, err
			}
			o.Add(na)
		case 1:
			if err := checkName(o, na, pos[0]); err != nil {
				return na, 0, err
			}
			o.Attrs[pos[0]] = na
		default:
			return na, 0, kmip.Errorf(kmip.ResultReasonMultiValuedAttribute, "%s has %d instances", attrName(na), len(pos))
		}
		return na, 0, nil
	})
}

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

// refAttr returns an attribute with the identity (not the value) of ref.
func refAttr(ref kmip.AttrRef) objects.Attribute {
	return objects.Attribute{Tag: ref.Tag, VendorID: string(ref.VendorID), Name: string(ref.Name)}
}

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

func (s *Service) adjustAttribute(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.AdjustAttributeRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	switch req.Type {
	case kmip.AdjustmentTypeIncrement, kmip.AdjustmentTypeDecrement:
	case kmip.AdjustmentTypeNegate:
		if req.HasValue {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Negate takes no Adjustment Value")
		}
	default:
		return kmip.Errorf(kmip.ResultReasonInvalidField, "unknown Adjustment Type %d", req.Type)
	}
	proto := refAttr(req.Ref)
	return s.changeAttr(c, w, req.UniqueID, proto.Tag, func(o *objects.Object) (objects.Attribute, int, error) {
		if err := checkChange(o, proto, c.Version, now(c), false); err != nil {
			return proto, 0, err
		}
		pos := positions(o, proto)
		if len(pos) > 1 {
			return proto, 0, kmip.Errorf(kmip.ResultReasonMultiValuedAttribute, "%s has %d instances", attrName(proto), len(pos))
		}
		var cur ttlv.Item
		has := len(pos) == 1
		if has {
			var ok bool
			if cur, ok = o.Attrs[pos[0]].Item(); !ok {
				return proto, 0, kmip.Errorf(kmip.ResultReasonInvalidDataType, "%s is malformed", attrName(proto))
			}
		} else {
			// KMIP 2.0 §6.1.3: a missing value counts as 0 (numbers and
			// intervals) or false (Booleans); its type is the attribute's,
			// or for a vendor attribute the Adjustment Value's.
			cur.Tag = proto.Tag
			if proto.IsVendor() {
				cur.Tag = ttlv.TagAttributeValue
			}
			switch info, ok := objects.Info(proto.Tag); {
			case ok:
				cur.Type = info.Type
			case req.HasValue:
				cur.Type = req.Value.Type
			default:
				return proto, 0, kmip.Errorf(kmip.ResultReasonAttributeNotFound, "object has no %s", attrName(proto))
			}
			if cur.Type == ttlv.TypeDateTime {
				// A date has no neutral value to adjust from.
				return proto, 0, kmip.Errorf(kmip.ResultReasonAttributeNotFound, "object has no %s", attrName(proto))
			}
		}
		raw, err := adjust(cur, has, req.Type, req.Value, req.HasValue)
		if err != nil {
			return proto, 0, err
		}
		na := objects.Attribute{Tag: proto.Tag, VendorID: proto.VendorID, Name: proto.Name, Raw: raw}
		if err := s.checkAttrSize(c, na); err != nil {
			return proto, 0, err
		}
		if has {
			o.Attrs[pos[0]] = na
		} else {
			if err := s.checkAttrCount(c, o, 1); err != nil {
				return proto, 0, err
			}
			o.Add(na)
		}
		return na, 0, nil
	})
}

// adjust computes the adjusted value of cur (its zero value when !has) and
// encodes it as an item with cur's tag and type.
func adjust(cur ttlv.Item, has bool, typ kmip.AdjustmentType, val ttlv.Item, hasVal bool) ([]byte, error) {
	badType := func() error {
		return kmip.Errorf(kmip.ResultReasonInvalidDataType, "cannot %s a %s", typ, cur.Type)
	}
	b := ttlv.NewBuilder(nil)
	if cur.Type == ttlv.TypeBoolean {
		if typ != kmip.AdjustmentTypeNegate {
			return nil, badType()
		}
		b.AddBool(cur.Tag, !(has && cur.Bool()))
		return b.Bytes()
	}
	var x big.Int
	switch cur.Type {
	case ttlv.TypeInteger:
		x.SetInt64(int64(cur.Int32()))
	case ttlv.TypeInterval:
		x.SetUint64(uint64(cur.Uint32()))
	case ttlv.TypeLongInteger, ttlv.TypeDateTime:
		x.SetInt64(cur.Int64())
	case ttlv.TypeBigInteger:
		if has {
			x.Set(cur.BigInt())
		}
	default:
		return nil, badType()
	}
	if !has {
		x.SetInt64(0)
	}
	switch typ {
	case kmip.AdjustmentTypeNegate:
		if cur.Type == ttlv.TypeInterval || cur.Type == ttlv.TypeDateTime {
			return nil, badType()
		}
		x.Neg(&x)
	default:
		d := big.NewInt(1) // an absent Adjustment Value adjusts by one
		if hasVal {
			switch val.Type {
			case ttlv.TypeInteger:
				d.SetInt64(int64(val.Int32()))
			case ttlv.TypeInterval:
				d.SetUint64(uint64(val.Uint32()))
			case ttlv.TypeLongInteger:
				d.SetInt64(val.Int64())
			case ttlv.TypeBigInteger:
				d.Set(val.BigInt())
			default:
				return nil, kmip.Errorf(kmip.ResultReasonInvalidDataType, "Adjustment Value cannot be a %s", val.Type)
			}
		}
		if typ == kmip.AdjustmentTypeDecrement {
			d.Neg(d)
		}
		x.Add(&x, d)
	}
	outOfRange := func(lo, hi int64) bool { return !x.IsInt64() || x.Int64() < lo || x.Int64() > hi }
	switch cur.Type {
	case ttlv.TypeInteger:
		if outOfRange(math.MinInt32, math.MaxInt32) {
			return nil, kmip.Errorf(kmip.ResultReasonNumericRange, "result out of range")
		}
		b.AddInt32(cur.Tag, int32(x.Int64()))
	case ttlv.TypeInterval:
		if outOfRange(0, math.MaxUint32) {
			return nil, kmip.Errorf(kmip.ResultReasonNumericRange, "result out of range")
		}
		b.AddInterval(cur.Tag, uint32(x.Int64()))
	case ttlv.TypeLongInteger, ttlv.TypeDateTime:
		if !x.IsInt64() {
			return nil, kmip.Errorf(kmip.ResultReasonNumericRange, "result out of range")
		}
		if cur.Type == ttlv.TypeDateTime {
			b.AddDateTime(cur.Tag, x.Int64())
		} else {
			b.AddLong(cur.Tag, x.Int64())
		}
	case ttlv.TypeBigInteger:
		b.AddBigIntValue(cur.Tag, &x)
	}
	return b.Bytes()
}
