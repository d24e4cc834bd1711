package kmip

import (
	"context"
	"net"
	"time"

	"github.com/kmipd/kmipd/ttlv"
)

// Authenticator checks the Authentication of a request header (its
// Credential, KMIP 2.0 §2.1.2 and §8.2). The server calls it only for a
// request whose header carries one; a request without keeps the identity
// of its verified client certificate, and costs nothing here.
type Authenticator interface {
	// Authenticate sets a.Identity (the identity the request acts as,
	// which owns what it creates) and a.Rights (nil: not restricted), or
	// returns an error whose Result Reason (ResultOf) fails every item of
	// the request: nothing of it is served.
	Authenticate(a *Auth) error
}

// Auth is one request's authentication: what the Authenticator reads, and
// what it sets.
type Auth struct {
	Ctx context.Context
	// Peer is the identity of the verified client certificate. A
	// credential adds to it, never replaces the certificate check.
	Peer           *Identity
	RemoteAddr     net.Addr
	Version        Version
	Now            time.Time
	Authentication ttlv.Value // the children of the header's Authentication

	Identity Identity // set by Authenticate
	Rights   Rights   // set by Authenticate; nil: the identity's full rights
}

// Rights restrict what a request may do beyond its identity's own rights,
// as those of a ticket from Delegated Login (KMIP 2.0 §6.1.10). The server
// asks Permit before each batch item reaches the Handler; an error fails
// that item with its Result Reason.
type Rights interface {
	Permit(c *Call) error
}

// authenticate runs the Authenticator on the request's Authentication and
// points the Call at the identity and rights it yields.
func (c *Session) authenticate(h *RequestHeader, now time.Time) error {
	a := &c.auth
	*a = Auth{Ctx: c.srv.baseContext(), Peer: &c.Identity, RemoteAddr: c.RemoteAddr, Version: h.Version, Now: now,
		Authentication: h.Authentication}
	if err := c.srv.Authenticator.Authenticate(a); err != nil {
		return err
	}
	if err := ValidIdentityName(a.Identity.Name); err != nil {
		return &Error{Reason: ResultReasonAuthenticationNotSuccessful, Message: "invalid identity", Err: err}
	}
	c.call.Identity, c.call.Rights = &a.Identity, a.Rights
	return nil
}

// PasswordCredential writes a Credential of type Username and Password
// (KMIP 1.0 §2.1.2, 2.0 §2.1.2), for RequestOptions.Authentication.
func PasswordCredential(username, password string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagCredential)
		b.AddEnum(ttlv.TagCredentialType, uint32(CredentialTypeUsernameAndPassword))
		b.Begin(ttlv.TagCredentialValue)
		b.AddText(ttlv.TagUsername, username)
		b.AddText(ttlv.TagPassword, password)
		b.End()
		b.End()
	}
}

// TicketCredential writes a Credential of type Ticket (KMIP 2.0 §2.1.2)
// holding the Ticket Value of a Login or Delegated Login.
func TicketCredential(value []byte) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagCredential)
		b.AddEnum(ttlv.TagCredentialType, uint32(CredentialTypeTicket))
		b.Begin(ttlv.TagCredentialValue)
		b.Begin(ttlv.TagTicket)
		b.AddEnum(ttlv.TagTicketType, uint32(TicketTypeLogin))
		b.AddBytes(ttlv.TagTicketValue, value)
		b.End()
		b.End()
		b.End()
	}
}
