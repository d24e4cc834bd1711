package lifecycle

import (
	"context"
	"crypto/x509"
	"errors"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/internal/access"
	"github.com/kmipd/kmipd/internal/authn"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// Config wires a Service to its store and key backend.
type Config struct {
	Store   *store.DB
	Backend hsm.Backend
	// Admins are identities (certificate CNs) that see every object: the
	// global admins of Access (or of access.Compat when Access is nil).
	Admins []string
	// Access is the access policy (internal/access); nil: access.Compat of
	// Admins, the owner-only model. Service.SetPolicy replaces it.
	Access *access.Policy
	// Interop enables the Interop operation, whose Reset function wipes the
	// store. Conformance runs only: KMIP 2.0 §6.1.25 forbids it in
	// production.
	Interop bool
	Logger  zerolog.Logger
	// NoGroupCommit gives every Create its own fsync'd transaction instead
	// of sharing one with concurrent Creates (for measuring; see
	// store.DB.UpdateGrouped).
	NoGroupCommit bool
	// RNGSeed is what RNG Seed does with a client's seed (default: mix it
	// all into the pool); RNGSeedMaxBytes, when positive, caps how much of
	// one seed is taken.
	RNGSeed         RNGSeedPolicy
	RNGSeedMaxBytes int
	// HSMStrict never brings a key the HSM holds into kmipd to compute
	// with: what the HSM cannot do with it is refused even when the key is
	// Extractable and not Sensitive (a client's Get of such a key still works).
	HSMStrict bool
	// Names is where a Name must be unique (names.go).
	Names NamePolicy
	// MaxAttributeSize bounds one attribute instance's encoded value (its
	// TTLV item), in bytes, and MaxAttributes the attribute instances of one
	// object, on every path that stores client attributes (limits.go).
	// Zero means DefaultMaxAttributeSize and DefaultMaxAttributes.
	MaxAttributeSize int
	MaxAttributes    int
	// ParsedKeys bounds the asymmetric keys kept parsed beside the object
	// cache (asymkey.go); zero means DefaultParsedKeys.
	ParsedKeys int
	// Certify, when set, makes kmipd a certificate authority: Certify and
	// Re-certify are served only with it (certify.go).
	Certify *CertifyPolicy
	// TrustRoots are Validate's trust anchors besides the Certify CA: the
	// client CA pool.
	TrustRoots *x509.CertPool
	// Tickets holds the tickets of Login and Delegated Login; nil: a store
	// with the default bounds (Service.Tickets).
	Tickets *authn.Tickets
	// PKCS11Functions are the PKCS#11 functions clients may have kmipd
	// call (pkcs11.go); nil means DefaultPKCS11Functions. Functions that
	// administer the token or log in to it are never allowed.
	PKCS11Functions []kmip.PKCS_11Function
	// AsyncLimit bounds the asynchronous operations one identity may have
	// outstanding (async.go; 0: DefaultAsyncLimit, negative: none, every
	// request is answered at once); AsyncTTL is how long a finished one's
	// result waits for Poll (0: DefaultAsyncTTL).
	AsyncLimit int
	AsyncTTL   time.Duration
	// ServerToClient lets a client hand its connection over with Set
	// Endpoint Role Server to receive Notify operations (notify.go); off,
	// Set Endpoint Role only takes note of the role.
	ServerToClient bool
	// ServerToClientPut sends a new object as a Put (its value included)
	// rather than a Notify of its attributes.
	ServerToClientPut bool
}

// Service implements the KMIP operations over the store: it is the
// kmip.Handler of kmipd.
type Service struct {
	cfg    Config
	mux    *kmip.ServeMux
	policy atomic.Pointer[access.Policy]
	cache  *objectCache
	writes txWrites
	// hsmInGo counts uses of an HSM-held key's plaintext in kmipd (useInGo).
	hsmInGo atomic.Uint64
	// lostWrites counts best-effort writes that could not be persisted
	// (bestEffort); lostLogged is when one was last logged (unix seconds).
	lostWrites atomic.Uint64
	lostLogged atomic.Int64
	tickets    *authn.Tickets
	// p11 are the PKCS#11 interfaces clients initialised (pkcs11.go).
	p11 p11Sessions
	// async are the asynchronous operations outstanding (async.go).
	async asyncJobs
	// pusher sends Notify to handed-over connections (notify.go).
	pusher Pusher
}

// Tickets returns the ticket store of Login and Delegated Login, which the
// server's kmip.Authenticator must share (authn.Authenticator).
func (s *Service) Tickets() *authn.Tickets { return s.tickets }

// HSMKeysUsedInGo returns how many operations used the plaintext of a key
// the HSM holds in kmipd, because the HSM could not do them and a client
// could Get the key anyway (see Config.HSMStrict): the operator's view of
// how often HSM keys leave the HSM.
func (s *Service) HSMKeysUsedInGo() uint64 { return s.hsmInGo.Load() }

// cacheSize bounds the decoded objects kept in memory.
const cacheSize = 100_000

// DefaultParsedKeys is Config.ParsedKeys when zero: a parsed RSA-4096 key
// takes about 7 KiB of heap, RSA-2048 4.5 KiB, P-256 under 1 KiB.
const DefaultParsedKeys = 10_000

// NewService returns a Service with the operations of the operation table
// (operations.go) registered.
func NewService(cfg Config) *Service {
	parsed := cfg.ParsedKeys
	if parsed == 0 {
		parsed = DefaultParsedKeys
	}
	s := &Service{cfg: cfg, cache: newObjectCache(cacheSize, parsed), tickets: cfg.Tickets}
	// Other nodes' writes to a shared store reach the cache through the
	// store's change feed (only etcd has one).
	cfg.Store.OnChange(func(ids []string, all bool) {
		if all {
			s.cache.clear()
		} else {
			s.cache.invalidate(ids...)
		}
	})
	if s.tickets == nil {
		s.tickets = authn.NewTickets(authn.TicketOptions{})
	}
	if cfg.Access != nil {
		s.policy.Store(cfg.Access)
	} else {
		s.policy.Store(access.Compat(cfg.Admins))
	}
	m := kmip.NewServeMux()
	for _, o := range operations {
		if o.interop && !cfg.Interop || o.needsCA && cfg.Certify == nil {
			continue
		}
		h := func(c *kmip.Call, w *ttlv.Builder) error { return o.serve(s, c, w) }
		if o.online {
			h = s.online(h)
		}
		if o.async {
			h = s.asyncable(h)
		}
		// The operation-level pass of the decision point comes first,
		// before the online check reads the objects the request names and
		// before an operation goes on in the background.
		inner := h
		h = func(c *kmip.Call, w *ttlv.Builder) error {
			if err := s.authorize(c, o.op); err != nil {
				return err
			}
			return inner(c, w)
		}
		m.HandleFunc(o.op, h)
	}
	s.mux = m
	return s
}

// ServeKMIP dispatches one batch item.
func (s *Service) ServeKMIP(c *kmip.Call, w *ttlv.Builder) error { return s.mux.ServeKMIP(c, w) }

// Supports reports whether op is implemented (for Query).
func (s *Service) Supports(op kmip.Operation) bool { return s.mux.Supports(op) }

// RunBatch runs a whole batch in one store transaction, so that Batch Error
// Continuation Undo rolls back every item's effects (KMIP 2.0 §9.6).
func (s *Service) RunBatch(c *kmip.Call, fn func() error) error {
	parent := c.Ctx
	return s.commit(c.Context(), func(tx *store.Tx) error {
		c.Ctx = context.WithValue(tx.Context(), batchTxKey{}, tx)
		defer func() { c.Ctx = parent }()
		return fn()
	})
}

// batchTxKey keys the transaction of an undo batch (RunBatch) in the
// context of its items: the protocol layer carries no storage type.
type batchTxKey struct{}

// batchTx returns the transaction of the batch c belongs to, if the whole
// batch runs in one.
func batchTx(c *kmip.Call) (*store.Tx, bool) {
	if c.Ctx == nil {
		return nil, false
	}
	tx, ok := c.Ctx.Value(batchTxKey{}).(*store.Tx)
	return tx, ok
}

// commit runs fn in a read-write transaction and invalidates the cache
// entries of the objects it saved: right after the commit, before the store
// erases the key slots Destroy released (a reader that loaded the old version before
// the commit must not be able to cache it once the new one is visible), or
// after a rollback.
func (s *Service) commit(ctx context.Context, fn func(tx *store.Tx) error) error {
	// On etcd fn may run more than once (a writer of another node committed
	// first): forget what every attempt recorded, not only the last.
	var txs []*store.Tx
	err := s.cfg.Store.UpdateContext(ctx, func(tx *store.Tx) error {
		txs = append(txs, tx)
		if err := fn(tx); err != nil {
			return err
		}
		tx.OnCommit(func() { s.notifyWrites(s.invalidateWrites(tx)) })
		return nil
	})
	for _, tx := range txs {
		s.invalidateWrites(tx) // after a rollback or a retry; nothing left after a commit
	}
	return err
}

// invalidateWrites drops the cache entries of the objects tx saved and
// returns what it saved.
func (s *Service) invalidateWrites(tx *store.Tx) written {
	e := s.writes.take(tx)
	if e.wiped {
		s.cache.clear()
	} else {
		s.cache.invalidate(e.ids...)
	}
	return e
}

// update runs fn in the batch's transaction if there is one, else in its
// own: all mutations of one operation commit (and fsync) together before
// the client is answered.
func (s *Service) update(c *kmip.Call, fn func(tx *store.Tx) error) error {
	if tx, ok := batchTx(c); ok {
		return fn(tx)
	}
	return s.commit(c.Context(), fn)
}

func notFound(id string) error {
	return kmip.Errorf(kmip.ResultReasonObjectNotFound, "object %q not found", id)
}

// resolveID turns a request's Unique Identifier field into an identifier,
// using the batch's ID Placeholder when the field is absent or is the ID
// Placeholder enumeration (KMIP 2.0 §6.1).
func resolveID(c *kmip.Call, u kmip.UniqueID) (string, error) {
	switch u.Kind {
	case kmip.UniqueIDText:
		return string(u.Text), nil
	case kmip.UniqueIDAbsent:
		if c.Batch.IDPlaceholder == "" {
			return "", kmip.Errorf(kmip.ResultReasonInvalidField, "no Unique Identifier and no ID Placeholder")
		}
		return c.Batch.IDPlaceholder, nil
	case kmip.UniqueIDEnum:
		if u.Enum == kmip.UniqueIdentifierIDPlaceholder && c.Batch.IDPlaceholder != "" {
			return c.Batch.IDPlaceholder, nil
		}
	}
	return "", kmip.Errorf(kmip.ResultReasonInvalidField, "unsupported Unique Identifier form")
}

// load reads an object the caller may see and brings its state up to date
// with its dates (KMIP 2.0 §4.57: an object whose Activation Date has passed
// is Active when next accessed); in a writable transaction that change is
// persisted.
func (s *Service) load(tx *store.Tx, c *kmip.Call, id string, writable bool) (*objects.Object, error) {
	rec, err := tx.Get(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	if s.otherTenant(c, rec.Owner) {
		return nil, hidden(id, access.RuleTenant)
	}
	o, err := objectOf(rec)
	if err != nil {
		return nil, err
	}
	o.Owner, o.Tenant = splitOwnerKey(rec.Owner)
	if err := s.mayUse(c, o); err != nil {
		return nil, err
	}
	if Effective(o, c.Now) && writable {
		o.SetDate(ttlv.TagLastChangeDate, c.Now.Unix())
		if err := s.save(tx, o); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// objectOf decodes a stored record: the object from Data, its key
// material from Secret (records of store format 2 kept it in Data).
func objectOf(rec *store.Record) (*objects.Object, error) {
	o := new(objects.Object)
	if err := o.UnmarshalBinary(rec.Data); err != nil {
		return nil, err
	}
	if rec.Secret != nil {
		o.Blob = rec.Secret
	}
	return o, nil
}

// encodeRecord returns the Data and Secret of o's record: the key
// material goes to Secret, which the store can erase in constant time.
func encodeRecord(o *objects.Object) (data, secret []byte, err error) {
	bare := *o
	bare.Blob = nil
	data, err = bare.MarshalBinary()
	return data, o.Blob, err
}

// save writes o with its index entries.
func (s *Service) save(tx *store.Tx, o *objects.Object) error {
	data, secret, err := encodeRecord(o)
	if err != nil {
		return err
	}
	s.cache.invalidate(o.ID)
	if p := s.pusher; p != nil && p.HasPushEndpoints() {
		s.writes.addBefore(tx, o.ID, s.attrsBefore(tx, o.ID))
	}
	s.writes.add(tx, o.ID)
	return tx.Put(&store.Record{ID: o.ID, Owner: ownerKey(o.Owner, o.Tenant), Data: data, Secret: secret, Index: indexEntries(o, s.cfg.Names)})
}

// lookup returns an object for reading only: from the cache when it is
// there, else from the store (and then cached). Inside a batch transaction
// it reads the transaction, which may hold the batch's own writes. The
// object is shared: callers must not modify it.
func (s *Service) lookup(c *kmip.Call, u kmip.UniqueID) (*objects.Object, error) {
	if _, inBatch := batchTx(c); !inBatch && u.Kind == kmip.UniqueIDText {
		// On a shared store, wait until every change committed elsewhere
		// before this request has reached the cache (store.DB.Fence): a
		// key destroyed on another node is never served from here.
		if err := s.cfg.Store.Fence(c.Context()); err != nil {
			return nil, err
		}
		if o, ok := s.cache.get(u.Text, now(c)); ok {
			if err := s.mayUse(c, o); err != nil {
				return nil, err
			}
			return o, nil
		}
	}
	id, err := resolveID(c, u)
	if err != nil {
		return nil, err
	}
	gen := s.cache.begin()
	var o *objects.Object
	err = s.read(c, func(tx *store.Tx) error {
		o, err = s.load(tx, c, id, false)
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, inBatch := batchTx(c); !inBatch {
		s.cache.put(o, gen, now(c))
	}
	return o, nil
}

// Index kinds. With NamesPerOwner a live object's names are also indexed
// as unique per owner (idxUName), so two clients may both call a key
// "backup" without learning of each other.
const (
	idxName  = "name"
	idxUName = "uname"
	idxTName = "tname" // NamesPerTenant: tenant NUL name, unique
	idxType  = "type"
	idxState = "state"
	idxGroup = "group"
	idxAlg   = "alg"
	// idxVendor prefixes the index of a vendor or custom attribute:
	// "v:" + vendor + "\x00" + name, keyed by the value's bytes.
	idxVendor = "v:"
)

// vendorKind is the index kind of a vendor attribute; a kind is at most
// store.MaxKindLen bytes, so very long names are not indexed (Locate then
// scans).
func vendorKind(vendorID, name string) (string, bool) {
	k := idxVendor + vendorID + "\x00" + name
	return k, len(k) <= store.MaxKindLen
}

func indexEntries(o *objects.Object, names NamePolicy) []store.IndexEntry {
	var ix []store.IndexEntry
	claim := names != NamesPerObject && !destroyed(o.State())
	for _, a := range o.All(ttlv.TagName) {
		if v, ok := nameValue(a); ok {
			ix = append(ix, store.IndexEntry{Kind: idxName, Value: []byte(v)})
			switch {
			case claim && names == NamesPerOwner:
				ix = append(ix, store.IndexEntry{Kind: idxUName, Value: []byte(o.Owner + "\x00" + v), Unique: true})
			case claim:
				ix = append(ix, store.IndexEntry{Kind: idxTName, Value: []byte(o.Tenant + "\x00" + v), Unique: true})
			}
		}
	}
	ix = append(ix, store.IndexEntry{Kind: idxType, Value: u32(uint32(o.Type))})
	ix = append(ix, store.IndexEntry{Kind: idxState, Value: u32(uint32(o.State()))})
	for _, a := range o.All(ttlv.TagObjectGroup) {
		if it, ok := a.Item(); ok {
			ix = append(ix, store.IndexEntry{Kind: idxGroup, Value: append([]byte(nil), it.Data...)})
		}
	}
	if alg, ok := o.Enum(ttlv.TagCryptographicAlgorithm); ok {
		ix = append(ix, store.IndexEntry{Kind: idxAlg, Value: u32(alg)})
	}
	for _, a := range o.Attrs {
		if a.Tag != 0 {
			continue
		}
		if kind, ok := vendorKind(a.VendorID, a.Name); ok {
			if it, ok := a.Item(); ok {
				ix = append(ix, store.IndexEntry{Kind: kind, Value: append([]byte(nil), it.Data...)})
			}
		}
	}
	return ix
}

func u32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// nameValue returns the Name Value of a Name attribute.
func nameValue(a objects.Attribute) (string, bool) {
	it, ok := a.Item()
	if !ok {
		return "", false
	}
	v, ok := it.Children().Find(ttlv.TagNameValue)
	if !ok {
		return "", false
	}
	return string(v.Data), true
}

// nameConflict maps a unique-index conflict onto Non Unique Name Attribute.
func nameConflict(err error) error {
	if errors.Is(err, store.ErrExists) {
		return kmip.Errorf(kmip.ResultReasonNonUniqueNameAttribute,
			"name already in use by another live object (this server keeps names unique per owner or per tenant, names.unique; Locate by Name finds it if you may see it; destroying it frees the name)")
	}
	return err
}

func now(c *kmip.Call) int64 { return c.Now.Unix() }

// read runs fn in the batch's transaction if there is one, else in a
// read-only one.
func (s *Service) read(c *kmip.Call, fn func(tx *store.Tx) error) error {
	if tx, ok := batchTx(c); ok {
		return fn(tx)
	}
	return s.cfg.Store.ViewContext(c.Context(), fn)
}
