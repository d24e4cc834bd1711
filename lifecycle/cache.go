package lifecycle

import (
	"sync"

	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// objectCache keeps decoded objects as last committed, so that Get and Get
// Attributes of a hot key need neither a store transaction nor a decode:
// that is what makes the Get path allocation-free. Entries are shared and
// read-only; writers clone from the store.
//
// Coherence: every write invalidates its objects twice, when saved inside
// the transaction and again after the commit; a reader only inserts what it
// read if no invalidation happened since it started (gen unchanged, checked
// under the same lock). So a reader that read the old version just before a
// commit can never leave it behind. An entry also expires when one of the
// object's dates changes its state (Activation, Deactivation).
type objectCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]cacheEntry
	max int
	// maxKeys bounds the entries with a keySlot, nkeys counts them: a
	// parsed RSA key weighs kilobytes.
	maxKeys, nkeys int
}

type cacheEntry struct {
	obj   *objects.Object
	until int64    // unix seconds from which the entry is stale; 0: never
	keys  *keySlot // an asymmetric key's parsed key (asymkey.go), else nil
}

func newObjectCache(max, maxKeys int) *objectCache {
	return &objectCache{m: make(map[string]cacheEntry), max: max, maxKeys: maxKeys}
}

// drop deletes the entry of id; c.mu is held.
func (c *objectCache) drop(id string) {
	if e, ok := c.m[id]; ok {
		if e.keys != nil {
			c.nkeys--
		}
		delete(c.m, id)
	}
}

// get returns the cached object named by id, valid at now.
func (c *objectCache) get(id []byte, now int64) (*objects.Object, bool) {
	c.mu.Lock()
	e, ok := c.m[string(id)]
	c.mu.Unlock()
	if !ok || e.until != 0 && now >= e.until {
		return nil, false
	}
	return e.obj, true
}

// begin returns the generation a reader must present to put.
func (c *objectCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put inserts o if nothing was invalidated since gen.
func (c *objectCache) put(o *objects.Object, gen uint64, now int64) {
	until := expiry(o, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= c.max {
		// Drop an arbitrary entry: Go's map iteration order is random.
		for k := range c.m {
			c.drop(k)
			break
		}
	}
	c.drop(o.ID)
	e := cacheEntry{obj: o, until: until}
	if c.nkeys < c.maxKeys && cachesKey(o) {
		e.keys = new(keySlot)
		c.nkeys++
	}
	c.m[o.ID] = e
}

// keySlot returns the parsed-key slot of o if o is the cached version of
// its object, else nil: a slot never outlives the version it was made for.
func (c *objectCache) keySlot(o *objects.Object) *keySlot {
	c.mu.Lock()
	e, ok := c.m[o.ID]
	c.mu.Unlock()
	if !ok || e.obj != o {
		return nil
	}
	return e.keys
}

func (c *objectCache) invalidate(ids ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, id := range ids {
		c.drop(id)
	}
}

func (c *objectCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
	c.nkeys = 0
}

// expiry is the first future date at which the object's state changes by
// itself (KMIP 2.0 §4.57 transitions 4 and 6), or 0.
func expiry(o *objects.Object, now int64) int64 {
	var until int64
	for _, tag := range []ttlv.Tag{ttlv.TagActivationDate, ttlv.TagDeactivationDate} {
		if d, ok := o.Date(tag); ok && d > now && (until == 0 || d < until) {
			until = d
		}
	}
	return until
}

// txWrites records, per open transaction, the objects it saved, so that they
// are invalidated once more after the commit.
type txWrites struct {
	mu sync.Mutex
	m  map[*store.Tx]written
}

// written is what one transaction changed: some objects, or everything.
type written struct {
	ids   []string
	wiped bool // the store was reset (Interop Reset)
	// before holds, while connections take Notify operations, each
	// object's attributes as the transaction found them (nil for an object
	// it created), so that a Notify names what changed (notify.go).
	before map[string][]objects.Attribute
}

// addBefore records id's attributes before tx first saved it.
func (w *txWrites) addBefore(tx *store.Tx, id string, attrs []objects.Attribute) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[*store.Tx]written)
	}
	e := w.m[tx]
	if e.before == nil {
		e.before = make(map[string][]objects.Attribute)
	}
	if _, ok := e.before[id]; !ok {
		e.before[id] = attrs
	}
	w.m[tx] = e
}

func (w *txWrites) add(tx *store.Tx, id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[*store.Tx]written)
	}
	e := w.m[tx]
	e.ids = append(e.ids, id)
	w.m[tx] = e
}

// wipe records that tx reset the whole store.
func (w *txWrites) wipe(tx *store.Tx) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[*store.Tx]written)
	}
	e := w.m[tx]
	e.wiped = true
	w.m[tx] = e
}

func (w *txWrites) take(tx *store.Tx) written {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.m[tx]
	delete(w.m, tx)
	return e
}

// ForgetCached drops every cached object, for maintenance that rewrites
// objects behind the service's back (master-key rotation).
func (s *Service) ForgetCached() { s.cache.clear() }
