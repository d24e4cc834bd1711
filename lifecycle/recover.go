package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// recoverObject is the Recover operation; it sets the ID Placeholder.
func (s *Service) recoverObject(c *kmip.Call, w *ttlv.Builder) error {
	var u kmip.UniqueID
	if err := kmip.ReadOnlyUniqueID(c.Item.Payload, kmip.OperationRecover, &u); err != nil {
		return err
	}
	id, err := s.updateObject(c, w, u, func(tx *store.Tx, o *objects.Object) (bool, error) {
		if !isArchived(o) {
			return false, nil
		}
		o.Remove(ttlv.TagArchiveDate)
		return true, addArchivedCount(tx, -1)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = id
	return nil
}
