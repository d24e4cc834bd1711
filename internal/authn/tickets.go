package authn

import (
	"crypto/rand"
	"slices"
	"sync"
	"time"

	"github.com/kmipd/kmipd/internal/access"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// TicketOptions bound the tickets of Login and Delegated Login.
type TicketOptions struct {
	MaxTickets            int           // live tickets in all
	MaxTicketsPerIdentity int           // live tickets of one certificate identity
	DefaultLease          time.Duration // when the request asks for none (Lease Time absent or 0)
	MaxLease              time.Duration // longer requests get this
}

// Default ticket options.
const (
	DefaultMaxTickets            = 10000
	DefaultMaxTicketsPerIdentity = 100
	DefaultTicketLease           = time.Hour
	DefaultMaxTicketLease        = 24 * time.Hour
)

// ticketLen is the length of a Ticket Value: random bytes, the whole of
// what a client holds.
const ticketLen = 32

// Tickets holds the live tickets, in memory only: a restart of the server
// logs every client out.
type Tickets struct {
	o      TicketOptions
	mu     sync.Mutex
	m      map[[ticketLen]byte]*ticket
	byPeer map[string]int
}

type ticket struct {
	id        kmip.Identity // who requests with it act as
	peer      string        // the certificate identity that obtained it, the only one that may use it
	expires   time.Time
	remaining int32 // requests left; -1: no limit
	rights    *Rights
}

// NewTickets returns an empty ticket store; zero options take the defaults.
func NewTickets(o TicketOptions) *Tickets {
	if o.MaxTickets <= 0 {
		o.MaxTickets = DefaultMaxTickets
	}
	if o.MaxTicketsPerIdentity <= 0 {
		o.MaxTicketsPerIdentity = DefaultMaxTicketsPerIdentity
	}
	if o.MaxLease <= 0 {
		o.MaxLease = DefaultMaxTicketLease
	}
	if o.DefaultLease <= 0 || o.DefaultLease > o.MaxLease {
		o.DefaultLease = min(DefaultTicketLease, o.MaxLease)
	}
	return &Tickets{o: o, m: make(map[[ticketLen]byte]*ticket), byPeer: make(map[string]int)}
}

// Grant is what a new ticket allows.
type Grant struct {
	Identity kmip.Identity // the identity that logged in
	Peer     string        // its certificate identity
	Lease    time.Duration // 0: the default; capped at the maximum
	Requests int32         // requests it may authenticate; 0: no limit
	Rights   *Rights       // nil: all of the identity's rights
}

// Issue makes a ticket for g and returns its Ticket Value.
func (t *Tickets) Issue(g Grant, now time.Time) ([]byte, error) {
	if g.Requests < 0 {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "Request Count must not be negative")
	}
	lease := g.Lease
	if lease <= 0 {
		lease = t.o.DefaultLease
	}
	lease = min(lease, t.o.MaxLease)
	tk := &ticket{id: g.Identity, peer: g.Peer, expires: now.Add(lease), remaining: -1, rights: g.Rights}
	if g.Requests > 0 {
		tk.remaining = g.Requests
	}
	var v [ticketLen]byte
	if _, err := rand.Read(v[:]); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= t.o.MaxTickets || t.byPeer[g.Peer] >= t.o.MaxTicketsPerIdentity {
		t.sweep(now)
	}
	if len(t.m) >= t.o.MaxTickets {
		return nil, kmip.Errorf(kmip.ResultReasonGeneralFailure, "too many tickets: try again later")
	}
	if t.byPeer[g.Peer] >= t.o.MaxTicketsPerIdentity {
		return nil, kmip.Errorf(kmip.ResultReasonPermissionDenied, "this certificate identity holds too many tickets: log out of some")
	}
	t.m[v] = tk
	t.byPeer[g.Peer]++
	return v[:], nil
}

// sweep drops expired tickets. Called with t.mu held.
func (t *Tickets) sweep(now time.Time) {
	for k, tk := range t.m {
		if !now.Before(tk.expires) {
			t.drop(k, tk)
		}
	}
}

func (t *Tickets) drop(k [ticketLen]byte, tk *ticket) {
	delete(t.m, k)
	if t.byPeer[tk.peer]--; t.byPeer[tk.peer] <= 0 {
		delete(t.byPeer, tk.peer)
	}
}

// lookup finds the live ticket value names for peer. Called with t.mu held.
func (t *Tickets) lookup(value []byte, peer string, now time.Time) ([ticketLen]byte, *ticket, error) {
	var k [ticketLen]byte
	if len(value) != ticketLen {
		return k, nil, kmip.Errorf(kmip.ResultReasonInvalidTicket, "unknown ticket")
	}
	copy(k[:], value)
	tk := t.m[k]
	if tk == nil || tk.peer != peer {
		// Another certificate's ticket is as unknown as a made-up one.
		return k, nil, kmip.Errorf(kmip.ResultReasonInvalidTicket, "unknown ticket")
	}
	if !now.Before(tk.expires) {
		t.drop(k, tk)
		return k, nil, kmip.Errorf(kmip.ResultReasonInvalidTicket, "ticket expired")
	}
	return k, tk, nil
}

// Use authenticates one request with a ticket presented by the certificate
// identity peer: it counts the request and returns the identity and rights
// the request acts with.
func (t *Tickets) Use(value []byte, peer string, now time.Time) (kmip.Identity, *Rights, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, tk, err := t.lookup(value, peer, now)
	if err != nil {
		return kmip.Identity{}, nil, err
	}
	switch {
	case tk.remaining == 0:
		return kmip.Identity{}, nil, kmip.Errorf(kmip.ResultReasonUsageLimitExceeded, "the ticket's requests are used up")
	case tk.remaining > 0:
		tk.remaining--
	}
	return tk.id, tk.rights, nil
}

// Revoke ends the ticket (Logout); only its certificate identity may.
func (t *Tickets) Revoke(value []byte, peer string, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, tk, err := t.lookup(value, peer, now)
	if err != nil {
		return err
	}
	t.drop(k, tk)
	return nil
}

// Len is the number of tickets held, expired ones included until swept.
func (t *Tickets) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Right is one Right of Delegated Login (KMIP 2.0 §2.1.?, Rights): the
// operations it allows, on the objects it names.
type Right struct {
	Operations []kmip.Operation // empty: any operation
	Objects    []string         // empty: no restriction to named objects
}

// Rights are the rights of a delegated ticket: a batch item is served only
// when one Right allows its operation and every object it names.
type Rights struct {
	Rights []Right
}

// Permit implements kmip.Rights. An item that names no object (Create,
// Query) is allowed only by a Right without Objects; Logout is always
// allowed, so a delegated ticket can be given up.
func (r *Rights) Permit(c *kmip.Call) error {
	op := c.Item.Operation
	if op == kmip.OperationLogout {
		return nil
	}
	for i := range r.Rights {
		if r.Rights[i].allows(c) {
			return nil
		}
	}
	reason := kmip.ResultReasonNotAuthorized
	if !c.Version.V2() {
		reason = kmip.ResultReasonPermissionDenied
	}
	return kmip.Errorf(reason, "DENIED: the ticket's rights do not allow %s here", op)
}

func (r *Right) allows(c *kmip.Call) bool {
	op := c.Item.Operation
	if len(r.Operations) > 0 && !slices.Contains(r.Operations, op) {
		return false
	}
	if len(r.Objects) == 0 {
		return true
	}
	named, ok := r.namesListedOnly(c.Item.Payload)
	if !ok {
		return false
	}
	if named {
		return true
	}
	// An item that names no object may act on the one an earlier item
	// left (KMIP 2.0 §6.1), but only if its operation acts on one existing
	// object: Create, Register or Locate name none and act on none of the
	// listed objects.
	if !access.Grantable.Has(op) || op == kmip.OperationLocate || c.Batch == nil || c.Batch.IDPlaceholder == "" {
		return false
	}
	return r.object([]byte(c.Batch.IDPlaceholder))
}

// namesListedOnly walks v, nested structures included (a wrapping key in a
// Key Wrapping Specification), and reports whether it names an object and
// whether every object it names is one of the Right's. The ID Placeholder
// enumeration names none.
func (r *Right) namesListedOnly(v ttlv.Value) (named, ok bool) {
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return false, false
		}
		switch it.Tag {
		case ttlv.TagUniqueIdentifier, ttlv.TagPrivateKeyUniqueIdentifier, ttlv.TagPublicKeyUniqueIdentifier:
			if it.Type == ttlv.TypeEnumeration {
				continue
			}
			if it.Type != ttlv.TypeTextString || !r.object(it.Data) {
				return false, false
			}
			named = true
			continue
		}
		if it.Type == ttlv.TypeStructure {
			n, ok := r.namesListedOnly(it.Children())
			if !ok {
				return false, false
			}
			named = named || n
		}
	}
	return named, true
}

func (r *Right) object(id []byte) bool {
	for _, o := range r.Objects {
		if o == string(id) {
			return true
		}
	}
	return false
}
