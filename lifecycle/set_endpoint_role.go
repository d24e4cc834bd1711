package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// setEndpointRole is the Set Endpoint Role operation (KMIP 2.0 §6.1.46):
// kmipd takes note of the role a client asks it to play, Client or Server,
// and answers with an empty payload. It initiates no server-to-client
// operations either way.
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
	return nil
}
