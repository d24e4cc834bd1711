package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// Pusher sends server-to-client operations to the connections clients
// handed over with Set Endpoint Role (kmip.Server does).
type Pusher interface {
	HasPushEndpoints() bool
	Push(identity string, all bool, it kmip.PushItem)
}

// SetPusher makes s tell p of changed objects: after every committed
// write, the owner of each object written gets a Notify (KMIP 1.4 §5.1,
// KMIP 2.0 §7.1) with its Unique Identifier, State and Last Change Date.
// Call it before serving.
func (s *Service) SetPusher(p Pusher) { s.pusher = p }

// notifyWrites sends the Notify operations of one committed transaction,
// off the committing goroutine. It costs nothing while no connection has
// been handed over.
func (s *Service) notifyWrites(e written) {
	p := s.pusher
	if p == nil || e.wiped || len(e.ids) == 0 || !p.HasPushEndpoints() {
		return
	}
	go func() {
		_ = s.cfg.Store.View(func(tx *store.Tx) error {
			seen := make(map[string]bool, len(e.ids))
			for _, id := range e.ids {
				if seen[id] {
					continue
				}
				seen[id] = true
				rec, err := tx.Get(id)
				if err != nil {
					continue
				}
				o := new(objects.Object)
				if o.UnmarshalBinary(rec.Data) != nil {
					continue
				}
				p.Push(rec.Owner, false, notifyItem(id, o))
			}
			return nil
		})
	}()
}

// notifyItem is the Notify of o's State and Last Change Date, in KMIP
// 2.x form (an Attributes structure): a connection is handed over with Set
// Endpoint Role, which KMIP 1.x lacks.
func notifyItem(id string, o *objects.Object) kmip.PushItem {
	state := uint32(o.State())
	changed, hasChanged := o.Date(ttlv.TagLastChangeDate)
	return kmip.PushItem{Operation: kmip.OperationNotify, Payload: func(b *ttlv.Builder, _ kmip.Version) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.Begin(ttlv.TagAttributes)
		b.AddEnum(ttlv.TagState, state)
		if hasChanged {
			b.AddDateTime(ttlv.TagLastChangeDate, changed)
		}
		b.End()
	}}
}
