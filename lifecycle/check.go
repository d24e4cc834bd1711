package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// Usage mask bits that apply cryptographic protection (and so end at the
// Protect Stop Date, KMIP 2.0 §4.41).
const protectUsage = uint32(kmip.CryptographicUsageMaskSign | kmip.CryptographicUsageMaskEncrypt |
	kmip.CryptographicUsageMaskWrapKey | kmip.CryptographicUsageMaskMACGenerate |
	kmip.CryptographicUsageMaskFPEEncrypt)

// check implements Check (KMIP 2.0 §6.1.7; 1.4 §4.10): whether the client
// may use the object as the request describes. On success it answers with
// the Unique Identifier; otherwise it empties the ID Placeholder, as the
// specification requires, and fails:
//
//   - Incompatible Cryptographic Usage Mask when the object's Cryptographic
//     Usage Mask lacks a requested bit (BL-M-2-21, BL-M-3-21); the
//     Unrestricted bit allows everything;
//   - Usage Limit Exceeded when the Usage Limits Count asked for exceeds
//     what the object's Usage Limits still allow;
//   - Permission Denied when the Lease Time asked for exceeds the object's;
//   - for a usage (a mask or a usage count): Object Destroyed for a
//     destroyed object; Wrong Key Lifecycle State for a Deactivated or
//     Compromised object, and for a protecting usage once the Protect Stop
//     Date has been reached. A Pre-Active object passes: the specification
//     pairs Check with a Create followed by a Get, which Pre-Active allows.
func (s *Service) check(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.CheckRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	o, err := s.lookup(c, req.UniqueID)
	if err == nil {
		err = checkUse(o, &req, now(c))
	}
	if err != nil {
		c.Batch.IDPlaceholder = ""
		return err
	}
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	return nil
}

func checkUse(o *objects.Object, req *kmip.CheckRequest, t int64) error {
	if req.HasUsageMask {
		have, ok := o.Int(ttlv.TagCryptographicUsageMask)
		m := uint32(have)
		if !ok || m&uint32(kmip.CryptographicUsageMaskUnrestricted) == 0 && m&req.UsageMask != req.UsageMask {
			return kmip.Errorf(kmip.ResultReasonIncompatibleCryptographicUsageMask, "Check failed: usage not permitted by the Cryptographic Usage Mask")
		}
	}
	if req.HasUsageMask || req.HasUsageLimits {
		switch st := o.State(); {
		case destroyed(st):
			return kmip.Errorf(kmip.ResultReasonObjectDestroyed, "object is destroyed")
		case st == kmip.StateDeactivated || st == kmip.StateCompromised:
			return errState(kmip.OperationCheck, st)
		}
		if d, ok := o.Date(ttlv.TagProtectStopDate); ok && d <= t && req.UsageMask&protectUsage != 0 {
			return kmip.Errorf(kmip.ResultReasonWrongKeyLifecycleState, "Protect Stop Date has been reached")
		}
	}
	if req.HasUsageLimits {
		if left, ok := usageLeft(o); ok && req.UsageLimitsCount > left {
			return kmip.Errorf(kmip.ResultReasonUsageLimitExceeded, "Check failed: %d usage units asked, %d left", req.UsageLimitsCount, left)
		}
	}
	if req.HasLeaseTime {
		if lt, ok := o.Interval(ttlv.TagLeaseTime); ok && req.LeaseTime > lt {
			return kmip.Errorf(kmip.ResultReasonPermissionDenied, "Check failed: lease of %ds asked, %ds allowed", req.LeaseTime, lt)
		}
	}
	return nil
}

// usageLeft returns what the object's Usage Limits still allow: the Usage
// Limits Count (the units remaining, KMIP 2.0 §4.60), or the Total when no
// count is recorded; false when the object has no Usage Limits.
func usageLeft(o *objects.Object) (int64, bool) {
	all := o.All(ttlv.TagUsageLimits)
	if len(all) == 0 {
		return 0, false
	}
	it, ok := all[0].Item()
	if !ok {
		return 0, false
	}
	c := it.Children()
	if v, ok := c.Find(ttlv.TagUsageLimitsCount); ok && v.Type == ttlv.TypeLongInteger {
		return v.Int64(), true
	}
	if v, ok := c.Find(ttlv.TagUsageLimitsTotal); ok && v.Type == ttlv.TypeLongInteger {
		return v.Int64(), true
	}
	return 0, false
}
