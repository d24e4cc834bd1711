package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// obtainLease is the Obtain Lease operation (KMIP 2.0 §6.1.36, 1.4
// §4.18): it answers with the object's Lease Time (the default one if the
// object has none) and Last Change Date, from which the client counts the
// lease. A destroyed object is refused with Object Destroyed, an archived
// one with Object Archived.
func (s *Service) obtainLease(c *kmip.Call, w *ttlv.Builder) error {
	var u kmip.UniqueID
	if err := kmip.ReadOnlyUniqueID(c.Item.Payload, kmip.OperationObtainLease, &u); err != nil {
		return err
	}
	o, err := s.lookup(c, u)
	if err != nil {
		return err
	}
	if err := errIfArchived(o); err != nil {
		return err
	}
	if destroyed(o.State()) {
		return kmip.Errorf(kmip.ResultReasonObjectDestroyed, "object is destroyed")
	}
	lease, ok := o.Interval(ttlv.TagLeaseTime)
	if !ok {
		lease = defaultLeaseTime
	}
	changed, ok := o.Date(ttlv.TagLastChangeDate)
	if !ok {
		changed, _ = o.Date(ttlv.TagInitialDate)
	}
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	w.AddInterval(ttlv.TagLeaseTime, lease)
	w.AddDateTime(ttlv.TagLastChangeDate, changed)
	return nil
}
