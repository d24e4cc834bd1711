package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

func (s *Service) destroy(c *kmip.Call, w *ttlv.Builder) error {
	var u kmip.UniqueID
	v := c.Item.Payload
	if err := kmip.ReadUniqueID(&v, &u); err != nil {
		return err
	}
	id, err := s.updateObject(c, w, u, func(tx *store.Tx, o *objects.Object) (bool, error) {
		st, err := Transition(o.State(), EventDestroy)
		if err != nil {
			return false, err
		}
		o.SetState(st)
		o.SetDate(ttlv.TagDestroyDate, now(c))
		// The sealed material goes; the metadata stays (KMIP 2.0 §6.1.15).
		// save stores no Secret: the store erases the key slot that
		// protected it before Update returns, which makes every copy left
		// in the file unreadable (store/secret.go).
		if o.Blob != nil {
			clear(o.Blob)
			o.Blob = nil
		}
		if o.Count(ttlv.TagKeyValuePresent) > 0 {
			o.SetBool(ttlv.TagKeyValuePresent, false)
		}
		return true, nil
	})
	if err == nil {
		s.forgetKey(id)
	}
	return err
}
