package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Logout (KMIP 2.0 §6.1.28) ends the ticket its payload names. Only the
// certificate identity that obtained a ticket may end it; any other ticket
// is Invalid Ticket, as an unknown one.
func (s *Service) logout(c *kmip.Call, _ *ttlv.Builder) error {
	p := c.Item.Payload
	var tk ttlv.Value
	var typ uint32
	var value []byte
	if !p.ReadStructure(ttlv.TagTicket, &tk) || !p.Empty() ||
		!tk.ReadEnum(ttlv.TagTicketType, &typ) || !tk.ReadBytes(ttlv.TagTicketValue, &value) || !tk.Empty() {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Logout takes one Ticket")
	}
	if kmip.TicketType(typ) != kmip.TicketTypeLogin {
		return kmip.Errorf(kmip.ResultReasonInvalidTicket, "unknown ticket")
	}
	peer := c.Identity.Name
	if c.Peer != nil {
		peer = c.Peer.Name
	}
	return s.tickets.Revoke(value, peer, c.Now)
}
