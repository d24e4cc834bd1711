package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// getUsageAllocation is the Get Usage Allocation operation (KMIP 2.0
// §6.1.23, 1.4 §4.17): it reserves Usage Limits Count units of the
// object's Usage Limits for the client, who may then apply protection with
// the object on its own. The object must be Active, as applying protection
// requires, and have Usage Limits (Permission Denied otherwise); an
// allocation beyond what is left fails with Usage Limit Exceeded (Permission
// Denied in 1.x) and takes nothing.
func (s *Service) getUsageAllocation(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.GetUsageAllocationRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	if req.UsageLimitsCount <= 0 {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Usage Limits Count must be positive")
	}
	return s.transitionID(c, w, req.UniqueID, func(o *objects.Object) error {
		if err := errIfArchived(o); err != nil {
			return err
		}
		if destroyed(o.State()) {
			return kmip.Errorf(kmip.ResultReasonObjectDestroyed, "object is destroyed")
		}
		if o.State() != kmip.StateActive {
			return errState(kmip.OperationGetUsageAllocation, o.State())
		}
		ul, ok := usageLimits(o)
		if !ok {
			return kmip.Errorf(kmip.ResultReasonPermissionDenied, "the object has no Usage Limits")
		}
		left, _ := usageLeft(o)
		if req.UsageLimitsCount > left {
			return kmip.Errorf(kmip.ResultReasonUsageLimitExceeded, "%d usage units asked, %d left", req.UsageLimitsCount, left)
		}
		o.Set(usageLimitsAttr(ul.total, left-req.UsageLimitsCount, ul.unit))
		return nil
	})
}
