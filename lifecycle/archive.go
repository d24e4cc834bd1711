package lifecycle

import (
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// Archive and Recover (KMIP 2.0 §6.1.4, §6.1.39; 1.4 §4.22, §4.23).
//
// An archived object is one that has an Archive Date: KMIP's own attribute
// for this (2.0 §4.4, 1.4 §3.32) is set by the server on Archive and
// deleted on Recover, so it is the flag, and it needs no hidden state of
// kmipd's own. Clients see it in Get Attributes as the specification
// intends, and cannot forge or remove it: it is server-only ("Initially set
// by: Server", not modifiable or deletable by clients, kmip.AttrInfoOf), so
// Create, Register, Add, Set, Modify and Delete Attribute refuse it. Import
// stores it as given, like every attribute: importing an archived object
// puts it in archival storage.
//
// kmipd keeps one store, so archiving moves nothing; it takes the key
// material out of use:
//
//   - Get, Export and every operation registered behind Service.online
//     (lifecycle changes, attribute changes, Check, Re-key, cryptographic
//     operations, Obtain Lease, Get Usage Allocation) fail with Object
//     Archived (a reason KMIP 1.x has too);
//   - Get Attributes and Get Attribute List still answer: the metadata
//     stays on line, and with it the Archive Date;
//   - Locate returns an archived object only when its Storage Status Mask
//     has the Archival Storage bit (2.0 §6.1.27), and no longer for On-line
//     Storage;
//   - Recover brings it back on line, Archive of an archived object and
//     Recover of an on-line one succeed without change;
//   - a destroyed object has no material left to archive: Archive fails
//     with Object Destroyed, and Destroy of an archived object fails with
//     Object Archived (Recover first), so Archive and Destroy never make
//     an object both archived and destroyed (only an Import of such an
//     object can; it then counts as archived).
//
// The store keeps a count of archived objects (metadata key
// metaArchivedCount, changed in the transaction that archives, recovers or
// imports), so that Locate only pays for the archival filter when an
// archived object may exist; until one is archived, an in-memory flag
// spares Locate even the reading of the count (archiveState). Interop
// Reset keeps the store's metadata, so after one the count may overstate;
// that only costs Locate the slower path.

// metaArchivedCount is the store metadata key of the archived-object count.
const metaArchivedCount = "lifecycle.archived"

// isArchived reports whether o is in archival storage.
func isArchived(o *objects.Object) bool { return o.Count(ttlv.TagArchiveDate) > 0 }

// errIfArchived returns the Object Archived error for an archived object.
func errIfArchived(o *objects.Object) error {
	if isArchived(o) {
		return kmip.Errorf(kmip.ResultReasonObjectArchived, "object %q is archived: Recover it first", o.ID)
	}
	return nil
}

// addArchivedCount adds d to the archived-object count (never below 0).
func addArchivedCount(tx *store.Tx, d int) error {
	var n int64
	v, err := tx.GetMeta(metaArchivedCount)
	switch {
	case err == nil && len(v) == 8:
		n = int64(binary.BigEndian.Uint64(v))
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	n = max(n+int64(d), 0)
	return tx.SetMeta(metaArchivedCount, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// archiveState is what a Service knows in memory of its archived objects:
// whether any may exist. It starts from the stored count and turns true
// before any object is archived; it never turns false again in the
// process (a Recover may yet be undone with its batch), so it is only a
// shortcut: when it is true, the stored count decides.
type archiveState struct {
	once sync.Once
	may  atomic.Bool
}

// archiveStates holds the archiveState of each Service (a Service has no
// field for it), keyed weakly so that it does not keep the Service alive.
var archiveStates sync.Map // weak.Pointer[Service] → *archiveState

// archives returns s's archiveState, loaded from the store on first use.
func (s *Service) archives() *archiveState {
	key := weak.Make(s)
	v, ok := archiveStates.Load(key)
	if !ok {
		var loaded bool
		if v, loaded = archiveStates.LoadOrStore(key, new(archiveState)); !loaded {
			runtime.AddCleanup(s, func(k weak.Pointer[Service]) { archiveStates.Delete(k) }, key)
		}
	}
	st := v.(*archiveState)
	st.once.Do(func() {
		var n uint64
		err := s.cfg.Store.View(func(tx *store.Tx) error {
			v, err := tx.GetMeta(metaArchivedCount)
			if len(v) == 8 {
				n = binary.BigEndian.Uint64(v)
			}
			return err
		})
		st.may.Store(n > 0 || err != nil && !errors.Is(err, store.ErrNotFound))
	})
	return st
}

// mayArchive records, before it happens, that an object is being archived.
func (s *Service) mayArchive() { s.archives().may.Store(true) }

// anyArchived reports whether the store may hold an archived object.
func (s *Service) anyArchived(c *kmip.Call) (bool, error) {
	if !s.archives().may.Load() {
		return false, nil
	}
	var n uint64
	err := s.read(c, func(tx *store.Tx) error {
		v, err := tx.GetMeta(metaArchivedCount)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return n > 0, err
}

func (s *Service) archive(c *kmip.Call, w *ttlv.Builder) error {
	var u kmip.UniqueID
	if err := kmip.ReadOnlyUniqueID(c.Item.Payload, kmip.OperationArchive, &u); err != nil {
		return err
	}
	_, err := s.updateObject(c, w, u, func(tx *store.Tx, o *objects.Object) (bool, error) {
		if isArchived(o) {
			return false, nil
		}
		if destroyed(o.State()) {
			return false, kmip.Errorf(kmip.ResultReasonObjectDestroyed, "object is destroyed: there is nothing to archive")
		}
		s.mayArchive()
		o.SetDate(ttlv.TagArchiveDate, now(c))
		return true, addArchivedCount(tx, 1)
	})
	return err
}

// online wraps the handler of an operation that uses an object's key
// material or changes the object, so that it fails with Object Archived on
// an archived object. The objects are those of the payload's top-level
// Unique Identifier items, or the ID Placeholder when there is none; a
// name that does not resolve is left for the handler to report.
func (s *Service) online(h func(c *kmip.Call, w *ttlv.Builder) error) func(c *kmip.Call, w *ttlv.Builder) error {
	return func(c *kmip.Call, w *ttlv.Builder) error {
		if err := s.checkOnline(c); err != nil {
			return err
		}
		return h(c, w)
	}
}

func (s *Service) checkOnline(c *kmip.Call) error {
	v := c.Item.Payload
	found := false
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			break
		}
		if it.Tag != ttlv.TagUniqueIdentifier {
			continue
		}
		found = true
		one := ttlv.Value(it.Raw)
		var u kmip.UniqueID
		if kmip.ReadUniqueID(&one, &u) != nil {
			continue
		}
		if err := s.checkArchived(c, u); err != nil {
			return err
		}
	}
	if !found && c.Batch.IDPlaceholder != "" {
		return s.checkArchived(c, kmip.UniqueID{})
	}
	return nil
}

func (s *Service) checkArchived(c *kmip.Call, u kmip.UniqueID) error {
	o, err := s.lookup(c, u)
	if err != nil {
		return nil
	}
	return errIfArchived(o)
}
