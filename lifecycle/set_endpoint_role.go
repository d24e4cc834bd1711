package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// setEndpointRole is the Set Endpoint Role operation (KMIP 2.0 §6.1.46):
// the requester names the role it takes on the connection. With
// Config.ServerToClient, Endpoint Role Server hands the connection over:
// once answered, kmipd sends Notify operations on it (notify.go,
// kmip/push.go) and serves no more requests there. Otherwise, and for
// Endpoint Role Client, kmipd only takes note of the role.
func (s *Service) setEndpointRole(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.SetEndpointRoleRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	switch req.Role {
	case kmip.EndpointRoleClient, kmip.EndpointRoleServer:
	default:
		return kmip.Errorf(kmip.ResultReasonInvalidField, "unknown Endpoint Role %d", uint32(req.Role))
	}
	s.cfg.Logger.Debug().Str("identity", c.Identity.Name).Stringer("endpoint_role", req.Role).Msg("Set Endpoint Role")
	if req.Role == kmip.EndpointRoleServer && s.cfg.ServerToClient {
		// Pushes go to the objects' owner key (owner and tenant), so a
		// same-named identity of another tenant receives none of them.
		c.BecomeEndpoint(ownerKey(c.Identity.Name, s.subject(c).StoredTenant()))
	}
	return nil
}
