package lifecycle

import (
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
// What a client may change comes from the attribute tables (kmip.AttrInfoOf):
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
	info, ok := kmip.AttrInfoOf(a.Tag)
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
	info, ok := kmip.AttrInfoOf(a.Tag)
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

// refAttr returns an attribute with the identity (not the value) of ref.
func refAttr(ref kmip.AttrRef) objects.Attribute {
	return objects.Attribute{Tag: ref.Tag, VendorID: string(ref.VendorID), Name: string(ref.Name)}
}
