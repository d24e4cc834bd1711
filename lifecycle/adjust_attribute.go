package lifecycle

import (
	"math"
	"math/big"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

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
			switch info, ok := kmip.AttrInfoOf(proto.Tag); {
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
