package authn

import (
	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Authenticator is kmipd's kmip.Authenticator. It reads the one Credential
// of a request header's Authentication:
//
//   - Username and Password (KMIP 1.x and 2.x): checked by Passwords; the
//     request acts as the user. Without configured users the credential
//     is ignored and the request acts as its certificate's identity, as a
//     server without password support always did.
//   - Ticket (KMIP 2.x): from Login or Delegated Login, checked by Tickets;
//     the request acts as the identity that logged in, within the ticket's
//     rights.
//   - any other type: kmipd cannot check it, so it is ignored and the
//     request acts as its certificate's identity.
//
// Every refusal fails the whole request with Authentication Not Successful
// (Invalid Ticket, Usage Limit Exceeded for tickets) and is logged without
// the password.
type Authenticator struct {
	Passwords *Passwords // nil: no users
	Tickets   *Tickets   // nil: tickets are refused
	Logger    zerolog.Logger
}

// Authenticate implements kmip.Authenticator.
func (a *Authenticator) Authenticate(r *kmip.Auth) error {
	r.Identity = *r.Peer
	v := r.Authentication
	var cred ttlv.Value
	if !v.ReadStructure(ttlv.TagCredential, &cred) {
		return refused("Authentication must hold a Credential", nil)
	}
	if !v.Empty() {
		return refused("kmipd takes one Credential a request", nil)
	}
	var typ uint32
	var val ttlv.Value
	if !cred.ReadEnum(ttlv.TagCredentialType, &typ) || !cred.ReadStructure(ttlv.TagCredentialValue, &val) || !cred.Empty() {
		return refused("malformed Credential", nil)
	}
	switch kmip.CredentialType(typ) {
	case kmip.CredentialTypeUsernameAndPassword:
		return a.password(r, val)
	case kmip.CredentialTypeTicket:
		if r.Version.V2() {
			return a.ticket(r, val)
		}
	}
	a.Logger.Debug().Str("identity", r.Peer.Name).Stringer("credential_type", kmip.CredentialType(typ)).
		Msg("credential ignored: the request acts as its certificate's identity")
	return nil
}

func (a *Authenticator) password(r *kmip.Auth, val ttlv.Value) error {
	var name, pw []byte
	if !val.ReadText(ttlv.TagUsername, &name) {
		return refused("Username and Password credential lacks the Username", nil)
	}
	if val.PeekTag() == ttlv.TagPassword && !val.ReadText(ttlv.TagPassword, &pw) || !val.Empty() {
		return refused("malformed Username and Password credential", nil)
	}
	if !a.Passwords.Enabled() {
		a.Logger.Debug().Str("identity", r.Peer.Name).Msg("password credential ignored: no users are configured")
		return nil
	}
	user, err := a.Passwords.Verify(r.Ctx, r.Peer.Name, name, pw, r.Now)
	if err != nil {
		a.Logger.Warn().Str("identity", r.Peer.Name).Str("remote", addr(r)).Str("user", string(name)).Err(err).
			Msg("password authentication refused")
		return err
	}
	r.Identity.Name = user
	return nil
}

func (a *Authenticator) ticket(r *kmip.Auth, val ttlv.Value) error {
	var tk ttlv.Value
	var typ uint32
	var value []byte
	if !val.ReadStructure(ttlv.TagTicket, &tk) || !val.Empty() ||
		!tk.ReadEnum(ttlv.TagTicketType, &typ) || !tk.ReadBytes(ttlv.TagTicketValue, &value) || !tk.Empty() {
		return kmip.Errorf(kmip.ResultReasonInvalidTicket, "malformed Ticket credential")
	}
	if kmip.TicketType(typ) != kmip.TicketTypeLogin || a.Tickets == nil {
		return kmip.Errorf(kmip.ResultReasonInvalidTicket, "unknown ticket")
	}
	id, rights, err := a.Tickets.Use(value, r.Peer.Name, r.Now)
	if err != nil {
		a.Logger.Info().Str("identity", r.Peer.Name).Str("remote", addr(r)).Err(err).Msg("ticket refused")
		return err
	}
	r.Identity = id
	if rights != nil {
		r.Rights = rights
	}
	return nil
}

func addr(r *kmip.Auth) string {
	if r.RemoteAddr == nil {
		return ""
	}
	return r.RemoteAddr.String()
}
