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
// write, the owner of each object written gets a Notify (KMIP 2.0 §7.1)
// with its Unique Identifier and the attributes that changed. Call it
// before serving.
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
				o, err := objectOf(rec)
				if err != nil {
					continue
				}
				before, known := e.before[id]
				if s.cfg.ServerToClientPut && known && before == nil && putType[o.Type] && gettable(o) {
					p.Push(rec.Owner, false, putItem(o))
					continue
				}
				p.Push(rec.Owner, false, notifyItem(o, before))
			}
			return nil
		})
	}()
}

// attrsBefore returns the attributes of object id as tx holds it before a
// save, nil when it does not exist yet.
func (s *Service) attrsBefore(tx *store.Tx, id string) []objects.Attribute {
	rec, err := tx.Get(id)
	if err != nil {
		return nil
	}
	o := new(objects.Object)
	if o.UnmarshalBinary(rec.Data) != nil {
		return nil
	}
	return o.Attrs
}

// notifyItem is the Notify of what changed in o (KMIP 2.0 §7.1): its
// Unique Identifier and, in an Attributes structure, the attribute
// instances it did not have before (all of them for a new object). A
// deleted attribute, which the 2.x Attributes structure cannot name
// without a value, is not reported. KMIP 2.x only: a connection is handed
// over with Set Endpoint Role, which KMIP 1.x lacks.
func notifyItem(o *objects.Object, before []objects.Attribute) kmip.PushItem {
	return kmip.PushItem{Operation: kmip.OperationNotify, Payload: func(b *ttlv.Builder, v kmip.Version) {
		b.AddText(ttlv.TagUniqueIdentifier, o.ID)
		objects.AppendAttributes(b, o, v, func(a objects.Attribute) bool {
			for _, x := range before {
				if x.Equal(a) {
					return false
				}
			}
			return true
		})
	}}
}

// putType are the object types a Put sends (those a Get returns with a
// value; a Template or Certificate Request is not sent).
var putType = map[kmip.ObjectType]bool{
	kmip.ObjectTypeSymmetricKey: true, kmip.ObjectTypeSecretData: true, kmip.ObjectTypeOpaqueObject: true,
	kmip.ObjectTypeCertificate: true, kmip.ObjectTypePublicKey: true, kmip.ObjectTypePrivateKey: true,
	kmip.ObjectTypeSplitKey: true, kmip.ObjectTypePGPKey: true,
}

// gettable reports whether a Get may return o's value: not Sensitive, and
// Extractable unless said otherwise. Other objects are notified instead.
func gettable(o *objects.Object) bool {
	sensitive, _ := o.Bool(ttlv.TagSensitive)
	extractable, set := o.Bool(ttlv.TagExtractable)
	return !sensitive && (extractable || !set)
}

// putItem is the Put of a new object (KMIP 2.0 §7.2): Put Function New,
// the object as a Get by its owner returns it (the server serves that Get,
// with its checks and audit record, when it sends the Put) and its
// attributes.
func putItem(o *objects.Object) kmip.PushItem {
	return kmip.PushItem{Operation: kmip.OperationPut, Get: o.ID, Payload: func(b *ttlv.Builder, v kmip.Version) {
		objects.AppendAttributes(b, o, v, nil)
	}}
}
