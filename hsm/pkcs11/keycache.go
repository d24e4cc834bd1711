//go:build cgo

package pkcs11

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/miekg/pkcs11"
)

// keyUse is what a cached key object was unwrapped for: the template it was
// made from, and so the operations it permits.
type keyUse byte

const (
	useCrypt keyUse = iota + 1 // cryptTmpl: AES encrypt/decrypt
	useMAC                     // macTmpl: HMAC
	useCMAC                    // cmacTmpl: AES-CMAC
	useRSA                     // rsaPrivTmpl
	useEC                      // ecPrivTmpl
)

// cacheKey is SHA-256 of use ‖ len(id) ‖ id ‖ blob: a blob that changes
// (re-keyed, re-wrapped under a new master key) or is presented for another
// object or another use is another key, and never finds an old handle.
type cacheKey [sha256.Size]byte

// cacheEntry is one unwrapped key object of a session.
type cacheEntry struct {
	key        cacheKey
	id         string
	h          pkcs11.ObjectHandle
	prev, next *cacheEntry // LRU order; the list is circular through keyCache.lru
}

// session is a pooled PKCS#11 session and the keys unwrapped in it.
type session struct {
	h     pkcs11.SessionHandle
	cache *keyCache // nil when Options.KeyCache is 0
}

// keyCache is the LRU of one session's unwrapped keys: sensitive,
// non-extractable session objects owned by that session, so they die with
// it. It is used only by the goroutine that has the session checked out,
// or by one holding the module lock for writing (no session is then
// checked out), and needs no lock of its own.
type keyCache struct {
	max      int
	m        map[cacheKey]*cacheEntry
	byHandle map[pkcs11.ObjectHandle]*cacheEntry
	lru      cacheEntry // sentinel: lru.next is the most recently used
	scratch  []byte     // cache-key input
}

func newKeyCache(max int) *keyCache {
	c := &keyCache{max: max, m: make(map[cacheKey]*cacheEntry, max), byHandle: make(map[pkcs11.ObjectHandle]*cacheEntry, max)}
	c.lru.prev, c.lru.next = &c.lru, &c.lru
	return c
}

func (c *keyCache) keyOf(use keyUse, id string, blob []byte) cacheKey {
	b := append(c.scratch[:0], byte(use))
	b = binary.BigEndian.AppendUint32(b, uint32(len(id)))
	b = append(b, id...)
	b = append(b, blob...)
	c.scratch = b
	return sha256.Sum256(b)
}

func (c *keyCache) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *keyCache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

// newSession wraps a freshly opened session.
func (b *Backend) newSession(h pkcs11.SessionHandle) *session {
	s := &session{h: h}
	if b.keyCacheMax > 0 {
		s.cache = newKeyCache(b.keyCacheMax)
	}
	return s
}

// remove drops e from s's cache and the counts; destroy also destroys its
// object in the HSM (not needed when the session is closing or its objects
// are already gone).
func (b *Backend) remove(s *session, e *cacheEntry, destroy bool) error {
	c := s.cache
	c.unlink(e)
	delete(c.m, e.key)
	delete(c.byHandle, e.h)
	b.handles.Add(-1)
	b.cmu.Lock()
	if b.cachedIDs[e.id]--; b.cachedIDs[e.id] <= 0 {
		delete(b.cachedIDs, e.id)
	}
	b.cmu.Unlock()
	if destroy {
		if err := b.m.p.DestroyObject(s.h, e.h); err != nil {
			return call("C_DestroyObject", err)
		}
	}
	return nil
}

// discard empties s's cache without calling the HSM: the session is being
// closed (C_CloseSession destroys the session objects it created) or its
// objects are gone already.
func (b *Backend) discard(s *session) {
	if s.cache == nil {
		return
	}
	for e := s.cache.lru.next; e != &s.cache.lru; {
		next := e.next
		_ = b.remove(s, e, false)
		e = next
	}
}

// closeSession closes a pooled session; the keys cached in it go with it.
func (b *Backend) closeSession(s *session) {
	b.discard(s)
	_ = b.m.p.CloseSession(s.h)
}

// forgetIn destroys the keys cached in s that match (all if id is empty).
// A session on which destroying fails is closed, which destroys them too;
// forgetIn reports whether s is still open. The caller holds m.mu for
// writing.
func (b *Backend) forgetIn(s *session, id string) bool {
	if s.cache == nil {
		return true
	}
	for e := s.cache.lru.next; e != &s.cache.lru; {
		next := e.next
		if id == "" || e.id == id {
			if err := b.remove(s, e, b.epoch == b.m.epoch); err != nil {
				b.errs.Add(1)
				b.closeSession(s)
				return false
			}
		}
		e = next
	}
	return true
}

// forgetAll destroys the cached keys of every pooled session that match id
// (all if id is empty). The caller holds m.mu for writing, so no session is
// checked out: every open session is in the idle pool.
func (b *Backend) forgetAll(id string) {
	for range len(b.idle) {
		s := <-b.idle
		if b.forgetIn(s, id) {
			b.idle <- s
		}
	}
}

// ForgetKey destroys the key objects cached for object id in every
// session (hsm.KeyForgetter). The server calls it once a Destroy or Revoke
// of the object has committed. It waits for the operations in flight.
func (b *Backend) ForgetKey(id string) {
	if b.keyCacheMax == 0 || id == "" {
		return
	}
	b.cmu.Lock()
	n := b.cachedIDs[id]
	b.cmu.Unlock()
	if n == 0 {
		return
	}
	b.m.mu.Lock()
	defer b.m.mu.Unlock()
	if b.closed {
		return
	}
	b.forgetAll(id)
}

// cachedKey returns a handle of the key in w (bound to id, serialised as
// blob) made from tmpl for use, and whether the caller must destroy it
// (caching off). With caching on, a key already unwrapped in this session
// is reused; otherwise it is unwrapped, after the least recently used key
// is destroyed if the session holds as many as it may.
func (o *op) cachedKey(use keyUse, id string, blob []byte, w *wrapBlob, tmpl []*pkcs11.Attribute) (pkcs11.ObjectHandle, bool, error) {
	b, c := o.b, o.ss.cache
	if c == nil {
		h, err := o.unwrapBlob(w, id, tmpl)
		return h, true, err
	}
	k := c.keyOf(use, id, blob)
	if e := c.m[k]; e != nil {
		b.hits.Add(1)
		c.unlink(e)
		c.pushFront(e)
		return e.h, false, nil
	}
	b.misses.Add(1)
	if len(c.m) >= c.max {
		b.evictions.Add(1)
		if err := b.remove(o.ss, c.lru.prev, true); err != nil {
			return 0, false, err
		}
	}
	h, err := o.unwrapBlob(w, id, tmpl)
	if err != nil {
		return 0, false, err
	}
	if c.byHandle[h] != nil {
		// The HSM handed out a handle the cache holds for another key:
		// objects of this session were destroyed behind its back (a
		// logout) and the cache cannot tell which. The error closes the
		// session, and every object it made, and recovers.
		return 0, false, fmt.Errorf("pkcs11: C_UnwrapKey returned handle %d, held by a cached key: %w", h, pkcs11.Error(pkcs11.CKR_OBJECT_HANDLE_INVALID))
	}
	e := &cacheEntry{key: k, id: id, h: h}
	c.m[k] = e
	c.byHandle[h] = e
	c.pushFront(e)
	b.handles.Add(1)
	b.cmu.Lock()
	b.cachedIDs[id]++
	b.cmu.Unlock()
	return h, false, nil
}
