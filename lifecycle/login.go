package lifecycle

import (
	"time"

	"github.com/kmipd/kmipd/internal/authn"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Login (KMIP 2.0 §6.1.27) gives the requesting identity a ticket: later
// requests with it as their Credential (Credential Type Ticket) act as that
// identity, from the same certificate identity only, for the Lease Time and
// Request Count asked (a lease of 0 or none takes the server's default, a
// longer one its maximum; a count of 0 or none: no limit). Tickets live in
// memory (authn.Tickets): a restart logs everyone out.
func (s *Service) login(c *kmip.Call, w *ttlv.Builder) error {
	p := c.Item.Payload
	g, err := s.ticketGrant(c, &p)
	if err != nil {
		return err
	}
	if !p.Empty() {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected field in Login")
	}
	return s.issueTicket(c, w, g)
}

// ticketGrant reads the Lease Time, Request Count and Usage Limits that
// Login and Delegated Login share. A request that itself came with a
// delegated ticket may not log in again: its ticket would escape the rights
// it was given.
func (s *Service) ticketGrant(c *kmip.Call, p *ttlv.Value) (authn.Grant, error) {
	g := authn.Grant{Identity: *c.Identity, Peer: c.Identity.Name}
	if c.Peer != nil {
		g.Peer = c.Peer.Name
	}
	if c.Rights != nil {
		return g, kmip.Errorf(kmip.ResultReasonNotAuthorized, "a request with a delegated ticket cannot log in")
	}
	if p.PeekTag() == ttlv.TagLeaseTime {
		var secs uint32
		if !p.ReadInterval(ttlv.TagLeaseTime, &secs) {
			return g, kmip.Errorf(kmip.ResultReasonInvalidField, "invalid Lease Time")
		}
		g.Lease = time.Duration(secs) * time.Second
	}
	if p.PeekTag() == ttlv.TagRequestCount {
		if !p.ReadInt32(ttlv.TagRequestCount, &g.Requests) || g.Requests < 0 {
			return g, kmip.Errorf(kmip.ResultReasonInvalidField, "invalid Request Count")
		}
	}
	if p.PeekTag() == ttlv.TagUsageLimits {
		return g, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "tickets with Usage Limits are not supported")
	}
	return g, nil
}

func (s *Service) issueTicket(c *kmip.Call, w *ttlv.Builder, g authn.Grant) error {
	v, err := s.tickets.Issue(g, c.Now)
	if err != nil {
		return err
	}
	w.Begin(ttlv.TagTicket)
	w.AddEnum(ttlv.TagTicketType, uint32(kmip.TicketTypeLogin))
	w.AddBytes(ttlv.TagTicketValue, v)
	w.End()
	return nil
}
